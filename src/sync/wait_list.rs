//! A FIFO list of waiting tasks' wakers, each tagged with a sequence number so a future
//! can find (and leave) its own place. Sequence numbers only grow and entries are only
//! pushed at the back, so the list stays sorted and a lookup is a binary search.

use std::collections::VecDeque;
use std::task::Waker;

#[derive(Default)]
pub(crate) struct WaitList {
    list: VecDeque<(u64, Waker)>,
    next: u64,
}

impl WaitList {
    /// Queues `waker` at the back; returns its sequence number.
    pub(crate) fn push(&mut self, waker: &Waker) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.list.push_back((seq, waker.clone()));
        seq
    }

    fn find(&self, seq: u64) -> Option<usize> {
        self.list.binary_search_by_key(&seq, |(s, _)| *s).ok()
    }

    /// If `seq` is still queued, refreshes its waker and returns true.
    pub(crate) fn update(&mut self, seq: u64, waker: &Waker) -> bool {
        match self.find(seq) {
            Some(i) => {
                let w = &mut self.list[i].1;
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    /// Takes `seq` out of the queue; returns false if it was not there.
    pub(crate) fn remove(&mut self, seq: u64) -> bool {
        match self.find(seq) {
            Some(i) => {
                self.list.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn pop_front(&mut self) -> Option<(u64, Waker)> {
        self.list.pop_front()
    }

    /// Empties the queue, oldest first.
    pub(crate) fn take_all(&mut self) -> VecDeque<(u64, Waker)> {
        std::mem::take(&mut self.list)
    }

    pub(crate) fn len(&self) -> usize {
        self.list.len()
    }
}

/// Wakes every waker in `list`, oldest first.
pub(crate) fn wake_all(list: VecDeque<(u64, Waker)>) {
    for (_, w) in list {
        w.wake();
    }
}
