//! The futures of one combinator, each with its own waker, so a wake-up polls only the
//! future that was woken (not all n of them: `join_all` of 10,000 futures stays O(n)
//! overall, not O(n²)).
//!
//! Each child's waker pushes its index on a shared ready list (once until it is polled
//! again) and wakes the parent task. Child wakers may be woken on any thread (a blocking
//! job's handle is), so the list is behind a `Mutex` and the wakers are `Arc`s.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use crate::loom::{Lock, MutexGuard};

struct Ready {
    indices: Vec<usize>,
    queued: Vec<bool>,
    parent: Option<Waker>,
}

struct Shared {
    ready: Lock<Ready>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Ready> {
        // Only plain pushes and flag writes happen under the lock: a poisoned lock (a
        // panicking waker elsewhere) leaves consistent data.
        self.ready.lock()
    }
}

struct Child {
    index: usize,
    shared: Arc<Shared>,
}

impl Wake for Child {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let parent = {
            let mut r = self.shared.lock();
            if let Some(q) = r.queued.get_mut(self.index)
                && !*q
            {
                *q = true;
                r.indices.push(self.index);
            }
            r.parent.clone()
        };
        if let Some(w) = parent {
            w.wake();
        }
    }
}

pub(crate) struct Children<F> {
    futures: Vec<Option<Pin<Box<F>>>>,
    wakers: Vec<Waker>,
    shared: Arc<Shared>,
    /// Indices taken from the shared list, still to poll.
    batch: VecDeque<usize>,
    left: usize,
}

impl<F: Future> Children<F> {
    pub(crate) fn new(futures: impl IntoIterator<Item = F>) -> Self {
        let futures: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
        let n = futures.len();
        let shared = Arc::new(Shared {
            ready: Lock::new(Ready {
                indices: Vec::new(),
                queued: vec![false; n],
                parent: None,
            }),
        });
        let wakers = (0..n)
            .map(|index| {
                Waker::from(Arc::new(Child {
                    index,
                    shared: shared.clone(),
                }))
            })
            .collect();
        Self {
            futures,
            wakers,
            shared,
            // Every future is polled once to start.
            batch: (0..n).collect(),
            left: n,
        }
    }

    /// Futures not finished yet.
    pub(crate) fn left(&self) -> usize {
        self.left
    }

    /// Total futures (finished or not).
    pub(crate) fn len(&self) -> usize {
        self.futures.len()
    }

    /// Drops every future not finished yet.
    pub(crate) fn clear(&mut self) {
        self.futures.clear();
        self.batch.clear();
        self.left = 0;
    }

    /// Polls woken futures until one finishes: `Ready(Some((index, output)))`; `Ready(None)`
    /// once all have finished; `Pending` when none of the woken ones finished.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<(usize, F::Output)>> {
        loop {
            if self.left == 0 {
                return Poll::Ready(None);
            }
            let Some(i) = self.batch.pop_front() else {
                let mut r = self.shared.lock();
                if r.indices.is_empty() {
                    if !r.parent.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        r.parent = Some(cx.waker().clone());
                    }
                    return Poll::Pending;
                }
                let r = &mut *r;
                for &i in &r.indices {
                    r.queued[i] = false;
                }
                self.batch.extend(r.indices.drain(..));
                continue;
            };
            let Some(fut) = self.futures.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            let mut child_cx = Context::from_waker(&self.wakers[i]);
            if let Poll::Ready(v) = fut.as_mut().poll(&mut child_cx) {
                self.futures[i] = None;
                self.left -= 1;
                return Poll::Ready(Some((i, v)));
            }
        }
    }
}
