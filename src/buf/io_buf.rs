//! `IoBuf` and `IoBufMut`: the unsafe traits of buffers the kernel may read from or write
//! into while an op is in flight, and their impls for `Vec<u8>`, `Box<[u8]>`, `String` and
//! static slices.

use std::ops::{Bound, RangeBounds};

use super::Slice;

/// A buffer the kernel may read from while an op is in flight.
///
/// ringcore's I/O methods take the buffer by value and give it back with the result:
///
/// ```ignore
/// let (res, buf) = stream.read(buf).await; // not `stream.read(&mut buf)`
/// let n = res?;
/// ```
///
/// Code written for borrowed buffers (`&mut [u8]`, tokio's and std's `read(&mut buf)`)
/// has two other roads: [`io::BufReader`](crate::io::BufReader) (`read`, `read_line`,
/// `read_exact` into `&mut`) and `into_poll_io()` on sockets and files, which gives
/// tokio's and futures' `AsyncRead`/`AsyncWrite`.
///
/// `bytes_init` bytes from `stable_ptr` are the data (what a write sends); `bytes_total`
/// is the capacity.
///
/// # Safety
///
/// Implementors promise that `stable_ptr` points to `bytes_total` bytes of memory that stay
/// valid and at the same address while the value is alive and not accessed through `&mut`,
/// even when the value itself is moved (heap memory, or `'static` data), and that the first
/// `bytes_init` of them are initialised.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be handed to the kernel: ringcore's I/O takes an owned buffer",
    label = "an owned buffer (`Vec<u8>`, `Box<[u8]>`, `String`, `&'static [u8]`) goes here",
    note = "pass the buffer by value and take it back: `let (res, buf) = s.write(buf).await;`",
    note = "for borrowed buffers use `ringcore::io::BufWriter`, or `into_poll_io()` for tokio's and futures' `AsyncWrite`"
)]
pub unsafe trait IoBuf: Unpin + 'static {
    /// Start of the buffer's memory.
    fn stable_ptr(&self) -> *const u8;

    /// Initialised bytes (the length of a `Vec`).
    fn bytes_init(&self) -> usize;

    /// Capacity in bytes.
    fn bytes_total(&self) -> usize;

    /// A view of `range` (byte offsets into the capacity) that can be passed to I/O calls
    /// in place of the whole buffer; `Slice::into_inner` returns the buffer.
    ///
    /// # Panics
    ///
    /// If the range's start is greater than its end or its end is past `bytes_total()`, as
    /// slicing a `[u8]` would.
    fn slice(self, range: impl RangeBounds<usize>) -> Slice<Self>
    where
        Self: Sized,
    {
        let begin = match range.start_bound() {
            Bound::Included(&n) => n,
            Bound::Excluded(&n) => n.checked_add(1).expect("slice start overflows usize"),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&n) => n.checked_add(1).expect("slice end overflows usize"),
            Bound::Excluded(&n) => n,
            Bound::Unbounded => self.bytes_total(),
        };
        assert!(
            begin <= end && end <= self.bytes_total(),
            "slice range {begin}..{end} out of bounds for a buffer of {} bytes",
            self.bytes_total()
        );
        Slice::new(self, begin, end)
    }
}

/// A buffer the kernel may write into while an op is in flight.
///
/// A read fills the buffer from its start, up to its capacity (`bytes_total`), and then
/// records how much it filled with [`set_init`](IoBufMut::set_init):
///
/// - a `Vec<u8>` comes back with `len()` equal to the bytes read, whatever its length
///   was before, so one buffer can be reused from read to read without stale bytes of an
///   earlier, longer read trailing the new ones (the capacity is kept: reserve it once);
/// - a [`Slice`] view (`buf.slice(a..b)`) is filled from `a`, and its buffer's length only
///   grows to cover the bytes written (bytes of the buffer outside the view are kept);
/// - fixed-size buffers (`Box<[u8]>`, [`AlignedBuf`](crate::buf::AlignedBuf)) keep their
///   size: only the count returned says how many bytes are new.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// # ringcore::block_on(async {
/// use ringcore::net::{TcpListener, TcpStream};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let client = TcpStream::connect(listener.local_addr()?).await?;
/// let (server, _) = listener.accept().await?;
/// let mut buf = Vec::with_capacity(64); // one buffer for every read
/// for msg in [&b"a long message\n"[..], b"hi\n"] {
///     client.write_all(msg.to_vec()).await.0?;
///     let (res, b) = server.read(buf).await;
///     res?;
///     assert_eq!(&b[..], msg); // no "hi\nng message\n"
///     buf = b;
/// }
/// # Ok(())
/// # })
/// # }
/// ```
///
/// # Safety
///
/// As [`IoBuf`], and `stable_mut_ptr` points to the same `bytes_total` bytes, writable.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be read into by the kernel: ringcore's reads take an owned buffer",
    label = "an owned, writable buffer (`Vec<u8>` with capacity, `Box<[u8]>`) goes here",
    note = "pass the buffer by value and take it back: `let (res, buf) = s.read(buf).await;` (the Vec's len becomes the bytes read)",
    note = "for `&mut [u8]` use `ringcore::io::BufReader::read`, or `into_poll_io()` for tokio's and futures' `AsyncRead`"
)]
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the buffer's memory, writable.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that a read filled the first `pos` bytes from the buffer's start. For a
    /// buffer with a length of its own (`Vec<u8>`) the length becomes exactly `pos`,
    /// shrinking if it was longer; a [`Slice`] view only extends its buffer's initialised
    /// prefix; fixed-size buffers record nothing.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must be initialised and `pos <= bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);

    /// Records that at least the first `pos` bytes are initialised, never shrinking the
    /// initialised length: what a [`Slice`] view asks of its buffer, whose bytes past the
    /// view stay as they were.
    ///
    /// # Safety
    ///
    /// As [`set_init`](IoBufMut::set_init).
    unsafe fn extend_init(&mut self, pos: usize) {
        if self.bytes_init() < pos {
            // SAFETY: the caller's contract is set_init's; growing to `pos` is set_init.
            unsafe { self.set_init(pos) }
        }
    }
}

// SAFETY: a Vec's heap buffer does not move when the Vec moves; `len` bytes are initialised.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}

// SAFETY: as for IoBuf; the pointer comes from a `&mut` so it may be written.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: the caller guarantees `pos <= capacity` and that the first `pos` bytes
        // are initialised; shrinking only forgets bytes (u8 has no destructor).
        unsafe { self.set_len(pos) };
    }
}

// SAFETY: a boxed slice's heap memory does not move; all of it is initialised.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: as for IoBuf; always fully initialised, so `set_init` has nothing to record.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    unsafe fn set_init(&mut self, _pos: usize) {}
}

// SAFETY: 'static data never moves or is freed.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: 'static data never moves or is freed.
unsafe impl IoBuf for &'static str {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
}

// SAFETY: a String's heap buffer does not move when the String moves. Only IoBuf (not
// IoBufMut) is implemented, so the kernel never writes non-UTF-8 bytes into it.
unsafe impl IoBuf for String {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
    fn bytes_total(&self) -> usize {
        self.capacity()
    }
}
