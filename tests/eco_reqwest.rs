//! reqwest, unmodified (rustls with ring, no native TLS), inside ringcore tasks on the
//! per-core tokio context (feature `tokio-context`): GET and POST over HTTP/1.1, HTTPS
//! against a local TLS server whose self-signed certificate (rcgen) the client trusts
//! through `add_root_certificate`, HTTP/2 chosen by ALPN, redirects followed and capped, a
//! timeout that fires; a closed port and an unverifiable certificate give reqwest's typed
//! errors without hanging. The servers (axum over HTTP, tokio-rustls and hyper-util over
//! TLS) run on the same core, spawned on its tokio context. Runs on both drivers
//! (`RINGCORE_DRIVER=epoll` for the readiness driver).

#[path = "support/eco.rs"]
mod eco;

use std::error::Error as _;
use std::time::{Duration, Instant};

fn rt() -> ringcore::Runtime {
    ringcore::Runtime::new().expect("runtime")
}

/// A client that trusts only `pem` and resolves `localhost` to `addr`.
fn https_client(pem: &str, addr: std::net::SocketAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap()
}

#[test]
fn get_and_post_over_http1() {
    rt().block_on(async {
        let addr = eco::serve_http(eco::app()).await;
        let client = reqwest::Client::new();
        let resp = client
            .get(format!("http://{addr}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        assert_eq!(resp.text().await.unwrap(), "hello");

        // A body larger than one socket read, echoed back whole, on the same pooled
        // connection as the GET.
        let body: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let resp = client
            .post(format!("http://{addr}/echo"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        assert_eq!(resp.bytes().await.unwrap(), body);

        let version = client
            .get(format!("http://{addr}/version"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(version, "HTTP/1.1");

        // A host name: reqwest resolves it with getaddrinfo(3) on tokio's blocking pool.
        let resp = client
            .get(format!("http://localhost:{}/hello", addr.port()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
    });
}

#[test]
fn https_with_a_trusted_local_certificate_negotiates_http2() {
    let (pem, config) = eco::tls_localhost();
    rt().block_on(async move {
        let addr = eco::serve_https(eco::app(), config).await;
        let client = https_client(&pem, addr);
        let url = format!("https://localhost:{}", addr.port());
        let resp = client.get(format!("{url}/hello")).send().await.unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_2, "ALPN picked h2");
        assert_eq!(resp.text().await.unwrap(), "hello");
        // The server saw HTTP/2 too.
        let seen = client
            .get(format!("{url}/version"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(seen, "HTTP/2.0");
        // Many requests at once share the one HTTP/2 connection.
        let posts = (0..20u8).map(|i| {
            let client = client.clone();
            let url = format!("{url}/echo");
            async move {
                let resp = client.post(url).body(vec![i; 1000]).send().await.unwrap();
                (i, resp.bytes().await.unwrap())
            }
        });
        for (i, body) in futures::future::join_all(posts).await {
            assert_eq!(body.as_ref(), &[i; 1000][..]);
        }

        // The same server over HTTP/1.1 when the client asks for it.
        let h1 = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
            .resolve("localhost", addr)
            .http1_only()
            .build()
            .unwrap();
        let resp = h1.get(format!("{url}/version")).send().await.unwrap();
        assert_eq!(resp.version(), reqwest::Version::HTTP_11);
        assert_eq!(resp.text().await.unwrap(), "HTTP/1.1");
    });
}

#[test]
fn redirects_are_followed_and_capped() {
    let (pem, config) = eco::tls_localhost();
    rt().block_on(async move {
        let http = eco::serve_http(eco::app()).await;
        let https = eco::serve_https(eco::app(), config).await;
        let client = https_client(&pem, https);
        for base in [
            format!("http://{http}"),
            format!("https://localhost:{}", https.port()),
        ] {
            let resp = client
                .get(format!("{base}/redirect/3"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.url().as_str(), format!("{base}/redirect/0"));
            assert_eq!(resp.text().await.unwrap(), "landed");
            // reqwest's default policy stops after 10 redirects.
            let err = client
                .get(format!("{base}/redirect/20"))
                .send()
                .await
                .unwrap_err();
            assert!(err.is_redirect(), "{err:?}");
        }
        // With redirects off the 303 itself comes back.
        let none = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = none
            .get(format!("http://{http}/redirect/1"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER);
        assert_eq!(resp.headers()["location"], "/redirect/0");
    });
}

#[test]
fn a_timeout_fires_and_the_client_goes_on() {
    rt().block_on(async {
        let addr = eco::serve_http(eco::app()).await;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let start = Instant::now();
        let err = client
            .get(format!("http://{addr}/slow"))
            .send()
            .await
            .unwrap_err();
        let took = start.elapsed();
        assert!(err.is_timeout(), "{err:?}");
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(5),
            "the 200 ms timeout fired after {took:?}"
        );
        // The same client, next request: fine.
        let resp = client
            .get(format!("http://{addr}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.text().await.unwrap(), "hello");
    });
}

#[test]
fn a_closed_port_is_a_connect_error() {
    let port = eco::free_port();
    rt().block_on(async move {
        let client = reqwest::Client::new();
        let start = Instant::now();
        let err = client
            .get(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_connect(), "{err:?}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // The cause is the refused connect(2), as an io::Error somewhere in the chain.
        let mut source = err.source();
        let mut refused = false;
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
            }
            source = e.source();
        }
        assert!(refused, "{err:?}");
    });
}

#[test]
fn an_unverifiable_certificate_is_a_connect_error() {
    let (_pem, config) = eco::tls_localhost();
    // A second, unrelated certificate: trusting it does not make the server's valid.
    let (other_pem, _) = eco::tls_localhost();
    rt().block_on(async move {
        let addr = eco::serve_https(eco::app(), config).await;
        let url = format!("https://localhost:{}/hello", addr.port());
        // Only the built-in roots (webpki's list, which has no self-signed certificate),
        // then no built-in roots and the wrong one added.
        let no_roots = reqwest::Client::builder()
            .resolve("localhost", addr)
            .build()
            .unwrap();
        let wrong_root = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(other_pem.as_bytes()).unwrap())
            .resolve("localhost", addr)
            .build()
            .unwrap();
        for client in [no_roots, wrong_root] {
            let start = Instant::now();
            let err = client.get(&url).send().await.unwrap_err();
            assert!(err.is_connect(), "{err:?}");
            assert!(start.elapsed() < Duration::from_secs(5));
            // UnknownIssuer with no root; BadSignature with the wrong root (rcgen gives
            // both certificates the same issuer name).
            let chain = format!("{err:?}");
            assert!(chain.contains("InvalidCertificate"), "{chain}");
        }
    });
}

/// Two cores, each with its own client and server: what reqwest starts stays on the core
/// that started it.
#[test]
fn each_core_runs_its_own_client() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let out = rt.run_on_each_core(|core| {
        move || async move {
            let thread = std::thread::current().id();
            let addr = eco::serve_http(eco::app()).await;
            let client = reqwest::Client::new();
            for _ in 0..20 {
                let text = client
                    .get(format!("http://{addr}/hello"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(text, "hello");
            }
            // Still on this core's thread after every await.
            assert_eq!(std::thread::current().id(), thread);
            (core.index(), thread)
        }
    });
    assert_eq!((out[0].0, out[1].0), (0, 1));
    assert_ne!(out[0].1, out[1].1);
}
