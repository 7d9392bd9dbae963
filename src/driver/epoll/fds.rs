//! What the readiness ring knows of each fd number: the ops waiting on it, its epoll
//! registration, and its readiness (what the last attempts and events said).
//!
//! Per direction, an fd is *not ready* from an attempt that got EAGAIN (or a receive on a
//! stream socket that left its buffer unfilled) until the next event for that direction;
//! *closed* from an event saying so (or an error), for good. A number the `SharedFd`
//! layer releases (`shared_fd::ReleasedFds`) is forgotten before the ring's next look at
//! any fd, so a new file at that number is registered afresh (docs/hazards.md, H20).
//! Only the core's thread touches this state.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::Waker;

use mio::unix::SourceFd;
use mio::{Interest, Token};

use super::EpollRing;
use crate::driver::opcodes::Ready;
use crate::driver::ring::Direction;
use crate::sys::emulate::FdKind;

/// What the ring knows of one fd number: the ops waiting on it, in arrival order (by
/// `user_data`), its epoll registration and its readiness.
#[derive(Default)]
pub(super) struct FdState {
    pub(super) readers: VecDeque<u64>,
    pub(super) writers: VecDeque<u64>,
    /// Registered in the epoll set for the file now at this number; cleared when the
    /// number is released (`shared_fd::ReleasedFds`).
    pub(super) registered: bool,
    /// A stream socket (SOCK_STREAM), learnt at registration: a receive that leaves its
    /// buffer unfilled drained it.
    pub(super) stream: bool,
    /// The last attempt in this direction found the fd not ready, and no event came since.
    pub(super) unready_read: bool,
    pub(super) unready_write: bool,
    /// An event said the peer closed this direction, or the fd has an error: every later
    /// attempt returns at once (0, or the error), and no further event need come, so
    /// the direction is never "not ready" again (tokio keeps its closed bits likewise).
    pub(super) read_closed: bool,
    pub(super) write_closed: bool,
    /// Tasks waiting without an op (`Ring::poll_ready`) for each direction.
    pub(super) read_wakers: Vec<Waker>,
    pub(super) write_wakers: Vec<Waker>,
}

impl FdState {
    pub(super) fn is_empty(&self) -> bool {
        self.readers.is_empty() && self.writers.is_empty()
    }

    /// Would an attempt in `dir` fail or overtake a waiting op? Only trusted while the fd
    /// is registered: an event reports every change of readiness from then on.
    pub(super) fn blocked(&self, dir: Direction) -> bool {
        self.registered
            && match dir {
                Direction::Read => {
                    (self.unready_read && !self.read_closed) || !self.readers.is_empty()
                }
                Direction::Write => {
                    (self.unready_write && !self.write_closed) || !self.writers.is_empty()
                }
            }
    }

    pub(super) fn mark_unready(&mut self, dir: Direction) {
        match dir {
            Direction::Read => self.unready_read = true,
            Direction::Write => self.unready_write = true,
        }
    }
}

/// What one epoll event reported for an fd.
#[derive(Debug, Clone, Copy)]
pub(super) struct Readiness {
    /// Readable, or closed for reading, or failed: a receive would not wait.
    pub(super) readable: bool,
    /// Writable, or closed for writing, or failed: a send would not wait.
    pub(super) writable: bool,
    /// The peer shut down its writing side (EPOLLRDHUP, EPOLLHUP), or an error.
    pub(super) read_closed: bool,
    /// The connection can take no more writes (EPOLLHUP), or an error.
    pub(super) write_closed: bool,
}

impl EpollRing {
    /// The state of fd number `fd` (a valid fd is never negative), grown on demand.
    pub(super) fn state(&mut self, fd: RawFd) -> &mut FdState {
        let i = usize::try_from(fd).unwrap_or(0);
        if i >= self.fds.len() {
            self.fds.resize_with(i + 1, FdState::default);
        }
        &mut self.fds[i]
    }

    /// Forgets the numbers `SharedFd`s released since the last look (H20).
    pub(super) fn forget_released(&mut self) {
        if self.released.is_empty() {
            return;
        }
        for fd in self.released.take() {
            self.forget(fd);
        }
    }

