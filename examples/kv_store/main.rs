//! kv_store: a small key-value server with real durability (a write-ahead log with
//! checksums, `sync_data` before every acknowledgement, and snapshot compaction), a line
//! protocol over TCP, and its client, written only with ringcore's ordinary APIs
//! (`spawn`, `net`, `fs`, `time`, `sync`), so a deterministic simulation can run it
//! unchanged.
//!
//! ```text
//! cargo run --release --example kv_store -- serve --dir DIR --listen 127.0.0.1:7000 [--bug B] [--compact-bytes N]
//! cargo run --release --example kv_store -- client --connect 127.0.0.1:7000 set KEY VALUE
//! cargo run --release --example kv_store -- client --connect 127.0.0.1:7000 get KEY
//! cargo run --release --example kv_store -- check --connect 127.0.0.1:7000 [--clients 4] [--ops 1000] [--seed 1]
//! cargo run --release --features sim --example kv_store -- sim --seeds N [--bug B]
//! cargo run --release --features sim --example kv_store -- sim --seed S [--bug B]
//! ```
//!
//! # The contract
//!
//! - **Durability**: a SET is answered `OK` only after its record is in the log and the log
//!   is `sync_data`ed, so every acknowledged write survives a crash (kill -9, power loss)
//!   and is there after restart.
//! - **No reads from the future**: a GET sees only values whose record is durable, so no
//!   crash can make a value that was read disappear (reads never go back in time).
//! - **Recovery**: on start the server loads `snapshot`, replays `wal` up to its first
//!   incomplete or corrupt record, cuts that torn tail off (a crash mid-append), and only
//!   then listens. File formats and compaction: `wal.rs`. Write path: `server.rs`.
//! - **Bad input**: an over-long line, an unknown command, a malformed request or bytes
//!   that are not UTF-8 are answered `ERR reason`; the connection and the server go on
//!   (protocol: `protocol.rs`). A storage failure (EIO on write or fsync) stops the server
//!   with exit status 1 and no acknowledgement for the writes it could not make durable.
//!
//! `serve` prints `kv_store: listening on ADDR (snapshot K keys, log R records, torn tail
//! T bytes)` on stdout once recovery is done, and runs until SIGINT or SIGTERM (exit 0).
//! `client` prints the server's answer line (`OK`, `VALUE v`, `NOTFOUND`) and exits 0, or
//! prints `error: ...` to stderr and exits 1. `check` runs the checking workload
//! (`workload.rs`: C clients, N operations each, every answer checked against the model
//! of the contract in `check.rs`, reconnecting while the server is down), so the contract
//! can be checked by hand while the server is killed and restarted (its keys carry a
//! prefix of their own, so runs against one store do not meet); it prints `check:
//! acked A, reads R, failures F, violations 0` or `check: violation: ...` (exit 1). A
//! usage error exits 2.
//!
//! `--bug ack-before-fsync|apply-before-log` plants a durability bug (`server.rs` says
//! exactly what each does) for the simulation to find. On a real machine a planted bug
//! shows only in a power loss, or (apply-before-log) a kill in the microseconds before the
//! write reaches the page cache, which tests/example_kv_store.rs does not try to hit.
//!
//! The `sim` subcommand belongs to the simulation driver (feature `sim`); without it,
//! `sim` says so and exits 2.
//!
//! # Modules
//!
//! `app.rs` mounts the others as one module, so a test or simulation harness includes the
//! application with `#[path = "../examples/kv_store/app.rs"] mod kv_store;` and calls
//! `server::serve(Config)` (or `Server::open` and `run`), `client::Client` and
//! `workload::run_client` directly on each (simulated) host:
//!
//! - `protocol.rs`: the line protocol and a bounded line reader;
//! - `wal.rs`: the record format, the log, the snapshot, recovery and compaction;
//! - `server.rs`: the server, its write path (group commit) and the planted bugs;
//! - `client.rs`: the client;
//! - `check.rs`: the contract as a model that judges each read;
//! - `workload.rs`: the checking client workload.

mod app;
#[cfg(feature = "sim")]
mod sim;

use std::cell::RefCell;
use std::io;

use app::check::Model;
use app::server::{Bug, Config, Server};
use app::{client, workload};

fn usage() -> ! {
    eprintln!(
        "usage: kv_store serve --dir DIR --listen ADDR [--bug ack-before-fsync|apply-before-log] [--compact-bytes N]\n\
         \x20      kv_store client --connect ADDR set KEY VALUE | get KEY\n\
         \x20      kv_store check --connect ADDR [--clients C] [--ops N] [--seed S]\n\
         \x20      kv_store sim --seeds N [--bug B] | --seed S [--bug B]   (needs --features sim)"
    );
    std::process::exit(2)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve_command(&args[1..]),
        Some("client") => client_command(&args[1..]),
        Some("check") => check_command(&args[1..]),
        // ---- The `sim` subcommand -------------------------------------------------------
        // The simulation harness (feature `sim`, `ringcore::sim`; sim.rs): it runs
        // `server::serve` and the checking workload on simulated hosts, crashes and restarts
        // the server, cuts the network, and checks the contract above. `sim --seeds N
        // [--bug B]` ends with one line `seeds N, failed F, first failing seed S, trace hash
        // H`; `sim --seed S [--bug B]` prints `seed S, failed true|false, trace hash H`.
        #[cfg(feature = "sim")]
        Some("sim") => sim::command(&args[1..], usage),
        #[cfg(not(feature = "sim"))]
        Some("sim") => {
            eprintln!("kv_store: the sim subcommand needs --features sim");
            std::process::exit(2)
        }
        // ---- end of the `sim` subcommand ------------------------------------------------
        _ => usage(),
    }
}

