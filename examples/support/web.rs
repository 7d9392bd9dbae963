//! The web server shared by `examples/http_server.rs`, `examples/crawler.rs` (which serves
//! it on a loopback port when given no URLs) and `tests/web_server.rs`.
//!
//! Routes: `GET /` and `GET /?name=X` answer `Hello, X` (default `Anonymous`); `GET /slow`
//! sleeps (1 s by default) on the core's timer, then answers; `GET /file/NAME` streams
//! `NAME` from the file directory through the ring; `GET /status/CODE` answers with that
//! status, and `GET /flaky?key=K&fail=N` with 503 for the first N requests with key K,
//! then 200 (the crawler's retry tests use these two); `GET /metrics` answers every core's
//! telemetry in the Prometheus text format (`ringcore::metrics::prometheus`, read from
//! whichever core took the request). `ringcore::hyper_rt::serve` runs it:
//! each connection is HTTP/1.1 or HTTP/2 with prior knowledge (h2c), told apart from the
//! first bytes, and a graceful shutdown finishes the requests in flight.

#![allow(dead_code)] // Each includer uses part of it.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use ringcore::fs::PollFile;
use ringcore::hyper_rt::body::{Frame, Incoming};
use ringcore::hyper_rt::http_body_util::{BodyExt, Full};
use ringcore::hyper_rt::{
    Bytes, Method, Request, Response, RingTimer, ServeStats, StatusCode, service_fn,
};
use ringcore::net::TcpListener;

/// A response body: a whole string, or a file streamed in chunks. Boxed without `Send`
/// (http-body-util's boxes require it), since a file body holds a core-local `PollFile`.
pub(crate) type Body =
    Pin<Box<dyn ringcore::hyper_rt::body::Body<Data = Bytes, Error = io::Error>>>;

/// What the server serves and how patient it is.
#[derive(Debug, Clone)]
pub(crate) struct WebConfig {
    /// Where `/file/NAME` looks (canonicalised by [`App::new`]); `None` answers 404.
    pub(crate) files: Option<PathBuf>,
    /// How long `/slow` waits.
    pub(crate) slow: Duration,
    /// How long a client may take to send a request's headers before it gets 408.
    pub(crate) header_timeout: Duration,
    /// The largest request head accepted (bytes, at least 8192); larger ones get 431.
    pub(crate) max_head: usize,
    /// How long in-flight requests may take to finish after shutdown starts.
    pub(crate) shutdown_deadline: Duration,
    /// Serve [`axum_router`] (`/` and `/slow` only) instead of [`handle`].
    pub(crate) axum: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            files: None,
            slow: Duration::from_secs(1),
            header_timeout: Duration::from_secs(10),
            max_head: 16 * 1024,
            shutdown_deadline: Duration::from_secs(10),
            axum: false,
        }
    }
}

/// One core's server state.
#[derive(Debug)]
pub(crate) struct App {
    config: WebConfig,
    /// The server's connection counters, once [`serve`] has started it.
    stats: OnceCell<ServeStats>,
    /// Requests answered so far.
    pub(crate) requests: Cell<u64>,
    /// `/flaky?key=K&fail=N`: how often each key has failed so far.
    flaky: RefCell<HashMap<String, u32>>,
    /// With `axum`: the router every connection serves (clones share it).
    router: Option<axum::Router>,
}

impl App {
    /// Canonicalises the file directory, so that `/file/NAME` can check where `NAME`
    /// really lands.
    pub(crate) fn new(mut config: WebConfig) -> io::Result<Rc<App>> {
        if let Some(dir) = &config.files {
            config.files = Some(std::fs::canonicalize(dir)?);
        }
        Ok(Rc::new(App {
            stats: OnceCell::new(),
            requests: Cell::new(0),
            flaky: RefCell::new(HashMap::new()),
            router: config.axum.then(|| axum_router(config.slow)),
            config,
        }))
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.stats.get().map_or(0, ServeStats::open)
    }

