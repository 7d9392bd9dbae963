//! hyper 1.x on ringcore (feature `hyper`): the pieces hyper's runtime-agnostic API asks
//! for, and a small per-core HTTP client on top of them.
//!
//! - [`HyperIo`]: `hyper::rt::Read`/`Write` over any `tokio::io::AsyncRead`/`AsyncWrite`,
//!   such as [`net::PollIo`](crate::net::PollIo) (`stream.into_poll_io()`) or a TLS
//!   stream over one. It is the same adapter as hyper-util's `TokioIo`, without pulling in
//!   hyper-util's tokio feature (which brings tokio's runtime).
//! - [`RingIo`]: `hyper::rt::Read`/`Write` over a `TcpStream` through the ring with owned
//!   buffers (IORING_OP_RECV into its buffer, write-behind IORING_OP_SEND), at the price
//!   of a copy per direction.
//! - [`LocalExecutor`]: a `hyper::rt::Executor` that spawns on the current core. It
//!   accepts `!Send` futures, which HTTP/2 connections over ringcore sockets are.
//! - [`RingTimer`]: a `hyper::rt::Timer` on [`ringcore::time`](crate::time), needed for
//!   hyper's header-read timeout (408), HTTP/2 keep-alive pings and the client's pool.
//! - [`Client`]: HTTP/1.1 or HTTP/2 (h2c with prior knowledge) over plain TCP, with one
//!   connection pool per core (a `Client` is `!Send`; make one per core).
//!
//! A server is hyper's (or hyper-util's) connection builder over these:
//!
//! ```no_run
//! use std::convert::Infallible;
//! use ringcore::hyper_rt::{HyperIo, LocalExecutor, RingTimer};
//!
//! ringcore::block_on(async {
//!     let listener = ringcore::net::TcpListener::bind("127.0.0.1:8080")?;
//!     loop {
//!         let (stream, _) = listener.accept().await?;
//!         ringcore::spawn(async move {
//!             let service = hyper::service::service_fn(|_req| async {
//!                 Ok::<_, Infallible>(hyper::Response::new(String::from("hello")))
//!             });
//!             let _ = hyper::server::conn::http1::Builder::new()
//!                 .timer(RingTimer)
//!                 .serve_connection(HyperIo::new(stream.into_poll_io()), service)
//!                 .await;
//!         });
//!     }
//!     # #[allow(unreachable_code)]
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap();
//! # let _ = LocalExecutor;
//! ```
//!
//! docs/architecture.md ("hyper") says why this is a module behind a feature rather than
//! a companion crate.

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::ManuallyDrop;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::{Body, Incoming};
use hyper::client::conn::{http1, http2};

/// `hyper::rt::Read` and `hyper::rt::Write` over a `tokio::io::AsyncRead` /
/// `tokio::io::AsyncWrite` (and the tokio traits over a hyper I/O type, so hyper-util's
/// helpers that want either side work).
///
/// Reads go straight into hyper's (possibly uninitialised) buffer through tokio's
/// `ReadBuf`; nothing is copied or buffered here. Cancel safety is the inner type's: over
/// [`PollIo`](crate::net::PollIo), a read or write that returns `Pending` has moved no
/// bytes.
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        HyperIo { inner }
    }

    /// The wrapped I/O object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped I/O object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the I/O object.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: tokio::io::AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: tokio's `ReadBuf::uninit` only ever writes initialised bytes into the
        // slice and never de-initialises any; the slice is hyper's unfilled, possibly
        // uninitialised part, which is what `ReadBuf::uninit` expects.
        let mut tbuf = tokio::io::ReadBuf::uninit(unsafe { buf.as_mut() });
        match tokio::io::AsyncRead::poll_read(Pin::new(&mut this.inner), cx, &mut tbuf) {
            Poll::Ready(Ok(())) => {
                let n = tbuf.filled().len();
                // SAFETY: the first `n` bytes of the cursor's slice were filled (so
                // initialised) by the read above.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().inner), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.inner)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().inner), cx, bufs)
    }
}

type RingOp<T> = Pin<Box<dyn Future<Output = crate::BufResult<T, Vec<u8>>>>>;

