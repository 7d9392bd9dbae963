//! Helpers shared by the tests that run unmodified ecosystem crates on ringcore's per-core
//! tokio context (tests/eco_*.rs, feature `tokio-context`): a self-signed certificate and
//! a rustls server config, a small axum app, an HTTPS server on tokio-rustls and
//! hyper-util (HTTP/1.1 and HTTP/2 by ALPN), and a redis-server child process.
//!
//! The servers here are started inside the ringcore task that uses them (`tokio::spawn`
//! on the core's tokio context), so client and server share the core.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Request};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use tokio_rustls::rustls::{self, ServerConfig};

/// A self-signed certificate for `localhost` and `127.0.0.1` made with rcgen: the certificate as PEM (to
/// hand to a client as its one trusted root) and a rustls server config (ring provider)
/// offering `h2` and `http/1.1` by ALPN.
pub fn tls_localhost() -> (String, Arc<ServerConfig>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    let pem = cert.cert.pem();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        cert.key_pair.serialize_der(),
    ));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.cert.der().clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    (pem, Arc::new(config))
}

/// The test app:
/// - `GET /hello` answers `hello`;
/// - `POST /echo` answers the request body;
/// - `GET /version` answers the request's HTTP version as `Debug` prints it (`HTTP/1.1`,
///   `HTTP/2.0`);
/// - `GET /redirect/{n}` redirects (303) to `/redirect/{n-1}`, and `/redirect/0` answers
///   `landed`;
/// - `GET /slow` answers `late` after 10 s.
pub fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello" }))
        .route("/echo", post(|body: bytes::Bytes| async move { body }))
        .route(
            "/version",
            get(|req: Request| async move { format!("{:?}", req.version()) }),
        )
        .route(
            "/redirect/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    "landed".into_response()
                } else {
                    Redirect::to(&format!("/redirect/{}", n - 1)).into_response()
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                "late"
            }),
        )
}

/// Serves `app` over plain HTTP with `axum::serve` on a loopback port, in a task spawned
/// on the current core's tokio context; returns the address.
pub async fn serve_http(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Serves `app` over TLS (tokio-rustls with `config`) on a loopback port, each connection
/// through hyper-util's auto builder (HTTP/1.1, or HTTP/2 when ALPN picks `h2`), in tasks
/// spawned on the current core's tokio context; returns the address.
pub async fn serve_https(app: Router, config: Arc<ServerConfig>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                // A client that refuses the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
            });
        }
    });
    addr
}

/// Runs `app` over TLS (as [`serve_https`]) on a one-core ringcore runtime in a thread of
/// its own, which lives as long as the process; returns the address.
pub fn https_in_thread(app: Router, config: Arc<ServerConfig>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        ringcore::Runtime::new().unwrap().block_on(async move {
            tx.send(serve_https(app, config).await).unwrap();
            std::future::pending::<()>().await
        })
    });
    rx.recv().unwrap()
}

/// The path of example `name`'s binary, built next to this test binary
/// (target/PROFILE/examples/NAME; `cargo test` builds the examples, a single `--test` run
/// needs `cargo build --example NAME` first).
pub fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.is_file(),
        "{} is missing: cargo build --release --all-features --example {name}",
        path.display()
    );
    path
}

/// A loopback port that was free a moment ago (bound to port 0, then closed).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server child process on a free loopback port, with its working directory in a
/// temporary directory and persistence off; killed and reaped when dropped.
pub struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts `redis-server` from PATH and waits (up to 10 s) until it accepts
    /// connections. `None` (after saying why) when it is not installed and neither `CI`
    /// nor RINGCORE_REQUIRE_REDIS is set; panics when it is required and missing, or does
    /// not come up.
    pub fn start() -> Option<RedisServer> {
        Self::start_on(free_port())
    }

    /// [`RedisServer::start`] on `port` (a restart on the port a client knows).
    pub fn start_on(port: u16) -> Option<RedisServer> {
        let found = std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|d| d.join("redis-server").is_file())
        });
        if !found {
            let required = std::env::var_os("CI").is_some()
                || std::env::var_os("RINGCORE_REQUIRE_REDIS").is_some();
            assert!(
                !required,
                "redis-server not found on PATH, and CI or RINGCORE_REQUIRE_REDIS requires \
                 this test: apt-get update && apt-get install -y redis-server (.ci/run does \
                 this)"
            );
            eprintln!(
                "redis test skipped: redis-server not found on PATH (apt-get update && \
                 apt-get install -y redis-server to run it; .ci/run does this and requires it)"
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(server)
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's URL, `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server and reaps it; killing twice is harmless.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
