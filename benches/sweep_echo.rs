//! How the echo servers' cost grows with the number of connections: every server kind of
//! `benches/support/echo_servers.rs` (ringcore's ownership-passing server, its poll-based
//! server, tokio current-thread, and any kind added there), each in its own process pinned
//! to CPU 0, against the ringcore load generator (`examples/support/load.rs`) pinned to
//! CPU 1. Both processes raise RLIMIT_NOFILE to the hard limit.
//!
//! ```text
//! cargo bench --bench sweep_echo                       # both families, about 3 minutes
//! ECHO_SWEEP_FAMILIES=rss cargo bench --bench sweep_echo
//! ECHO_SWEEP_SERVERS=ringcore,tokio ECHO_SWEEP_CONNS=1,1000 cargo bench --bench sweep_echo
//! ```
//!
//! Two families, each a table on stdout and JSON lines in
//! `target/bench-results/echo_<family>.jsonl` (`scripts/plot_benches.py` plots them):
//!
//! - `conns`: `ECHO_SWEEP_CONNS` connections (default 1, 64, 256, 1,000, 4,000, 10,000)
//!   echoing `ECHO_SWEEP_SIZE`-byte messages (default 1,024): messages/s, p50/p99
//!   round-trip latency, server CPU time (utime + stime from /proc/PID/stat), messages per
//!   server CPU-second, io_uring_enter(2) calls per message (ringcore kinds).
//! - `rss`: `ECHO_SWEEP_RSS_CONNS` connections (default 1,000, 4,000, 10,000) echoing
//!   `ECHO_SWEEP_RSS_SIZE`-byte messages (default 16 KiB): the server's VmRSS and VmHWM
//!   (/proc/PID/status) at the end of the measured run, with every connection open and
//!   traffic flowing, and the growth over the idle server's VmRSS per connection.
//!
//! Per point: start a fresh server, read its idle VmRSS, open every connection (at most
//! 512 connects in flight), run `ECHO_SWEEP_WARMUP` seconds (default 0.3) of load, then
//! `ECHO_SWEEP_SECS` (default 2) measured, on the same connections; read the server's
//! figures; close and kill it. Server kinds alternate within each connection count, so the
//! ratios between kinds come from runs seconds apart.

#[path = "../examples/support/load.rs"]
#[allow(dead_code)]
mod load;

#[path = "support/server_proc.rs"]
mod server_proc;
use server_proc::{cpu_secs, pin, raise_nofile, status_bytes};

#[path = "support/echo_servers.rs"]
mod echo_servers;
use echo_servers::Server;

#[path = "support/results.rs"]
mod results;
use results::{Record, Results};

use std::time::Duration;

