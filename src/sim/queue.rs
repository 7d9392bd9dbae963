//! The world's timetable: the events waiting for a virtual time (an SQE to perform, a
//! message to deliver), taken in order of time, then of the order they were queued.
//!
//! A binary heap of `(nanoseconds, sequence, slot)` keys over a slab of events, and a
//! hash index from `(host, user_data)` to the slot of a queued SQE, so an ASYNC_CANCEL
//! finds its target without a scan. Taking an SQE out of the middle (a cancel, a crash)
//! empties its slot and leaves its key in the heap as a tombstone, skipped when it comes to
//! the top; the top key is always live, so [`Timetable::next_time`] needs no `&mut`. Every
//! op costs a heap push and pop and one hash insert and remove, where the two `BTreeMap`s
//! this replaces cost a tree insert and a rebalancing remove each.
//!
//! The order does not depend on the hash (the index is never iterated for an order), so a
//! seed gives the same order on every run.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use rustc_hash::FxHashMap;

use super::world::Event;
use crate::sys::sqe::RawSqe;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Timetable {
    /// `(virtual nanoseconds, sequence, slot)`, earliest first (sequences are unique, so
    /// the slot never decides the order).
    heap: BinaryHeap<Reverse<(u64, u64, u32)>>,
    /// Queued events with the sequence their heap key carries; `None`: free.
    slots: Vec<Option<(u64, Event)>>,
    free: Vec<u32>,
    /// Slot of each queued SQE, by (host, user_data).
    sqes: FxHashMap<(usize, u64), u32>,
    seq: u64,
}

impl Timetable {
    /// Queues `event` at virtual time `at`, after every event queued for the same time.
    pub(crate) fn insert(&mut self, at: Duration, event: Event) {
        let seq = self.seq;
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 queued events")
            }
        };
        if let Event::Sqe(p) = &event {
            self.sqes.insert((p.host, p.sqe.user_data), slot);
        }
        self.slots[slot as usize] = Some((seq, event));
        // 2^64 ns is 584 years: a later time saturates (and still sorts last).
        let nanos = u64::try_from(at.as_nanos()).unwrap_or(u64::MAX);
        self.heap.push(Reverse((nanos, seq, slot)));
    }

    /// The time of the first event.
    pub(crate) fn next_time(&self) -> Option<Duration> {
        self.heap
            .peek()
            .map(|Reverse((t, _, _))| Duration::from_nanos(*t))
    }

    /// Takes the first event if its time is not after `now`.
    pub(crate) fn pop_due(&mut self, now: Duration) -> Option<Event> {
        let &Reverse((t, _, slot)) = self.heap.peek()?;
        if u128::from(t) > now.as_nanos() {
            return None;
        }
        self.heap.pop();
        let event = self.take(slot);
        self.skip_tombstones();
        event
    }

    /// Takes `host`'s queued SQE whose `user_data` is `target`.
    pub(crate) fn remove_sqe(&mut self, host: usize, target: u64) -> Option<RawSqe> {
        let slot = *self.sqes.get(&(host, target))?;
        let event = self.take(slot);
        self.skip_tombstones();
        match event? {
            Event::Sqe(p) => Some(p.sqe),
            Event::Net(_) => None,
        }
    }

    /// Drops every queued SQE of `host` (messages in flight stay).
    pub(crate) fn forget_host(&mut self, host: usize) {
        let slots: Vec<u32> = self
            .sqes
            .iter()
            .filter(|((h, _), _)| *h == host)
            .map(|(_, s)| *s)
            .collect();
        for slot in slots {
            self.take(slot);
        }
        self.skip_tombstones();
    }

    /// Empties `slot` (its heap key becomes a tombstone unless already popped).
    fn take(&mut self, slot: u32) -> Option<Event> {
        let (_, event) = self.slots[slot as usize].take()?;
        self.free.push(slot);
        if let Event::Sqe(p) = &event {
            self.sqes.remove(&(p.host, p.sqe.user_data));
        }
        Some(event)
    }

    /// Pops dead keys off the top, so the top is live (or the heap empty).
    fn skip_tombstones(&mut self) {
        while let Some(&Reverse((_, seq, slot))) = self.heap.peek() {
            if matches!(&self.slots[slot as usize], Some((s, _)) if *s == seq) {
                return;
            }
            self.heap.pop();
        }
    }
}
