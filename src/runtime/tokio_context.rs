//! A tokio context on every core (feature `tokio-context`): a current-thread tokio runtime
//! and a `LocalSet` per core, so crates that create their own sockets, timers and tasks
//! through tokio (`tokio::net`, `tokio::time`, `tokio::spawn`, `Handle::current()`) work
//! unmodified inside ringcore tasks, on the core that runs them.
//!
//! How a core runs with it (docs/architecture.md, "The tokio context"):
//!
//! ```text
//! tokio_rt.block_on(local_set.run_until(tick loop))
//!   tick loop, as in core.rs, except:
//!     work ready  -> flush, dispatch, then yield once to tokio (its tasks, its reactor
//!                    with a zero timeout), and tick again
//!     idle        -> Driver::look (submit, reap, submit what the reap queued: the
//!                    re-armed wake-up read; never block); if nothing came:
//!                    await { the ring's park fd readable (AsyncFd in tokio's reactor),
//!                            the next ringcore timer or cancel re-send (tokio sleep),
//!                            a ringcore task or the main future woken, or a remote
//!                            task queued (its eventfd CQE may be reaped already) }
//!                    then Driver::look again, dispatch
//! ```
//!
//! So each core sleeps once, in tokio's epoll_wait, and is woken by either side: a CQE
//! makes the io_uring fd readable (the ring is set up without DEFER_TASKRUN, whose
//! deferred completions do not wake pollers of the ring fd), a remote wake completes the
//! eventfd read armed in the ring, the readiness driver's epoll fd is readable when it has
//! events, and tokio's own timers and sockets end its epoll_wait as usual.
//!
//! State, all on the core's thread: `waker` is set by the park (the tick loop's tokio
//! waker) and taken by [`TokioContext::wake_parked`], which the core calls when a ringcore
//! task or the main future is woken on this thread from outside the tick (a tokio task, a
//! tokio reactor event). `parts` is `Some` from the build until [`TokioContext::shutdown`].

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Poll, Waker};
use std::time::Instant;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::driver::Driver;

/// One core's tokio runtime, `LocalSet` and registration of the ring's park fd.
pub(crate) struct TokioContext {
    /// The tick loop's waker while it waits in tokio for something to do.
    waker: Cell<Option<Waker>>,
    parts: RefCell<Option<Parts>>,
}

/// Field order is drop order: the park fd leaves tokio's reactor, local tasks are dropped,
/// then the runtime.
struct Parts {
    park_fd: AsyncFd<ParkFd>,
    local: tokio::task::LocalSet,
    rt: tokio::runtime::Runtime,
}

/// The ring's park fd, borrowed: the driver owns and closes it (after `Parts` is gone).
struct ParkFd(RawFd);

impl AsRawFd for ParkFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl TokioContext {
    /// A current-thread tokio runtime with everything enabled (I/O, time, and signals if
    /// tokio's `signal` feature is on in the build), a `LocalSet`, and `driver`'s park fd
    /// registered for readability in the runtime's reactor.
    pub(crate) fn new(driver: &Driver) -> io::Result<Self> {
        let fd = driver.park_fd().ok_or_else(|| {
            io::Error::other("ringcore: this driver has no fd to wait on in tokio's reactor")
        })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let park_fd = {
            let _entered = rt.enter();
            // tokio 1.54 deprecates this for `unsafe fn register_with_interest`, whose
            // contract is upheld here: the fd is the driver's, which stays open and the
            // same until this `AsyncFd` is dropped (`shutdown`, or the core's drop, which
            // drops its `tokio` field before its driver). The safe form keeps older tokio
            // 1.x releases usable.
            #[allow(deprecated)]
            AsyncFd::with_interest(ParkFd(fd), Interest::READABLE)?
        };
        Ok(Self {
            waker: Cell::new(None),
            parts: RefCell::new(Some(Parts {
                park_fd,
                local: tokio::task::LocalSet::new(),
                rt,
            })),
        })
    }

