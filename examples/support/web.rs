//! The web server shared by `examples/http_server.rs`, `examples/crawler.rs` (which serves
//! it on a loopback port when given no URLs) and `tests/web_server.rs`.
//!
//! Routes: `GET /` and `GET /?name=X` answer `Hello, X` (default `Anonymous`); `GET /slow`
//! sleeps (1 s by default) on the core's timer, then answers; `GET /file/NAME` streams
//! `NAME` from the file directory through the ring; `GET /status/CODE` answers with that
//! status, and `GET /flaky?key=K&fail=N` with 503 for the first N requests with key K,
//! then 200 (the crawler's retry tests use these two). Each connection is HTTP/1.1 or HTTP/2 with
//! prior knowledge (h2c), told apart by hyper-util's auto builder from the first bytes.

#![allow(dead_code)] // Each includer uses part of it.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::server::conn::auto;
use ringcore::fs::PollFile;
use ringcore::future::Either;
use ringcore::hyper_rt::{HyperIo, LocalExecutor, RingTimer};
use ringcore::net::{PollIo, TcpListener, TcpStream};
use ringcore::sync::Event;

/// A response body: a whole string, or a file streamed in chunks. Boxed without `Send`
/// (http-body-util's boxes require it), since a file body holds a core-local `PollFile`.
pub(crate) type Body = Pin<Box<dyn hyper::body::Body<Data = Bytes, Error = io::Error>>>;

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
    /// Connections open now.
    pub(crate) open: Cell<usize>,
    /// Connections accepted so far.
    pub(crate) accepted: Cell<u64>,
    /// Requests answered so far.
    pub(crate) requests: Cell<u64>,
    /// Set when shutdown starts: connections finish their current request and close.
    stopping: Event,
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
            open: Cell::new(0),
            accepted: Cell::new(0),
            requests: Cell::new(0),
            stopping: Event::new(),
            flaky: RefCell::new(HashMap::new()),
            router: config.axum.then(|| axum_router(config.slow)),
            config,
        }))
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

impl hyper::body::Body for FileBody {
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

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::with_exact(self.left)
    }
}

/// hyper-util's auto builder (HTTP/1.1 or h2c) with the timer, the header timeout and
/// the head size limit.
fn builder(config: &WebConfig) -> auto::Builder<LocalExecutor> {
    let mut builder = auto::Builder::new(LocalExecutor);
    builder
        .http1()
        .timer(RingTimer)
        .header_read_timeout(config.header_timeout)
        .max_buf_size(config.max_head.max(8192));
    builder
        .http2()
        .timer(RingTimer)
        .max_header_list_size(config.max_head as u32);
    builder
}

/// Serves `listener` until `shutdown` completes, then stops accepting, lets every open
/// connection finish its in-flight requests (HTTP/1.1 closes after the current response,
/// HTTP/2 sends GOAWAY) for up to the configured deadline, and returns how many
/// connections were still open at the deadline. Their tasks are left running: the caller
/// cuts them off by dropping the runtime, as `http_server` does.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Rc<App>,
    shutdown: impl Future<Output = ()>,
) -> usize {
    let builder = Rc::new(builder(&app.config));
    let accept = async {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let builder = builder.clone();
                    app.accepted.set(app.accepted.get() + 1);
                    app.open.set(app.open.get() + 1);
                    ringcore::spawn(async move {
                        serve_connection(&builder, stream, app.clone()).await;
                        app.open.set(app.open.get() - 1);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("http_server: accept: {e}");
                    ringcore::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    };
    ringcore::future::select(pin!(accept), pin!(shutdown)).await;
    drop(listener);
    app.stopping.set();
    let deadline = Instant::now() + app.config.shutdown_deadline;
    while app.open.get() > 0 && Instant::now() < deadline {
        ringcore::time::sleep(Duration::from_millis(5)).await;
    }
    app.open.get()
}

/// One connection: serve it until it closes, or until shutdown starts, and then shut it
/// down gracefully. Its errors (malformed requests, resets, timeouts) end it alone.
///
/// hyper's header-read timeout closes the connection without answering; this adds the
/// 408 the client is owed when it had sent part of a request (and not when an idle
/// keep-alive connection times out, where a 408 could be read as the answer to the next
/// request).
async fn serve_connection(builder: &auto::Builder<LocalExecutor>, stream: TcpStream, app: Rc<App>) {
    let shared = Rc::new(RefCell::new(Tracked {
        io: stream.into_poll_io(),
        unanswered: false,
    }));
    let io = HyperIo::new(SharedIo(shared.clone()));
    let result = if let Some(router) = &app.router {
        use hyper::service::Service;
        let axum = hyper_util::service::TowerToHyperService::new(router.clone());
        let counted = app.clone();
        let service = hyper::service::service_fn(move |req| {
            counted.requests.set(counted.requests.get() + 1);
            axum.call(req)
        });
        drive(builder, io, service, &app).await
    } else {
        let service_app = app.clone();
        let service = hyper::service::service_fn(move |req| handle(service_app.clone(), req));
        drive(builder, io, service, &app).await
    };
    let timed_out = match &result {
        Err(e) => e
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout),
        Ok(()) => false,
    };
    let Ok(cell) = Rc::try_unwrap(shared) else {
        return; // hyper still holds the I/O (it cannot once the connection ended)
    };
    let Tracked { mut io, unanswered } = cell.into_inner();
    if timed_out && unanswered {
        use tokio::io::AsyncWriteExt;
        let answer =
            b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let _ = ringcore::time::timeout(Duration::from_secs(1), async {
            io.write_all(answer).await?;
            io.shutdown().await
        })
        .await;
    }
}

/// Serves one connection with `service` until it closes, or until shutdown starts and it
/// has finished gracefully.
async fn drive<S, B>(
    builder: &auto::Builder<LocalExecutor>,
    io: HyperIo<SharedIo>,
    service: S,
    app: &App,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut conn = pin!(builder.serve_connection(io, service));
    let stopping = pin!(app.stopping.wait());
    match ringcore::future::select(conn.as_mut(), stopping).await {
        Either::Left(result) => result,
        Either::Right(()) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

/// The same `/` and `/slow` as an axum `Router`, served through hyper-util's
/// `TowerToHyperService` on ringcore's executor and timer, without axum's tokio-only
/// `serve`. axum wants `Send` handler futures, so a handler cannot await ringcore's
/// core-local futures (`time::sleep`, files, sockets); `/slow` sleeps on
/// `RingTimer::sleep`, whose future is `Send` (it stays on its core all the same). The
/// file route is left out: a `PollFile` body is not `Send`.
pub(crate) fn axum_router(slow: Duration) -> axum::Router {
    use axum::extract::Query;
    use axum::routing::get;
    use hyper::rt::Timer;
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
}

/// The connection's socket and whether bytes of a request have arrived since the last
/// response bytes went out.
struct Tracked {
    io: PollIo<TcpStream>,
    unanswered: bool,
}

/// The socket, shared between hyper and [`serve_connection`] (which answers 408 on it
/// after hyper gave up).
struct SharedIo(Rc<RefCell<Tracked>>);

impl tokio::io::AsyncRead for SharedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut t = self.0.borrow_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut t.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            t.unanswered = true;
        }
        r
    }
}

impl tokio::io::AsyncWrite for SharedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut t = self.0.borrow_mut();
        let r = Pin::new(&mut t.io).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            t.unanswered = false;
        }
        r
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut t = self.0.borrow_mut();
        let r = Pin::new(&mut t.io).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            t.unanswered = false;
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.borrow_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0.borrow_mut().io).poll_shutdown(cx)
    }
}
