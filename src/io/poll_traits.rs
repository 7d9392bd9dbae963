//! `poll_traits!`: the tokio (feature `tokio-io`) and `futures_io` (feature `futures-io`)
//! poll-based I/O traits for a type, each method forwarding to an inherent method of the
//! same shape, so the two ecosystems' impls are written once (for `net::PollIo` and
//! `fs::PollFile`). Without either feature it expands to nothing.
//!
//! One line per trait family, optionally with generics in brackets and doc attributes that
//! go on both impls:
//!
//! ```text
//! read            AsyncRead: `poll_read(&mut self, cx, &mut [u8])` (futures) and
//!                 `poll_read_uninit(&mut self, cx, &mut [MaybeUninit<u8>])` (tokio), which
//!                 on `Ready(Ok(n))` has initialised the first `n` bytes and never
//!                 de-initialises any
//! buf_read        AsyncBufRead: `poll_fill_buf(&mut self, cx)`, `consume(&mut self, amt)`
//! write           AsyncWrite: `poll_write`, `poll_flush`, `poll_shutdown` (futures'
//!                 `poll_close`), all `(&mut self, cx, ..)`
//! vectored_write  as `write`, plus `poll_write_vectored(&mut self, cx, &[IoSlice])`
//! seek            AsyncSeek: `start_seek(&mut self, SeekFrom) -> io::Result<()>` and
//!                 `poll_complete(&mut self, cx)` (tokio), `poll_seek(&mut self, cx, pos)`
//!                 (futures)
//! ```

/// See the module docs.
macro_rules! poll_traits {
    ($($(#[$doc:meta])* impl$([$($g:tt)*])? $family:ident for $ty:ty;)+) => {
        $($crate::io::poll_traits::poll_traits!(@$family [$($($g)*)?] $ty, $(#[$doc])*);)+
    };
    (@read [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $(#[$doc])*
        #[cfg(feature = "tokio-io")]
        impl<$($g)*> tokio::io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut tokio::io::ReadBuf<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                // SAFETY: `poll_read_uninit` only writes into the unfilled part and never
                // de-initialises a byte (its contract, see src/io/poll_traits.rs).
                let dst = unsafe { buf.unfilled_mut() };
                let n = std::task::ready!(self.get_mut().poll_read_uninit(cx, dst))?;
                // SAFETY: on `Ready(Ok(n))`, `poll_read_uninit` initialised the first `n`
                // bytes of the unfilled part.
                unsafe { buf.assume_init(n) };
                buf.advance(n);
                std::task::Poll::Ready(Ok(()))
            }
        }

        $(#[$doc])*
        #[cfg(feature = "futures-io")]
        impl<$($g)*> futures_io::AsyncRead for $ty {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &mut [u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_read(cx, buf)
            }
        }
    };
    (@buf_read [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $crate::io::poll_traits::poll_traits!(
            @buf_read_for tokio::io::AsyncBufRead, "tokio-io", [$($g)*] $ty, $(#[$doc])*
        );
        $crate::io::poll_traits::poll_traits!(
            @buf_read_for futures_io::AsyncBufRead, "futures-io", [$($g)*] $ty, $(#[$doc])*
        );
    };
    (@buf_read_for $tr:path, $feature:literal, [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        impl<$($g)*> $tr for $ty {
            fn poll_fill_buf(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<&[u8]>> {
                self.get_mut().poll_fill_buf(cx)
            }

            fn consume(self: std::pin::Pin<&mut Self>, amt: usize) {
                self.get_mut().consume(amt)
            }
        }
    };
    (@write [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $crate::io::poll_traits::poll_traits!(@write_impls [$($g)*] $ty, [], $(#[$doc])*);
    };
    (@vectored_write [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $crate::io::poll_traits::poll_traits!(@write_impls [$($g)*] $ty, [
            fn poll_write_vectored(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                self.get_mut().poll_write_vectored(cx, bufs)
            }
        ], $(#[$doc])*);
    };
    (@write_impls [$($g:tt)*] $ty:ty, [$($vectored:tt)*], $(#[$doc:meta])*) => {
        $(#[$doc])*
        #[cfg(feature = "tokio-io")]
        impl<$($g)*> tokio::io::AsyncWrite for $ty {
            $crate::io::poll_traits::poll_traits!(@write_methods);
            $($vectored)*
            $crate::io::poll_traits::poll_traits!(@is_write_vectored [$($vectored)*]);

            fn poll_shutdown(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.get_mut().poll_shutdown(cx)
            }
        }

        $(#[$doc])*
        #[cfg(feature = "futures-io")]
        impl<$($g)*> futures_io::AsyncWrite for $ty {
            $crate::io::poll_traits::poll_traits!(@write_methods);
            $($vectored)*

            fn poll_close(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                self.get_mut().poll_shutdown(cx)
            }
        }
    };
    (@write_methods) => {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            self.get_mut().poll_write(cx, buf)
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            self.get_mut().poll_flush(cx)
        }
    };
    (@is_write_vectored []) => {};
    (@is_write_vectored [$($vectored:tt)+]) => {
        fn is_write_vectored(&self) -> bool {
            true
        }
    };
    (@seek [$($g:tt)*] $ty:ty, $(#[$doc:meta])*) => {
        $(#[$doc])*
        #[cfg(feature = "tokio-io")]
        impl<$($g)*> tokio::io::AsyncSeek for $ty {
            fn start_seek(
                self: std::pin::Pin<&mut Self>,
                position: std::io::SeekFrom,
            ) -> std::io::Result<()> {
                self.get_mut().start_seek(position)
            }

            fn poll_complete(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<u64>> {
                self.get_mut().poll_complete(cx)
            }
        }

        $(#[$doc])*
        #[cfg(feature = "futures-io")]
        impl<$($g)*> futures_io::AsyncSeek for $ty {
            fn poll_seek(
                self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                pos: std::io::SeekFrom,
            ) -> std::task::Poll<std::io::Result<u64>> {
                self.get_mut().poll_seek(cx, pos)
            }
        }
    };
}

pub(crate) use poll_traits;
