//! What this machine lets ringcore do: prints the capability report (`ringcore::report`)
//! of a runtime built with the default settings: kernel, io_uring's availability and why
//! not, the driver chosen and why, every probed flag, feature and opcode, the limits and
//! the fast paths each core runs.
//!
//! Run: `cargo run --release --example doctor` (`-- --json` for JSON; `-- --cores N` to
//! build N cores; `-- --no-runtime` for `report::probe()` alone, without building a
//! runtime). Exits 0 whatever the report says; 2 on a bad argument.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut json = false;
    let mut runtime = true;
    let mut cores = 1;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--no-runtime" => runtime = false,
            "--cores" => match args.next().and_then(|n| n.parse().ok()) {
                Some(n) => cores = n,
                None => return usage("--cores needs a number"),
            },
            other => return usage(&format!("unknown argument {other:?}")),
        }
    }
    let report = if runtime {
        match ringcore::Runtime::builder().cores(cores).build() {
            Ok(rt) => rt.report(),
            Err(e) => {
                // The report still says why (e.g. RINGCORE_DRIVER=uring with io_uring
                // denied); the build error goes to stderr.
                eprintln!("doctor: the runtime could not be built: {e}");
                ringcore::report::probe()
            }
        }
    } else {
        ringcore::report::probe()
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{report}");
    }
    ExitCode::SUCCESS
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("doctor: {problem}\nusage: doctor [--json] [--cores N] [--no-runtime]");
    ExitCode::from(2)
}
