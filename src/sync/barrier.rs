//! `Barrier`: a core-local, reusable rendezvous of a fixed number of tasks (asyncio's
//! `Barrier`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_list::{WaitList, wake_all};

/// Lets `parties` tasks wait until all of them have arrived (asyncio's `asyncio.Barrier`).
///
/// The barrier is reusable: once `parties` tasks wait, all are released and it starts
/// over. As in asyncio, a task whose `wait` is cancelled before the barrier trips no
/// longer counts as arrived.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Barrier;
///
/// ringcore::block_on(async {
///     let barrier = Rc::new(Barrier::new(3));
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let b = barrier.clone();
///             ringcore::spawn(async move { b.wait().await.is_leader() })
///         })
///         .collect();
///     let mut leaders = 0;
///     for t in tasks {
///         leaders += t.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    state: RefCell<State>,
}

struct State {
    parties: usize,
    arrived: usize,
    generation: u64,
    waiters: WaitList,
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// True for exactly one task of each round: the last to arrive.
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

impl Barrier {
    /// A barrier for `parties` tasks (0 behaves as 1: every `wait` returns at once).
    pub fn new(parties: usize) -> Self {
        Self {
            state: RefCell::new(State {
                parties: parties.max(1),
                arrived: 0,
                generation: 0,
                waiters: WaitList::default(),
            }),
        }
    }

    /// Tasks currently waiting (asyncio's `n_waiting`).
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().arrived
    }

    /// Waits until `parties` tasks are waiting.
    ///
    /// # Cancel safety
    ///
    /// A dropped `wait` that has not been released takes its arrival back; one that was
    /// released already has counted.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            slot: None,
            done: false,
        }
    }
}

impl std::fmt::Debug for Barrier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Barrier")
            .field("parties", &st.parties)
            .field("arrived", &st.arrived)
            .finish()
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// `(seq, generation)` once arrived.
    slot: Option<(u64, u64)>,
    done: bool,
}

impl Future for BarrierWait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(BarrierWaitResult { leader: false });
        }
        let mut st = this.barrier.state.borrow_mut();
        match this.slot {
            None => {
                st.arrived += 1;
                if st.arrived >= st.parties {
                    st.arrived = 0;
                    st.generation += 1;
                    let woken = st.waiters.take_all();
                    drop(st);
                    wake_all(woken);
                    this.done = true;
                    return Poll::Ready(BarrierWaitResult { leader: true });
                }
                let seq = st.waiters.push(cx.waker());
                this.slot = Some((seq, st.generation));
                Poll::Pending
            }
            Some((seq, generation)) => {
                if generation == st.generation {
                    st.waiters.update(seq, cx.waker());
                    return Poll::Pending;
                }
                this.slot = None;
                this.done = true;
                Poll::Ready(BarrierWaitResult { leader: false })
            }
        }
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let Some((seq, generation)) = self.slot.take() {
            let mut st = self.barrier.state.borrow_mut();
            if generation == st.generation {
                st.waiters.remove(seq);
                st.arrived = st.arrived.saturating_sub(1);
            }
        }
    }
}

impl std::fmt::Debug for BarrierWait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BarrierWait")
            .field("done", &self.done)
            .finish()
    }
}