    /// Connections accepted so far.
    pub(crate) fn accepted(&self) -> u64 {
        self.stats.get().map_or(0, ServeStats::accepted)
    }
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Box::pin(Full::new(body.into()).map_err(|e| -> io::Error { match e {} })) as Body)
        .expect("static response parts are valid")
}

/// The query parameter `key`, percent- and plus-decoded; `None` if absent.
fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    let query = query?;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            return Some(percent_decode(v));
        }
    }
    None
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to one request. Never fails: every error is a status code.
pub(crate) async fn handle(
    app: Rc<App>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    app.requests.set(app.requests.get() + 1);
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n"));
    }
    let path = req.uri().path();
    let response = if path == "/" {
        let name = query_param(req.uri().query(), "name").unwrap_or_else(|| "Anonymous".to_owned());
        text(StatusCode::OK, format!("Hello, {name}"))
    } else if path == "/slow" {
        ringcore::time::sleep(app.config.slow).await;
        text(StatusCode::OK, "Hello, slowly")
    } else if path == "/flaky" {
        // 503 for the first `fail` requests with this `key`, then 200.
        let query = req.uri().query();
        let key = query_param(query, "key").unwrap_or_default();
        let fail: u32 = query_param(query, "fail")
            .and_then(|f| f.parse().ok())
            .unwrap_or(1);
        let mut flaky = app.flaky.borrow_mut();
        let failed = flaky.entry(key).or_insert(0);
        if *failed < fail {
            *failed += 1;
            text(StatusCode::SERVICE_UNAVAILABLE, "try again\n")
        } else {
            text(StatusCode::OK, "Hello, eventually")
        }
    } else if let Some(code) = path.strip_prefix("/status/") {
        match code
            .parse::<u16>()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
        {
            Some(status) => text(status, format!("{status}\n")),
            None => text(StatusCode::BAD_REQUEST, "bad status code\n"),
        }
    } else if let Some(name) = path.strip_prefix("/file/") {
        serve_file(&app, name).await
    } else if path == "/metrics" {
        metrics()
    } else {
        text(StatusCode::NOT_FOUND, "not found\n")
    };
    Ok(response)
}

