//! [`Client`]: HTTP/1.1 or h2c over plain TCP with one connection pool per core, its
//! settings ([`ClientBuilder`]) and errors ([`ClientError`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri};
use hyper::body::{Body, Incoming};
use hyper::client::conn::{http1, http2};

use super::bodies::{BodyError, RecvBody};
use super::{HyperIo, LocalExecutor, RingTimer};

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
    /// The URI could not be parsed, or is not absolute (no scheme or no host).
    #[error("invalid URI {uri:?}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URI's scheme is not `http`: `https` needs TLS, which this client does not have
    /// (run a TLS stream such as tokio-rustls's over [`PollIo`](crate::net::PollIo) with
    /// [`HyperIo`] and hyper's own connection builders for that).
    #[error(
        "unsupported scheme {scheme:?} in {uri}: this client speaks plain http:// only (no TLS)"
    )]
    UnsupportedScheme {
        /// The URI as given.
        uri: String,
        /// Its scheme (`https`, `ftp`, ...).
        scheme: String,
    },
    /// The host name did not resolve ([`lookup_host`](crate::net::lookup_host) failed;
    /// names under `.invalid` fail at once, per RFC 6761, without asking the resolver).
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's error.
        #[source]
        source: io::Error,
    },
    /// Connecting failed (refused, unreachable, timed out), for every resolved address.
    #[error("connect to {host}:{port} ({addr}): {source}")]
    Connect {
        /// The host as the URI gives it (a name, an IPv4 address or a bracketed IPv6 one).
        host: String,
        /// The port (the URI's, or 80).
        port: u16,
        /// The last address tried.
        addr: SocketAddr,
        /// The last error.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed (handshake, a reset connection, a malformed response).
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    /// [`Client::post_json`]: the value could not be serialised.
    #[error("serialising the request body: {0}")]
    Json(#[source] serde_json::Error),
    /// Reading the response body failed ([`RecvBody`]'s helpers; converted by `?`).
    #[error(transparent)]
    Body(#[from] BodyError),
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

    /// Makes the client, sending [`Body`](super::Body)s. Its pool starts empty.
    pub fn build(self) -> Client {
        self.build_for_body()
    }

    /// Makes a client that sends request bodies of type `B` (any hyper body, such as
    /// http-body-util's `Full<Bytes>` or a stream); its pool starts empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcore::hyper_rt::http_body_util::Empty;
    /// use ringcore::hyper_rt::{Bytes, Client};
    ///
    /// let _client = Client::builder().build_for_body::<Empty<Bytes>>();
    /// ```
    pub fn build_for_body<B>(self) -> Client<B> {
        Client {
            inner: Rc::new(Inner {
                config: self,
                pool: RefCell::new(HashMap::new()),
                connecting: RefCell::new(HashMap::new()),
            }),
        }
    }
}

/// One pooled connection's request handle.
enum Sender<B> {
    H1(http1::SendRequest<B>),
    H2(http2::SendRequest<B>),
}

impl<B> Sender<B> {
    /// The connection is gone (closed by either side, or failed).
    fn is_closed(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_closed(),
            Sender::H2(s) => s.is_closed(),
        }
    }

    /// The connection can take a request now (HTTP/1.1: the previous response was read
    /// to its end).
    fn is_ready(&self) -> bool {
        match self {
            Sender::H1(s) => s.is_ready(),
            Sender::H2(s) => s.is_ready(),
        }
    }

    /// HTTP/2: another handle on the same connection, which stays pooled; HTTP/1.1
    /// connections are not shared (`None`).
    fn share(&self) -> Option<Self> {
        match self {
            Sender::H1(_) => None,
            Sender::H2(s) => Some(Sender::H2(s.clone())),
        }
    }

    /// Whether the pool keeps this sender, given the `pooled` senders it already holds for
    /// the host: an open HTTP/1.1 connection while there are fewer than `max_idle`, an
    /// open HTTP/2 one if it is the host's only one.
    fn keep(&self, pooled: usize, max_idle: usize) -> bool {
        !self.is_closed()
            && match self {
                Sender::H1(_) => pooled < max_idle,
                Sender::H2(_) => pooled == 0,
            }
    }
}

impl<B> Sender<B>
where
    B: Body + 'static,
{
    /// Makes `req` fit the connection's protocol: HTTP/1.1 sends the origin form
    /// (`/path?query`) with a `Host` header; HTTP/2 keeps the absolute URI, which becomes
    /// its `:authority`.
    fn prepare(&self, req: &mut Request<B>, authority: &Authority) {
        if let Sender::H1(_) = self {
            if !req.headers().contains_key(http::header::HOST)
                && let Ok(v) = http::HeaderValue::from_str(authority.as_str())
            {
                req.headers_mut().insert(http::header::HOST, v);
            }
            let origin = req
                .uri()
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
            *req.uri_mut() = Uri::from(origin);
        }
    }

    /// Sends `req` and waits for the response head.
    async fn send_request(&mut self, req: Request<B>) -> hyper::Result<Response<Incoming>> {
        match self {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    }
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
/// [`LocalExecutor`] and use [`RingTimer`]; host names resolve through
/// [`net::lookup_host`](crate::net::lookup_host). There is no TLS: `https://` URIs are
/// [`ClientError::UnsupportedScheme`].
///
/// `B` is the request body type, [`Body`](super::Body) (whole, in memory) unless a
/// client is made with [`ClientBuilder::build_for_body`]. Responses carry a
/// [`RecvBody`], read whole with `bytes()`, `text()` or `json()`, or streamed.
///
/// # Examples
///
/// ```no_run
/// ringcore::block_on(async {
///     let client = ringcore::hyper_rt::Client::new();
///     let text = client.get("http://127.0.0.1:8080/").await?.into_body().text().await?;
///     println!("{text}");
///     Ok::<_, ringcore::hyper_rt::ClientError>(())
/// });
/// ```
pub struct Client<B = super::Body> {
    inner: Rc<Inner<B>>,
}

impl Client {
    /// A client with the default settings (HTTP/1.1, 10 s connect timeout, up to 256
    /// idle connections per host) sending [`Body`](super::Body)s. Its pool starts empty;
    /// nothing is connected until the first request.
    pub fn new() -> Self {
        ClientBuilder::default().build()
    }

    /// Settings for a client: `Client::builder().protocol(Protocol::Http2).build()`.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// GETs `uri` (`http://host[:port]/path?query`, a `&str`, `String` or
    /// [`Uri`]) and returns the response once its head has arrived; read the body with
    /// `into_body().bytes()`, `.text()` or `.json()`. Any status is a response, not an
    /// error: check `status()`.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUri`] for a URI that does not parse or has no host,
    /// [`ClientError::UnsupportedScheme`] for `https://` and other schemes,
    /// [`ClientError::Resolve`] and [`ClientError::Connect`] (naming the host and port)
    /// when no connection could be made, [`ClientError::Http`] when the exchange failed.
    ///
    /// # Panics
    ///
    /// If awaited outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`request`](Client::request): dropping the future abandons the request.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// let client = ringcore::hyper_rt::Client::new();
    /// let response = client.get("http://127.0.0.1:8080/").await?;
    /// println!("{}: {}", response.status(), response.into_body().text().await?);
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn get(&self, uri: impl IntoUri) -> Result<Response<RecvBody>, ClientError> {
        let mut req = Request::new(super::Body::empty());
        *req.uri_mut() = uri.into_uri()?;
        self.request(req).await
    }

    /// POSTs `body` (anything that makes a [`Body`](super::Body): `&'static str`,
    /// `String`, `Vec<u8>`, `Bytes`) to `uri` with its `content-length`; no
    /// `content-type` is set (use [`request`](Client::request) with a built
    /// [`Request`] for headers).
    ///
    /// # Errors
    ///
    /// As [`get`](Client::get).
    ///
    /// # Panics
    ///
    /// If awaited outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`request`](Client::request): dropping the future abandons the request, which
    /// the server may or may not have seen.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// let client = ringcore::hyper_rt::Client::new();
    /// let response = client.post("http://127.0.0.1:8080/echo", "hello").await?;
    /// assert!(response.status().is_success());
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn post(
        &self,
        uri: impl IntoUri,
        body: impl Into<super::Body>,
    ) -> Result<Response<RecvBody>, ClientError> {
        let mut req = Request::new(body.into());
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.into_uri()?;
        self.request(req).await
    }

    /// POSTs `value` serialised as JSON to `uri`, with `content-type: application/json`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Json`] if `value` cannot be serialised; otherwise as
    /// [`get`](Client::get).
    ///
    /// # Panics
    ///
    /// If awaited outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`post`](Client::post).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Point {
    ///     x: i32,
    ///     y: i32,
    /// }
    /// let client = ringcore::hyper_rt::Client::new();
    /// let response = client.post_json("http://127.0.0.1:8080/mirror", &Point { x: 1, y: 2 }).await?;
    /// let back: Point = response.into_body().json().await?;
    /// assert_eq!((back.x, back.y), (1, 2));
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        uri: impl IntoUri,
        value: &T,
    ) -> Result<Response<RecvBody>, ClientError> {
        let mut req = Request::new(super::Body::json(value).map_err(ClientError::Json)?);
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = uri.into_uri()?;
        req.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        self.request(req).await
    }
}

/// A URI argument of [`Client::get`], [`Client::post`] and [`Client::post_json`]: a
/// `&str`, `String` or `&String` (parsed here, so that a malformed one is a
/// [`ClientError::InvalidUri`] that quotes it), or an [`http::Uri`].
///
/// # Examples
///
/// ```
/// use ringcore::hyper_rt::{ClientError, IntoUri};
///
/// assert!("http://example.com/".into_uri().is_ok());
/// assert!(matches!("http://exa mple/".into_uri(), Err(ClientError::InvalidUri { .. })));
/// ```
pub trait IntoUri {
    /// The parsed URI.
    ///
    /// # Errors
    ///
    /// [`ClientError::InvalidUri`] (with the text and the parser's reason) if it does not
    /// parse.
    fn into_uri(self) -> Result<Uri, ClientError>;
}

impl IntoUri for Uri {
    fn into_uri(self) -> Result<Uri, ClientError> {
        Ok(self)
    }
}

impl IntoUri for &Uri {
    fn into_uri(self) -> Result<Uri, ClientError> {
        Ok(self.clone())
    }
}

impl IntoUri for &str {
    fn into_uri(self) -> Result<Uri, ClientError> {
        Uri::try_from(self).map_err(|e| ClientError::InvalidUri {
            uri: self.to_owned(),
            reason: e.to_string(),
        })
    }
}

impl IntoUri for String {
    fn into_uri(self) -> Result<Uri, ClientError> {
        self.as_str().into_uri()
    }
}

impl IntoUri for &String {
    fn into_uri(self) -> Result<Uri, ClientError> {
        self.as_str().into_uri()
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
    /// [`ClientError::InvalidUri`] for a URI without a scheme or host,
    /// [`ClientError::UnsupportedScheme`] for a scheme other than `http`;
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use ringcore::hyper_rt::{Body, Client, Request};
    ///
    /// # ringcore::block_on(async {
    /// let client = Client::new();
    /// let req = Request::put("http://127.0.0.1:8080/notes/1")
    ///     .header("content-type", "text/plain")
    ///     .body(Body::from("remember the milk"))
    ///     .expect("a valid request");
    /// let status = client.request(req).await?.status();
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn request(&self, mut req: Request<B>) -> Result<Response<RecvBody>, ClientError> {
        let (scheme, authority) = target(req.uri())?;
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
                        if let Some(shared) = s.share() {
                            self.put_back(key.clone(), shared);
                        }
                        s
                    }
                }
            }
            None => self.connect(&authority).await?,
        };
        sender.prepare(&mut req, &authority);
        let result = sender.send_request(req).await;
        // Back to the pool: an HTTP/1.1 connection is taken again only once it is ready
        // (its response read), an HTTP/2 one at once.
        self.put_back(key, sender);
        Ok(result?.map(RecvBody::from))
    }

    fn take_pooled(&self, key: &PoolKey) -> Option<Sender<B>> {
        let mut pool = self.inner.pool.borrow_mut();
        let list = pool.get_mut(key)?;
        list.retain(|s| !s.is_closed());
        let found = list.iter().position(Sender::is_ready)?;
        // HTTP/2: share the connection, keep it pooled.
        list[found]
            .share()
            .or_else(|| Some(list.swap_remove(found)))
    }

    fn put_back(&self, key: PoolKey, sender: Sender<B>) {
        let mut pool = self.inner.pool.borrow_mut();
        let list = pool.entry(key).or_default();
        if sender.keep(list.len(), self.inner.config.max_idle_per_host) {
            list.push(sender);
        }
    }

    async fn connect(&self, authority: &Authority) -> Result<Sender<B>, ClientError> {
        let port = authority.port_u16().unwrap_or(80);
        // `[::1]` in a URI is `::1` to the resolver.
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let addrs = crate::net::lookup_host((host, port))
            .await
            .map_err(|e| resolve_error(host, e))?;
        let mut last = (
            SocketAddr::from(([0, 0, 0, 0], port)),
            io::Error::new(io::ErrorKind::NotFound, "the name resolved to no address"),
        );
        for addr in addrs {
            let attempt = crate::time::timeout(
                self.inner.config.connect_timeout,
                crate::net::TcpStream::connect(addr),
            )
            .await;
            let stream = match attempt {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    last = (addr, e);
                    continue;
                }
                Err(_) => {
                    last = (addr, io::Error::from(io::ErrorKind::TimedOut));
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
        let (addr, source) = last;
        Err(ClientError::Connect {
            host: authority.host().to_owned(),
            port,
            addr,
            source,
        })
    }
}

impl<B> Default for Client<B> {
    fn default() -> Self {
        ClientBuilder::default().build_for_body()
    }
}

/// The scheme and authority a request goes to.
fn target(uri: &Uri) -> Result<(Scheme, Authority), ClientError> {
    match (uri.scheme(), uri.authority()) {
        (Some(s), Some(a)) if *s == Scheme::HTTP => Ok((s.clone(), a.clone())),
        (Some(s), _) if *s != Scheme::HTTP => Err(ClientError::UnsupportedScheme {
            uri: uri.to_string(),
            scheme: s.as_str().to_owned(),
        }),
        _ => Err(ClientError::InvalidUri {
            uri: uri.to_string(),
            reason: "not absolute: the client needs http://host[:port]/path".to_owned(),
        }),
    }
}

/// [`ClientError::Resolve`] from [`lookup_host`](crate::net::lookup_host)'s error, with
/// the resolver's own error as its source.
fn resolve_error(host: &str, err: io::Error) -> ClientError {
    let kind = err.kind();
    let (host, source) = match err
        .into_inner()
        .map(|e| e.downcast::<crate::net::ResolveError>())
    {
        Some(Ok(resolve)) => resolve.into_parts(),
        Some(Err(other)) => (host.to_owned(), io::Error::new(kind, other)),
        None => (host.to_owned(), io::Error::from(kind)),
    };
    ClientError::Resolve { host, source }
}
