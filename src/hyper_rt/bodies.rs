//! Bodies: [`Body`], the whole-buffer body a [`Client`](super::Client) sends and a
//! handler answers with, and [`RecvBody`], a received body (a response's on the client, a
//! request's on the server) with `bytes`, `text` and `json` helpers.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt as _;
use hyper::body::{Frame, Incoming, SizeHint};

/// A body held whole in memory: empty, or one [`Bytes`] buffer sent as a single frame with
/// its exact length (`content-length`).
///
/// It is the default body type of [`Client`](super::Client) (so `Client::new()` needs no
/// annotation) and a ready-made response body for [`serve`](super::serve) handlers. Make
/// one with [`Body::empty`], [`Body::json`] or `From` a `&'static str`, `String`,
/// `Vec<u8>`, `&'static [u8]` or `Bytes` (none of which copy).
///
/// # Examples
///
/// ```
/// use ringcore::hyper_rt::{Body, Response};
///
/// let hello = Response::new(Body::from("hello"));
/// assert_eq!(hello.body().len(), 5);
/// assert!(Body::empty().is_empty());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Body {
    /// `None` once the frame was taken (or for an empty body).
    data: Option<Bytes>,
}

impl Body {
    /// A body of no bytes.
    pub fn empty() -> Self {
        Body { data: None }
    }

    /// `value` serialised as JSON (serde_json); send it with a `content-type:
    /// application/json` header ([`Client::post_json`](super::Client::post_json) adds
    /// one).
    ///
    /// # Errors
    ///
    /// serde_json's error if `value` cannot be serialised (a map with non-string keys, a
    /// `Serialize` impl that fails).
    ///
    /// # Examples
    ///
    /// ```
    /// let body = ringcore::hyper_rt::Body::json(&[1, 2, 3])?;
    /// assert_eq!(body.len(), 7);
    /// # Ok::<_, serde_json::Error>(())
    /// ```
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Body::from(serde_json::to_vec(value)?))
    }

    /// The number of bytes not yet sent.
    pub fn len(&self) -> usize {
        self.data.as_ref().map_or(0, Bytes::len)
    }

    /// True for a body with no bytes (left).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<Bytes> for Body {
    fn from(data: Bytes) -> Self {
        Body {
            data: (!data.is_empty()).then_some(data),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::from(Bytes::from(s))
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::from(Bytes::from_static(s.as_bytes()))
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::from(Bytes::from(v))
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Self {
        Body::from(Bytes::from_static(s))
    }
}

impl From<()> for Body {
    fn from((): ()) -> Self {
        Body::empty()
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|d| Ok(Frame::data(d))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len() as u64)
    }
}

/// Why reading a received body failed.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The connection failed while the body streamed (reset, closed early, a malformed
    /// chunk).
    #[error("reading the body: {0}")]
    Read(#[from] hyper::Error),
    /// [`RecvBody::text`]: the body is not UTF-8.
    #[error("the body is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    /// [`RecvBody::json`]: the body is not JSON of the asked type.
    #[error("the body is not the expected JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A received body: what [`Client`](super::Client) responses carry, and what a server
/// handler can wrap a request's [`Incoming`] body in (`RecvBody::from(req.into_body())`).
///
/// It streams as hyper's `Incoming` does (it implements hyper's `Body` trait, so
/// http-body-util's combinators work on it) and adds three ways to read it whole:
/// [`bytes`](RecvBody::bytes), [`text`](RecvBody::text) and [`json`](RecvBody::json).
/// Those hold the whole body in memory, however long it is: read bodies from peers you do
/// not trust frame by frame, or bound the wait with [`time::timeout`](crate::time::timeout)
/// and check `size_hint` (the `content-length`) first.
#[derive(Debug)]
pub struct RecvBody {
    inner: Incoming,
}

impl From<Incoming> for RecvBody {
    fn from(inner: Incoming) -> Self {
        RecvBody { inner }
    }
}

impl RecvBody {
    /// The whole body, its frames joined (trailers dropped).
    ///
    /// # Errors
    ///
    /// [`BodyError::Read`] if the connection fails before the body ends.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: the body is consumed, and the bytes read so far are lost with the
    /// future (on HTTP/1.1 the connection is then closed rather than reused).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// let client = ringcore::hyper_rt::Client::new();
    /// let bytes = client.get("http://127.0.0.1:8080/").await?.into_body().bytes().await?;
    /// println!("{} bytes", bytes.len());
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn bytes(self) -> Result<Bytes, BodyError> {
        Ok(self.inner.collect().await?.to_bytes())
    }

    /// The whole body as a UTF-8 string.
    ///
    /// # Errors
    ///
    /// [`BodyError::Read`] as for [`bytes`](RecvBody::bytes); [`BodyError::Utf8`] if the
    /// bytes are not UTF-8.
    ///
    /// # Cancel safety
    ///
    /// As [`bytes`](RecvBody::bytes): not cancel-safe.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// let client = ringcore::hyper_rt::Client::new();
    /// let text = client.get("http://127.0.0.1:8080/").await?.into_body().text().await?;
    /// println!("{text}");
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn text(self) -> Result<String, BodyError> {
        Ok(String::from_utf8(self.bytes().await?.into())?)
    }

    /// The whole body parsed as JSON into a `T` (serde_json).
    ///
    /// # Errors
    ///
    /// [`BodyError::Read`] as for [`bytes`](RecvBody::bytes); [`BodyError::Json`] if the
    /// bytes are not JSON of `T`'s shape.
    ///
    /// # Cancel safety
    ///
    /// As [`bytes`](RecvBody::bytes): not cancel-safe.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # ringcore::block_on(async {
    /// #[derive(serde::Deserialize)]
    /// struct Status {
    ///     ok: bool,
    /// }
    /// let client = ringcore::hyper_rt::Client::new();
    /// let status: Status = client.get("http://127.0.0.1:8080/status").await?.into_body().json().await?;
    /// println!("ok: {}", status.ok);
    /// # Ok::<_, ringcore::hyper_rt::ClientError>(())
    /// # });
    /// ```
    pub async fn json<T: serde::de::DeserializeOwned>(self) -> Result<T, BodyError> {
        Ok(serde_json::from_slice(&self.bytes().await?)?)
    }

    /// The hyper body inside.
    pub fn into_inner(self) -> Incoming {
        self.inner
    }
}

impl hyper::body::Body for RecvBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
