//! One request/response round trip with a worker, through the calling core's ring.
//!
//! The request frame goes out with IORING_OP_WRITE (looping over short writes) and the
//! response comes back with IORING_OP_READ on the pool's end of the worker's socket
//! (offset `u64::MAX`: the socket has no position). The first read asks for up to 4 KiB,
//! which holds most responses whole; a longer frame, once its prefix is known and checked
//! against the limit, gets a buffer of exactly its size, so a rogue worker can make us
//! allocate at most `HEADER_LEN + max_frame` bytes.

use std::io;
use std::rc::Rc;

use super::protocol::{self, HEADER_LEN};
use crate::buf::IoBuf;
use crate::driver::Driver;
use crate::driver::ops::rw::{Read, Write};
use crate::driver::shared_fd::SharedFd;

/// Why a round trip failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// Writing the request failed (the worker is gone): it never got the whole job.
    /// Carries the request back for a retry on another worker.
    SendFailed(Vec<u8>),
    /// End of stream (or reset) before the first byte of the response: the worker died.
    Closed,
    /// End of stream in the middle of the response frame.
    Truncated { got: usize, want: usize },
    /// The response declared a payload longer than the limit.
    TooLarge(u64),
    /// Bytes after the response frame.
    Trailing,
    /// Another read error.
    Io(io::Error),
}

/// Sends `request` (a whole frame) and returns the whole response frame (prefix included).
///
/// # Cancel safety
///
/// Dropping the future cancels the in-flight op (its buffer and fd clone stay with the
/// driver until the CQE); the stream is then out of sync and the worker must be discarded.
pub(crate) async fn round_trip(
    driver: &Rc<Driver>,
    fd: &SharedFd,
    request: Vec<u8>,
    max_frame: usize,
) -> Result<Vec<u8>, ExchangeError> {
    let mut buf = request;
    let mut sent = 0;
    while sent < buf.len() {
        let (res, slice) = driver
            .submit(Write {
                fd: fd.clone(),
                buf: buf.slice(sent..),
                offset: u64::MAX,
            })
            .await;
        buf = slice.into_inner();
        match res {
            Ok(0) => return Err(ExchangeError::SendFailed(buf)),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // EPIPE / ECONNRESET: the worker is gone.
            Err(_) => return Err(ExchangeError::SendFailed(buf)),
        }
    }

    // Reuse the request's allocation for the response.
    buf.clear();
    let first = 4096.min(HEADER_LEN.saturating_add(max_frame));
    if buf.capacity() < first {
        buf.reserve_exact(first);
    }
    let mut total: Option<usize> = None;
    loop {
        let start = buf.len();
        let end = total.unwrap_or(buf.capacity());
        let (res, slice) = driver
            .submit(Read {
                fd: fd.clone(),
                buf: buf.slice(start..end),
                offset: u64::MAX,
            })
            .await;
        buf = slice.into_inner();
        match res {
            Ok(0) if buf.is_empty() => return Err(ExchangeError::Closed),
            Ok(0) => {
                return Err(ExchangeError::Truncated {
                    got: buf.len(),
                    want: total.unwrap_or(HEADER_LEN),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if buf.is_empty() && e.kind() == io::ErrorKind::ConnectionReset => {
                return Err(ExchangeError::Closed);
            }
            Err(e) => return Err(ExchangeError::Io(e)),
        }
        if total.is_none() && buf.len() >= HEADER_LEN {
            let mut prefix = [0u8; HEADER_LEN];
            prefix.copy_from_slice(&buf[..HEADER_LEN]);
            let len = protocol::payload_len(prefix, max_frame).map_err(ExchangeError::TooLarge)?;
            let want = HEADER_LEN + len;
            if buf.capacity() < want {
                buf.reserve_exact(want - buf.len());
            }
            total = Some(want);
        }
        if let Some(want) = total {
            if buf.len() > want {
                return Err(ExchangeError::Trailing);
            }
            if buf.len() == want {
                return Ok(buf);
            }
        }
    }
}
