//! hyper 1.x on ringcore (feature `hyper`): an HTTP client and server in a few lines, and
//! underneath them the pieces hyper's runtime-agnostic API asks for.
//!
//! A GET, with only ringcore in Cargo.toml:
//!
//! ```no_run
//! ringcore::block_on(async {
//!     let client = ringcore::hyper_rt::Client::new();
//!     let text = client.get("http://127.0.0.1:8080/").await?.into_body().text().await?;
//!     println!("{text}");
//!     Ok::<_, ringcore::hyper_rt::ClientError>(())
//! });
//! ```
//!
//! A server, HTTP/1.1 and h2c on one port:
//!
//! ```no_run
//! use ringcore::hyper_rt::{serve, service_fn, Body, Response};
//!
//! ringcore::block_on(async {
//!     let listener = ringcore::net::TcpListener::bind("127.0.0.1:8080")?;
//!     let hello = service_fn(|_req| async { Ok::<_, std::convert::Infallible>(Response::new(Body::from("hello"))) });
//!     serve(listener, hello).await;
//!     Ok::<_, std::io::Error>(())
//! })?;
//! # Ok::<_, std::io::Error>(())
//! ```
//!
//! The high-level pieces:
//!
//! - [`Client`]: HTTP/1.1 or HTTP/2 (h2c with prior knowledge) over plain TCP, with one
//!   connection pool per core (a `Client` is `!Send`; make one per core); `get`, `post`,
//!   `post_json`, or `request` for any [`Request`]. Responses carry a [`RecvBody`] with
//!   `bytes()`, `text()` and `json()`.
//! - [`serve`]: HTTP/1.1 and h2c on a [`TcpListener`](crate::net::TcpListener), one task
//!   per connection on the current core, graceful shutdown, and a listener that keeps
//!   going through accept errors such as EMFILE.
//! - [`Body`]: a whole, in-memory body (empty, text, bytes, JSON) to send or answer with.
//! - Re-exports, so that common programs need no other HTTP crate at a matching version:
//!   [`http`] (and its [`Request`], [`Response`], [`StatusCode`], [`Method`], [`Uri`],
//!   [`header`]), [`Bytes`], hyper's [`body`] module and [`service_fn`], and the [`hyper`],
//!   [`http_body_util`] and [`hyper_util`] crates themselves.
//!
//! The runtime pieces, for hyper's own builders:
//!
//! - [`HyperIo`]: `hyper::rt::Read`/`Write` over any `tokio::io::AsyncRead`/`AsyncWrite`,
//!   such as [`net::PollIo`](crate::net::PollIo) (`stream.into_poll_io()`) or a TLS
//!   stream over one. It is the same adapter as hyper-util's `TokioIo`, without pulling in
//!   hyper-util's tokio feature (which brings tokio's runtime). [`serve`] and [`Client`]
//!   use it.
//! - [`RingIo`]: `hyper::rt::Read`/`Write` over a `TcpStream` through the ring with owned
//!   buffers (IORING_OP_RECV into its buffer, write-behind IORING_OP_SEND), at the price
//!   of a copy per direction.
//! - [`LocalExecutor`]: a `hyper::rt::Executor` that spawns on the current core. It
//!   accepts `!Send` futures, which HTTP/2 connections over ringcore sockets are.
//! - [`RingTimer`]: a `hyper::rt::Timer` on [`ringcore::time`](crate::time), needed for
//!   hyper's header-read timeout (408), HTTP/2 keep-alive pings and the client's pool.
//!
//! docs/architecture.md ("hyper") says why this is a module behind a feature rather than
//! a companion crate.

mod bodies;
mod client;
mod executor;
mod io;
mod ring_io;
mod serve;
mod timer;

pub use bodies::{Body, BodyError, RecvBody};
pub use client::{Client, ClientBuilder, ClientError, IntoUri, Protocol};
pub use executor::LocalExecutor;
pub use io::HyperIo;
pub use ring_io::RingIo;
pub use serve::{Serve, ServeStats, Served, serve};
pub use timer::RingTimer;

pub use bytes::Bytes;
pub use http::{self, Method, Request, Response, StatusCode, Uri, header};
pub use hyper::service::service_fn;
pub use hyper::{self, body};
pub use {http_body_util, hyper_util};
