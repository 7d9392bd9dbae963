//! Loom models of the cross-thread handshakes (run with
//! `RUSTFLAGS="--cfg loom" cargo test --release --lib loom`).
//!
//! Each model runs the real code (`Remote`, the channel, the `submit_to` reply slot, the
//! epoll driver's `JobState` and `Completions`) on
//! loom's atomics and locks, under every interleaving up to a preemption bound (3 unless
//! `LOOM_MAX_PREEMPTIONS` says otherwise). A lost wake-up shows as a deadlock: the parked
//! side waits on a loom `Notify` (standing for the eventfd) or a loom `block_on` that
//! nothing will wake again, and loom reports it.

use std::collections::VecDeque;

use loom::sync::Notify;
use loom::sync::atomic::AtomicUsize;
use loom::thread;

use super::{Arc, AtomicBool, Ordering};
use crate::channel::channel;
use crate::executor::remote::{Remote, Unpark};
use crate::runtime::CoreId;
use crate::runtime::cores::Stop;
use crate::runtime::submit::{SubmitError, reply_slot};

/// Runs `f` under loom with the default preemption bound of these models.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// Stands for a core's eventfd: an unpark is remembered until the core waits for it.
struct NotifyUnpark {
    notify: Arc<Notify>,
    unparks: Arc<AtomicUsize>,
    /// Set once `close` has returned: an unpark after that is a bug.
    close_returned: Arc<AtomicBool>,
    /// Set when the unpark (the eventfd) is dropped.
    released: Arc<AtomicBool>,
}

impl Unpark for NotifyUnpark {
    fn unpark(&self) {
        assert!(
            !self.close_returned.load(Ordering::SeqCst),
            "unpark after the remote queue was closed"
        );
        self.unparks.fetch_add(1, Ordering::SeqCst);
        self.notify.notify();
    }
}

impl Drop for NotifyUnpark {
    fn drop(&mut self) {
        self.released.store(true, Ordering::SeqCst);
    }
}