/// A one-core runtime on the driver `RINGCORE_DRIVER` picks, or exit 1 with the reason.
fn runtime() -> ringcore::Runtime {
    ringcore::Runtime::new().unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    })
}

/// `serve --dir D --listen ADDR [--bug B] [--compact-bytes N]`.
fn serve_command(args: &[String]) {
    let (mut dir, mut listen, mut bug, mut compact) = (None, None, None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--dir" => dir = Some(value.clone()),
            "--listen" => listen = Some(value.clone()),
            "--bug" => bug = Some(Bug::parse(value).unwrap_or_else(|| usage())),
            "--compact-bytes" => compact = Some(value.parse().unwrap_or_else(|_| usage())),
            _ => usage(),
        }
    }
    let (Some(dir), Some(listen)) = (dir, listen) else {
        usage()
    };
    let mut config = Config::new(dir, listen);
    config.bug = bug;
    config.compact_bytes = compact.unwrap_or(Config::DEFAULT_COMPACT_BYTES);

    let result: io::Result<()> = runtime().block_on(async move {
        // Block SIGINT/SIGTERM first, so a signal during recovery is not lost.
        let signal = ringcore::signal::ctrl_c_or_terminate();
        let server = Server::open(config).await?;
        let r = server.recovered();
        println!(
            "kv_store: listening on {} (snapshot {} keys, log {} records, torn tail {} bytes)",
            server.local_addr()?,
            r.snapshot_keys,
            r.log_records,
            r.torn_bytes
        );
        match ringcore::future::select(signal, server.run()).await {
            ringcore::future::Either::Left(res) => res.map(|_| ()),
            ringcore::future::Either::Right(res) => res,
        }
    });
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

/// `client --connect ADDR set K V | get K`.
fn client_command(args: &[String]) {
    let (addr, rest) = match args {
        [flag, addr, rest @ ..] if flag == "--connect" => (addr.clone(), rest.to_vec()),
        _ => usage(),
    };
    let result: io::Result<String> = runtime().block_on(async move {
        let connect = client::Client::connect(&addr);
        let mut c = ringcore::time::timeout(std::time::Duration::from_secs(10), connect).await??;
        match rest.iter().map(String::as_str).collect::<Vec<_>>()[..] {
            ["set", key, value] => c.set(key, value).await.map(|()| "OK".to_string()),
            ["get", key] => Ok(match c.get(key).await? {
                Some(v) => format!("VALUE {v}"),
                None => "NOTFOUND".to_string(),
            }),
            _ => usage(),
        }
    });
    match result {
        Ok(answer) => println!("{answer}"),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// `check --connect ADDR [--clients C] [--ops N] [--seed S]`: runs the checking workload
/// (`workload.rs`) with C concurrent clients of N operations each, then reads every key
/// once more. Prints `check: acked A, reads R, failures F, violations 0`, or the violation
/// and exits 1.
fn check_command(args: &[String]) {
    let (mut addr, mut clients, mut ops, mut seed) = (None, 4u32, 1000u64, 1u64);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--connect" => addr = Some(value.clone()),
            "--clients" => clients = value.parse().unwrap_or_else(|_| usage()),
            "--ops" => ops = value.parse().unwrap_or_else(|_| usage()),
            "--seed" => seed = value.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let Some(addr) = addr else { usage() };
    let clients = clients.max(1);
    // Keys of this run only: the store may hold earlier runs' keys.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let prefix = format!("run{}.{}-", std::process::id(), since_epoch.as_micros());
    let model = RefCell::new(Model::new(prefix));
    let result: Result<_, app::check::Violation> = runtime().block_on(async {
        let runs = (0..clients).map(|c| {
            let (addr, model) = (addr.as_str(), &model);
            let mut random = xorshift(seed.wrapping_mul(1000).wrapping_add(u64::from(c)));
            async move { workload::run_client(addr, c, clients, 8, ops, model, &mut random).await }
        });
        let mut total = workload::Counts::default();
        for counts in ringcore::future::join_all(runs).await {
            let counts = counts?;
            total.acked += counts.acked;
            total.reads += counts.reads;
            total.failures += counts.failures;
        }
        let complete = workload::check_all(&addr, &model).await?;
        Ok((total, complete))
    });
    match result {
        Ok((t, complete)) => {
            let last = if complete {
                ""
            } else {
                " (final read-back incomplete)"
            };
            println!(
                "check: acked {}, reads {}, failures {}, violations 0{last}",
                t.acked, t.reads, t.failures
            );
        }
        Err(violation) => {
            println!("check: violation: {violation}");
            std::process::exit(1);
        }
    }
}

/// A xorshift64* generator seeded with `seed` (the workload's choices for real runs; a
/// simulation passes its own seeded source instead).
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed ^ 0x9E37_79B9_7F4A_7C15;
    move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}
