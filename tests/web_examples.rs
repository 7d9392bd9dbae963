//! The web and database examples run as the README shows them: `http_server --cores 2`
//! (connections on both cores, Ctrl-C finishing an in-flight request), `crawler` with no
//! arguments (its own server, 200 URLs), and `postgres` with no server running (a clear
//! error, exit status 1). `cargo test --features hyper` builds the examples these run.
//! `http_server`'s `/metrics` is parsed as Prometheus text and scraped 10,000 times, 100
//! at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/prometheus.rs"]
mod prometheus_text;

fn example(name: &str) -> PathBuf {
    // Tests run from target/<profile>/deps; `cargo test` builds examples next to it.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test --features hyper builds it)",
        path.display()
    );
    path
}

/// One HTTP/1.1 request on a fresh connection with `Connection: close`; the whole answer.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn http_server_on_two_cores_finishes_in_flight_requests_on_ctrl_c() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(example("http_server"))
        .args(["--addr", &addr, "--cores", "2", "--grace", "5"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("listening") && line.contains("2 cores"),
        "{line}"
    );

    let threads: Vec<_> = (0..4)
        .map(|t| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let r = get(&addr, &format!("/?name=t{t}i{i}"));
                    assert!(
                        r.starts_with("HTTP/1.1 200") && r.ends_with(&format!("Hello, t{t}i{i}")),
                        "{r}"
                    );
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());

    let slow = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let t = Instant::now();
            (get(&addr, "/slow"), t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGINT) };
    let (answer, took) = slow.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("Hello, slowly"),
        "{answer}"
    );
    assert!(took >= Duration::from_millis(900), "{took:?}");
    let status = server.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status}: {rest}");
    assert!(
        rest.contains("201 requests, 0 connections cut off"),
        "{rest}"
    );
    // "http_server: core 0: C connections, R requests": both cores served some.
    let per_core: Vec<u64> = rest
        .lines()
        .filter_map(|l| l.strip_prefix("http_server: core "))
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(per_core.len(), 2, "{rest}");
    assert!(
        per_core.iter().all(|&c| c > 0),
        "a core served no connection: {rest}"
    );
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still listening after exit"
    );
}

#[test]
fn crawler_with_no_arguments_crawls_its_own_server() {
    let out = Command::new(example("crawler")).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("crawled 200 URLs") && stdout.contains("200 ok, 0 failed"),
        "{stdout}"
    );
}

#[test]
fn crawler_reports_unreachable_urls_in_order_and_finishes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(example("crawler"))
        .args([
            format!("http://127.0.0.1:{port}/"),
            "http://gone.invalid/".into(),
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with(&format!("ERR http://127.0.0.1:{port}/: connect")),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("ERR http://gone.invalid/: cannot resolve"),
        "{stdout}"
    );
    assert!(lines[2].contains("0 ok, 2 failed"), "{stdout}");
}

#[test]
fn postgres_example_without_a_server_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example("postgres"))
        .arg(format!("host={} user=postgres", dir.path().display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no PostgreSQL server at") && stderr.contains("is it running?"),
        "{stderr}"
    );
}

#[test]
fn http_server_answers_404_for_a_fifo_and_keeps_serving_regular_files() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = std::ffi::CString::new(
        dir.path()
            .join("fifo")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::fs::write(dir.path().join("page"), "a regular file").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = KillOnDrop(
        Command::new(example("http_server"))
            .args(["--addr", &addr, "--dir"])
            .arg(dir.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    // More requests than the driver's pool has threads: each open of the FIFO (no writer)
    // used to block a pool thread of the epoll driver for good.
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || get(&addr, "/file/fifo"))
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert!(r.starts_with("HTTP/1.1 404"), "/file/fifo: {r:?}");
    }
    let r = get(&addr, "/file/page");
    assert!(
        r.starts_with("HTTP/1.1 200") && r.ends_with("a regular file"),
        "/file/page: {r:?}"
    );
}

/// Starts `http_server --cores 2` on a free port; returns it and its address.
fn http_server_two_cores() -> (KillOnDrop, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = KillOnDrop(
        Command::new(example("http_server"))
            .args(["--addr", &addr, "--cores", "2"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    (server, addr)
}

/// The head and body of an HTTP/1.1 answer.
fn split_answer(answer: &str) -> (&str, &str) {
    answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {answer:?}"))
}

#[test]
fn http_server_metrics_route_serves_every_core_as_prometheus_text() {
    let (_server, addr) = http_server_two_cores();
    // Enough connections that SO_REUSEPORT gives both cores some.
    for i in 0..40 {
        let r = get(&addr, &format!("/?name={i}"));
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
    let answer = get(&addr, "/metrics");
    let (head, body) = split_answer(&answer);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    let parsed = prometheus_text::parse(body).unwrap_or_else(|e| panic!("{e}\n{body}"));
    assert!(parsed.families.keys().all(|n| n.starts_with("ringcore_")));
    assert_eq!(
        parsed.families["ringcore_task_schedule_delay_seconds"],
        "histogram"
    );
    let mut accepts = 0.0;
    for core in ["0", "1"] {
        let delay = parsed
            .histogram("ringcore_task_schedule_delay_seconds", &[("core", core)])
            .unwrap_or_else(|| panic!("core {core}: no schedule delay\n{body}"));
        assert!(delay.count > 0.0, "core {core}: {delay:?}");
        assert!(
            parsed
                .value("ringcore_task_polls_total", &[("core", core)])
                .unwrap()
                > 0.0
        );
        accepts += parsed
            .value("ringcore_tasks_spawned_total", &[("core", core)])
            .unwrap();
    }
    // A task per connection (and per core's listener).
    assert!(accepts >= 40.0, "{accepts}");
}

#[test]
fn http_server_metrics_route_survives_ten_thousand_concurrent_scrapes() {
    let (_server, addr) = http_server_two_cores();
    // 25 threads, each with 4 scrapes in flight at once: 100 concurrent, 100 rounds.
    let threads: Vec<_> = (0..25)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                for _ in 0..100 {
                    let mut batch: Vec<TcpStream> = (0..4)
                        .map(|_| {
                            let mut s = TcpStream::connect(&addr).unwrap();
                            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                            write!(
                                s,
                                "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                            )
                            .unwrap();
                            s
                        })
                        .collect();
                    for s in &mut batch {
                        let mut out = String::new();
                        s.read_to_string(&mut out).unwrap();
                        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
                        assert!(
                            out.contains("ringcore_task_schedule_delay_seconds_count{core=\"1\"}"),
                            "{out}"
                        );
                    }
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    // Still serving, and the last scrape still parses.
    let answer = get(&addr, "/metrics");
    let (_, body) = split_answer(&answer);
    let parsed = prometheus_text::parse(body).unwrap_or_else(|e| panic!("{e}"));
    let polls: f64 = ["0", "1"]
        .iter()
        .map(|c| {
            parsed
                .value("ringcore_task_polls_total", &[("core", c)])
                .unwrap()
        })
        .sum();
    assert!(polls >= 10_000.0, "{polls}");
    let r = get(&addr, "/?name=after");
    assert!(r.ends_with("Hello, after"), "{r}");
}

/// A server process killed (SIGKILL: one whose pool threads are stuck would not finish a
/// graceful stop) and reaped when the test ends, failed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
