//! Buffered I/O over the ownership-passing streams and files: [`BufReader`] and
//! [`BufWriter`].
//!
//! ringcore's sockets and files read into and write from owned buffers
//! ([`BufResult`](crate::buf::BufResult)). That suits bulk transfers; protocols that read
//! a line or write many small pieces want a buffer in between. [`BufReader`] adds `read_line`,
//! `read_until`, `lines()` (a [`Stream`](futures_core::Stream)) and `fill_buf`/`consume`;
//! [`BufWriter`] gathers small writes into one op per buffer-full. Both work over any
//! [`AsyncReadOwned`]/[`AsyncWriteOwned`] type: [`TcpStream`](crate::net::TcpStream),
//! [`UnixStream`](crate::net::UnixStream), their owned halves, and
//! [`File`](crate::fs::File) (read and written in sequence from offset 0), or a shared
//! reference or `Rc` of one of them.
//!
//! # Examples
//!
//! ```
//! use ringcore::io::{BufReader, BufWriter};
//! use ringcore::net::UnixStream;
//!
//! ringcore::block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     let mut w = BufWriter::new(a);
//!     w.write_all(b"hello\n").await?;
//!     w.write_all(b"world\n").await?;
//!     w.shutdown().await?; // one send for both lines, then end-of-stream
//!
//!     let mut r = BufReader::new(b);
//!     let mut line = String::new();
//!     r.read_line(&mut line).await?;
//!     assert_eq!(line, "hello\n");
//!     Ok::<_, std::io::Error>(())
//! })
//! .unwrap();
//! ```

mod buf_reader;
mod buf_writer;
mod copy;
pub(crate) mod poll_traits;
pub(crate) mod traits;

pub use buf_reader::{BufReader, Lines};
pub use buf_writer::BufWriter;
pub use copy::copy;
pub use traits::{AsyncReadOwned, AsyncWriteOwned};

// The loop behind every `write_all`, `read_exact` and `send_all` lives in `buf::transfer`.
pub use crate::buf::transfer::PartialTransfer;

/// Default buffer size of [`BufReader`] and [`BufWriter`], as tokio's and std's.
const DEFAULT_CAPACITY: usize = 8 * 1024;
