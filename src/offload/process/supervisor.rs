//! The pool's shared state: which workers exist, which are idle, who waits for one.
//!
//! `Shared` is reached from every core through `Arc`s; everything in it sits under one
//! mutex (`State`), held only for bookkeeping, never across a syscall that can block or an
//! `.await`.
//!
//! | field     | meaning                                                               |
//! |-----------|-----------------------------------------------------------------------|
//! | `idle`    | live workers not running a job (LIFO, so hot workers stay hot)         |
//! | `live`    | workers idle + checked out + being spawned; never above `max_workers` |
//! | `pids`    | pids of the live workers, for `ProcessPool::worker_pids`              |
//! | `waiters` | FIFO of calls waiting for a worker: (ticket, waker)                   |
//! | `closed`  | set by `shutdown` or the last handle's drop                           |
//!
//! A call *checks out* a worker ([`Acquire`]): only the first waiter in line may take
//! one, either an idle worker or the right to spawn one (`live < max_workers`). It then
//! owns the worker exclusively through a [`Checkout`] guard until it either returns it
//! (`release`: back to `idle`, the next waiter is woken) or discards it (`Drop` of the
//! guard: the process is killed with SIGKILL and reaped, `live` drops, the next waiter is
//! woken and may spawn a replacement). Every path that loses track of a worker goes
//! through that `Drop`, so no worker outlives its pool and none becomes a zombie.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::pin::Pin;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::PoolError;
use super::protocol::{MAX_FRAME_ENV, WORKER_FD_ENV};
use crate::loom::{Lock, MutexGuard};

/// How workers are started and bounded (from the builder).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) max_workers: usize,
    pub(crate) timeout: Option<Duration>,
    pub(crate) max_frame: usize,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<OsString>,
    pub(crate) envs: Vec<(OsString, OsString)>,
    pub(crate) inherit_stdout: bool,
}

/// One worker process and the pool's end of its socket.
#[derive(Debug)]
pub(crate) struct Worker {
    child: Child,
    /// `None` while a call has lent it to the ring (as a `SharedFd`).
    pub(crate) fd: Option<OwnedFd>,
    /// A pidfd of the process (`None` where pidfd_open fails, e.g. before Linux 5.3).
    pub(crate) pidfd: Option<OwnedFd>,
    /// True once the child was reaped (then `Drop` has nothing to do).
    reaped: bool,
    /// Jobs answered so far.
    pub(crate) jobs_served: u64,
}

impl Worker {
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the process has ended (reaping it), without blocking.
    pub(crate) fn try_status(&mut self) -> Option<ExitStatus> {
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.reaped = true;
                Some(status)
            }
            _ => None,
        }
    }

    /// Sends SIGKILL (if not yet reaped); the reap happens in `Drop`.
    fn kill(&mut self) {
        if !self.reaped {
            // ESRCH-like errors cannot occur: std only signals an unreaped child.
            let _ = self.child.kill();
        }
    }

    /// Kills and reaps the process; returns its status.
    pub(crate) fn kill_and_reap(&mut self) -> Option<ExitStatus> {
        self.kill();
        let status = self.child.wait().ok();
        self.reaped = true;
        status
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        // Close our end first so a worker blocked writing to us gets EPIPE, then kill and
        // reap: after SIGKILL the wait is short (the process only has to exit).
        self.fd = None;
        if !self.reaped {
            self.kill_and_reap();
        }
    }
}

struct State {
    idle: Vec<Worker>,
    live: usize,
    pids: Vec<u32>,
    waiters: VecDeque<(u64, Waker)>,
    next_ticket: u64,
    closed: bool,
}

/// The state every handle and call shares; see the module docs.
pub(crate) struct Shared {
    state: Lock<State>,
    pub(crate) config: Config,
    /// The next request id (ids start at 1; see `protocol`).
    next_id: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            state: Lock::new(State {
                idle: Vec::new(),
                live: 0,
                pids: Vec::new(),
                waiters: VecDeque::new(),
                next_ticket: 0,
                closed: false,
            }),
            config,
            next_id: AtomicU64::new(1),
        }
    }

    pub(crate) fn next_request_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No user code runs under the lock; a poisoned lock still holds consistent state.
        self.state.lock()
    }

    pub(crate) fn worker_pids(&self) -> Vec<u32> {
        self.lock().pids.clone()
    }

    pub(crate) fn max_workers(&self) -> usize {
        self.config.max_workers
    }

    /// Refuses new calls and kills the idle workers now; busy ones are killed when their
    /// calls end.
    pub(crate) fn close(&self) {
        let (idle, waiters) = {
            let mut st = self.lock();
            st.closed = true;
            let idle = std::mem::take(&mut st.idle);
            for w in &idle {
                let pid = w.pid();
                st.pids.retain(|p| *p != pid);
            }
            st.live -= idle.len();
            (idle, std::mem::take(&mut st.waiters))
        };
        kill_all(idle);
        for (_, w) in waiters {
            w.wake();
        }
    }

    /// Starts a new worker process (the caller holds a spawn slot from [`Acquire`]).
    fn spawn(&self) -> Result<Worker, PoolError> {
        let (ours, theirs) = crate::sys::process::socketpair().map_err(PoolError::Spawn)?;
        let cfg = &self.config;
        let mut cmd = Command::new(&cfg.program);
        cmd.args(&cfg.args)
            .envs(cfg.envs.iter().map(|(k, v)| (k, v)))
            .env(WORKER_FD_ENV, theirs.as_raw_fd().to_string())
            .env(MAX_FRAME_ENV, cfg.max_frame.to_string())
            .stdin(Stdio::null())
            .stdout(if cfg.inherit_stdout {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        let child =
            crate::sys::process::spawn_with_fd(&mut cmd, &theirs).map_err(PoolError::Spawn)?;
        drop(theirs);
        // The child is unreaped, so its pid cannot name another process.
        let pidfd = crate::sys::process::pidfd_open(child.id()).ok();
        self.lock().pids.push(child.id());
        Ok(Worker {
            child,
            fd: Some(ours),
            pidfd,
            reaped: false,
            jobs_served: 0,
        })
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.state.get_mut().idle);
        kill_all(idle);
    }
}