/// `hyper::rt::Read`/`Write` over a [`TcpStream`](crate::net::TcpStream) through the ring
/// with owned buffers: reads are IORING_OP_RECV into the adapter's buffer, copied out to
/// hyper; writes are copied into an owned buffer and handed to IORING_OP_SEND at once
/// (write-behind), so each connection's sends and receives go out in the core's next
/// io_uring_enter together with every other connection's, instead of one recv(2) and one
/// send(2) per call as over [`PollIo`](crate::net::PollIo) with [`HyperIo`].
///
/// The price is one copy per direction (`capacity` bytes of read buffer, 16 KiB by
/// default, and one write buffer per connection), and that a write's error is reported by
/// the next call (`poll_write`, `poll_flush` or `poll_shutdown`) rather than the one that
/// accepted the bytes. `poll_flush` waits until the kernel has taken every accepted byte;
/// at most one send is in flight, so a slow peer applies backpressure through
/// `poll_write`. Dropping the adapter cancels what is in flight (unflushed bytes are lost,
/// as with any socket closed before a flush).
///
/// Cancel safety: the in-flight receive and send belong to the adapter, not to the
/// caller's future, so a `poll_read` or `poll_write` that returned `Pending` loses
/// nothing: the next call polls the same op.
pub struct RingIo {
    stream: Rc<crate::net::TcpStream>,
    capacity: usize,
    /// Received bytes not yet handed to hyper: `buf[pos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    reading: Option<RingOp<usize>>,
    /// A spare write buffer, reused between sends.
    wspare: Vec<u8>,
    writing: Option<RingOp<()>>,
    /// The error of a finished send, for the next write, flush or shutdown.
    werr: Option<io::Error>,
}

impl std::fmt::Debug for RingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingIo")
            .field("stream", &self.stream)
            .field("buffered", &(self.rbuf.len() - self.rpos))
            .field("reading", &self.reading.is_some())
            .field("writing", &self.writing.is_some())
            .finish()
    }
}

impl RingIo {
    /// Wraps `stream` with a 16 KiB read buffer.
    pub fn new(stream: crate::net::TcpStream) -> Self {
        RingIo::with_capacity(16 * 1024, stream)
    }

    /// Wraps `stream`, receiving at most `capacity` bytes (at least 1) per ring read.
    pub fn with_capacity(capacity: usize, stream: crate::net::TcpStream) -> Self {
        RingIo {
            stream: Rc::new(stream),
            capacity: capacity.max(1),
            rbuf: Vec::new(),
            rpos: 0,
            reading: None,
            wspare: Vec::new(),
            writing: None,
            werr: None,
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &crate::net::TcpStream {
        &self.stream
    }

    /// Polls the in-flight send, if any; keeps its error for the caller.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(op) = &mut self.writing {
            let (res, mut buf) = std::task::ready!(op.as_mut().poll(cx));
            self.writing = None;
            if let Err(e) = res {
                self.werr = Some(e);
            }
            buf.clear();
            self.wspare = buf;
        }
        Poll::Ready(())
    }

