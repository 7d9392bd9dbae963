//! Instructions per echoed message on ringcore's server side with telemetry on and off
//! (callgrind, user space): the deterministic half of the telemetry's cost (the other
//! half, CPU per message under load, is `BENCH_AB=RINGCORE_TELEMETRY` in the echo and HTTP
//! benches; docs/benchmarks.md, "Telemetry").
//!
//! ```text
//! cargo bench --bench telemetry_instructions       # needs valgrind (scripts/read_instructions.sh installs it)
//! ```
//!
//! The bench runs itself under `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=*telemetry_echo_measured*`: a one-core ringcore echo server (one task
//! per connection, `read` then `write_all` of the same buffer) runs inside that function,
//! and a client thread with a blocking std socket sends 1 KiB messages and waits for each
//! echo (one connection, so every message is one wake, one poll and one park: the count
//! does not depend on how messages happen to batch). Only the server thread's instructions
//! inside the function count. Each setting runs
//! with `BASE` and `BASE + MSGS` messages per connection; the figure is the difference over
//! `MSGS` messages, so start-up and the first accept cancel out.
//!
//! Also counted: calls of clock_gettime per message (valgrind runs it as a system call,
//! not through the vDSO, so every call shows in the profile).
//!
//! Caveat: how many messages one task poll serves depends on how valgrind interleaves
//! the server and client threads, which depends on the machine's load (runs minutes apart
//! gave 1,170 and 2,800 instructions per message): compare on and off from one run only;
//! scripts/echo_instructions.sh, with the client in another process, is steadier.
//!
//! The server runs on the epoll driver: valgrind does not know that io_uring_enter(2)
//! blocks, keeps its one-thread-at-a-time lock across it, and the client threads never run
//! (the io_uring server hangs under callgrind). The telemetry hooks are the same on both
//! drivers (they sit in the executor and in the driver above its `Ring`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::Path;
use std::process::Command;

use ringcore::net::TcpListener;

const CONNS: usize = 1;
const BASE: usize = 200;
const MSGS: usize = 5_000;

fn main() {
    if let Ok(n) = std::env::var("TELEMETRY_INSTR_CHILD") {
        child(n.parse().expect("message count"));
        return;
    }
    if Command::new("valgrind").arg("--version").output().is_err() {
        println!("telemetry_instructions skipped: valgrind is not installed");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let dir = tempfile::tempdir().unwrap();
    println!(
        "| telemetry | user-space instructions per echoed 1 KiB message (server) | clock_gettime calls per message |"
    );
    println!("|---|---|---|");
    let mut per = Vec::new();
    for on in ["1", "0"] {
        let a = callgrind(&exe, dir.path(), on, BASE);
        let b = callgrind(&exe, dir.path(), on, BASE + MSGS);
        let msgs = (CONNS * MSGS) as f64;
        let v = (b.0 - a.0) as f64 / msgs;
        let clocks = (b.1 as f64 - a.1 as f64) / msgs;
        per.push(v);
        println!("| RINGCORE_TELEMETRY={on} | {v:.0} | {clocks:.2} |");
    }
    println!(
        "| on - off | {:.0} ({:+.1}%) |",
        per[0] - per[1],
        (per[0] / per[1] - 1.0) * 100.0
    );
    println!(
        "\n{CONNS} connections, ({} - {BASE}) messages each, one core, epoll driver",
        BASE + MSGS
    );
}

/// The measured function's user-space instructions, and its calls of clock_gettime(2)
/// (which valgrind runs as a system call, not through the vDSO, so each is counted).
fn callgrind(exe: &Path, dir: &Path, on: &str, n: usize) -> (u64, u64) {
    let out = dir.join(format!("callgrind.{on}.{n}.out"));
    let res = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*telemetry_echo_measured*",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .env("TELEMETRY_INSTR_CHILD", n.to_string())
        .env("RINGCORE_TELEMETRY", on)
        .env("RINGCORE_DRIVER", "epoll")
        .output()
        .expect("run valgrind");
    assert!(
        res.status.success(),
        "valgrind: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .expect("callgrind totals");
    (total, clock_calls(&text))
}

/// Calls of clock_gettime in a callgrind profile: the `calls=` line after each `cfn=`
/// naming it (callgrind names a function once, `cfn=(id) name`, then by `(id)` alone).
fn clock_calls(text: &str) -> u64 {
    let mut ids = std::collections::HashSet::new();
    let mut calls = 0;
    let mut counting = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cfn=") {
            let (id, name) = match rest.split_once(' ') {
                Some((id, name)) => (id, Some(name)),
                None => (rest, None),
            };
            if name.is_some_and(|n| n.contains("clock_gettime")) {
                ids.insert(id.to_string());
            }
            counting = ids.contains(id);
        } else if let Some(rest) = line.strip_prefix("calls=") {
            if counting {
                calls += rest
                    .split_whitespace()
                    .next()
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            counting = false;
        }
    }
    calls
}

/// The measured process: the server on this thread, `CONNS` client threads.
fn child(n: usize) {
    let rt = ringcore::Runtime::new().unwrap();
    let listener = rt
        .block_on(async { TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<_> = (0..CONNS)
        .map(|_| std::thread::spawn(move || client(addr, n)))
        .collect();
    telemetry_echo_measured(&rt, listener);
    for c in clients {
        c.join().unwrap();
    }
}

fn client(addr: SocketAddr, n: usize) {
    let mut s = StdStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    let msg = [7u8; 1024];
    let mut back = [0u8; 1024];
    for _ in 0..n {
        s.write_all(&msg).unwrap();
        s.read_exact(&mut back).unwrap();
    }
}

/// Serves `CONNS` connections until each closes. Everything callgrind counts runs inside.
#[inline(never)]
fn telemetry_echo_measured(rt: &ringcore::Runtime, listener: TcpListener) {
    rt.block_on(async move {
        let mut conns = Vec::new();
        for _ in 0..CONNS {
            let (s, _) = listener.accept().await.unwrap();
            conns.push(ringcore::spawn(async move {
                let mut buf = Vec::with_capacity(1024);
                loop {
                    let (res, b) = s.read(buf).await;
                    if !matches!(res, Ok(n) if n > 0) {
                        return;
                    }
                    let (res, mut b) = s.write_all(b).await;
                    res.unwrap();
                    b.clear();
                    buf = b;
                }
            }));
        }
        for c in conns {
            c.await.unwrap();
        }
    });
}
