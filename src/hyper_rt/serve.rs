//! [`serve`]: HTTP/1.1 and h2c on a [`TcpListener`] with hyper-util's auto builder, one
//! task per connection on the current core, and graceful shutdown.
//!
//! The server's states, and who moves it between them:
//!
//! ```text
//!  accepting ──signal──▶ draining ──open == 0──────────────────▶ done
//!                           │
//!                           └──grace period over──▶ cutting ──open == 0──▶ done
//! ```
//!
//! - accepting: the serve future accepts and spawns a connection task per stream; a
//!   failed accept (EMFILE, ENFILE, ENOBUFS, ...) is logged and retried after a backoff
//!   (1 ms doubling to 1 s, back to 1 ms after a success).
//! - draining: the listener is closed, `stopping` is set; each connection task calls
//!   hyper's `graceful_shutdown` (HTTP/1.1 closes after the response in flight, HTTP/2
//!   sends GOAWAY and finishes its open streams, a connection that has not sent a byte
//!   closes at once).
//! - cutting: `cut` is set; each connection task drops its connection (closing the
//!   socket) at its next poll.
//!
//! `open` is counted up by the serve future on accept and down by each connection task
//! when it ends; the last one to end while the server is stopping sets `idle`. Dropping
//! the serve future sets `stopping` too, so connections still open finish gracefully as
//! detached tasks.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Incoming};
use hyper::service::Service;
use hyper_util::server::conn::auto;

use super::{HyperIo, LocalExecutor, RingTimer};
use crate::future::Either;
use crate::net::{PollIo, TcpListener, TcpStream};
use crate::sync::Event;

/// The shortest and longest pause after a failed accept.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(1));

/// Serves HTTP/1.1 and HTTP/2 with prior knowledge (h2c) on `listener` with `service`:
/// the protocol of each connection is told from its first bytes (hyper-util's auto
/// builder), and each connection is a task of its own on the current core.
///
/// Await the returned [`Serve`] to run the server. Without
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) it never ends; with it, it
/// stops accepting when the signal future completes, lets every open connection finish
/// the requests it has in flight (for at most [`grace_period`](Serve::grace_period), 30
/// s by default; connections still open then are closed), and returns a [`Served`].
///
/// `service` is a hyper `Service` (most simply [`service_fn`](super::service_fn) over an
/// `async` closure); each connection gets a clone. It may be `!Send`, and so may its
/// futures and response bodies. Handlers return any hyper body: [`Body`](super::Body),
/// `String`, or a stream.
///
/// A failed `accept` (out of descriptors with EMFILE or ENFILE, out of memory) does not
/// stop the server: it is logged (`log::warn!`, target `ringcore::hyper_rt`), the accept
/// is retried after a pause that doubles from 1 ms up to 1 s while the errors last (the
/// core sleeps meanwhile, it does not spin), and connections already open are served all
/// along.
///
/// I/O adapter: connections are served through [`HyperIo`] over
/// [`PollIo`](crate::net::PollIo) (readiness through the ring, then recv(2)/send(2) into
/// hyper's own buffers), not [`RingIo`](super::RingIo). Both cost the same CPU per request
/// on loopback (docs/benchmarks.md); `HyperIo` copies nothing and keeps no buffer of its
/// own per connection, and it lets the server take the socket back from hyper to answer
/// 408 (below).
///
/// Behaviour for misbehaving clients: a malformed request gets 400, a request head larger
/// than [`max_header_bytes`](Serve::max_header_bytes) gets 431, and a client that stalls
/// mid-headers for [`header_read_timeout`](Serve::header_read_timeout) gets 408 (an idle
/// keep-alive connection that times out is closed without one, since a 408 there could be
/// read as the answer to the client's next request); each costs only its own connection.
///
/// # Examples
///
/// A hello-world server:
///
/// ```no_run
/// use ringcore::hyper_rt::{serve, service_fn, Body, Response};
///
/// ringcore::block_on(async {
///     let listener = ringcore::net::TcpListener::bind("127.0.0.1:8080")?;
///     let hello = service_fn(|_req| async { Ok::<_, std::convert::Infallible>(Response::new(Body::from("hello"))) });
///     serve(listener, hello).await;
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<_, std::io::Error>(())
/// ```
///
/// Stopping on Ctrl-C, after the requests in flight have been answered:
///
/// ```no_run
/// use ringcore::hyper_rt::{serve, service_fn, Body, Response};
///
/// ringcore::block_on(async {
///     let ctrl_c = ringcore::signal::ctrl_c_or_terminate();
///     let listener = ringcore::net::TcpListener::bind("127.0.0.1:8080")?;
///     let hello = service_fn(|_req| async { Ok::<_, std::convert::Infallible>(Response::new(Body::from("hello"))) });
///     let served = serve(listener, hello)
///         .with_graceful_shutdown(async move { let _ = ctrl_c.await; })
///         .await;
///     println!("{} connections", served.accepted);
///     Ok::<_, std::io::Error>(())
/// })?;
/// # Ok::<_, std::io::Error>(())
/// ```
pub fn serve<S>(listener: TcpListener, service: S) -> Serve<S, std::future::Pending<()>> {
    Serve {
        listener,
        service,
        signal: std::future::pending(),
        grace: Duration::from_secs(30),
        header_read_timeout: Duration::from_secs(30),
        max_header_bytes: 64 * 1024,
        stats: ServeStats::default(),
    }
}