    fn take_werr(&mut self) -> io::Result<()> {
        match self.werr.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl hyper::rt::Read for RingIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut cursor: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rpos == this.rbuf.len() {
            let op = this.reading.get_or_insert_with(|| {
                this.rpos = 0;
                let mut buf = std::mem::take(&mut this.rbuf);
                buf.clear();
                buf.reserve(this.capacity);
                let stream = this.stream.clone();
                Box::pin(async move { stream.read(buf).await })
            });
            let (res, buf) = std::task::ready!(op.as_mut().poll(cx));
            this.reading = None;
            this.rbuf = buf;
            this.rpos = 0;
            if let Err(e) = res {
                this.rbuf.clear();
                return Poll::Ready(Err(e));
            }
            // 0 bytes: end of stream, nothing copied.
        }
        let n = (this.rbuf.len() - this.rpos).min(cursor.remaining());
        cursor.put_slice(&this.rbuf[this.rpos..this.rpos + n]);
        this.rpos += n;
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for RingIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        this.take_werr()?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut buf = std::mem::take(&mut this.wspare);
        buf.extend_from_slice(data);
        let stream = this.stream.clone();
        let mut op: RingOp<()> = Box::pin(async move { stream.write_all(buf).await });
        // Poll once so the send is queued for the next io_uring_enter.
        if let Poll::Ready((res, mut buf)) = op.as_mut().poll(cx) {
            if let Err(e) = res {
                this.werr = Some(e);
            }
            buf.clear();
            this.wspare = buf;
        } else {
            this.writing = Some(op);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        Poll::Ready(this.take_werr())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        this.take_werr()?;
        match this.stream.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// A `hyper::rt::Executor` that spawns each future as a detached task on the current core
/// ([`ringcore::spawn`](crate::spawn)). The futures need not be `Send`: HTTP/2 connections
/// over ringcore sockets are not.
///
/// # Panics
///
/// `execute` panics if called outside a ringcore runtime (hyper calls it from the
/// connection future, which runs on a core).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}

/// A `hyper::rt::Timer` on [`ringcore::time`](crate::time): `sleep`, `sleep_until` and an
/// in-place `reset`. Give it to hyper's builders (`.timer(RingTimer)`) to get header-read
/// timeouts, keep-alive timeouts and HTTP/2 keep-alive pings.
///
/// hyper requires its sleeps to be `Send + Sync`, and ringcore's timers belong to one
/// core. The sleep this timer returns remembers the thread that made it: polling it on any
/// other thread panics, and dropping it on another thread leaks the timer entry instead of
/// touching the core's timers. hyper polls and drops them inside the connection future,
/// which (over ringcore I/O) never leaves its core, so neither happens in practice.
///
/// # Panics
///
/// The sleeps panic if polled outside a ringcore runtime, or on a thread other than the
/// one that created them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingTimer;

impl hyper::rt::Timer for RingTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RingSleep::new(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RingSleep::new(crate::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<RingSleep>() {
            Some(mut ours) => ours.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

thread_local! {
    static THREAD_MARK: u8 = const { 0 };
}

/// An address unique to the calling thread while it lives.
fn thread_mark() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// A ringcore [`Sleep`](crate::time::Sleep) that may cross threads but is only used on
/// the one that made it.
struct RingSleep {
    owner: usize,
    sleep: ManuallyDrop<crate::time::Sleep>,
}

impl RingSleep {
    fn new(sleep: crate::time::Sleep) -> Self {
        RingSleep {
            owner: thread_mark(),
            sleep: ManuallyDrop::new(sleep),
        }
    }

    fn check_thread(&self) {
        assert!(
            thread_mark() == self.owner,
            "ringcore::hyper_rt::RingTimer: a sleep was used on a thread other than the \
             core that created it"
        );
    }

    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.check_thread();
        this.sleep.reset(deadline);
    }
}

// SAFETY: the inner `Sleep` (which holds an `Rc` to its core's timers) is touched only
// on the thread that created it: `poll` and `reset` check the thread first and panic on
// any other, `Drop` leaks it on any other, and `&RingSleep` gives no access to it at all.
// Moving the wrapper between threads therefore never moves a use of the `Rc`.
unsafe impl Send for RingSleep {}
// SAFETY: a shared reference exposes nothing (every method takes `Pin<&mut Self>`).
unsafe impl Sync for RingSleep {}

impl Future for RingSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.check_thread();
        // `Sleep` is `Unpin`.
        Pin::new(&mut *this.sleep).poll(cx)
    }
}

impl hyper::rt::Sleep for RingSleep {}

impl Drop for RingSleep {
    fn drop(&mut self) {
        if thread_mark() == self.owner {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.sleep) };
        }
        // On another thread: leak it (its `Rc` must not be touched here).
    }
}

/// Which protocol a [`Client`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1: one request at a time per connection; the pool keeps idle connections.
    Http1,
    /// HTTP/2 over cleartext TCP with prior knowledge (h2c): one connection per host,
    /// requests multiplexed on it.
    Http2,
}

/// Why a [`Client`] request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URI has no host, or a scheme other than `http`.
    #[error("unsupported URI {0}: only http://host[:port]/path is supported")]
    InvalidUri(String),
    /// The host name did not resolve (names under `.invalid` fail at once, per RFC 6761,
    /// without asking the resolver).
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Connecting failed (refused, unreachable, timed out), for every resolved address.
    #[error("connect to {addr}: {source}")]
    Connect {
        /// The last address tried.
        addr: SocketAddr,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed (handshake, a reset connection, a malformed response).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
}

impl ClientError {
    /// True for errors before any request was sent (resolve and connect): retrying those
    /// cannot repeat a request the server saw.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            ClientError::Resolve { .. } | ClientError::Connect { .. }
        )
    }
}

/// Settings for a [`Client`].
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    protocol: Protocol,
    connect_timeout: Duration,
    max_idle_per_host: usize,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            protocol: Protocol::Http1,
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 256,
        }
    }
}

