//! `IoBuf` and `IoBufMut`: the unsafe traits of buffers the kernel may read from or write
//! into while an op is in flight, and their impls for `Vec<u8>`, `Box<[u8]>`, `String` and
//! static slices.

use std::ops::{Bound, RangeBounds};

use super::Slice;

/// A buffer the kernel may read from while an op is in flight.
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
/// # Safety
///
/// As [`IoBuf`], and `stable_mut_ptr` points to the same `bytes_total` bytes, writable.
pub unsafe trait IoBufMut: IoBuf {
    /// Start of the buffer's memory, writable.
    fn stable_mut_ptr(&mut self) -> *mut u8;

    /// Records that the first `pos` bytes are initialised (a read filled them). Never
    /// shrinks the initialised length.
    ///
    /// # Safety
    ///
    /// The first `pos` bytes must be initialised and `pos <= bytes_total()`.
    unsafe fn set_init(&mut self, pos: usize);
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
        if self.len() < pos {
            // SAFETY: the caller guarantees `pos <= capacity` and that the bytes are
            // initialised.
            unsafe { self.set_len(pos) };
        }
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
