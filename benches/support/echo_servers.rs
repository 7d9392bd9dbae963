//! The echo servers the echo benches (`benches/echo.rs`, `benches/sweep_echo.rs`) run, each
//! in its own process, and the parent's handle on such a process.
//!
//! A bench binary is its own server: [`Server::start`] runs the current executable again
//! with `ECHO_BENCH_SERVER=<kind>`, and the bench's `main` calls [`serve_if_asked`] first.
//! The server pins itself to CPU 0, raises its RLIMIT_NOFILE, binds its control socket
//! (ringcore kinds: a datagram on it makes the server print its io_uring_enter count),
//! then prints `ADDR host:port`. A new kind is one more name in [`KINDS`] and one more
//! arm in [`serve`].

// Each bench uses some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};

use crate::server_proc::{announce, pin, raise_nofile};

#[path = "echo_multishot.rs"]
mod echo_multishot;

/// Every server kind, in the order the benches run them.
pub(crate) const KINDS: &[&str] = &[
    "ringcore",
    "multishot",
    "sqpoll",
    "poll",
    "ringcore_epoll",
    "poll_epoll",
    "tokio",
];

const SERVER_ENV: &str = "ECHO_BENCH_SERVER";
const CONTROL_ENV: &str = "ECHO_BENCH_CONTROL";

/// The kinds named in the comma-separated env var `var` (all of [`KINDS`] when unset), in
/// the order of [`KINDS`]; panics on a name that is not a kind.
pub(crate) fn selected(var: &str) -> Vec<&'static str> {
    let Ok(list) = std::env::var(var) else {
        return KINDS.to_vec();
    };
    for name in list.split(',').filter(|n| !n.is_empty()) {
        assert!(
            KINDS.contains(&name),
            "{var}: unknown server {name:?} (known: {KINDS:?})"
        );
    }
    KINDS
        .iter()
        .copied()
        .filter(|k| list.split(',').any(|n| n == *k))
        .collect()
}

/// In a server process (`ECHO_BENCH_SERVER` set): serves until killed and returns true.
/// In the bench's own process: returns false at once.
pub(crate) fn serve_if_asked() -> bool {
    match std::env::var(SERVER_ENV) {
        Ok(kind) => {
            serve(&kind);
            true
        }
        Err(_) => false,
    }
}

fn serve(kind: &str) {
    pin(0);
    raise_nofile();
    match kind {
        "ringcore" => serve_ringcore(false, false),
        "poll" => serve_ringcore(true, false),
        "multishot" => echo_multishot::serve(false),
        "sqpoll" => echo_multishot::serve(true),
        "ringcore_epoll" => serve_ringcore(false, true),
        "poll_epoll" => serve_ringcore(true, true),
        "tokio" => serve_tokio(),
        other => panic!("unknown server {other}"),
    }
}

/// A server process started by the bench.
pub(crate) struct Server {
    child: Child,
    out: BufReader<ChildStdout>,
    _dir: tempfile::TempDir,
    control: std::path::PathBuf,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts a `kind` server and waits for its address.
    pub(crate) fn start(kind: &str) -> Server {
        let exe = std::env::current_exe().expect("current_exe");
        let dir = tempfile::tempdir().expect("temp dir");
        let control = dir.path().join("control.sock");
        let mut child = Command::new(exe)
            .env(SERVER_ENV, kind)
            .env(CONTROL_ENV, &control)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server");
        let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
        let addr = read_value(&mut out, "ADDR")
            .parse()
            .expect("server address");
        Server {
            child,
            out,
            _dir: dir,
            control,
            addr,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's io_uring_enter(2) count so far; None for a server without a control
    /// socket (tokio).
    pub(crate) fn enters(&mut self) -> Option<u64> {
        let sock = std::os::unix::net::UnixDatagram::unbound().expect("control socket");
        sock.send_to(b"?", &self.control).ok()?;
        read_value(&mut self.out, "ENTERS").parse().ok()
    }

    /// Kills the server (SIGKILL; nothing is measured after this) and reaps it.
    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// ringcore's echo server: ownership-passing `read`/`write_all`, or (with `poll`) the same
/// loop as the tokio server's, through tokio's traits over `PollIo`; on io_uring, or (with
/// `epoll`) on the epoll readiness driver.
fn serve_ringcore(poll: bool, epoll: bool) {
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

    let driver = if epoll {
        ringcore::DriverKind::Epoll
    } else {
        ringcore::DriverKind::IoUring
    };
    let mut builder = ringcore::Runtime::builder().driver(driver);
    if !epoll {
        builder = echo_multishot::ring_setup(builder);
    }
    let rt = builder.build();
    let rt = std::rc::Rc::new(rt.expect("ringcore runtime"));
    let rt2 = rt.clone();
    rt.block_on(async move {
        let ctrl_c = ringcore::signal::ctrl_c();
        // Any datagram on the control socket asks for the io_uring_enter count. (No timer
        // is armed in the server, so its parks wait without a timeout, like tokio's.)
        let control_path = std::env::var(CONTROL_ENV).expect("control socket path");
        let control = ringcore::net::UnixDatagram::bind(control_path).unwrap();
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