/// A server being set up by [`serve`]; await it (it is [`IntoFuture`]) to run it.
///
/// `F` is the graceful-shutdown signal ([`std::future::Pending`] until
/// [`with_graceful_shutdown`](Serve::with_graceful_shutdown) sets one).
#[must_use = "a server does nothing until it is awaited"]
pub struct Serve<S, F> {
    listener: TcpListener,
    service: S,
    signal: F,
    grace: Duration,
    header_read_timeout: Duration,
    max_header_bytes: usize,
    stats: ServeStats,
}

impl<S, F> std::fmt::Debug for Serve<S, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Serve")
            .field("listener", &self.listener)
            .field("grace", &self.grace)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<S, F> Serve<S, F> {
    /// Stops the server gracefully when `signal` completes: the listener is closed, every
    /// open connection finishes the requests in flight and closes (HTTP/2 with GOAWAY),
    /// and the serve future returns once they all have, or when the
    /// [`grace_period`](Serve::grace_period) is over.
    pub fn with_graceful_shutdown<G: Future<Output = ()>>(self, signal: G) -> Serve<S, G> {
        Serve {
            listener: self.listener,
            service: self.service,
            signal,
            grace: self.grace,
            header_read_timeout: self.header_read_timeout,
            max_header_bytes: self.max_header_bytes,
            stats: self.stats,
        }
    }

    /// How long a graceful shutdown waits for open connections (30 s by default); those
    /// still open then are closed, and counted in [`Served::cut_off`].
    pub fn grace_period(mut self, limit: Duration) -> Self {
        self.grace = limit;
        self
    }

    /// How long a client may take to send a request's head before it gets 408 and the
    /// connection is closed (30 s by default; HTTP/1.1).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// The largest request head accepted, in bytes (64 KiB by default, at least 8192);
    /// larger ones get 431 on HTTP/1.1, and a stream reset on HTTP/2.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.max_header_bytes = bytes.max(8192);
        self
    }

    /// Live counters of this server (connections accepted and open), to read while it
    /// runs.
    pub fn stats(&self) -> ServeStats {
        self.stats.clone()
    }
}

/// Counters of a server made by [`serve`], shared with it (clones read the same ones).
#[derive(Clone, Debug, Default)]
pub struct ServeStats {
    inner: Rc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: Cell<u64>,
    open: Cell<usize>,
}

impl ServeStats {
    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.inner.accepted.get()
    }

    /// Connections open now (accepted and not yet closed).
    pub fn open(&self) -> usize {
        self.inner.open.get()
    }
}

/// What a server did, returned by a [`Serve`] future after a graceful shutdown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Served {
    /// Connections accepted in all.
    pub accepted: u64,
    /// Connections still open when the grace period ended, closed then (0 when every
    /// connection finished in time).
    pub cut_off: usize,
}

/// What the serve future shares with its connection tasks.
struct Shared {
    stats: ServeStats,
    /// Set when shutdown starts (or the serve future is dropped).
    stopping: Event,
    /// Set when the grace period is over: connections close at once.
    cut: Event,
    /// Set by the last connection to close while `stopping` is set.
    idle: Event,
}

impl Shared {
    fn closed(&self) {
        let open = &self.stats.inner.open;
        open.set(open.get() - 1);
        if open.get() == 0 && self.stopping.is_set() {
            self.idle.set();
        }
    }
}

/// Sets `stopping` when the serve future ends or is dropped.
struct StopOnDrop(Rc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stopping.set();
    }
}

impl<S, B, F> IntoFuture for Serve<S, F>
where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = ()> + 'static,
{
    type Output = Served;
    type IntoFuture = Pin<Box<dyn Future<Output = Served>>>;

    /// Runs the server (see [`serve`]).
    ///
    /// # Panics
    ///
    /// If polled outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future closes the listener and starts a graceful shutdown of the open
    /// connections, which finish as their own tasks (without a grace period: the runtime
    /// ending cuts them off).
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(run(self))
    }
}

