//! Echo server benchmark: ringcore's echo server (ownership-passing reads and writes),
//! ringcore's poll-based echo server (tokio's `AsyncReadExt`/`AsyncWriteExt` over
//! `PollIo<TcpStream>`), both also on the epoll readiness driver (`ringcore_epoll`,
//! `poll_epoll`), and a tokio current-thread echo server, each in its own process
//! pinned to CPU 0, driven by the same ringcore load generator
//! (`examples/support/load.rs`) pinned to CPU 1. The servers are in
//! `benches/support/echo_servers.rs` (shared with `benches/sweep_echo.rs`); a new kind
//! goes there.
//!
//! ```text
//! cargo bench --bench echo                     # 3 s per run
//! ECHO_BENCH_SECS=5 cargo bench --bench echo
//! ECHO_BENCH_ONLY=64x1024 cargo bench --bench echo    # one configuration
//! ECHO_BENCH_SERVERS=ringcore,poll cargo bench --bench echo   # some servers
//! ECHO_BENCH_SERVERS=ringcore_epoll,poll_epoll,tokio cargo bench --bench echo   # epoll driver
//! cargo build --release --example echo_server &&
//!     ECHO_BENCH_SERVERS=multishot,example,example_plain,tokio cargo bench --bench echo
//! ```
//!
//! `example` and `example_plain` are the shipped `examples/echo_server` binary itself (its
//! default multishot paths, and `--plain`), not a copy of its loop. `c_uring` is a
//! hand-tuned C liburing server (`benches/c/echo_uring.c`: multishot accept, multishot
//! receive into a provided-buffer ring, send from the pooled buffer), the comparison point
//! from outside ringcore; the bench compiles it with `cc` against liburing (and runs
//! `scripts/bench-deps.sh` to install liburing-dev if that fails):
//!
//! ```text
//! cargo build --release --example echo_server &&
//!     ECHO_BENCH_ONLY=64x1024 ECHO_BENCH_ROUNDS=6 \
//!     ECHO_BENCH_SERVERS=example,c_uring cargo bench --bench echo
//! ```
//!
//! `ECHO_BENCH_ROUNDS=n` (default 1) runs the selected servers `n` times in turn for each
//! configuration (a, b, a, b, ...), so machine load falls on all of them alike; each
//! round prints its rows and ratios, and the last lines give each ratio's median over the
//! rounds.
//!
//! For each (connections, message size) it prints messages/s, p50/p99 round-trip latency,
//! the server's CPU time (utime + stime of the whole server process, from /proc/PID/stat,
//! so kernel work done on its behalf in its threads counts), messages per server
//! CPU-second, and for ringcore the io_uring_enter(2) calls per message.

#[path = "../examples/support/load.rs"]
#[allow(dead_code)]
mod load;

#[path = "support/server_proc.rs"]
mod server_proc;
use server_proc::{cpu_secs, pin};

#[path = "support/echo_servers.rs"]
mod echo_servers;
use echo_servers::Server;

use std::time::Duration;

const CONFIGS: [(usize, usize); 3] = [(1, 64), (64, 1024), (256, 4096)];

