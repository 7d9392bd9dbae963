//! The wire protocol between the pool and a worker: length-prefixed postcard frames over
//! a stream socket.
//!
//! ```text
//! frame    = len: u32 little-endian | payload: [u8; len]      (len <= max_frame)
//! parent -> worker: payload = postcard(Request)    one at a time
//! worker -> parent: ACK, then payload = postcard(Reply)   one per Request, same id
//! ```
//!
//! The worker writes the one-byte [`ACK`] as soon as it has read a whole request, before
//! it decodes or runs it, and runs nothing if that write fails. So a worker that dies
//! with no ACK on the socket never started the job, and the pool may run it elsewhere
//! (once; see `ProcessPool::call`); once the ACK is there, the job may have run and is
//! never sent again.
//!
//! Request ids are unique within a pool and start at 1 (0 marks a reply to a request that
//! did not decode), so a reply that a rogue worker sent early or twice is caught by its id
//! rather than taken as the answer to the next job.
//!
//! A worker serves one request at a time, so at most one frame is in flight each way and
//! neither side ever reads past the frame it expects: bytes after a response are a
//! protocol violation (the worker is recycled). Either side refuses a frame whose declared
//! length exceeds the limit before allocating for it, so memory stays bounded.

use serde::{Deserialize, Serialize};

/// Bytes of the length prefix.
pub(crate) const HEADER_LEN: usize = 4;

/// The byte a worker writes when it has read a request, before running it.
pub(crate) const ACK: u8 = 0x06;
/// Bytes of the acknowledgement.
pub(crate) const ACK_LEN: usize = 1;

/// Env var naming the worker's socket fd; its presence makes a process a worker.
pub(crate) const WORKER_FD_ENV: &str = "RINGCORE_OFFLOAD_WORKER_FD";
/// Env var carrying the frame limit in bytes.
pub(crate) const MAX_FRAME_ENV: &str = "RINGCORE_OFFLOAD_MAX_FRAME";

/// Default frame limit: 16 MiB.
pub(crate) const DEFAULT_MAX_FRAME: usize = 16 << 20;

/// Run job `job` on the postcard-encoded `args`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Request<'a> {
    pub(crate) id: u64,
    pub(crate) job: &'a str,
    pub(crate) args: &'a [u8],
}

/// The answer to request `id`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Reply<'a> {
    pub(crate) id: u64,
    #[serde(borrow)]
    pub(crate) outcome: Response<'a>,
}

/// The outcome of one request.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Response<'a> {
    /// The postcard-encoded result.
    Ok(&'a [u8]),
    UnknownJob,
    BadArguments(String),
    BadResult(String),
    Panicked(String),
    /// The request frame did not decode.
    BadRequest(String),
}

/// Encodes `msg` as one frame (prefix included).
///
/// # Errors
///
/// The serde error as a string, or `Err(len)` if the payload exceeds `max_frame`.
pub(crate) fn encode<T: Serialize>(msg: &T, max_frame: usize) -> Result<Vec<u8>, EncodeError> {
    let mut frame = postcard::to_extend(msg, vec![0u8; HEADER_LEN])
        .map_err(|e| EncodeError::Serde(e.to_string()))?;
    let len = frame.len() - HEADER_LEN;
    if len > max_frame || u32::try_from(len).is_err() {
        return Err(EncodeError::TooLarge(len as u64));
    }
    frame[..HEADER_LEN].copy_from_slice(&(len as u32).to_le_bytes());
    Ok(frame)
}

/// Why [`encode`] failed.
#[derive(Debug)]
pub(crate) enum EncodeError {
    Serde(String),
    TooLarge(u64),
}

/// The payload length a frame prefix declares, if within `max_frame`.
pub(crate) fn payload_len(prefix: [u8; HEADER_LEN], max_frame: usize) -> Result<usize, u64> {
    let len = u32::from_le_bytes(prefix);
    match usize::try_from(len) {
        Ok(n) if n <= max_frame => Ok(n),
        _ => Err(u64::from(len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trips() {
        let frame = encode(
            &Request {
                id: 7,
                job: "fib",
                args: &[1, 2, 3],
            },
            1024,
        )
        .unwrap();
        let len = payload_len(frame[..4].try_into().unwrap(), 1024).unwrap();
        assert_eq!(len, frame.len() - 4);
        let req: Request<'_> = postcard::from_bytes(&frame[4..]).unwrap();
        assert_eq!((req.id, req.job), (7, "fib"));
        assert_eq!(req.args, &[1, 2, 3]);
    }

    #[test]
    fn oversized_frames_are_refused() {
        let big = vec![0u8; 100];
        assert!(matches!(
            encode(
                &Reply {
                    id: 1,
                    outcome: Response::Ok(&big)
                },
                50
            ),
            Err(EncodeError::TooLarge(_))
        ));
        assert_eq!(
            payload_len(u32::MAX.to_le_bytes(), 1 << 20),
            Err(u64::from(u32::MAX))
        );
    }
}
