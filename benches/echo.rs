//! Echo server benchmark: ringcore's echo server (ownership-passing reads and writes),
//! ringcore's poll-based echo server (tokio's `AsyncReadExt`/`AsyncWriteExt` over
//! `PollIo<TcpStream>`), and a tokio current-thread echo server, each in its own process
//! pinned to CPU 0, driven by the same ringcore load generator
//! (`examples/support/load.rs`) pinned to CPU 1.
//!
//! ```text
//! cargo bench --bench echo                     # 3 s per run
//! ECHO_BENCH_SECS=5 cargo bench --bench echo
//! ECHO_BENCH_ONLY=64x1024 cargo bench --bench echo    # one configuration
//! ECHO_BENCH_SERVERS=ringcore,poll cargo bench --bench echo   # some servers
//! ```
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
use server_proc::{announce, cpu_secs, pin};

#[path = "support/echo_multishot.rs"]
mod echo_multishot;

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

const CONFIGS: [(usize, usize); 3] = [(1, 64), (64, 1024), (256, 4096)];
const SERVER_ENV: &str = "ECHO_BENCH_SERVER";

fn main() {
    if let Ok(kind) = std::env::var(SERVER_ENV) {
        serve(&kind);
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
    for (conns, size) in CONFIGS {
        if only
            .as_ref()
            .is_some_and(|o| *o != format!("{conns}x{size}"))
        {
            continue;
        }
        let mut per_cpu = Vec::new();
        for kind in ["ringcore", "multishot", "sqpoll", "poll", "tokio"] {
            if std::env::var("ECHO_BENCH_SERVERS").is_ok_and(|k| !k.split(',').any(|k| k == kind)) {
                continue;
            }
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
        for (a, b) in [
            ("ringcore", "tokio"),
            ("multishot", "ringcore"),
            ("multishot", "tokio"),
            ("sqpoll", "multishot"),
            ("poll", "ringcore"),
            ("poll", "tokio"),
        ] {
            if let (Some(x), Some(y)) = (of(a), of(b)) {
                println!(
                    "| ratio {a}/{b} (msgs per server CPU-s) | {conns} | {size} | | | | | {:.2}x | | |",
                    x / y
                );
            }
        }
    }
}

struct Row {
    report: load::LoadReport,
    cpu_secs: f64,
    msgs_per_cpu: f64,
    enters_per_msg: Option<f64>,
}

fn run_one(rt: &ringcore::Runtime, kind: &str, conns: usize, size: usize, secs: f64) -> Row {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = tempfile::tempdir().expect("temp dir");
    let control = dir.path().join("control.sock");
    let mut child = Command::new(exe)
        .env(SERVER_ENV, kind)
        .env("ECHO_BENCH_CONTROL", &control)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let addr: SocketAddr = read_value(&mut out, "ADDR")
        .parse()
        .expect("server address");
    let cfg = |d: f64| load::LoadConfig {
        addr,
        conns,
        size,
        duration: Duration::from_secs_f64(d),
    };
    // Warm up (connections, allocator, caches), then measure a fresh run.
    rt.block_on(load::run(cfg(0.3)));
    let enters0 = server_enters(&control, &mut out, kind);
    let cpu0 = cpu_secs(child.id());
    let report = rt.block_on(load::run(cfg(secs)));
    let cpu1 = cpu_secs(child.id());
    let enters1 = server_enters(&control, &mut out, kind);
    stop(&mut child, kind);
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

/// Asks a ringcore server for its io_uring_enter count (a datagram on its control socket
/// makes it print one line).
fn server_enters(control: &Path, out: &mut BufReader<ChildStdout>, kind: &str) -> Option<u64> {
    if kind == "tokio" {
        return None;
    }
    let sock = std::os::unix::net::UnixDatagram::unbound().expect("control socket");
    sock.send_to(b"?", control)
        .expect("send to the server's control socket");
    read_value(out, "ENTERS").parse().ok()
}

fn stop(child: &mut Child, kind: &str) {
    let sig = if kind != "tokio" {
        libc::SIGINT
    } else {
        libc::SIGKILL
    };
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, sig) };
    let _ = child.wait();
}

fn read_value(out: &mut BufReader<ChildStdout>, key: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).expect("server stdout") == 0 {
            panic!("server exited before printing {key}");
        }
        if let Some(v) = line.trim().strip_prefix(key) {
            return v.trim().to_string();
        }
    }
}

fn serve(kind: &str) {
    pin(0);
    match kind {
        "ringcore" => serve_ringcore(false),
        "poll" => serve_ringcore(true),
        "multishot" => echo_multishot::serve(false),
        "sqpoll" => echo_multishot::serve(true),
        "tokio" => serve_tokio(),
        other => panic!("unknown server {other}"),
    }
}

/// ringcore's echo server: ownership-passing `read`/`write_all`, or (with `poll`) the same
/// loop as the tokio server's, through tokio's traits over `PollIo`.
fn serve_ringcore(poll: bool) {
    use ringcore::net::{TcpListener, TcpStream};

    async fn echo(stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut buf = Vec::with_capacity(16 * 1024);
        loop {
            buf.clear();
            let (res, b) = stream.read(buf).await;
            if res? == 0 {
                return Ok(());
            }
            let (res, b) = stream.write_all(b).await;
            res?;
            buf = b;
        }
    }

    async fn echo_poll(stream: TcpStream) -> std::io::Result<()> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream.set_nodelay(true)?;
        let mut s = stream.into_poll_io();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            s.write_all(&buf[..n]).await?;
        }
    }

    let rt = std::rc::Rc::new(ringcore::Runtime::new().expect("ringcore runtime"));
    let rt2 = rt.clone();
    rt.block_on(async move {
        let ctrl_c = ringcore::signal::ctrl_c();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        announce(listener.local_addr().unwrap());
        ringcore::spawn(async move {
            loop {
                if let Ok((s, _)) = listener.accept().await {
                    ringcore::spawn(async move {
                        let _ = if poll {
                            echo_poll(s).await
                        } else {
                            echo(s).await
                        };
                    });
                }
            }
        });
        // Any datagram on the control socket asks for the io_uring_enter count. (No timer
        // is armed in the server, so its parks wait without a timeout, like tokio's.)
        let control_path = std::env::var("ECHO_BENCH_CONTROL").expect("control socket path");
        let control = ringcore::net::UnixDatagram::bind(control_path).unwrap();
        ringcore::spawn(async move {
            loop {
                let (res, _) = control.recv(Vec::with_capacity(16)).await;
                if res.is_err() {
                    return;
                }
                println!("ENTERS {}", rt2.metrics().driver.enters);
                let _ = std::io::stdout().flush();
            }
        });
        let _ = ctrl_c.await;
    });
}

fn serve_tokio() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        announce(listener.local_addr().unwrap());
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}
