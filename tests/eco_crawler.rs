//! examples/crawler.rs's `--reqwest` mode (feature `tokio-context`), run as a user would:
//! HTTPS against a local TLS server whose self-signed certificate the crawler is told to
//! trust with `--ca`, redirects followed, a refused port and an untrusted server reported in
//! their places, and `--per-host` bounding the requests in flight to one host (counted on
//! the server). The server runs on a ringcore core of this test process
//! (tests/support/eco.rs). Runs on both drivers (`RINGCORE_DRIVER=epoll` for the readiness
//! driver, which the child inherits).

#[path = "support/eco.rs"]
mod eco;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::get;

/// The eco app plus `/hold`, which counts the requests in flight and keeps each 300 ms.
fn app(in_flight: Arc<AtomicUsize>, most: Arc<AtomicUsize>) -> axum::Router {
    eco::app().route(
        "/hold",
        get(move || {
            let (in_flight, most) = (in_flight.clone(), most.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                "held"
            }
        }),
    )
}

#[test]
fn reqwest_mode_crawls_https_follows_redirects_and_reports_errors_in_order() {
    let (pem, config) = eco::tls_localhost();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let none = Arc::new(AtomicUsize::new(0));
    let addr = eco::https_in_thread(app(none.clone(), none), config.clone());
    // A second server whose certificate the crawler is not told about.
    let (_, other_config) = eco::tls_localhost();
    let untrusted = eco::https_in_thread(eco::app(), other_config);
    let closed = eco::free_port();
    let base = format!("https://127.0.0.1:{}", addr.port());
    let urls = [
        format!("{base}/hello"),
        format!("{base}/redirect/3"),
        format!("http://127.0.0.1:{closed}/"),
        format!("https://127.0.0.1:{}/hello", untrusted.port()),
        format!("{base}/missing"),
    ];
    let out = Command::new(eco::example("crawler"))
        .args(["--reqwest", "--timeout-ms", "3000", "--ca"])
        .arg(&ca)
        .args(&urls)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), urls.len() + 1, "{stdout}");
    assert!(
        lines[0].starts_with("200 ") && lines[0].ends_with(&urls[0]),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("200 ") && lines[1].contains(&format!("-> {base}/redirect/0")),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with(&format!("ERR {}", urls[2])) && lines[2].contains("refused"),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with(&format!("ERR {}", urls[3]))
            && lines[3].to_lowercase().contains("certificate"),
        "{stdout}"
    );
    assert!(
        lines[4].starts_with(&format!("ERR {}: HTTP 404", urls[4])),
        "{stdout}"
    );
    assert!(lines[5].contains("2 ok, 3 failed"), "{stdout}");
}

#[test]
fn reqwest_mode_keeps_to_the_per_host_limit() {
    let (pem, config) = eco::tls_localhost();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let addr = eco::https_in_thread(app(in_flight, most.clone()), config);
    let urls: Vec<String> = (0..12)
        .map(|i| format!("https://127.0.0.1:{}/hold?i={i}", addr.port()))
        .collect();
    let out = Command::new(eco::example("crawler"))
        .args(["--reqwest", "--per-host", "3", "--ca"])
        .arg(&ca)
        .args(&urls)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("12 ok, 0 failed"), "{stdout}");
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "at most 3 in flight to the host (and 12 requests of 300 ms reach 3)"
    );
}