impl ClientBuilder {
    /// HTTP/1.1 (the default) or HTTP/2 with prior knowledge.
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// How long one connect attempt (per resolved address) may take; 10 s by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many idle HTTP/1.1 connections the pool keeps per host (256 by default); more
    /// are closed when their request ends.
    pub fn max_idle_per_host(mut self, n: usize) -> Self {
        self.max_idle_per_host = n;
        self
    }

    /// Makes the client. Its pool starts empty.
    pub fn build<B>(self) -> Client<B> {
        Client {
            inner: Rc::new(Inner {
                config: self,
                pool: RefCell::new(HashMap::new()),
                connecting: RefCell::new(HashMap::new()),
            }),
        }
    }
}

enum Sender<B> {
    H1(http1::SendRequest<B>),
    H2(http2::SendRequest<B>),
}

type PoolKey = (Scheme, Authority);

struct Inner<B> {
    config: ClientBuilder,
    pool: RefCell<HashMap<PoolKey, Vec<Sender<B>>>>,
    /// HTTP/2: held while connecting to a host.
    connecting: RefCell<HashMap<PoolKey, Rc<crate::sync::Mutex<()>>>>,
}

/// An HTTP client for `http://` URIs with a connection pool on the current core.
///
/// `Client` is `!Send` and cheap to clone (clones share the pool): make one per core, as
/// with every other ringcore resource. HTTP/1.1 connections are reused once their previous
/// response has been read to the end; with [`Protocol::Http2`] every request to a host
/// shares one connection. Connection tasks are spawned on the current core with
/// [`LocalExecutor`] and use [`RingTimer`].
///
/// `B` is the request body type (for example `http_body_util::Empty<Bytes>` or
/// `Full<Bytes>`).
pub struct Client<B> {
    inner: Rc<Inner<B>>,
}

impl Client<()> {
    /// Settings for a client; [`ClientBuilder::build`] picks the body type.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }
}

impl<B> Clone for Client<B> {
    fn clone(&self) -> Self {
        Client {
            inner: self.inner.clone(),
        }
    }
}

impl<B> std::fmt::Debug for Client<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pool = self.inner.pool.borrow();
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("hosts", &pool.len())
            .field("pooled", &pool.values().map(Vec::len).sum::<usize>())
            .finish()
    }
}

