//! The crawler of examples/crawler.rs (examples/support/crawl.rs) against the web server
//! (examples/support/web.rs) on loopback: results in input order, each failure (an
//! unresolvable `.invalid` host, a refused port, a timed-out request, 5xx after retries,
//! a bad URL) kept as that URL's error while the crawl finishes, and retries that recover.
//! No traffic leaves 127.0.0.1: `.invalid` names fail in `net::lookup_host` (RFC 6761)
//! without asking a resolver.

#[path = "../examples/support/crawl.rs"]
mod crawl;
#[path = "../examples/support/web.rs"]
mod web;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crawl::{CrawlConfig, FetchError};
use ringcore::future::RetryPolicy;
use ringcore::hyper_rt::{Client, ClientError, Protocol, StatusCode};
use ringcore::net::TcpListener;
use ringcore::sync::Event;

fn start(config: web::WebConfig) -> (SocketAddr, Rc<web::App>, Rc<Event>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let app = web::App::new(config).unwrap();
    let stop = Rc::new(Event::new());
    let (a, s) = (app.clone(), stop.clone());
    ringcore::spawn(async move { web::serve(listener, a, async move { s.wait().await }).await });
    (addr, app, stop)
}

/// A loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn crawl_with_faults(protocol: Protocol) {
    ringcore::block_on(async move {
        let (addr, app, stop) = start(web::WebConfig {
            slow: Duration::from_secs(3),
            ..web::WebConfig::default()
        });
        let base = format!("http://{addr}");
        let refused = format!("http://127.0.0.1:{}/", closed_port());
        let mut urls: Vec<String> = (0..60).map(|i| format!("{base}/?name=u{i}")).collect();
        urls[7] = refused.clone();
        urls[13] = "http://unreachable.invalid/".into();
        urls[21] = format!("{base}/slow");
        urls[34] = format!("{base}/status/503");
        urls[41] = format!("{base}/flaky?key=a&fail=2");
        urls[50] = format!("{base}/status/404");
        urls[55] = "ftp://127.0.0.1/".into();
        let config = CrawlConfig {
            concurrency: 8,
            timeout: Duration::from_millis(400),
            retry: RetryPolicy::new(3).exponential(
                Duration::from_millis(20),
                2.0,
                Duration::from_millis(100),
            ),
        };
        let client = Client::builder()
            .protocol(protocol)
            .connect_timeout(Duration::from_millis(400))
            .build();
        let start = Instant::now();
        let results = crawl::crawl(&client, &urls, &config).await;
        let took = start.elapsed();
        assert_eq!(results.len(), urls.len());
        // The slow URL times out once (timeouts are not retried), and nothing else is slow.
        assert!(took < Duration::from_secs(2), "{took:?}");
        for (i, r) in results.iter().enumerate() {
            match (i, r) {
                (7, Err((FetchError::Client(ClientError::Connect { source, port, .. }), 3))) => {
                    assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused);
                    assert!(refused.contains(&format!(":{port}/")), "{refused} {port}");
                }
                (13, Err((FetchError::Client(ClientError::Resolve { host, .. }), _))) => {
                    assert_eq!(host, "unreachable.invalid")
                }
                (21, Err((FetchError::Timeout(_), 1))) => {}
                (34, Err((FetchError::Status(StatusCode::SERVICE_UNAVAILABLE), 3))) => {}
                (41, Ok(page)) => {
                    assert_eq!(
                        (page.attempts, &page.body[..]),
                        (3, &b"Hello, eventually"[..])
                    )
                }
                (50, Err((FetchError::Status(StatusCode::NOT_FOUND), 1))) => {}
                (
                    55,
                    Err((FetchError::Client(ClientError::UnsupportedScheme { scheme, .. }), 1)),
                ) => {
                    assert_eq!(scheme, "ftp")
                }
                (7 | 13 | 21 | 34 | 41 | 50 | 55, other) => panic!("URL {i}: unexpected {other:?}"),
                (_, Ok(page)) => {
                    assert_eq!(page.status, StatusCode::OK);
                    assert_eq!(page.body, format!("Hello, u{i}"), "URL {i} out of order");
                    assert_eq!(page.attempts, 1);
                }
                (_, Err(e)) => panic!("URL {i}: {e:?}"),
            }
        }
        let s = crawl::summarize(&results);
        assert_eq!((s.ok, s.failed), (54, 6));
        assert!(s.p50 <= s.p99);
        // 53 good, 3 for 503, 3 for flaky, 1 for 404, 1 for the slow one (still sleeping).
        assert_eq!(app.requests.get(), 61);
        stop.set();
    });
}

#[test]
fn crawl_keeps_each_failure_in_place_over_http1() {
    crawl_with_faults(Protocol::Http1);
}

#[test]
fn crawl_keeps_each_failure_in_place_over_h2c() {
    crawl_with_faults(Protocol::Http2);
}

#[test]
fn one_pool_per_core_reuses_connections() {
    ringcore::block_on(async {
        let (addr, app, stop) = start(web::WebConfig::default());
        let urls: Vec<String> = (0..200)
            .map(|i| format!("http://{addr}/?name={i}"))
            .collect();
        for (protocol, max_conns) in [(Protocol::Http1, 16), (Protocol::Http2, 1)] {
            let before = app.accepted();
            let client = Client::builder().protocol(protocol).build();
            let config = CrawlConfig {
                concurrency: 16,
                ..CrawlConfig::default()
            };
            let results = crawl::crawl(&client, &urls, &config).await;
            assert!(results.iter().all(Result::is_ok));
            let conns = app.accepted() - before;
            // HTTP/1.1: at most one connection per request in flight, reused after that;
            // h2c: one connection for all of them.
            assert!(
                conns >= 1 && conns <= max_conns,
                "{protocol:?}: {conns} connections"
            );
        }
        stop.set();
    });
}
