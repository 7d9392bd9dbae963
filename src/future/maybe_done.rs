//! `MaybeDone`: one future of a `join!`/`try_join!`/[`join`](super::join) and, once it has
//! finished, its output until the whole join hands it back.
//!
//! States: `Future` (still running; polled in place, pinned) → `Done` (output kept) →
//! `Gone` (output taken, or an error handed to `try_join!`). Only the join that owns it
//! moves it between states, on its own task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use state::MaybeDone;
use state::{MaybeDoneProj, MaybeDoneReplace};

mod state {
    // pin_project_lite takes no docs on enum fields; the variants say what they hold.
    #![allow(missing_docs)]

    use std::future::Future;

    pin_project_lite::pin_project! {
        /// A future and, once it has finished, its output (support for `join!`; not a stable
        /// API).
        #[project = MaybeDoneProj]
        #[project_replace = MaybeDoneReplace]
        pub enum MaybeDone<F: Future> {
            /// Still running.
            Future { #[pin] future: F },
            /// Finished; the output waits to be taken.
            Done { output: F::Output },
            /// The output was taken.
            Gone,
        }
    }
}

impl<F: Future> MaybeDone<F> {
    /// Wraps a future not polled yet.
    pub fn new(future: F) -> Self {
        MaybeDone::Future { future }
    }

    /// Polls the future if it is still running; `true` once it has finished.
    pub fn poll_done(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let output = match self.as_mut().project() {
            MaybeDoneProj::Future { future } => match future.poll(cx) {
                Poll::Ready(output) => output,
                Poll::Pending => return false,
            },
            MaybeDoneProj::Done { .. } | MaybeDoneProj::Gone => return true,
        };
        self.project_replace(MaybeDone::Done { output });
        true
    }

    /// The output, once [`poll_done`](Self::poll_done) said `true`; `None` before, or
    /// when it was already taken.
    pub fn take(mut self: Pin<&mut Self>) -> Option<F::Output> {
        match self.as_mut().project() {
            MaybeDoneProj::Done { .. } => {}
            MaybeDoneProj::Future { .. } | MaybeDoneProj::Gone => return None,
        }
        match self.project_replace(MaybeDone::Gone) {
            MaybeDoneReplace::Done { output } => Some(output),
            MaybeDoneReplace::Future { .. } | MaybeDoneReplace::Gone => None,
        }
    }
}

impl<F, T, E> MaybeDone<F>
where
    F: Future<Output = Result<T, E>>,
{
    /// Polls a fallible future: `Ready(Ok(()))` once it has finished with `Ok` (kept),
    /// `Ready(Err(e))` when it failed (handed out at once, the state becomes `Gone`).
    pub fn poll_try(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        if !self.as_mut().poll_done(cx) {
            return Poll::Pending;
        }
        if let MaybeDoneProj::Done { output: Err(_) } = self.as_mut().project()
            && let Some(Err(e)) = self.take()
        {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(()))
    }

    /// The `Ok` value, once [`poll_try`](Self::poll_try) said `Ready(Ok(()))`.
    pub fn take_ok(self: Pin<&mut Self>) -> Option<T> {
        self.take().and_then(Result::ok)
    }
}

impl<F: Future> std::fmt::Debug for MaybeDone<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MaybeDone::Future { .. } => "MaybeDone::Future",
            MaybeDone::Done { .. } => "MaybeDone::Done",
            MaybeDone::Gone => "MaybeDone::Gone",
        })
    }
}

/// The output of a [`MaybeDone`] that reported done. `None` would mean a join was polled
/// after it completed, which `Future`'s contract forbids.
pub fn output<T>(v: Option<T>) -> T {
    match v {
        Some(v) => v,
        None => panic!("ringcore: a join future was polled after it completed"),
    }
}

/// Where a `select!` without `biased;` starts polling among `n` branches: a per-thread
/// xorshift, so no always-ready branch starves the others, and two `select!`s that take
/// turns on one thread do not each see the same start every time.
pub fn select_start(n: usize) -> usize {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u32> = const { Cell::new(0x9E37_79B9) };
    }
    if n <= 1 {
        return 0;
    }
    let x = STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        s.set(x);
        x
    });
    x as usize % n
}