fn main() {
    if echo_servers::serve_if_asked() {
        return;
    }
    let secs: f64 = std::env::var("ECHO_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    pin(1);
    let rt = ringcore::Runtime::new().expect("ringcore runtime for the client");
    println!(
        "| server | conns | size | msgs/s | p50 us | p99 us | server CPU s | msgs per server CPU-s | enters/msg | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    // ECHO_BENCH_ONLY=64x1024 runs one configuration.
    let only = std::env::var("ECHO_BENCH_ONLY").ok();
    let servers = echo_servers::selected("ECHO_BENCH_SERVERS");
    let rounds: usize = std::env::var("ECHO_BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    for (conns, size) in CONFIGS {
        if only
            .as_ref()
            .is_some_and(|o| *o != format!("{conns}x{size}"))
        {
            continue;
        }
        let mut ratios: Vec<(&str, &str, Vec<f64>)> = Vec::new();
        for _round in 0..rounds {
            let mut per_cpu = Vec::new();
            for &kind in &servers {
                let row = run_one(&rt, kind, conns, size, secs);
                per_cpu.push((kind, row.msgs_per_cpu));
                println!(
                    "| {kind} | {conns} | {size} | {:.0} | {:.1} | {:.1} | {:.2} | {:.0} | {} | {} |",
                    row.report.msgs_per_sec(),
                    row.report.percentile(50.0),
                    row.report.percentile(99.0),
                    row.cpu_secs,
                    row.msgs_per_cpu,
                    row.enters_per_msg
                        .map_or_else(|| "-".to_string(), |e| format!("{e:.3}")),
                    row.report.errors,
                );
            }
            let of = |k: &str| per_cpu.iter().find(|(kind, _)| *kind == k).map(|(_, v)| *v);
            for (a, b) in RATIOS {
                if let (Some(x), Some(y)) = (of(a), of(b)) {
                    println!(
                        "| ratio {a}/{b} (msgs per server CPU-s) | {conns} | {size} | | | | | {:.2}x | | |",
                        x / y
                    );
                    match ratios.iter_mut().find(|(x, y, _)| (*x, *y) == (a, b)) {
                        Some((_, _, v)) => v.push(x / y),
                        None => ratios.push((a, b, vec![x / y])),
                    }
                }
            }
        }
        if rounds > 1 {
            for (a, b, mut v) in ratios {
                v.sort_by(f64::total_cmp);
                let list: Vec<String> = v.iter().map(|r| format!("{r:.2}")).collect();
                println!(
                    "| median ratio {a}/{b} over {} rounds (msgs per server CPU-s; sorted: {}) | {conns} | {size} | | | | | {:.2}x | | |",
                    v.len(),
                    list.join(", "),
                    median(&v)
                );
            }
        }
    }
}

/// The pairs whose ratio of messages per server CPU-second is printed when both ran.
const RATIOS: [(&str, &str); 17] = [
    ("ringcore", "tokio"),
    ("multishot", "ringcore"),
    ("multishot", "tokio"),
    ("sqpoll", "multishot"),
    ("poll", "ringcore"),
    ("poll", "tokio"),
    ("ringcore_epoll", "tokio"),
    ("poll_epoll", "tokio"),
    ("ringcore_epoll", "ringcore"),
    ("example", "multishot"),
    ("example", "example_plain"),
    ("example", "tokio"),
    ("example_plain", "ringcore"),
    ("example", "c_uring"),
    ("multishot", "c_uring"),
    ("example_plain", "c_uring"),
    ("c_uring", "tokio"),
];

/// The median of sorted, non-empty `v`.
fn median(v: &[f64]) -> f64 {
    // The middle element, or the mean of the two middle ones.
    let n = v.len();
    (v[(n - 1) / 2] + v[n / 2]) / 2.0
}

struct Row {
    report: load::LoadReport,
    cpu_secs: f64,
    msgs_per_cpu: f64,
    enters_per_msg: Option<f64>,
}

fn run_one(rt: &ringcore::Runtime, kind: &str, conns: usize, size: usize, secs: f64) -> Row {
    let mut server = Server::start(kind);
    let addr = server.addr;
    let cfg = |d: f64| load::LoadConfig {
        addr,
        conns,
        size,
        duration: Duration::from_secs_f64(d),
    };
    // Warm up (connections, allocator, caches), then measure a fresh run.
    rt.block_on(load::run(cfg(0.3)));
    let enters0 = server.enters();
    let cpu0 = cpu_secs(server.pid());
    let report = rt.block_on(load::run(cfg(secs)));
    let cpu1 = cpu_secs(server.pid());
    let enters1 = server.enters();
    server.stop();
    let cpu = cpu1 - cpu0;
    let enters_per_msg = match (enters0, enters1) {
        (Some(a), Some(b)) => Some((b - a) as f64 / report.msgs.max(1) as f64),
        _ => None,
    };
    Row {
        msgs_per_cpu: report.msgs as f64 / cpu.max(0.01),
        cpu_secs: cpu,
        enters_per_msg,
        report,
    }
}