    /// Forgets what the ring knew of number `fd` (its registration, readiness and the
    /// wakers of waits whose future was dropped: a live wait holds its fd open). Its
    /// queues are empty for the same reason; they are kept all the same.
    pub(super) fn forget(&mut self, fd: RawFd) {
        let Some(st) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        debug_assert!(st.is_empty(), "fd {fd} released with ops waiting on it");
        let fresh = FdState {
            readers: std::mem::take(&mut st.readers),
            writers: std::mem::take(&mut st.writers),
            ..FdState::default()
        };
        let old = std::mem::replace(st, fresh);
        self.ready_waiters -= old.read_wakers.len() + old.write_wakers.len();
        self.woken.extend(old.read_wakers);
        self.woken.extend(old.write_wakers);
    }

    /// Records what an attempt in `dir` on `fd` returned (`res`, for `want` bytes asked
    /// with receive flags `flags`): EAGAIN marks the direction not ready; so does a
    /// receive on a stream socket that left its buffer unfilled (drained: any later data
    /// brings an event), unless it only peeked.
    pub(super) fn note(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize, flags: i32) {
        let st = self.state(fd);
        if res == -libc::EAGAIN
            || (st.stream
                && res > 0
                && (res as usize) < want
                && (dir == Direction::Write || flags & libc::MSG_PEEK == 0))
        {
            st.mark_unready(dir);
        }
    }

    /// Records what a finished readiness op got in `dir` (`res`); a transfer's short
    /// result may say its stream socket drained (see `note`).
    pub(super) fn note_op(&mut self, fd: RawFd, dir: Direction, res: i32, ready: Ready) {
        if let Some(want) = ready.drains_below {
            // A peeking receive has no `drains_below`: flags 0 says as much.
            self.note(fd, dir, res, want, 0);
        }
    }

    /// Registers `fd` for both directions, edge-triggered (ADD; MOD if this file is in
    /// the set already, handed out and back in under the same number). The kernel looks
    /// at the file's state as it registers it, so readiness that arrived since the failed
    /// attempt is reported.
    pub(super) fn register(&mut self, fd: RawFd, kind: FdKind) -> io::Result<()> {
        let registry = self.poll.registry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let token = Token(fd as usize);
        match registry.register(&mut SourceFd(&fd), token, interest) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                registry.reregister(&mut SourceFd(&fd), token, interest)
            }
            other => other,
        }?;
        let stream = kind == FdKind::Socket
            && matches!(
                crate::sys::socket::get_int(
                    // SAFETY: `fd` is open for the call: an op waiting on it holds it.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                ),
                Ok(libc::SOCK_STREAM)
            );
        let st = self.state(fd);
        st.registered = true;
        st.stream = stream;
        Ok(())
    }

    /// Retries the ops waiting on `fd` after a readiness event.
    pub(super) fn on_ready(&mut self, fd: RawFd, ev: Readiness) {
        let Readiness {
            readable,
            writable,
            read_closed,
            write_closed,
        } = ev;
        self.state(fd);
        let st = &mut self.fds[fd as usize];
        if readable {
            st.unready_read = false;
        }
        if writable {
            st.unready_write = false;
        }
        st.read_closed |= read_closed;
        st.write_closed |= write_closed;
        let mut n = 0;
        if readable {
            n += st.read_wakers.len();
            self.woken.append(&mut st.read_wakers);
        }
        if writable {
            n += st.write_wakers.len();
            self.woken.append(&mut st.write_wakers);
        }
        self.ready_waiters -= n;
        let st = self.state(fd);
        if st.is_empty() {
            return;
        }
        if readable {
            let mut list = std::mem::take(&mut self.state(fd).readers);
            self.retry(fd, Direction::Read, &mut list);
            self.state(fd).readers = list;
        }
        if writable {
            let mut list = std::mem::take(&mut self.state(fd).writers);
            self.retry(fd, Direction::Write, &mut list);
            self.state(fd).writers = list;
        }
        // Ops waiting on both directions (a poll for POLLIN | POLLOUT) that completed
        // through one list leave the other.
        let waiting = &self.waiting;
        let st = &mut self.fds[fd as usize];
        st.readers.retain(|ud| waiting.contains_key(ud));
        st.writers.retain(|ud| waiting.contains_key(ud));
    }
}
