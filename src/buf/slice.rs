//! `Slice`: a byte range of a buffer, so an op reads into or writes from part of it.

use super::{IoBuf, IoBufMut};

/// A sub-range `begin..end` (byte offsets) of a buffer, made by [`IoBuf::slice`]. Reads fill
/// it from `begin` and only ever grow the buffer's initialised length (bytes outside the
/// view are kept); writes send its initialised part, `begin..min(end, bytes_init)`.
#[derive(Debug)]
pub struct Slice<T> {
    buf: T,
    begin: usize,
    end: usize,
}

impl<T: IoBuf> Slice<T> {
    pub(super) fn new(buf: T, begin: usize, end: usize) -> Self {
        Self { buf, begin, end }
    }

    /// Offset of the first byte of the view in the underlying buffer.
    pub fn begin(&self) -> usize {
        self.begin
    }

    /// Offset one past the last byte of the view in the underlying buffer.
    pub fn end(&self) -> usize {
        self.end
    }

    /// The underlying buffer.
    pub fn get_ref(&self) -> &T {
        &self.buf
    }

    /// Gives the underlying buffer back.
    pub fn into_inner(self) -> T {
        self.buf
    }
}

// SAFETY: the view's memory is a sub-range of `buf`'s stable memory (`end <= bytes_total`
// was checked at construction), so it is as stable as `buf`'s.
unsafe impl<T: IoBuf> IoBuf for Slice<T> {
    fn stable_ptr(&self) -> *const u8 {
        // `begin <= bytes_total`, so the offset stays inside (or one past) the allocation.
        self.buf.stable_ptr().wrapping_add(self.begin)
    }
    fn bytes_init(&self) -> usize {
        self.buf.bytes_init().clamp(self.begin, self.end) - self.begin
    }
    fn bytes_total(&self) -> usize {
        self.end - self.begin
    }
}

// SAFETY: as for IoBuf; `set_init` translates view offsets to buffer offsets.
unsafe impl<T: IoBufMut> IoBufMut for Slice<T> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.buf.stable_mut_ptr().wrapping_add(self.begin)
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // Only extend the buffer's initialised prefix if it reaches the view: bytes before
        // `begin` that were never initialised must not be declared initialised.
        if self.buf.bytes_init() >= self.begin {
            // SAFETY: `pos <= end - begin` by the caller's contract, so `begin + pos <= end
            // <= bytes_total`; bytes `..begin` are initialised (checked above) and
            // `begin..begin + pos` by the caller.
            unsafe { self.buf.extend_init(self.begin + pos) }
        }
    }
}
