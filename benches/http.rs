//! HTTP benchmark: the same hyper 1.x hello-world handler (HTTP/1.1, keep-alive) on
//! ringcore (one core) with `ringcore::hyper_rt::HyperIo` over `PollIo<TcpStream>`
//! (server `ringcore`: readiness through the ring, then recv/send) and with
//! `hyper_rt::RingIo` (server `ring`: recv and send through the ring with owned buffers),
//! and on
//! tokio's current-thread runtime (the same `HyperIo` adapter over tokio's `TcpStream`),
//! each in its own process pinned to CPU 0, driven by `wrk` pinned to CPU 1.
//!
//! ```text
//! apt-get install wrk                                  # Debian's package
//! cargo bench --features hyper --bench http            # 5 s per run
//! HTTP_BENCH_SECS=10 cargo bench --features hyper --bench http
//! HTTP_BENCH_ONLY=64 cargo bench --features hyper --bench http   # one connection count
//! HTTP_BENCH_SERVERS=ring,tokio cargo bench --features hyper --bench http   # some servers
//! ```
//!
//! `BENCH_AB=RINGCORE_TELEMETRY` runs each server with telemetry on and off in turn and
//! prints the ratio (benches/support/ab.rs). `HTTP_BENCH_COOP=1` sets the ringcore servers'
//! ring up with COOP_TASKRUN instead of DEFER_TASKRUN (`Builder::setup_mode`), as the
//! tokio context does, so `BENCH_AB=HTTP_BENCH_COOP` with `RINGCORE_TOKIO_CONTEXT=0`
//! measures the ring mode alone, and `BENCH_AB=RINGCORE_TOKIO_CONTEXT` with
//! `HTTP_BENCH_COOP=1` the context alone on the same ring.
//!
//! For 1, 64 and 256 connections it prints requests/s, wrk's p50/p99 latency, the
//! server's CPU time (utime + stime of the whole server process from /proc/PID/stat over
//! the measured run), requests per server CPU-second, and the ringcore/tokio ratio of the
//! latter. Without `wrk` on PATH it says how to install it and exits successfully.

#[path = "support/ab.rs"]
mod ab;

#[path = "support/server_proc.rs"]
mod server_proc;
use server_proc::{announce, cpu_secs, pin};

use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use ringcore::hyper_rt::{HyperIo, RingIo};

const CONNS: [usize; 3] = [1, 64, 256];
const SERVER_ENV: &str = "HTTP_BENCH_SERVER";

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn main() {
    if let Ok(kind) = std::env::var(SERVER_ENV) {
        serve(&kind);
        return;
    }
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("http bench skipped: `wrk` is not installed (Debian: apt-get install wrk)");
        return;
    }
    let secs: u32 = std::env::var("HTTP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    println!("| server | conns | req/s | p50 ms | p99 ms | server CPU s | req per server CPU-s |");
    println!("|---|---|---|---|---|---|---|");
    // HTTP_BENCH_ONLY=64 runs one connection count.
    let only: Option<usize> = std::env::var("HTTP_BENCH_ONLY")
        .ok()
        .and_then(|s| s.parse().ok());
    for conns in CONNS {
        if only.is_some_and(|o| o != conns) {
            continue;
        }
        let mut per_cpu = Vec::new();
        for kind in ["ringcore", "ring", "tokio"] {
            if std::env::var("HTTP_BENCH_SERVERS").is_ok_and(|k| !k.split(',').any(|k| k == kind)) {
                continue;
            }
            if let Some((var, rounds)) = ab::setting() {
                let mut pairs = Vec::new();
                for round in 0..rounds {
                    let (mut on, mut off) = (0.0, 0.0);
                    for value in ab::order(round) {
                        let row = run_one(kind, &[(&var, value)], conns, secs);
                        println!(
                            "| {kind} {var}={value} | {conns} | {:.0} | {:.3} | {:.3} | {:.2} | {:.0} |",
                            row.rps, row.p50_ms, row.p99_ms, row.cpu_secs, row.per_cpu
                        );
                        *(if value == "1" { &mut on } else { &mut off }) = row.per_cpu;
                    }
                    pairs.push((on, off));
                }
                let (median, lo, hi) = ab::ratios(&pairs);
                println!(
                    "| ratio {kind} {var}=1/{var}=0 (req per server CPU-s, median of {rounds}) | {conns} | | | | | {median:.3}x ({lo:.3}-{hi:.3}) |"
                );
                continue;
            }
            let row = run_one(kind, &[], conns, secs);
            println!(
                "| {kind} | {conns} | {:.0} | {:.3} | {:.3} | {:.2} | {:.0} |",
                row.rps, row.p50_ms, row.p99_ms, row.cpu_secs, row.per_cpu
            );
            per_cpu.push((kind, row.per_cpu));
        }
        let of = |k: &str| per_cpu.iter().find(|(kind, _)| *kind == k).map(|(_, v)| *v);
        for a in ["ringcore", "ring"] {
            if let (Some(x), Some(y)) = (of(a), of("tokio")) {
                println!(
                    "| ratio {a}/tokio (req per server CPU-s) | {conns} | | | | | {:.2}x |",
                    x / y
                );
            }
        }
    }
}