    /// True if [`block_on`](Self::block_on) can run here: the runtime is not shut down and
    /// this thread is not inside another tokio runtime (or its `enter` guard), where tokio
    /// refuses to start one more. The core then runs without its own context, and tokio
    /// calls reach the outer runtime.
    pub(crate) fn runs_here(&self) -> bool {
        self.parts.borrow().is_some() && tokio::runtime::Handle::try_current().is_err()
    }

    /// Runs `tick` (the core's tick loop, which awaits [`park`](Self::park) and
    /// [`yield_now`](Self::yield_now)) inside the runtime and the `LocalSet`, so tokio's
    /// context and the `LocalSet`'s are entered whenever a ringcore task is polled.
    ///
    /// # Panics
    ///
    /// Unless [`runs_here`](Self::runs_here).
    pub(crate) fn block_on<F: Future>(&self, tick: F) -> F::Output {
        let parts = self.parts.borrow();
        let Some(parts) = parts.as_ref() else {
            panic!("ringcore: the core's tokio context is shut down");
        };
        parts.rt.block_on(parts.local.run_until(tick))
    }

    /// Waits in tokio (its reactor parks the thread) until the ring's park fd is readable,
    /// `deadline` passes, or `ready()` is true after a [`wake_parked`](Self::wake_parked).
    /// `sleep` is the tick loop's reusable tokio timer.
    pub(crate) async fn park(
        &self,
        deadline: Option<Instant>,
        sleep: &mut Option<Pin<Box<tokio::time::Sleep>>>,
        ready: impl Fn() -> bool,
    ) {
        if let Some(d) = deadline {
            let d = tokio::time::Instant::from_std(d);
            match sleep {
                Some(s) => s.as_mut().reset(d),
                None => *sleep = Some(Box::pin(tokio::time::sleep_until(d))),
            }
        }
        poll_fn(|cx| {
            if ready() {
                return Poll::Ready(());
            }
            let waker = match self.waker.take() {
                Some(w) if w.will_wake(cx.waker()) => w,
                _ => cx.waker().clone(),
            };
            self.waker.set(Some(waker));
            // Borrowed per poll, never across the await: `shutdown` takes the parts.
            let parts = self.parts.borrow();
            let Some(parts) = parts.as_ref() else {
                return Poll::Ready(());
            };
            if let Poll::Ready(res) = parts.park_fd.poll_read_ready(cx) {
                // Cleared at once: what made it readable is reaped next
                // (`Driver::look`), and a later CQE or event is a new edge.
                if let Ok(mut guard) = res {
                    guard.clear_ready();
                }
                return Poll::Ready(());
            }
            if deadline.is_some()
                && let Some(s) = sleep
                && s.as_mut().poll(cx).is_ready()
            {
                return Poll::Ready(());
            }
            Poll::Pending
        })
        .await;
        self.waker.take();
    }

    /// Lets tokio run once: its ready tasks, the `LocalSet`'s, and its reactor and timers
    /// with a zero timeout (tokio's scheduler does that when the `block_on` future wakes
    /// itself). Costs one epoll_wait(2) with a zero timeout.
    pub(crate) async fn yield_now(&self) {
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await
    }

    /// A ringcore task or the main future was woken on this thread from outside the tick
    /// (by a tokio task or a tokio reactor event): ends a park in progress.
    pub(crate) fn wake_parked(&self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    /// Drops every `LocalSet` task and every task spawned on the runtime (on this thread),
    /// deregisters the park fd and closes the runtime's fds (its epoll and eventfd).
    /// Blocking jobs already running on tokio's blocking pool are not waited for: they
    /// finish on their threads, which then exit. Idempotent.
    pub(crate) fn shutdown(&self) {
        self.waker.take();
        let Some(parts) = self.parts.borrow_mut().take() else {
            return;
        };
        let Parts { park_fd, local, rt } = parts;
        let entered = rt.enter();
        drop(park_fd);
        drop(local);
        drop(entered);
        rt.shutdown_background();
    }
}

impl std::fmt::Debug for TokioContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokioContext")
            .field("running", &self.parts.borrow().is_some())
            .finish()
    }
}