/// A remote queue for core 0 and what its unpark records.
struct Fixture<R> {
    remote: Arc<Remote<R>>,
    notify: Arc<Notify>,
    unparks: Arc<AtomicUsize>,
    close_returned: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

fn fixture<R>() -> Fixture<R> {
    let notify = Arc::new(Notify::new());
    let unparks = Arc::new(AtomicUsize::new(0));
    let close_returned = Arc::new(AtomicBool::new(false));
    let released = Arc::new(AtomicBool::new(false));
    let remote = Arc::new(Remote::new(
        0,
        Box::new(NotifyUnpark {
            notify: notify.clone(),
            unparks: unparks.clone(),
            close_returned: close_returned.clone(),
            released: released.clone(),
        }),
    ));
    Fixture {
        remote,
        notify,
        unparks,
        close_returned,
        released,
    }
}

/// A push from another thread while the core decides to park: either the core sees the
/// item before it parks, or the push unparks it. Never both an unpark and no park.
#[test]
fn loom_remote_push_racing_park_never_loses_the_wake_up() {
    model(|| {
        let f = fixture::<u32>();
        let remote = f.remote.clone();
        let waker = thread::spawn(move || remote.push(7));

        let flag = AtomicBool::new(false);
        let mut got = VecDeque::new();
        let mut parks = 0;
        while got.is_empty() {
            if f.remote.prepare_park(&flag) {
                parks += 1;
                f.notify.wait();
                f.remote.unparked();
            }
            f.remote.drain_into(&mut got);
        }
        waker.join().unwrap();
        assert_eq!(got, [7]);
        // An unpark only ever answers a park.
        assert!(f.unparks.load(Ordering::SeqCst) <= parks);
    });
}

/// Two foreign wakers push while the core parks and re-parks: both tasks arrive, and no
/// park is left without the unpark that ends it.
#[test]
fn loom_remote_two_pushers_racing_park_lose_nothing() {
    model(|| {
        let f = fixture::<u32>();
        let wakers: Vec<_> = [1, 2]
            .into_iter()
            .map(|v| {
                let remote = f.remote.clone();
                thread::spawn(move || remote.push(v))
            })
            .collect();

        let flag = AtomicBool::new(false);
        let mut got = VecDeque::new();
        while got.len() < 2 {
            if f.remote.prepare_park(&flag) {
                f.notify.wait();
                f.remote.unparked();
            }
            f.remote.drain_into(&mut got);
        }
        for w in wakers {
            w.join().unwrap();
        }
        let mut got: Vec<_> = got.into();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
}

/// `wake_flag` (the main future's waker) racing the park: the core always sees the flag.
#[test]
fn loom_remote_wake_flag_racing_park_never_loses_the_wake_up() {
    model(|| {
        let f = fixture::<u32>();
        let flag = Arc::new(AtomicBool::new(false));
        let (remote, w) = (f.remote.clone(), flag.clone());
        let waker = thread::spawn(move || remote.wake_flag(&w));

        while !flag.load(Ordering::Acquire) {
            if f.remote.prepare_park(&flag) {
                f.notify.wait();
                f.remote.unparked();
            }
        }
        waker.join().unwrap();
    });
}

/// A push racing `close` while the core is marked sleeping: after `close` has returned
/// nothing unparks, the unpark (the eventfd) is released, and a late item is dropped, not
/// queued.
#[test]
fn loom_remote_push_racing_close_never_wakes_after_close() {
    model(|| {
        let f = fixture::<Arc<()>>();
        // The core parked: a push would want to unpark it.
        assert!(f.remote.prepare_park(&AtomicBool::new(false)));
        let item = Arc::new(());
        let (remote, late) = (f.remote.clone(), item.clone());
        let waker = thread::spawn(move || remote.push(late));

        f.remote.close();
        f.close_returned.store(true, Ordering::SeqCst);
        assert!(f.released.load(Ordering::SeqCst), "close kept the unpark");
        assert!(f.remote.is_closed());

        waker.join().unwrap();
        let mut got = VecDeque::new();
        f.remote.drain_into(&mut got);
        assert!(got.is_empty());
        // Queued before the close or dropped by the push: either way, freed.
        assert_eq!(Arc::strong_count(&item), 1);
        assert!(f.unparks.load(Ordering::SeqCst) <= 1);
    });
}

/// Two messages through a channel of capacity 1: the receiver waits for the first, the
/// sender waits for room for the second, and the sender's drop ends the stream.
#[test]
fn loom_channel_send_recv_and_sender_close() {
    model(|| {
        let (tx, mut rx) = channel::<u32>(1);
        let sender = thread::spawn(move || {
            loom::future::block_on(async move {
                tx.send(1).await.unwrap();
                tx.send(2).await.unwrap();
            })
        });
        loom::future::block_on(async {
            assert_eq!(rx.recv().await, Some(1));
            assert_eq!(rx.recv().await, Some(2));
            assert_eq!(rx.recv().await, None);
        });
        sender.join().unwrap();
    });
}

/// Two senders on two threads compete for one slot: each one's waiting send is woken as
/// the receiver drains, and the stream ends when both are gone.
#[test]
fn loom_channel_two_blocked_senders_are_both_woken() {
    model(|| {
        let (tx, mut rx) = channel::<u32>(1);
        let senders: Vec<_> = [10, 20]
            .into_iter()
            .map(|v| {
                let tx = tx.clone();
                thread::spawn(move || loom::future::block_on(async move { tx.send(v).await }))
            })
            .collect();
        drop(tx);
        let mut got = loom::future::block_on(async {
            let mut got = Vec::new();
            while let Some(v) = rx.recv().await {
                got.push(v);
            }
            got
        });
        for s in senders {
            s.join().unwrap().unwrap();
        }
        got.sort_unstable();
        assert_eq!(got, [10, 20]);
    });
}

/// A full channel of four, a `send` waiting on another thread, and one receive: the send
/// must go without any further receive. (Waiting senders were woken only once the queue had
/// drained to half its capacity, so this model deadlocked: the receiver never takes a
/// second message before the sender's thread ends.)
#[test]
fn loom_channel_one_receive_lets_a_blocked_send_go() {
    model(|| {
        let (tx, mut rx) = channel::<u32>(4);
        for i in 0..4 {
            tx.try_send(i).unwrap();
        }
        let sender = thread::spawn(move || loom::future::block_on(async move { tx.send(4).await }));
        assert_eq!(loom::future::block_on(rx.recv()), Some(0));
        sender.join().unwrap().unwrap();
        let rest: Vec<u32> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert_eq!(rest, [1, 2, 3, 4]);
    });
}

/// The receiver dropped while a sender waits for room: the sender gets its value back.
#[test]
fn loom_channel_receiver_close_hands_a_blocked_sender_its_value() {
    model(|| {
        let (tx, rx) = channel::<u32>(1);
        tx.try_send(1).unwrap();
        let sender = thread::spawn(move || loom::future::block_on(async move { tx.send(2).await }));
        drop(rx);
        let err = sender.join().unwrap().unwrap_err();
        assert_eq!(err.0, 2);
    });
}

/// A `CancellationToken` cancelled from another thread while a task on this one starts to
/// wait: the wait always ends (the flag is read again after the waker is stored).
#[test]
fn loom_cancellation_token_cancel_racing_a_wait_is_never_missed() {
    model(|| {
        let token = crate::sync::CancellationToken::new();
        let t = token.clone();
        let canceller = thread::spawn(move || t.cancel());
        loom::future::block_on(token.cancelled());
        assert!(token.is_cancelled());
        canceller.join().unwrap();
    });
}

/// The stop signal of a worker core: a request from another thread always ends the wait.
#[test]
fn loom_worker_stop_request_is_never_missed() {
    model(|| {
        let stop = Arc::new(Stop::default());
        let s = stop.clone();
        let requester = thread::spawn(move || s.request());
        loom::future::block_on(stop.wait());
        requester.join().unwrap();
    });
}

/// The `submit_to` reply slot: the target core fills it while the caller polls it.
#[test]
fn loom_submit_reply_reaches_the_waiting_caller() {
    model(|| {
        let (completer, handle) = reply_slot::<u32>(CoreId::new(1));
        let target = thread::spawn(move || completer.complete(Ok(42)));
        let out = loom::future::block_on(handle);
        assert_eq!(out.unwrap(), 42);
        target.join().unwrap();
    });
}

/// A job dropped unrun on the target core (shutdown): the caller gets `Cancelled`.
#[test]
fn loom_submit_dropped_job_reports_cancelled() {
    model(|| {
        let (completer, handle) = reply_slot::<u32>(CoreId::new(1));
        let target = thread::spawn(move || drop(completer));
        let out = loom::future::block_on(handle);
        assert!(matches!(out, Err(SubmitError::Cancelled { .. })));
        target.join().unwrap();
    });
}

/// The readiness ring's pool handoff (src/driver/epoll/pool.rs): a cancel racing the job's
/// start on a pool thread, and the ring taking CQEs while threads post them. Each job
/// posts exactly one CQE, ECANCELED exactly when the cancel won the start, and the
/// `pending` count the ring reads without the lock ends at 0 with nothing lost.
#[test]
fn loom_epoll_pool_cancel_racing_start_posts_one_cqe_each() {
    use crate::driver::epoll::pool::{Completions, JobState};
    use crate::driver::ring::Cqe;

    model(|| {
        let completions = Arc::new(Completions::default());
        let cancelled_job = Arc::new(JobState::new());
        // A pool thread runs job 1, which the ring tries to cancel, posting its CQE.
        let racer = {
            let (completions, state) = (completions.clone(), cancelled_job.clone());
            thread::spawn(move || {
                let result = if state.start() { 10 } else { -libc::ECANCELED };
                completions.post(cqe(1, result));
            })
        };
        // Another runs job 2, which nobody cancels.
        let other = {
            let completions = completions.clone();
            thread::spawn(move || {
                let state = JobState::new();
                assert!(state.start());
                completions.post(cqe(2, 20));
            })
        };
        let skipped = cancelled_job.cancel();
        let mut got = Vec::new();
        completions.take(&mut got);
        racer.join().unwrap();
        other.join().unwrap();
        completions.take(&mut got);
        assert!(
            !completions.pending(),
            "pending left after every CQE was taken"
        );
        got.sort_by_key(|c| c.user_data);
        let results: Vec<(u64, i32)> = got.iter().map(|c| (c.user_data, c.result)).collect();
        let first = if skipped { -libc::ECANCELED } else { 10 };
        assert_eq!(results, vec![(1, first), (2, 20)]);
    });

    fn cqe(user_data: u64, result: i32) -> Cqe {
        Cqe {
            user_data,
            result,
            flags: 0,
            buf_offset: 0,
        }
    }
}
