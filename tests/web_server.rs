//! The web server of examples/http_server.rs (examples/support/web.rs) over real loopback
//! sockets: routes over HTTP/1.1 and h2c through `ringcore::hyper_rt::Client`, and the bad
//! input and faults of issue 11 through raw blocking sockets (on the blocking pool): a
//! malformed request (400), an oversized head (431), a client stalling mid-headers (408),
//! path traversal (400/404), a client resetting mid-file (no descriptor leaks), and a
//! graceful shutdown that finishes in-flight requests.

#[path = "../examples/support/web.rs"]
mod web;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ringcore::hyper_rt::{Bytes, Client, Protocol, StatusCode};
use ringcore::net::TcpListener;
use ringcore::sync::Event;
use web::{App, WebConfig};

/// The tests count this process's descriptors, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

struct Server {
    addr: SocketAddr,
    app: Rc<App>,
    stop: Rc<Event>,
    done: ringcore::JoinHandle<usize>,
}

fn start(config: WebConfig) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let app = App::new(config).unwrap();
    let stop = Rc::new(Event::new());
    let (a, s) = (app.clone(), stop.clone());
    let done =
        ringcore::spawn(
            async move { web::serve(listener, a, async move { s.wait().await }).await },
        );
    Server {
        addr,
        app,
        stop,
        done,
    }
}

async fn get_bytes(client: &Client, url: &str) -> (StatusCode, Bytes) {
    let resp = client.get(url).await.unwrap();
    let status = resp.status();
    (status, resp.into_body().bytes().await.unwrap())
}

async fn get(client: &Client, url: &str) -> (StatusCode, String) {
    let (status, body) = get_bytes(client, url).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Sends `bytes` on a fresh blocking connection and reads until EOF or `patience`.
async fn raw(addr: SocketAddr, bytes: Vec<u8>, patience: Duration) -> String {
    ringcore::offload::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(patience)).unwrap();
        let _ = s.write_all(&bytes); // a server that answered early may have reset it
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

fn status_line(resp: &str) -> &str {
    resp.lines().next().unwrap_or("")
}

fn files_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"hello from a file\n").unwrap();
    let big: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/inner.txt"), b"inner").unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("escape")).unwrap();
    dir
}

#[test]
fn routes_over_http1_and_h2c() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = files_dir();
    let config = WebConfig {
        files: Some(dir.path().to_owned()),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let base = format!("http://{}", server.addr);
        for protocol in [Protocol::Http1, Protocol::Http2] {
            let client = Client::builder().protocol(protocol).build();
            assert_eq!(
                get(&client, &format!("{base}/")).await,
                (StatusCode::OK, "Hello, Anonymous".into())
            );
            assert_eq!(
                get(&client, &format!("{base}/?name=ring%20core")).await,
                (StatusCode::OK, "Hello, ring core".into())
            );
            assert_eq!(
                get(&client, &format!("{base}/file/hello.txt")).await,
                (StatusCode::OK, "hello from a file\n".into())
            );
            assert_eq!(
                get(&client, &format!("{base}/file/sub/inner.txt")).await.1,
                "inner"
            );
            assert_eq!(
                get(&client, &format!("{base}/file/missing")).await.0,
                StatusCode::NOT_FOUND
            );
            assert_eq!(
                get(&client, &format!("{base}/file/sub")).await.0,
                StatusCode::NOT_FOUND
            );
            assert_eq!(
                get(&client, &format!("{base}/file/escape")).await.0,
                StatusCode::NOT_FOUND
            );
            assert_eq!(
                get(&client, &format!("{base}/status/503")).await.0,
                StatusCode::SERVICE_UNAVAILABLE
            );
            let (status, big) = get_bytes(&client, &format!("{base}/file/big.bin")).await;
            assert_eq!(status, StatusCode::OK);
            assert!(
                big == std::fs::read(dir.path().join("big.bin")).unwrap(),
                "big.bin differs"
            );
            // Sequential requests reuse one pooled connection.
            assert_eq!(client.pooled(), 1, "{protocol:?}");
        }
        // Two clients, each with one connection.
        assert_eq!(server.app.accepted(), 2);
        server.stop.set();
        assert_eq!(server.done.await.unwrap(), 0);
    });
}