/// Signals every worker first, then reaps them, so they die in parallel.
fn kill_all(mut workers: Vec<Worker>) {
    for w in &mut workers {
        w.kill();
    }
    drop(workers);
}

/// Waits for the right to use a worker; resolves to a [`Checkout`].
pub(crate) struct Acquire {
    shared: Arc<Shared>,
    ticket: Option<u64>,
    /// Spawn a new worker if there is room, rather than take an idle one.
    prefer_new: bool,
}

impl Acquire {
    pub(crate) fn new(shared: Arc<Shared>, prefer_new: bool) -> Self {
        Self {
            shared,
            ticket: None,
            prefer_new,
        }
    }
}

impl Future for Acquire {
    type Output = Result<Checkout, PoolError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut st = this.shared.lock();
        if st.closed {
            return Poll::Ready(Err(PoolError::Closed));
        }
        let first = match this.ticket {
            None => st.waiters.is_empty(),
            Some(t) => st.waiters.front().is_some_and(|(ft, _)| *ft == t),
        };
        if first {
            let spawn_first = this.prefer_new && st.live < this.shared.config.max_workers;
            let taken = if spawn_first {
                st.live += 1;
                Some(None)
            } else if let Some(mut worker) = st.idle.pop() {
                // A worker that died while idle (killed from outside) must not take a job.
                if let Some(_status) = worker.try_status() {
                    let pid = worker.pid();
                    st.pids.retain(|p| *p != pid);
                    st.live -= 1;
                    drop(st);
                    drop(worker);
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(Some(worker))
            } else if st.live < this.shared.config.max_workers {
                st.live += 1;
                Some(None)
            } else {
                None
            };
            if let Some(worker) = taken {
                if this.ticket.take().is_some() {
                    st.waiters.pop_front();
                }
                // Capacity may remain for the next in line.
                let next = if !st.idle.is_empty() || st.live < this.shared.config.max_workers {
                    st.waiters.front().map(|(_, w)| w.clone())
                } else {
                    None
                };
                drop(st);
                if let Some(w) = next {
                    w.wake();
                }
                let shared = this.shared.clone();
                return Poll::Ready(match worker {
                    Some(worker) => Ok(Checkout {
                        shared,
                        worker: Some(worker),
                        slot: true,
                    }),
                    None => {
                        // Spawn outside the lock; on failure give the slot back.
                        let mut guard = Checkout {
                            shared,
                            worker: None,
                            slot: true,
                        };
                        match guard.shared.spawn() {
                            Ok(w) => {
                                guard.worker = Some(w);
                                Ok(guard)
                            }
                            Err(e) => Err(e),
                        }
                    }
                });
            }
        }
        match this.ticket {
            Some(t) => {
                if let Some(entry) = st.waiters.iter_mut().find(|(wt, _)| *wt == t) {
                    entry.1.clone_from(cx.waker());
                }
            }
            None => {
                let t = st.next_ticket;
                st.next_ticket += 1;
                st.waiters.push_back((t, cx.waker().clone()));
                this.ticket = Some(t);
            }
        }
        Poll::Pending
    }
}

impl Drop for Acquire {
    fn drop(&mut self) {
        let Some(t) = self.ticket else { return };
        let next = {
            let mut st = self.shared.lock();
            let was_first = st.waiters.front().is_some_and(|(ft, _)| *ft == t);
            st.waiters.retain(|(wt, _)| *wt != t);
            // If we were first we may have been woken for a worker: pass the turn on.
            if was_first {
                st.waiters.front().map(|(_, w)| w.clone())
            } else {
                None
            }
        };
        if let Some(w) = next {
            w.wake();
        }
    }
}

/// Exclusive use of one worker (or of a spawn slot, while `worker` is `None`). Dropping it
/// discards the worker: killed, reaped, its slot freed for a replacement.
pub(crate) struct Checkout {
    shared: Arc<Shared>,
    pub(crate) worker: Option<Worker>,
    /// True while this guard holds one of the `live` slots.
    slot: bool,
}

impl Checkout {
    /// Returns a healthy worker to the pool (or kills it if the pool has closed).
    pub(crate) fn release(mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        let mut st = self.shared.lock();
        if st.closed {
            // Fall through to the discard path in `Drop`.
            drop(st);
            self.worker = Some(worker);
            return;
        }
        st.idle.push(worker);
        // The slot now belongs to the idle worker.
        self.slot = false;
        let next = st.waiters.front().map(|(_, w)| w.clone());
        drop(st);
        if let Some(w) = next {
            w.wake();
        }
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if !self.slot {
            return;
        }
        let worker = self.worker.take();
        let next = {
            let mut st = self.shared.lock();
            if let Some(w) = &worker {
                let pid = w.pid();
                st.pids.retain(|p| *p != pid);
            }
            st.live -= 1;
            st.waiters.front().map(|(_, w)| w.clone())
        };
        // Kill and reap outside the lock.
        drop(worker);
        if let Some(w) = next {
            w.wake();
        }
    }
}
