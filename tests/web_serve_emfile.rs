//! `hyper_rt::serve` out of descriptors: with every descriptor below RLIMIT_NOFILE taken,
//! a new client's connection cannot be accepted (EMFILE). The server logs it and backs
//! off without spinning its core, keeps answering a connection it already has, and
//! accepts and answers the new client once a descriptor is free again.
//!
//! The limit is process-wide, so this binary holds this one test.

mod support;

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringcore::hyper_rt::{Body, Client, Response, serve, service_fn};
use ringcore::net::TcpListener;

/// Counts the server's accept warnings.
struct CountWarnings;

static WARNINGS: AtomicUsize = AtomicUsize::new(0);

impl log::Log for CountWarnings {
    fn enabled(&self, meta: &log::Metadata<'_>) -> bool {
        meta.target() == "ringcore::hyper_rt"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.level() == log::Level::Warn {
            WARNINGS.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn flush(&self) {}
}

/// The highest descriptor number open now.
fn highest_fd() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
}

#[test]
fn serve_keeps_serving_through_emfile_and_accepts_again_after() {
    log::set_logger(&CountWarnings).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The limit a little above the highest open descriptor, set before the server
        // arms its accept: io_uring reads RLIMIT_NOFILE when it prepares an accept SQE,
        // so a multishot accept armed earlier would go on allocating under the old limit.
        let old_limit = support::set_soft_nofile(highest_fd() + 16);
        let hello = service_fn(|_req| async {
            Ok::<_, std::convert::Infallible>(Response::new(Body::from("hello")))
        });
        drop(ringcore::spawn(serve(listener, hello).into_future()));
        // Connection A, kept in the client's pool.
        let client = Client::new();
        let url = format!("http://{addr}/");
        let text = client.get(&url).await.unwrap().into_body().text().await;
        assert_eq!(text.unwrap(), "hello");
        assert_eq!(client.pooled(), 1);

        // Every descriptor below the limit taken (the gaps and the rest filled with
        // /dev/null).
        let mut placeholders = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            placeholders.push(f);
        }
        assert!(!placeholders.is_empty());
        // Client B gets one descriptor; the server has none left to accept it with.
        placeholders.pop();
        let b = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while WARNINGS.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "accept never failed");
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        // While out of descriptors: connection A is still served, and nothing spins.
        let cpu = support::cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID);
        for _ in 0..3 {
            let text = client.get(&url).await.unwrap().into_body().text().await;
            assert_eq!(text.unwrap(), "hello");
        }
        ringcore::time::sleep(Duration::from_millis(300)).await;
        let burnt = support::cpu_time(libc::CLOCK_PROCESS_CPUTIME_ID) - cpu;
        assert!(burnt < Duration::from_millis(150), "spun {burnt:?}");
        let warnings = WARNINGS.load(Ordering::SeqCst);
        // At least the one failure waited for above (the retry may find a descriptor come
        // free, and accept B before the placeholders go), and no busy retrying.
        assert!(warnings >= 1, "{warnings} accept failures");
        assert!(warnings < 40, "{warnings} accept failures: no backoff");
        assert_eq!(client.pooled(), 1, "A was reused, not replaced");

        // Descriptors back: B is accepted and answered (within the 1 s backoff cap).
        drop(placeholders);
        support::set_soft_nofile(old_limit);
        let answer = ringcore::offload::spawn_blocking(move || b.join().unwrap())
            .await
            .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("hello"),
            "{answer}"
        );
    });
}