/// Raises the soft descriptor limit to the hard one and returns how many concurrent
/// loopback connections (two descriptors each, client and server) fit: 2000 at most, and
/// at least 300.
fn thousands_of_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid `rlimit` out/in parameter.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    ((lim.rlim_cur as usize).saturating_sub(200) / 2).clamp(300, 2000)
}

#[test]
fn slow_requests_wait_together_and_do_not_block_the_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = WebConfig {
        slow: Duration::from_millis(500),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let base = format!("http://{}", server.addr);
        for protocol in [Protocol::Http1, Protocol::Http2] {
            let client = Client::builder().protocol(protocol).build();
            let start = Instant::now();
            let url = format!("{base}/slow");
            let n = match protocol {
                // One connection per request: thousands if the descriptor limit allows.
                Protocol::Http1 => thousands_of_connections(),
                // One connection; hyper's server allows 200 concurrent streams by default.
                Protocol::Http2 => 200,
            };
            let slow = (0..n).map(|_| {
                let (client, url) = (client.clone(), url.clone());
                async move { get(&client, &url).await }
            });
            let slow = ringcore::spawn(ringcore::future::join_all(slow.collect::<Vec<_>>()));
            ringcore::time::sleep(Duration::from_millis(100)).await;
            // While they sleep, a quick request answers at once (on its own client).
            let quick = Client::new();
            let t = Instant::now();
            assert_eq!(get(&quick, &format!("{base}/")).await.0, StatusCode::OK);
            assert!(
                t.elapsed() < Duration::from_millis(300),
                "{:?}",
                t.elapsed()
            );
            let results = slow.await.unwrap();
            assert!(
                results
                    .iter()
                    .all(|(s, b)| *s == StatusCode::OK && b == "Hello, slowly")
            );
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(500), "{took:?}");
            assert!(
                took < Duration::from_millis(2500),
                "{n} sleeps did not overlap: {took:?}"
            );
        }
        server.stop.set();
        server.done.await.unwrap();
    });
}

#[test]
fn malformed_oversized_and_stalled_requests_cost_only_their_connection() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = WebConfig {
        header_timeout: Duration::from_millis(300),
        max_head: 16 * 1024,
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let addr = server.addr;
        let patience = Duration::from_secs(5);
        let client = Client::new();
        let url = format!("http://{addr}/?name=still-here");
        // A client of the same server before and after all of it.
        assert_eq!(get(&client, &url).await.1, "Hello, still-here");

        let r = raw(addr, b"THIS IS NOT HTTP\r\n\r\n".to_vec(), patience).await;
        assert!(status_line(&r).starts_with("HTTP/1.1 400"), "{r:?}");
        let r = raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_vec(),
            patience,
        )
        .await;
        assert!(status_line(&r).starts_with("HTTP/1.1 400"), "{r:?}");

        // More header lines than hyper parses (100), in a head it reads whole: 431.
        let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
        for i in 0..150 {
            many.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let r = raw(addr, many, patience).await;
        assert!(status_line(&r).starts_with("HTTP/1.1 431"), "{r:?}");
        // A head over the size limit: hyper answers 431 as soon as its buffer is full and
        // closes with the rest unread, so the kernel may reset the connection and discard
        // the answer before this client reads it. Either way only this connection ends.
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', 64 * 1024));
        big.extend_from_slice(b"\r\n\r\n");
        let r = raw(addr, big, patience).await;
        assert!(
            r.is_empty() || status_line(&r).starts_with("HTTP/1.1 431"),
            "{r:?}"
        );

        let t = Instant::now();
        let r = raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Partial: ".to_vec(),
            patience,
        )
        .await;
        assert!(status_line(&r).starts_with("HTTP/1.1 408"), "{r:?}");
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());

        // A well-formed raw request still works, and so does the pooled connection.
        let r = raw(
            addr,
            b"GET /?name=raw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            patience,
        )
        .await;
        assert!(
            status_line(&r).starts_with("HTTP/1.1 200") && r.ends_with("Hello, raw"),
            "{r:?}"
        );
        assert_eq!(get(&client, &url).await.1, "Hello, still-here");
        // (The pooled connection sat idle longer than the header timeout meanwhile, so
        // hyper closed it without a 408 and the client connected anew.)
        server.stop.set();
        server.done.await.unwrap();
    });
}

