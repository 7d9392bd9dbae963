//! Echo load generator on ringcore.
//!
//! ```text
//! cargo run --release --example echo_client -- --addr 127.0.0.1:7878 --conns 64 --size 1024 --duration 5
//! ```
//!
//! Opens `--conns` connections; each sends a `--size`-byte message, waits for the whole
//! echo, checks every byte, and repeats for `--duration` seconds. Prints msgs/s, MiB/s,
//! p50 and p99 round-trip latency in microseconds, and the number of errors (the exit
//! status is 1 if there were any).

#[path = "support/load.rs"]
#[allow(dead_code)]
mod load;

use std::time::Duration;

fn usage() -> ! {
    eprintln!("usage: echo_client [--addr HOST:PORT] [--conns N] [--size BYTES] [--duration SECS]");
    std::process::exit(2)
}

fn main() {
    let mut cfg = load::LoadConfig {
        addr: "127.0.0.1:7878".parse().unwrap(),
        conns: 1,
        size: 64,
        duration: Duration::from_secs(5),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => cfg.addr = value.parse().unwrap_or_else(|_| usage()),
            "--conns" => cfg.conns = value.parse().unwrap_or_else(|_| usage()),
            "--size" => cfg.size = value.parse().unwrap_or_else(|_| usage()),
            "--duration" => {
                cfg.duration = Duration::from_secs_f64(value.parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }
    if cfg.size == 0 || cfg.conns == 0 {
        usage();
    }
    let size = cfg.size;
    let report = ringcore::block_on(load::run(cfg));
    println!("{}", report.summary(size));
    if report.errors > 0 {
        std::process::exit(1);
    }
}
