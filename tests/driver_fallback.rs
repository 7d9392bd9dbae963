//! Where io_uring is refused, `DriverKind::Auto` falls back to the epoll readiness driver
//! and everything still works: this runtime's own body and every example run under a
//! seccomp filter (tests/support/seccomp.rs) that makes io_uring_setup, io_uring_enter and
//! io_uring_register fail with EPERM, as Docker's default profile does. A control run
//! checks that the filter really denies io_uring: forcing `RINGCORE_DRIVER=uring` under it
//! fails with `BuildError::Denied`.
//!
//! The example binaries are the ones `cargo test` builds (target/<profile>/examples); the
//! postgres example, which needs a database, is run the same way by tests/postgres.rs.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ringcore::DriverKind;
use support::seccomp;

/// The syscalls a Docker-like profile denies.
const IO_URING: [i64; 3] = [
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn example(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps; `cargo test` builds examples next to it.
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples")
        .join(name);
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

/// `cmd` with io_uring denied, the driver left to `Auto` (whatever the suite runs with).
fn denied(cmd: &mut Command) -> Child {
    cmd.env_remove(ringcore::DRIVER_ENV);
    seccomp::deny_syscalls_and_exec(&IO_URING, libc::EPERM, cmd).unwrap()
}

/// Runs `cmd` under the filter to its end, killing it after `limit`.
fn run_denied(cmd: &mut Command, limit: Duration) -> Output {
    let child = denied(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let pid = child.id() as i32;
    let watchdog = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: kill(2) with signal 0 only checks the pid exists.
            if unsafe { libc::kill(pid, 0) } != 0 {
                return;
            }
        }
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    out
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const CHILD_TEST: &str = "auto_falls_back_to_epoll_when_io_uring_is_denied";

#[test]
fn auto_falls_back_to_epoll_when_io_uring_is_denied() {
    let limit = Duration::from_secs(30);
    let Some(run) = seccomp::run_in_child(CHILD_TEST, &IO_URING, libc::EPERM, limit) else {
        // In the child, under the filter: io_uring_setup answers EPERM.
        let rt = ringcore::Runtime::builder()
            .driver(DriverKind::Auto)
            .cores(2.min(std::thread::available_parallelism().map_or(1, |n| n.get())))
            .build()
            .expect("Auto must fall back, not fail");
        assert_eq!(rt.driver_kind(), DriverKind::Epoll);
        assert_eq!(rt.setup_mode(), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let echoed = rt.block_on(async move {
            // A file written and read back, a timer, and a TCP echo on loopback.
            let file = ringcore::fs::File::create(&path).await.unwrap();
            let (res, _) = file.write_all_at(b"fallback".to_vec(), 0).await;
            res.unwrap();
            file.sync_all().await.unwrap();
            let file = ringcore::fs::File::open(&path).await.unwrap();
            let (res, buf) = file.read_at(Vec::with_capacity(16), 0).await;
            assert_eq!(&buf[..res.unwrap()], b"fallback");
            ringcore::time::sleep(Duration::from_millis(5)).await;
            let listener = ringcore::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let server = ringcore::spawn(async move {
                let (s, _) = listener.accept().await.unwrap();
                let (res, buf) = s.read(Vec::with_capacity(64)).await;
                let n = res.unwrap();
                let (res, _) = s.write_all(buf[..n].to_vec()).await;
                res.unwrap();
            });
            let c = ringcore::net::TcpStream::connect(addr).await.unwrap();
            let (res, _) = c.write_all(b"ping".to_vec()).await;
            res.unwrap();
            let (res, buf) = c.read(Vec::with_capacity(64)).await;
            server.await.unwrap();
            buf[..res.unwrap()].to_vec()
        });
        assert_eq!(echoed, b"ping");
        // Core 1 fell back as well (it got core 0's driver).
        let kinds = rt.run_on_all(|_| async { ringcore::debug::metrics().map(|m| m.driver_kind) });
        assert!(
            kinds.iter().all(|k| *k == Some(DriverKind::Epoll)),
            "{kinds:?}"
        );
        return;
    };
    assert!(run.status.success(), "{run}");
}

#[test]
fn forcing_io_uring_under_the_filter_is_a_typed_error() {
    // The control: the filter really denies io_uring (and the example reports it cleanly).
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::write(&src, b"x").unwrap();
    let mut cmd = Command::new(example("file_copy"));
    cmd.arg(&src).arg(dir.path().join("dst"));
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.env(ringcore::DRIVER_ENV, "uring");
    let child = seccomp::deny_syscalls_and_exec(&IO_URING, libc::EPERM, &mut cmd).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(stderr.contains("denied"), "{}", show(&out));
    assert!(!dir.path().join("dst").exists());
}

#[test]
fn self_contained_examples_run_under_the_filter() {
    // (example, arguments, a line its output must contain)
    let cases: [(&str, &[&str], &str); 7] = [
        ("bounded_fetch", &[], "16"),
        ("event_signal", &[], ""),
        ("producer_consumer", &[], ""),
        ("shared_counter", &[], ""),
        ("task_queue", &[], ""),
        ("timeouts", &[], ""),
        ("fib_offload", &["--n", "24", "--workers", "2"], "2 workers"),
    ];
    for (name, args, needle) in cases {
        let out = run_denied(
            Command::new(example(name)).args(args),
            Duration::from_secs(60),
        );
        assert!(out.status.success(), "{name}: {}", show(&out));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains(needle),
            "{name}: no {needle:?} in {}",
            show(&out)
        );
    }
}

#[test]
fn file_copy_runs_under_the_filter() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let data = support::make_file(&src, 8 << 20, 5);
    let dst = dir.path().join("dst");
    let out = run_denied(
        Command::new(example("file_copy")).arg(&src).arg(&dst),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("copied 8388608 bytes"));
    assert!(std::fs::read(&dst).unwrap() == data, "the copy differs");
}

/// Spawns a server example under the filter and returns it with the address it printed
/// ("... listening on ADDR ..." on its first stderr line).
fn start_server(
    name: &str,
    args: &[&str],
) -> (Child, String, BufReader<std::process::ChildStderr>) {
    let mut child = denied(
        Command::new(example(name))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
    );
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{name}: {line}");
    let addr = line
        .split_whitespace()
        .skip_while(|w| *w != "on")
        .nth(1)
        .unwrap_or_else(|| panic!("{name}: no address in {line:?}"))
        .trim_start_matches("http://")
        .trim_end_matches([',', ':', '/'])
        .to_owned();
    (child, addr, stderr)
}

fn stop(mut child: Child, mut stderr: BufReader<std::process::ChildStderr>) -> String {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status}: {rest}");
    rest
}

#[test]
fn echo_server_and_client_run_under_the_filter() {
    let (server, addr, stderr) = start_server("echo_server", &["--addr", "127.0.0.1:0"]);
    // A plain std client first: bytes come back exactly.
    let mut s = TcpStream::connect(&addr).unwrap();
    let msg = support::random_bytes(100_000, 9);
    s.write_all(&msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert!(back == msg, "echo differs");
    drop(s);
    // Then the ringcore load generator, under the filter too.
    let out = run_denied(
        Command::new(example("echo_client")).args([
            "--addr",
            &addr,
            "--conns",
            "8",
            "--size",
            "1024",
            "--duration",
            "1",
        ]),
        Duration::from_secs(30),
    );
    assert!(out.status.success(), "{}", show(&out));
    stop(server, stderr);
}

#[cfg(feature = "hyper")]
#[test]
fn web_examples_run_under_the_filter() {
    let dir = std::env::current_dir().unwrap();
    let dir = dir.to_str().unwrap();
    let (server, addr, stderr) = start_server(
        "http_server",
        &["--addr", "127.0.0.1:0", "--dir", dir, "--grace", "1"],
    );
    let get = |path: &str| {
        let mut s = TcpStream::connect(&addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let hello = get("/?name=fallback");
    assert!(
        hello.starts_with("HTTP/1.1 200") && hello.ends_with("Hello, fallback"),
        "{hello}"
    );
    let readme = get("/file/README.md");
    let want = std::fs::read_to_string("README.md").unwrap();
    assert!(
        readme.starts_with("HTTP/1.1 200") && readme.ends_with(&want),
        "{readme}"
    );
    stop(server, stderr);

    let out = run_denied(
        &mut Command::new(example("crawler")),
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", show(&out));
    assert!(stdout.contains("200 ok, 0 failed"), "{}", show(&out));
}