#[test]
fn path_traversal_is_refused() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = files_dir();
    let config = WebConfig {
        files: Some(dir.path().join("sub")),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let addr = server.addr;
        let patience = Duration::from_secs(5);
        for (path, want) in [
            ("/file/inner.txt", "200"),
            ("/file/../hello.txt", "400"),
            ("/file/./inner.txt", "400"),
            ("/file//etc/passwd", "400"),
            ("/file/%2e%2e/hello.txt", "400"),
            ("/file/..%2fhello.txt", "400"),
            ("/file/a/../../hello.txt", "400"),
            ("/file/nothing-here", "404"),
        ] {
            let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            let r = raw(addr, req.into_bytes(), patience).await;
            assert!(
                status_line(&r).starts_with(&format!("HTTP/1.1 {want}")),
                "{path}: {r:?}"
            );
        }
        server.stop.set();
        server.done.await.unwrap();
    });
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn client_reset_during_a_streamed_file_leaks_no_descriptor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = files_dir();
    let config = WebConfig {
        files: Some(dir.path().to_owned()),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let addr = server.addr;
        // Warm up (the blocking pool's threads, the first connection) before counting.
        raw(
            addr,
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            Duration::from_secs(5),
        )
        .await;
        while server.app.open() > 0 {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        let before = open_fds();
        let mut partial = 0;
        for _ in 0..20 {
            let got = ringcore::offload::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET /file/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                let mut buf = vec![0u8; 256 * 1024];
                let n = s.read(&mut buf).unwrap();
                // SO_LINGER 0: close sends RST, with most of the 8 MiB unsent.
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: a valid socket fd and a correctly sized `linger` value.
                let rc = unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
                assert_eq!(rc, 0);
                drop(s);
                n
            })
            .await
            .unwrap();
            assert!(got > 0 && got < 8 << 20);
            partial += 1;
        }
        assert_eq!(partial, 20);
        // The server notices each reset on its next write and drops the connection, its
        // body and so the file.
        let deadline = Instant::now() + Duration::from_secs(5);
        while server.app.open() > 0 && Instant::now() < deadline {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            server.app.open(),
            0,
            "connections still open after their client reset"
        );
        // Closes go through the ring: give the last ones a moment.
        let deadline = Instant::now() + Duration::from_secs(2);
        while open_fds() > before && Instant::now() < deadline {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        // At most as many as before: an fd the warm-up left (its client side, closed by
        // the kernel's own schedule) may be gone by now, but none may be added.
        let after = open_fds();
        assert!(
            after <= before,
            "descriptors leaked: {after} open, {before} before"
        );
        server.stop.set();
        server.done.await.unwrap();
    });
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests_and_stops_accepting() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = WebConfig {
        slow: Duration::from_millis(400),
        shutdown_deadline: Duration::from_secs(5),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let base = format!("http://{}", server.addr);
        let h1 = Client::new();
        let h2 = Client::builder().protocol(Protocol::Http2).build();
        let (u1, u2) = (format!("{base}/slow"), format!("{base}/slow"));
        let a = ringcore::spawn(async move { get(&h1, &u1).await });
        let b = ringcore::spawn(async move { get(&h2, &u2).await });
        ringcore::time::sleep(Duration::from_millis(100)).await;
        server.stop.set();
        assert_eq!(server.done.await.unwrap(), 0, "connections cut off");
        assert_eq!(a.await.unwrap(), (StatusCode::OK, "Hello, slowly".into()));
        assert_eq!(b.await.unwrap(), (StatusCode::OK, "Hello, slowly".into()));
        let refused = ringcore::net::TcpStream::connect(server.addr).await;
        assert!(refused.is_err(), "still accepting after shutdown");
    });
}

