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

mod client;
mod executor;
mod io;
mod ring_io;
mod timer;

pub use client::{Client, ClientBuilder, ClientError, Protocol};
pub use executor::LocalExecutor;
pub use io::HyperIo;
pub use ring_io::RingIo;
pub use timer::RingTimer;
