//! Buffers that can be handed to the kernel.
//!
//! io_uring is completion-based: the kernel reads or writes a buffer *after* the call that
//! submitted the op has returned, possibly after the future that asked for it was dropped.
//! So ringcore's I/O methods take buffers by value and give them back with the result
//! ([`BufResult`]), and a buffer of a dropped op is kept alive by the driver until the
//! kernel is done with it. [`IoBuf`] (readable) and [`IoBufMut`] (writable) are implemented
//! for owned, heap-backed types whose memory does not move when the value moves.
//!
//! The design follows tokio-uring's `IoBuf`/`IoBufMut`; `slice` views a sub-range without
//! copying.

mod aligned;
mod io_buf;
mod slice;
pub(crate) mod transfer;

pub use aligned::AlignedBuf;
pub use io_buf::{IoBuf, IoBufMut};
pub use slice::Slice;

/// The result of an ownership-passing I/O call: the outcome and the buffer, returned to
/// the caller whatever happened. For reads and writes `T` is the number of bytes
/// transferred.
pub type BufResult<T, B> = (std::io::Result<T>, B);