#[test]
fn axum_router_served_through_hyper_util() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let config = WebConfig {
        axum: true,
        slow: Duration::from_millis(200),
        ..WebConfig::default()
    };
    ringcore::block_on(async move {
        let server = start(config);
        let base = format!("http://{}", server.addr);
        for protocol in [Protocol::Http1, Protocol::Http2] {
            let client = Client::builder().protocol(protocol).build();
            assert_eq!(
                get(&client, &format!("{base}/")).await,
                (StatusCode::OK, "Hello, Anonymous".into())
            );
            assert_eq!(
                get(&client, &format!("{base}/?name=axum")).await,
                (StatusCode::OK, "Hello, axum".into())
            );
            let slow_url = format!("{base}/slow");
            let t = Instant::now();
            let slow: Vec<_> = (0..50).map(|_| get(&client, &slow_url)).collect();
            for r in ringcore::future::join_all(slow).await {
                assert_eq!(r, (StatusCode::OK, "Hello, slowly".into()));
            }
            let took = t.elapsed();
            assert!(
                took >= Duration::from_millis(200) && took < Duration::from_secs(2),
                "{took:?}"
            );
            // Routes the router does not have: axum's 404.
            assert_eq!(
                get(&client, &format!("{base}/file/x")).await.0,
                StatusCode::NOT_FOUND
            );
        }
        server.stop.set();
        server.done.await.unwrap();
    });
}

/// `RingIo` (recv and send through the ring with owned buffers) under hyper: bodies of
/// several MiB both ways, keep-alive reuse, and a client that goes away mid-response.
#[test]
fn ring_io_carries_hyper_both_ways() {
    use http_body_util::{BodyExt, Full};
    use hyper::Request;
    use ringcore::hyper_rt::RingIo;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let big: Bytes = (0..(3u32 << 20) + 12345)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>()
            .into();
        let served = big.clone();
        ringcore::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let served = served.clone();
                ringcore::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let served = served.clone();
                            async move {
                                // POST echoes the body; GET answers the big one.
                                let body = if req.method() == hyper::Method::POST {
                                    req.into_body().collect().await?.to_bytes()
                                } else {
                                    served
                                };
                                Ok::<_, hyper::Error>(hyper::Response::new(Full::new(body)))
                            }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(RingIo::with_capacity(4096, stream), service)
                        .await;
                });
            }
        });
        let client = Client::new();
        for _ in 0..3 {
            let resp = client.get(format!("http://{addr}/")).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(resp.into_body().bytes().await.unwrap() == big);
            let resp = client
                .post(format!("http://{addr}/"), big.clone())
                .await
                .unwrap();
            assert!(
                resp.into_body().bytes().await.unwrap() == big,
                "echo differs"
            );
        }
        assert_eq!(client.pooled(), 1, "keep-alive reused one connection");
        // A client that reads a little and resets: the server's connection ends.
        let before = open_fds();
        for _ in 0..10 {
            ringcore::offload::spawn_blocking(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                assert!(s.read(&mut buf).unwrap() > 0);
                let linger = libc::linger {
                    l_onoff: 1,
                    l_linger: 0,
                };
                // SAFETY: a valid socket fd and a correctly sized `linger` value.
                let rc = unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_LINGER,
                        (&linger as *const libc::linger).cast(),
                        std::mem::size_of::<libc::linger>() as libc::socklen_t,
                    )
                };
                assert_eq!(rc, 0);
            })
            .await
            .unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while open_fds() > before && Instant::now() < deadline {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(
            open_fds() <= before,
            "descriptors leaked: {} > {before}",
            open_fds()
        );
    });
}
