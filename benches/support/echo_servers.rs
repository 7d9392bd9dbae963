//! The echo servers the echo benches (`benches/echo.rs`, `benches/sweep_echo.rs`) run, each
//! in its own process, and the parent's handle on such a process.
//!
//! A bench binary is its own server: [`Server::start`] runs the current executable again
//! with `ECHO_BENCH_SERVER=<kind>`, and the bench's `main` calls [`serve_if_asked`] first.
//! The server pins itself to CPU 0, raises its RLIMIT_NOFILE, binds its control socket
//! (ringcore kinds: a datagram on it makes the server print its io_uring_enter count),
//! then prints `ADDR host:port`. A new kind is one more name in [`KINDS`] and one more
//! arm in [`serve`].
//!
//! Three kinds are not the bench binary but programs of their own, started pinned to CPU 0
//! with the bench's RLIMIT_NOFILE. They have no control socket, so no io_uring_enter count.
//!
//! - `example` and `example_plain`: the shipped example, `examples/echo_server.rs`, run as
//!   users run it (its default, multishot accept and receive, and `--plain`). They need
//!   `cargo build --release --example echo_server` first (`cargo bench` does not build
//!   examples, and a stale binary measures old code); the bench starts
//!   `target/release/examples/echo_server --addr 127.0.0.1:0` and reads the address from
//!   its first stderr line.
//! - `c_uring`: the hand-tuned C liburing server `benches/c/echo_uring.c` (multishot
//!   accept, multishot receive into a provided-buffer ring, send from the pooled buffer),
//!   the comparison point from outside ringcore. The bench compiles it once per run with
//!   the system C compiler (`$CC`, default `cc -O2`) against liburing into
//!   `target/release/c/echo_uring`; when that fails it runs `scripts/bench-deps.sh`
//!   (installs liburing-dev where missing) and tries once more. `ECHO_C_ARGS` passes
//!   flags to it (`--buffers N --buffer-size BYTES`, default 256 buffers of 16 KiB). It
//!   prints `ADDR host:port` on stdout like the bench's own servers.
//!
//! The kinds that are not the bench binary run only when named (`selected`).

// Each bench uses some of these.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::OnceLock;

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
    "example",
    "example_plain",
    "c_uring",
    "tokio",
];

const SERVER_ENV: &str = "ECHO_BENCH_SERVER";
const CONTROL_ENV: &str = "ECHO_BENCH_CONTROL";

/// The kinds named in the comma-separated env var `var` (when unset, every kind of
/// [`KINDS`] but the external ones, the example and C kinds, which need a build of their
/// own), in the order of [`KINDS`]; panics on a name that is not a kind.
pub(crate) fn selected(var: &str) -> Vec<&'static str> {
    let Ok(list) = std::env::var(var) else {
        return KINDS
            .iter()
            .copied()
            .filter(|k| external(k).is_none())
            .collect();
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
        // Started by `Server::start_external`, never as the bench binary.
        other => panic!("unknown server {other}"),
    }
}

/// A server process started by the bench.
pub(crate) struct Server {
    child: Child,
    /// The bench binary's stdout (`ENTERS n` replies); None for the external kinds.
    out: Option<BufReader<ChildStdout>>,
    _dir: tempfile::TempDir,
    control: std::path::PathBuf,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
}

