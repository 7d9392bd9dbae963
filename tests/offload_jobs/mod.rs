//! Jobs and the worker entry point shared by the `offload_*` process-pool tests.
//!
//! A test binary's `main` is libtest's, so workers re-execute the test binary with
//! `--exact offload_jobs::worker_entry`: only [`worker_entry`] runs, and `init_worker`
//! turns the process into a worker. In the parent, `worker_entry` is an ordinary test
//! that returns at once.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use ringcore::offload::{Jobs, ProcessPoolBuilder, init_worker};

pub(crate) fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

pub(crate) fn jobs() -> Jobs {
    Jobs::new()
        .register("fib", fib)
        .register("add", |(a, b): (u64, u64)| a + b)
        .register("echo", |v: Vec<u8>| v)
        .register("sleep_ms", |ms: u64| {
            std::thread::sleep(Duration::from_millis(ms));
            ms
        })
        .register("panic", |msg: String| -> u64 { panic!("{msg}") })
        .register("abort", |(): ()| -> u64 { std::process::abort() })
        .register("big", |n: usize| vec![7u8; n])
        .register("pid", |(): ()| std::process::id())
        .register("shut_read", |(): ()| shut_read_side())
        .register("log_and_abort", |(): ()| -> u64 {
            log_line("ran");
            std::process::abort()
        })
        .register("fork_and_exit", |secs: u32| -> u64 { fork_and_exit(secs) })
        .register("fork_sleeper", fork_sleeper)
}

/// Env var naming a file that [`log_line`] appends to.
pub(crate) const LOG_ENV: &str = "RINGCORE_TEST_LOG";

/// Appends `line` to the file named by [`LOG_ENV`] (if set).
pub(crate) fn log_line(line: &str) {
    if let Ok(path) = std::env::var(LOG_ENV) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        writeln!(f, "{line}").unwrap();
    }
}

/// Shuts the read side of the worker's own socket (it answers this job, then can no
/// longer read requests: the pool's next send on it fails with EPIPE); returns the pid.
fn shut_read_side() -> u32 {
    let fd: i32 = std::env::var("RINGCORE_OFFLOAD_WORKER_FD")
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: shutdown(2) takes no pointers; `fd` is this worker's open socket.
    assert_eq!(unsafe { libc::shutdown(fd, libc::SHUT_RD) }, 0);
    std::process::id()
}

/// Forks a grandchild that keeps the worker's socket open for `secs` seconds and returns
/// its pid; the worker lives on.
fn fork_sleeper(secs: u32) -> i32 {
    // SAFETY: the child only calls sleep(3) and _exit(2), both async-signal-safe, so the
    // fork of this (multi-threaded) process is sound.
    unsafe {
        let pid = libc::fork();
        if pid == 0 {
            libc::sleep(secs);
            libc::_exit(0);
        }
        pid
    }
}

/// Forks a grandchild that keeps the worker's socket open for `secs` seconds, then exits
/// the worker at once (status 3) without answering.
fn fork_and_exit(secs: u32) -> u64 {
    // SAFETY: the child only calls sleep(3) and _exit(2), both async-signal-safe, so the
    // fork of this (multi-threaded) process is sound.
    unsafe {
        if libc::fork() == 0 {
            libc::sleep(secs);
            libc::_exit(0);
        }
        libc::_exit(3)
    }
}

/// The byte a worker writes once it has read a request, before running it.
pub(crate) const ACK: u8 = 0x06;

/// Env var that makes a worker misbehave on the wire (see [`rogue`]).
pub(crate) const ROGUE_ENV: &str = "RINGCORE_TEST_ROGUE";

#[test]
fn worker_entry() {
    if let Ok(kind) = std::env::var(ROGUE_ENV) {
        rogue(&kind);
    }
    init_worker(&jobs());
}

/// A worker that reads one request and answers with a broken frame.
fn rogue(kind: &str) {
    let Some(fd) = std::env::var("RINGCORE_OFFLOAD_WORKER_FD")
        .ok()
        .and_then(|s| s.parse::<i32>().ok())
    else {
        return;
    };
    // SAFETY: the pool gave this process the fd for its exclusive use.
    let mut sock = unsafe { UnixStream::from_raw_fd(fd) };
    let mut prefix = [0u8; 4];
    sock.read_exact(&mut prefix).unwrap();
    let mut body = vec![0u8; u32::from_le_bytes(prefix) as usize];
    sock.read_exact(&mut body).unwrap();
    if kind == "exit_before_ack" {
        // Dies holding a request it never acknowledged; leaves its pid in the log first.
        log_line(&std::process::id().to_string());
        std::process::exit(4);
    }
    // The acknowledgement a worker sends before it runs a job (the other rogues break the
    // frame that follows, not the handshake).
    sock.write_all(&[ACK]).unwrap();
    match kind {
        "oversized" => sock.write_all(&u32::MAX.to_le_bytes()).unwrap(),
        "truncated" => {
            sock.write_all(&100u32.to_le_bytes()).unwrap();
            sock.write_all(&[0u8; 10]).unwrap();
            // Then close the socket, mid-frame, and stay alive a while.
            drop(sock);
            std::thread::sleep(Duration::from_secs(30));
        }
        "trailing" | "wrong_id" => {
            // A reply {id, Ok(&[1])} in postcard: the request's id (its leading varint, or
            // 0, which no request has), variant 0, length 1, byte 1.
            let id: Vec<u8> = if kind == "trailing" {
                let end = body.iter().position(|b| b & 0x80 == 0).unwrap();
                body[..=end].to_vec()
            } else {
                vec![0]
            };
            let mut payload = id;
            payload.extend_from_slice(&[0, 1, 1]);
            let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
            frame.extend_from_slice(&payload);
            if kind == "trailing" {
                frame.extend_from_slice(&[0xde, 0xad]);
            }
            // One write, so the garbage arrives with the frame.
            sock.write_all(&frame).unwrap();
        }
        _ => {}
    }
    std::thread::sleep(Duration::from_secs(30));
    std::process::exit(0);
}

/// A pool builder whose workers run this test binary's [`worker_entry`].
pub(crate) fn pool_builder() -> ProcessPoolBuilder {
    ringcore::offload::ProcessPool::builder()
        .worker_args(["--exact", "offload_jobs::worker_entry", "--nocapture"])
        .inherit_stdout(false)
}

/// The parent pid of `pid` (from /proc/PID/stat), or `None` if it no longer exists.
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The comm field may contain spaces; fields after the last ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(1)?.parse().ok()
}

/// True if `pid` is still a child (running or zombie) of this process.
pub(crate) fn is_our_child(pid: u32) -> bool {
    parent_of(pid) == Some(std::process::id())
}

/// Every direct child of this process (all threads), from /proc/self/task/*/children.
pub(crate) fn children() -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}