struct Row {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_secs: f64,
    per_cpu: f64,
}

fn run_one(kind: &str, env: &[(&str, &str)], conns: usize, secs: u32) -> Row {
    let exe = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(exe)
        .env(SERVER_ENV, kind)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("server address");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("ADDR ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("server said {line:?}"));
    let url = format!("http://{addr}/");
    // Warm up, then measure a fresh run.
    wrk(&url, conns, 1);
    let cpu0 = cpu_secs(child.id());
    let report = wrk(&url, conns, secs);
    let cpu1 = cpu_secs(child.id());
    stop(&mut child);
    let rps = value_after(&report, "Requests/sec:").unwrap_or(0.0);
    let requests = requests_total(&report).unwrap_or(rps * secs as f64);
    let cpu = cpu1 - cpu0;
    Row {
        rps,
        p50_ms: latency_ms(&report, "50%"),
        p99_ms: latency_ms(&report, "99%"),
        cpu_secs: cpu,
        per_cpu: requests / cpu.max(0.01),
    }
}

/// Runs wrk (one thread, `conns` keep-alive connections) pinned to CPU 1.
fn wrk(url: &str, conns: usize, secs: u32) -> String {
    let out = Command::new("taskset")
        .args(["-c", &cpu_list(1), "wrk", "-t1"])
        .arg(format!("-c{conns}"))
        .arg(format!("-d{secs}s"))
        .args(["--latency", url])
        .output()
        .expect("run wrk through taskset");
    assert!(
        out.status.success(),
        "wrk failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `i`-th CPU of this process's affinity mask, as taskset wants it.
fn cpu_list(i: usize) -> String {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    ids.get(i % ids.len().max(1))
        .map_or(i, |c| c.id)
        .to_string()
}

fn value_after(report: &str, key: &str) -> Option<f64> {
    report
        .lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// "  123456 requests in 5.00s, ..." -> 123456.
fn requests_total(report: &str) -> Option<f64> {
    report.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        let n = words.next()?.parse().ok()?;
        (words.next()? == "requests").then_some(n)
    })
}

/// A latency percentile line of `--latency` ("     50%  123.00us") in milliseconds.
fn latency_ms(report: &str, pct: &str) -> f64 {
    let Some(v) = report
        .lines()
        .find_map(|l| l.trim().strip_prefix(pct).map(str::trim))
    else {
        return f64::NAN;
    };
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let num: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => num / 1e3,
        "ms" => num,
        "s" => num * 1e3,
        "m" => num * 60e3,
        _ => f64::NAN,
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Both servers use the same hyper builder: HTTP/1.1, keep-alive, no timer (so neither
/// arms a header-read timeout per request).
fn serve(kind: &str) {
    pin(0);
    match kind {
        "ringcore" | "ring" => {
            let ring = kind == "ring";
            // HTTP_BENCH_COOP=1: the ring set up with COOP_TASKRUN (no DEFER_TASKRUN), as
            // the tokio context sets it up, to tell the ring mode's cost from tokio's.
            let mut b = ringcore::Runtime::builder();
            if std::env::var_os("HTTP_BENCH_COOP").is_some_and(|v| v == "1") {
                b = b.setup_mode(ringcore::SetupMode::CoopTaskrun);
            }
            let rt = b.build().expect("ringcore runtime");
            rt.block_on(async {
                let listener = ringcore::net::TcpListener::bind("127.0.0.1:0").unwrap();
                announce(listener.local_addr().unwrap());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let builder = hyper::server::conn::http1::Builder::new();
                    let service = hyper::service::service_fn(hello);
                    if ring {
                        ringcore::spawn(async move {
                            let _ = builder.serve_connection(RingIo::new(stream), service).await;
                        });
                    } else {
                        ringcore::spawn(async move {
                            let io = HyperIo::new(stream.into_poll_io());
                            let _ = builder.serve_connection(io, service).await;
                        });
                    }
                }
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .expect("tokio runtime");
            rt.block_on(async {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                announce(listener.local_addr().unwrap());
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(async move {
                        let io = HyperIo::new(stream);
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, hyper::service::service_fn(hello))
                            .await;
                    });
                }
            });
        }
        other => panic!("unknown server {other}"),
    }
}