impl Server {
    /// Starts a `kind` server and waits for its address.
    pub(crate) fn start(kind: &str) -> Server {
        if let Some(ext) = external(kind) {
            return Server::start_external(ext);
        }
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
            out: Some(out),
            _dir: dir,
            control,
            addr,
        }
    }

    /// Starts an external server (the example, the C server), pinned to the CPU the bench's
    /// own servers pin themselves to, and waits for its address.
    fn start_external(ext: External) -> Server {
        use std::os::unix::process::CommandExt;

        let (bin, args, addr_on_stdout) = match ext {
            External::Example(flags) => {
                let bin = target_dir().join("examples").join("echo_server");
                assert!(
                    bin.exists(),
                    "{} is missing: run `cargo build --release --example echo_server` first",
                    bin.display()
                );
                let mut args = vec!["--addr".to_string(), "127.0.0.1:0".to_string()];
                args.extend(flags.iter().map(|f| f.to_string()));
                (bin, args, false)
            }
            External::CUring => {
                let args = std::env::var("ECHO_C_ARGS")
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(String::from)
                    .collect();
                (c_server(), args, true)
            }
        };
        let cpu = core_affinity::get_core_ids()
            .unwrap_or_default()
            .first()
            .map_or(0, |c| c.id);
        // SAFETY: an all-zero cpu_set_t is a valid empty set; CPU_SET writes inside it.
        let set = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            set
        };
        let mut cmd = Command::new(&bin);
        cmd.args(&args);
        if addr_on_stdout {
            cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        } else {
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        }
        // SAFETY: the closure runs in the forked child before exec and only calls
        // sched_setaffinity(2), which is async-signal-safe, on a set built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let addr = if addr_on_stdout {
            let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
            read_value(&mut out, "ADDR")
                .parse()
                .expect("server address")
        } else {
            let mut err = BufReader::new(child.stderr.take().expect("piped stderr"));
            let mut line = String::new();
            err.read_line(&mut line).expect("echo_server stderr");
            // "echo_server: listening on 127.0.0.1:PORT (1 cores, ...)"
            let addr = line
                .split_whitespace()
                .skip_while(|w| *w != "on")
                .nth(1)
                .and_then(|a| a.parse().ok())
                .unwrap_or_else(|| panic!("echo_server's first line has no address: {line:?}"));
            // Pass the rest of its stderr (accept errors, the totals) through.
            std::thread::spawn(move || {
                let mut rest = String::new();
                while err.read_line(&mut rest).is_ok_and(|n| n > 0) {
                    eprint!("{rest}");
                    rest.clear();
                }
            });
            addr
        };
        Server {
            child,
            out: None,
            _dir: tempfile::tempdir().expect("temp dir"),
            control: std::path::PathBuf::new(),
            addr,
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's io_uring_enter(2) count so far; None for a server without a control
    /// socket (tokio).
    pub(crate) fn enters(&mut self) -> Option<u64> {
        let out = self.out.as_mut()?;
        let sock = std::os::unix::net::UnixDatagram::unbound().expect("control socket");
        sock.send_to(b"?", &self.control).ok()?;
        read_value(out, "ENTERS").parse().ok()
    }

    /// Kills the server (SIGKILL; nothing is measured after this) and reaps it.
    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server kind that is a program of its own rather than the bench binary.
#[derive(Clone, Copy)]
enum External {
    /// `examples/echo_server` with these flags.
    Example(&'static [&'static str]),
    /// `benches/c/echo_uring.c`.
    CUring,
}

/// The external program behind `kind`; None for the bench's own kinds.
fn external(kind: &str) -> Option<External> {
    match kind {
        "example" => Some(External::Example(&[])),
        "example_plain" => Some(External::Example(&["--plain"])),
        "c_uring" => Some(External::CUring),
        _ => None,
    }
}

/// The profile's target directory (`target/release`): the bench binary is
/// `target/release/deps/NAME-HASH`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .to_path_buf()
}

/// Compiles `benches/c/echo_uring.c` (once per bench run, so never stale) into
/// `target/release/c/echo_uring` and returns its path. When the compile fails, runs
/// `scripts/bench-deps.sh` (which installs liburing-dev and a C compiler where missing)
/// and compiles once more; panics if that fails too.
fn c_server() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let src = root.join("benches/c/echo_uring.c");
            let dir = target_dir().join("c");
            std::fs::create_dir_all(&dir).expect("create target/release/c");
            let bin = dir.join("echo_uring");
            let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
            let compile = || {
                Command::new(&cc)
                    .args(["-O2", "-Wall", "-o"])
                    .arg(&bin)
                    .arg(&src)
                    .arg("-luring")
                    .status()
                    .is_ok_and(|s| s.success())
            };
            if !compile() {
                eprintln!(
                    "echo bench: `{cc}` could not build {}; running scripts/bench-deps.sh",
                    src.display()
                );
                let deps = Command::new("sh")
                    .arg(root.join("scripts/bench-deps.sh"))
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(
                    deps && compile(),
                    "could not build {} (needs cc and liburing-dev: scripts/bench-deps.sh)",
                    src.display()
                );
            }
            bin
        })
        .clone()
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