/// `/file/NAME`: 400 for a name that could leave the directory (`..`, an absolute path,
/// a NUL, a backslash, percent-escapes), 404 for one that is missing, not a regular file,
/// or (through a symlink) outside the directory; otherwise the file, streamed.
async fn serve_file(app: &App, name: &str) -> Response<Body> {
    let Some(root) = &app.config.files else {
        return text(StatusCode::NOT_FOUND, "no file directory configured\n");
    };
    let rel = Path::new(name);
    let bad = name.is_empty()
        || name.contains(['\0', '\\', '%'])
        || rel.is_absolute()
        || !rel.components().all(|c| matches!(c, Component::Normal(_)));
    if bad {
        return text(StatusCode::BAD_REQUEST, "bad file name\n");
    }
    let full = root.join(rel);
    // A symlink inside the directory may point out of it: check where the path resolves.
    // canonicalize is a few syscalls on a local path; this example accepts them on the
    // core rather than a trip to the blocking pool.
    match std::fs::canonicalize(&full) {
        Ok(real) if real.starts_with(root) => {}
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    }
    let file = match ringcore::fs::File::open(&full).await {
        Ok(f) => f,
        Err(_) => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    let len = match file.metadata().await {
        Ok(m) if m.is_file() => m.len(),
        _ => return text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/octet-stream")
        .header("content-length", len)
        .body(Box::pin(FileBody {
            file: file.into_poll_io(),
            left: len,
        }) as Body)
        .expect("valid response parts")
}

/// A file streamed in 64 KiB frames through `PollFile` (one ring read per frame). Dropping
/// it (the client went away) drops the file and closes its descriptor.
struct FileBody {
    file: PollFile,
    left: u64,
}

impl ringcore::hyper_rt::body::Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        let want = this.left.min(64 * 1024) as usize;
        let mut chunk = vec![0u8; want];
        let mut buf = tokio::io::ReadBuf::new(&mut chunk);
        match tokio::io::AsyncRead::poll_read(Pin::new(&mut this.file), cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len();
                if n == 0 {
                    // Shorter than its length said (truncated meanwhile): end the body
                    // with an error so hyper closes the connection.
                    this.left = 0;
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                chunk.truncate(n);
                this.left -= n as u64;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(chunk)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }

    fn size_hint(&self) -> ringcore::hyper_rt::body::SizeHint {
        ringcore::hyper_rt::body::SizeHint::with_exact(self.left)
    }
}

/// Serves `listener` with `hyper_rt::serve` until `shutdown` completes, then stops
/// accepting, lets every open connection finish its in-flight requests (HTTP/1.1 closes
/// after the current response, HTTP/2 sends GOAWAY) for up to the configured deadline, and
/// returns how many connections were still open at the deadline (closed then).
pub(crate) async fn serve(
    listener: TcpListener,
    app: Rc<App>,
    shutdown: impl Future<Output = ()> + 'static,
) -> usize {
    if let Some(router) = &app.router {
        use ringcore::hyper_rt::hyper::service::Service;
        let axum = hyper_util::service::TowerToHyperService::new(router.clone());
        let counted = app.clone();
        let service = service_fn(move |req| {
            counted.requests.set(counted.requests.get() + 1);
            axum.call(req)
        });
        run(listener, &app, service, shutdown).await
    } else {
        let service_app = app.clone();
        let service = service_fn(move |req| handle(service_app.clone(), req));
        run(listener, &app, service, shutdown).await
    }
}

/// `hyper_rt::serve` with the configured limits; the number of connections cut off.
async fn run<S, B>(
    listener: TcpListener,
    app: &App,
    service: S,
    shutdown: impl Future<Output = ()> + 'static,
) -> usize
where
    S: ringcore::hyper_rt::hyper::service::Service<Request<Incoming>, Response = Response<B>>
        + Clone
        + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: ringcore::hyper_rt::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let server = ringcore::hyper_rt::serve(listener, service)
        .with_graceful_shutdown(shutdown)
        .grace_period(app.config.shutdown_deadline)
        .header_read_timeout(app.config.header_timeout)
        .max_header_bytes(app.config.max_head);
    let _ = app.stats.set(server.stats());
    server.await.cut_off
}

/// The same `/` and `/slow` as an axum `Router`, served through hyper-util's
/// `TowerToHyperService` on ringcore's executor and timer, without axum's tokio-only
/// `serve`. axum wants `Send` handler futures, so a handler cannot await ringcore's
/// core-local futures (`time::sleep`, files, sockets); `/slow` sleeps on
/// `RingTimer::sleep`, whose future is `Send` (it stays on its core all the same). The
/// file route is left out: a `PollFile` body is not `Send`.
/// `/metrics`: every core's telemetry, rendered for Prometheus.
fn metrics() -> Response<Body> {
    let Some(m) = ringcore::metrics::current() else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "no runtime\n");
    };
    let body = ringcore::metrics::prometheus::render(&m);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", ringcore::metrics::prometheus::CONTENT_TYPE)
        .body(
            Box::pin(Full::new(Bytes::from(body)).map_err(|e| -> io::Error { match e {} })) as Body,
        )
        .expect("static response parts are valid")
}

pub(crate) fn axum_router(slow: Duration) -> axum::Router {
    use axum::extract::Query;
    use axum::routing::get;
    use ringcore::hyper_rt::hyper::rt::Timer;
    axum::Router::new()
        .route(
            "/",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let name = q.get("name").map_or("Anonymous", String::as_str);
                format!("Hello, {name}")
            }),
        )
        .route(
            "/slow",
            get(move || async move {
                RingTimer.sleep(slow).await;
                "Hello, slowly"
            }),
        )
        .route(
            "/metrics",
            get(|| async {
                ringcore::metrics::current()
                    .map(|m| ringcore::metrics::prometheus::render(&m))
                    .unwrap_or_default()
            }),
        )
}