impl<B> Client<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    /// A client with the default settings (HTTP/1.1, 10 s connect timeout).
    pub fn new() -> Self {
        ClientBuilder::default().build()
    }

    /// Number of pooled connections (idle or busy) to all hosts.
    pub fn pooled(&self) -> usize {
        self.inner.pool.borrow().values().map(Vec::len).sum()
    }

    /// Sends `req` to the host in its URI (`http://host[:port]/path?query`) and returns
    /// the response once its head has arrived; the body streams after that.
    ///
    /// An absolute URI is rewritten to origin form for HTTP/1.1 and a `Host` header added
    /// if missing.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUri`] for a URI without a host or with another scheme;
    /// [`ClientError::Resolve`] and [`ClientError::Connect`] when no connection could be
    /// made; [`ClientError::Http`] when the exchange failed.
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future abandons the request: a connection being made is closed, and
    /// an HTTP/1.1 connection with a request in flight is closed rather than reused.
    pub async fn request(&self, mut req: Request<B>) -> Result<Response<Incoming>, ClientError> {
        let uri = req.uri().clone();
        let (scheme, authority) = match (uri.scheme(), uri.authority()) {
            (Some(s), Some(a)) if *s == Scheme::HTTP => (s.clone(), a.clone()),
            _ => return Err(ClientError::InvalidUri(uri.to_string())),
        };
        let key = (scheme, authority.clone());
        let mut sender = match self.take_pooled(&key) {
            Some(s) => s,
            None if self.inner.config.protocol == Protocol::Http2 => {
                // One connection per host: requests that find none wait for the first
                // one's handshake instead of each making their own.
                let lock = self
                    .inner
                    .connecting
                    .borrow_mut()
                    .entry(key.clone())
                    .or_default()
                    .clone();
                let _guard = lock.lock().await;
                match self.take_pooled(&key) {
                    Some(s) => s,
                    None => {
                        let s = self.connect(&authority).await?;
                        if let Sender::H2(h2) = &s {
                            self.put_back(key.clone(), Sender::H2(h2.clone()));
                        }
                        s
                    }
                }
            }
            None => self.connect(&authority).await?,
        };
        match &mut sender {
            Sender::H1(_) => {
                if !req.headers().contains_key(http::header::HOST) {
                    if let Ok(v) = http::HeaderValue::from_str(authority.as_str()) {
                        req.headers_mut().insert(http::header::HOST, v);
                    }
                }
                let path = uri
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
                    .to_owned();
                *req.uri_mut() =
                    Uri::try_from(path).map_err(|_| ClientError::InvalidUri(uri.to_string()))?;
            }
            Sender::H2(_) => {}
        }
        let result = match &mut sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        };
        // Back to the pool: an HTTP/1.1 connection is taken again only once it is ready
        // (its response read), an HTTP/2 one at once.
        self.put_back(key, sender);
        Ok(result?)
    }

    fn take_pooled(&self, key: &PoolKey) -> Option<Sender<B>> {
        let mut pool = self.inner.pool.borrow_mut();
        let list = pool.get_mut(key)?;
        list.retain(|s| match s {
            Sender::H1(s) => !s.is_closed(),
            Sender::H2(s) => !s.is_closed(),
        });
        let found = list.iter().position(|s| match s {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        })?;
        Some(match &list[found] {
            // HTTP/2: share the connection, keep it pooled.
            Sender::H2(s) => Sender::H2(s.clone()),
            Sender::H1(_) => list.swap_remove(found),
        })
    }

    fn put_back(&self, key: PoolKey, sender: Sender<B>) {
        let mut pool = self.inner.pool.borrow_mut();
        let list = pool.entry(key).or_default();
        match sender {
            Sender::H1(s) => {
                if !s.is_closed() && list.len() < self.inner.config.max_idle_per_host {
                    list.push(Sender::H1(s));
                }
            }
            Sender::H2(s) => {
                if !s.is_closed() && list.is_empty() {
                    list.push(Sender::H2(s));
                }
            }
        }
    }

    async fn connect(&self, authority: &Authority) -> Result<Sender<B>, ClientError> {
        let port = authority.port_u16().unwrap_or(80);
        let addrs = resolve(authority.host(), port).await?;
        let mut last = None;
        for addr in addrs {
            let attempt = crate::time::timeout(
                self.inner.config.connect_timeout,
                crate::net::TcpStream::connect(addr),
            )
            .await;
            let stream = match attempt {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    last = Some((addr, e));
                    continue;
                }
                Err(_) => {
                    last = Some((addr, io::Error::from(io::ErrorKind::TimedOut)));
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let io = HyperIo::new(stream.into_poll_io());
            return Ok(match self.inner.config.protocol {
                Protocol::Http1 => {
                    let (sender, conn) = http1::handshake(io).await?;
                    drop(crate::spawn(async move {
                        let _ = conn.await;
                    }));
                    Sender::H1(sender)
                }
                Protocol::Http2 => {
                    let (sender, conn) = http2::Builder::new(LocalExecutor)
                        .timer(RingTimer)
                        .handshake(io)
                        .await?;
                    drop(crate::spawn(async move {
                        let _ = conn.await;
                    }));
                    Sender::H2(sender)
                }
            });
        }
        let (addr, source) = last.expect("resolve returns at least one address");
        Err(ClientError::Connect { addr, source })
    }
}

impl<B> Default for Client<B>
where
    B: Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    fn default() -> Self {
        Client::new()
    }
}

/// IP literals and `localhost` resolve here; names under `.invalid` fail at once (RFC
/// 6761); other names go to the system resolver on the blocking pool.
async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, ClientError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lower = bare.to_ascii_lowercase();
    let lower = lower.trim_end_matches('.');
    if lower == "localhost" {
        return Ok(vec![
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port),
        ]);
    }
    let fail = |source| ClientError::Resolve {
        host: bare.to_owned(),
        source,
    };
    if lower == "invalid" || lower.ends_with(".invalid") {
        return Err(fail(io::Error::new(
            io::ErrorKind::NotFound,
            "names under .invalid never resolve (RFC 6761)",
        )));
    }
    let name = bare.to_owned();
    let resolved = crate::offload::spawn_blocking(move || {
        use std::net::ToSocketAddrs;
        (name.as_str(), port)
            .to_socket_addrs()
            .map(|a| a.collect::<Vec<_>>())
    })
    .await
    .map_err(|e| fail(io::Error::other(e.to_string())))?
    .map_err(fail)?;
    if resolved.is_empty() {
        return Err(fail(io::Error::new(
            io::ErrorKind::NotFound,
            "no addresses",
        )));
    }
    Ok(resolved)
}
