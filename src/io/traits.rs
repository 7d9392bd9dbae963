//! [`AsyncReadOwned`] and [`AsyncWriteOwned`]: what [`BufReader`](super::BufReader) and
//! [`BufWriter`](super::BufWriter) read from and write to.

use std::future::Future;
use std::io;
use std::rc::Rc;

use crate::buf::{BufResult, IoBuf, IoBufMut};
#[cfg(doc)]
use crate::fs::File;
#[cfg(doc)]
use crate::net::{OwnedReadHalf, OwnedWriteHalf, TcpStream, UnixStream};

/// A source of bytes read in sequence with owned buffers: a stream socket, the read half
/// of one, or a [`File`] (read from offset 0 onwards by the reader that holds it).
///
/// Implemented for [`TcpStream`], [`UnixStream`], [`OwnedReadHalf`] and [`File`], and for
/// `&T` and `Rc<T>` of each (their reads take `&self`, so a stream shared between a
/// reading and a writing task can be buffered on one side). The trait is sealed: its
/// methods are the crate's own, and the set of implementors may grow.
pub trait AsyncReadOwned: sealed::Read {}

/// A sink of bytes written in sequence with owned buffers: a stream socket, the write half
/// of one, or a [`File`] (written from offset 0 onwards by the writer that holds it).
///
/// Implemented for [`TcpStream`], [`UnixStream`], [`OwnedWriteHalf`] and [`File`], and for
/// `&T` and `Rc<T>` of each. Sealed, as [`AsyncReadOwned`].
pub trait AsyncWriteOwned: sealed::Write {}

pub(crate) mod sealed {
    use super::*;

    /// The read the buffered reader issues. `pos` is the reader's count of bytes read so
    /// far: the file offset for a [`File`], ignored by sockets.
    #[allow(unreachable_pub)] // Public in a private module: the sealed-trait pattern.
    pub trait Read {
        fn read_owned<B: IoBufMut>(
            &self,
            buf: B,
            pos: u64,
        ) -> impl Future<Output = BufResult<usize, B>>;
    }

    /// The write the buffered writer issues (`pos` as for [`Read`]), and its shutdown:
    /// shutdown(2) SHUT_WR for sockets, nothing for files.
    #[allow(unreachable_pub)]
    pub trait Write {
        fn write_owned<B: IoBuf>(
            &self,
            buf: B,
            pos: u64,
        ) -> impl Future<Output = BufResult<usize, B>>;

        fn shutdown_write(&self) -> io::Result<()>;
    }
}

/// `AsyncReadOwned` for socket types whose `read(buf)` reads the next bytes (the position
/// is ignored). Invoked beside the types (src/net/mod.rs), so `io/` imports no socket type.
macro_rules! read_impls {
    ($($t:ty),+) => {$(
        impl $crate::io::traits::sealed::Read for $t {
            fn read_owned<B: $crate::buf::IoBufMut>(
                &self,
                buf: B,
                _pos: u64,
            ) -> impl ::std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.read(buf)
            }
        }
        impl $crate::io::AsyncReadOwned for $t {}
    )+};
}
pub(crate) use read_impls;

/// `AsyncWriteOwned` for socket types whose `write(buf)` writes the next bytes, with the
/// given shutdown. Invoked beside the types (src/net/mod.rs), as `read_impls!`.
macro_rules! write_impls {
    ($($t:ty => |$s:ident| $shutdown:expr),+) => {$(
        impl $crate::io::traits::sealed::Write for $t {
            fn write_owned<B: $crate::buf::IoBuf>(
                &self,
                buf: B,
                _pos: u64,
            ) -> impl ::std::future::Future<Output = $crate::buf::BufResult<usize, B>> {
                self.write(buf)
            }

            fn shutdown_write(&self) -> ::std::io::Result<()> {
                let $s = self;
                $shutdown
            }
        }
        impl $crate::io::AsyncWriteOwned for $t {}
    )+};
}
pub(crate) use write_impls;

macro_rules! forward_impls {
    ($($wrapper:ty),+) => {$(
        impl<T: AsyncReadOwned + ?Sized> sealed::Read for $wrapper {
            fn read_owned<B: IoBufMut>(
                &self,
                buf: B,
                pos: u64,
            ) -> impl Future<Output = BufResult<usize, B>> {
                (**self).read_owned(buf, pos)
            }
        }
        impl<T: AsyncReadOwned + ?Sized> AsyncReadOwned for $wrapper {}

        impl<T: AsyncWriteOwned + ?Sized> sealed::Write for $wrapper {
            fn write_owned<B: IoBuf>(
                &self,
                buf: B,
                pos: u64,
            ) -> impl Future<Output = BufResult<usize, B>> {
                (**self).write_owned(buf, pos)
            }

            fn shutdown_write(&self) -> io::Result<()> {
                (**self).shutdown_write()
            }
        }
        impl<T: AsyncWriteOwned + ?Sized> AsyncWriteOwned for $wrapper {}
    )+};
}

forward_impls!(&T, Rc<T>);