async fn run<S, B, F>(serve: Serve<S, F>) -> Served
where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    F: Future<Output = ()>,
{
    let Serve {
        listener,
        service,
        signal,
        grace,
        header_read_timeout,
        max_header_bytes,
        stats,
    } = serve;
    let shared = Rc::new(Shared {
        stats,
        stopping: Event::new(),
        cut: Event::new(),
        idle: Event::new(),
    });
    let _stop = StopOnDrop(shared.clone());
    let mut builder = auto::Builder::new(LocalExecutor);
    builder
        .http1()
        .timer(RingTimer)
        .header_read_timeout(header_read_timeout)
        .max_buf_size(max_header_bytes);
    builder
        .http2()
        .timer(RingTimer)
        .max_header_list_size(u32::try_from(max_header_bytes).unwrap_or(u32::MAX));
    let builder = Rc::new(builder);

    // Connections come through `incoming()`: one multishot accept where the kernel has it
    // (one SQE for many connections), plain accepts otherwise. It never ends.
    let mut incoming = listener.incoming();
    let accept = async {
        let mut backoff = BACKOFF.0;
        while let Some(next) = futures_util::StreamExt::next(&mut incoming).await {
            match next {
                Ok(stream) => {
                    backoff = BACKOFF.0;
                    let counters = &shared.stats.inner;
                    counters.accepted.set(counters.accepted.get() + 1);
                    counters.open.set(counters.open.get() + 1);
                    let (builder, service, shared) =
                        (builder.clone(), service.clone(), shared.clone());
                    drop(crate::spawn(async move {
                        connection(&builder, stream, service, &shared).await;
                        shared.closed();
                    }));
                }
                Err(e) => {
                    log::warn!(
                        target: "ringcore::hyper_rt",
                        "serve: accept failed ({e}); retrying in {backoff:?}, open connections are still served"
                    );
                    crate::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF.1);
                }
            }
        }
    };
    let signal = pin!(signal);
    let _ = crate::future::select(pin!(accept), signal).await;
    drop(incoming);
    drop(listener);
    shared.stopping.set();
    let counters = &shared.stats.inner;
    if counters.open.get() > 0
        && crate::time::timeout(grace, shared.idle.wait())
            .await
            .is_err()
    {
        let cut_off = counters.open.get();
        shared.cut.set();
        shared.idle.wait().await;
        return Served {
            accepted: counters.accepted.get(),
            cut_off,
        };
    }
    Served {
        accepted: counters.accepted.get(),
        cut_off: 0,
    }
}

/// Serves one connection until it closes, until shutdown starts and it has finished
/// gracefully, or until it is cut off. Its errors (malformed requests, resets, timeouts)
/// end it alone.
///
/// hyper's header-read timeout closes the connection without answering; this adds the
/// 408 the client is owed when it had sent part of a request.
async fn connection<S, B>(
    builder: &auto::Builder<LocalExecutor>,
    stream: TcpStream,
    service: S,
    shared: &Shared,
) where
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let _ = stream.set_nodelay(true);
    let tracked = Rc::new(RefCell::new(Tracked {
        io: stream.into_poll_io(),
        unanswered: false,
    }));
    let result = {
        let conn = builder.serve_connection(HyperIo::new(SharedIo(tracked.clone())), service);
        let mut conn = pin!(conn);
        let run = async {
            match crate::future::select(conn.as_mut(), pin!(shared.stopping.wait())).await {
                Either::Left(result) => result,
                Either::Right(()) => {
                    conn.as_mut().graceful_shutdown();
                    conn.as_mut().await
                }
            }
        };
        match crate::future::select(pin!(run), pin!(shared.cut.wait())).await {
            Either::Left(result) => result,
            Either::Right(()) => return,
        }
    };
    let timed_out = result.as_ref().is_err_and(|e| {
        e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
    });
    // hyper has let go of the socket once the connection future is gone.
    let Ok(cell) = Rc::try_unwrap(tracked) else {
        return;
    };
    let Tracked { mut io, unanswered } = cell.into_inner();
    if timed_out && unanswered {
        use tokio::io::AsyncWriteExt;
        let answer =
            b"HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
        let _ = crate::time::timeout(Duration::from_secs(1), async {
            io.write_all(answer).await?;
            io.shutdown().await
        })
        .await;
    }
}

/// A connection's socket, and whether bytes of a request have arrived since the last
/// response bytes went out.
struct Tracked {
    io: PollIo<TcpStream>,
    unanswered: bool,
}

/// The socket, shared between hyper and [`connection`] (which answers 408 on it after
/// hyper gave up).
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
