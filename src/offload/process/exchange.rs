//! One request/response round trip with a worker, through the calling core's ring.
//!
//! The request frame goes out with send(2) and MSG_NOSIGNAL (a non-blocking attempt first,
//! then IORING_OP_SEND; looping over short sends), so a worker that is gone or has shut
//! its read side is an `EPIPE`, never a SIGPIPE that kills the caller whose SIGPIPE is at
//! its default action. The response comes back with IORING_OP_READ on the pool's end of
//! the worker's socket (offset `u64::MAX`: the socket has no position): first the
//! worker's one-byte ACK, then the frame. The first read asks for up to 4 KiB, which
//! holds most responses whole; a longer frame, once its prefix is known and checked
//! against the limit, gets a buffer of exactly its size, so a rogue worker can make us
//! allocate at most `ACK_LEN + HEADER_LEN + max_frame` bytes.
//!
//! The request is kept until the ACK arrives, so a job the worker never took can be
//! handed back ([`ExchangeError::NotStarted`]) and sent to another worker.

use std::io;
use std::rc::Rc;

use super::protocol::{self, ACK, ACK_LEN, HEADER_LEN};
use crate::buf::{BufResult, IoBuf, Slice};
use crate::driver::Driver;
use crate::driver::ops::net::Send;
use crate::driver::ops::rw::Read;
use crate::driver::shared_fd::SharedFd;

/// Why a round trip failed.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// The worker never acknowledged the request (the send failed, or the socket closed
    /// before the ACK), so it never ran the job. Carries the request back for a retry.
    NotStarted(Vec<u8>),
    /// End of stream (or reset) after the ACK, before the first byte of the response: the
    /// worker died running the job.
    Closed,
    /// End of stream in the middle of the response frame.
    Truncated { got: usize, want: usize },
    /// The response declared a payload longer than the limit.
    TooLarge(u64),
    /// Bytes after the response frame.
    Trailing,
    /// The first byte back was not the ACK.
    BadAck(u8),
    /// Another read error.
    Io(io::Error),
}

/// Sends `request` (a whole frame) and returns the worker's answer: the ACK byte, then
/// the whole response frame (prefix included), i.e. the frame is `&answer[ACK_LEN..]`.
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
    let total = request.len();
    let zero = io::ErrorKind::WriteZero;
    let (res, request) =
        crate::buf::transfer::transfer_all(request, total, zero, "request", |slice, _| {
            send(driver, fd, slice)
        })
        .await;
    if res.is_err() {
        // EPIPE / ECONNRESET (the worker is gone or shut its read side) or anything else:
        // the worker cannot have read the whole request, so it has not acknowledged it.
        return Err(ExchangeError::NotStarted(request));
    }
    // Held until the ACK shows the worker took the job.
    let mut request = Some(request);

    let first = 4096.min(ACK_LEN + HEADER_LEN.saturating_add(max_frame));
    let mut buf = Vec::with_capacity(first);
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
            Ok(0) => {
                return Err(match request.take() {
                    Some(request) => ExchangeError::NotStarted(request),
                    None if buf.len() == ACK_LEN => ExchangeError::Closed,
                    None => ExchangeError::Truncated {
                        got: buf.len() - ACK_LEN,
                        want: total.map_or(HEADER_LEN, |t| t - ACK_LEN),
                    },
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset && buf.len() <= ACK_LEN => {
                return Err(match request.take() {
                    Some(request) => ExchangeError::NotStarted(request),
                    None => ExchangeError::Closed,
                });
            }
            Err(e) => return Err(ExchangeError::Io(e)),
        }
        if request.is_some() {
            if buf[0] != ACK {
                return Err(ExchangeError::BadAck(buf[0]));
            }
            // The job may run from now on: it must never be sent again.
            request = None;
        }
        if total.is_none() && buf.len() >= ACK_LEN + HEADER_LEN {
            let mut prefix = [0u8; HEADER_LEN];
            prefix.copy_from_slice(&buf[ACK_LEN..ACK_LEN + HEADER_LEN]);
            let len = protocol::payload_len(prefix, max_frame).map_err(ExchangeError::TooLarge)?;
            let want = ACK_LEN + HEADER_LEN + len;
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

/// One send of `slice`'s bytes with MSG_NOSIGNAL: send(2) with MSG_DONTWAIT first, which
/// completes at once when the socket buffer has room (the usual case for a request) and
/// saves a ring round trip before the worker can start; IORING_OP_SEND on `EAGAIN`, or
/// when the core's inline budget is spent.
async fn send(
    driver: &Rc<Driver>,
    fd: &SharedFd,
    slice: Slice<Vec<u8>>,
) -> BufResult<usize, Slice<Vec<u8>>> {
    if driver.try_inline() {
        // SAFETY: `bytes_init` initialised bytes at `stable_ptr` belong to `slice`, which
        // we hold for the whole call.
        let res = unsafe {
            crate::sys::socket::send_nowait(fd.borrow(), slice.stable_ptr(), slice.bytes_init())
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            res => return (res, slice),
        }
    }
    driver
        .submit(Send {
            fd: fd.clone(),
            buf: slice,
        })
        .await
}