fn env_f64(var: &str, default: f64) -> f64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn env_list(var: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(var) {
        Ok(s) => s
            .split(',')
            .map(|n| {
                n.trim()
                    .replace('_', "")
                    .parse()
                    .unwrap_or_else(|_| panic!("{var}: not a number: {n:?}"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

struct Point {
    report: load::LoadReport,
    conns_open: usize,
    cpu_secs: f64,
    enters_per_msg: Option<f64>,
    rss_idle: u64,
    rss: u64,
    hwm: u64,
}

fn main() {
    if echo_servers::serve_if_asked() {
        return;
    }
    pin(1);
    let nofile = raise_nofile();
    let secs = env_f64("ECHO_SWEEP_SECS", 2.0);
    let warmup = env_f64("ECHO_SWEEP_WARMUP", 0.3);
    let servers = echo_servers::selected("ECHO_SWEEP_SERVERS");
    let families = std::env::var("ECHO_SWEEP_FAMILIES").unwrap_or_else(|_| "conns,rss".into());
    let rt = ringcore::Runtime::new().expect("ringcore runtime for the client");
    println!("RLIMIT_NOFILE {nofile}; servers {servers:?}; {secs} s per point");
    for family in families.split(',') {
        let (conns_list, size) = match family {
            "conns" => (
                env_list("ECHO_SWEEP_CONNS", &[1, 64, 256, 1_000, 4_000, 10_000]),
                env_f64("ECHO_SWEEP_SIZE", 1024.0) as usize,
            ),
            "rss" => (
                env_list("ECHO_SWEEP_RSS_CONNS", &[1_000, 4_000, 10_000]),
                env_f64("ECHO_SWEEP_RSS_SIZE", 16384.0) as usize,
            ),
            other => panic!("ECHO_SWEEP_FAMILIES: unknown family {other:?} (conns, rss)"),
        };
        let mut out = Results::create(&format!("echo_{family}"));
        println!("\nfamily {family}: {size}-byte messages");
        println!(
            "| server | conns | msgs/s | p50 us | p99 us | server CPU s | msgs per server CPU-s | enters/msg | VmRSS idle MiB | VmRSS MiB | VmHWM MiB | RSS growth per conn B | errors |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for &conns in &conns_list {
            for &kind in &servers {
                let p = run_point(&rt, kind, conns, size, warmup, secs);
                let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
                let per_conn = p.rss.saturating_sub(p.rss_idle) as f64 / conns as f64;
                let msgs_per_cpu = p.report.msgs as f64 / p.cpu_secs.max(0.01);
                println!(
                    "| {kind} | {conns} | {:.0} | {:.1} | {:.1} | {:.2} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {} |",
                    p.report.msgs_per_sec(),
                    p.report.percentile(50.0),
                    p.report.percentile(99.0),
                    p.cpu_secs,
                    msgs_per_cpu,
                    p.enters_per_msg
                        .map_or_else(|| "-".to_string(), |e| format!("{e:.3}")),
                    mib(p.rss_idle),
                    mib(p.rss),
                    mib(p.hwm),
                    per_conn,
                    p.report.errors,
                );
                out.write(
                    Record::new()
                        .str("family", &format!("echo_{family}"))
                        .str("server", kind)
                        .int("conns", conns as u64)
                        .int("conns_open", p.conns_open as u64)
                        .int("size", size as u64)
                        .num("secs", p.report.elapsed.as_secs_f64())
                        .int("msgs", p.report.msgs)
                        .num("msgs_per_s", p.report.msgs_per_sec())
                        .num("p50_us", p.report.percentile(50.0))
                        .num("p99_us", p.report.percentile(99.0))
                        .num("server_cpu_s", p.cpu_secs)
                        .num("msgs_per_cpu_s", msgs_per_cpu)
                        .opt("enters_per_msg", p.enters_per_msg)
                        .int("rss_idle_bytes", p.rss_idle)
                        .int("rss_bytes", p.rss)
                        .int("hwm_bytes", p.hwm)
                        .num("rss_per_conn_bytes", per_conn)
                        .int("errors", p.report.errors),
                );
            }
        }
        println!("(JSON lines in {})", out.path().display());
    }
}

fn run_point(
    rt: &ringcore::Runtime,
    kind: &str,
    conns: usize,
    size: usize,
    warmup: f64,
    secs: f64,
) -> Point {
    let mut server = Server::start(kind);
    let pid = server.pid();
    let rss_idle = status_bytes(pid, "VmRSS");
    let cfg = load::LoadConfig {
        addr: server.addr,
        conns,
        size,
        duration: Duration::from_secs_f64(secs),
    };
    let (open, connect_errors) = rt.block_on(load::connect_all(&cfg, 512));
    // Warm up (allocator, caches, every connection's buffers), then measure on the same
    // connections.
    let (open, _) = rt.block_on(load::run_on(open, Duration::from_secs_f64(warmup)));
    let enters0 = server.enters();
    let cpu0 = cpu_secs(pid);
    let (open, mut report) = rt.block_on(load::run_on(open, cfg.duration));
    let cpu1 = cpu_secs(pid);
    let enters1 = server.enters();
    // Every connection is still open, and each has just echoed a message.
    let rss = status_bytes(pid, "VmRSS");
    let hwm = status_bytes(pid, "VmHWM");
    let conns_open = open.len();
    load::close_all(open);
    server.stop();
    report.errors += connect_errors;
    let enters_per_msg = match (enters0, enters1) {
        (Some(a), Some(b)) => Some((b - a) as f64 / report.msgs.max(1) as f64),
        _ => None,
    };
    Point {
        report,
        conns_open,
        cpu_secs: cpu1 - cpu0,
        enters_per_msg,
        rss_idle,
        rss,
        hwm,
    }
}
