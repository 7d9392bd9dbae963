//! A task that yields (or otherwise wakes itself) in a loop must not starve timers and I/O
//! completions on its core (hazard H24).
//!
//! Before the fix, a yielded task went to the back of the local queue and ran again inside
//! the same batch of up to `event_interval` (61) polls, before the driver and the timers
//! were looked at: a 200 µs sleep beside a task computing ~150 µs per yield ended ~9 ms
//! late. The tests count how often the yielding loop ran while a timer or a read was
//! pending, which does not depend on how loaded the machine is: with self-wakes deferred
//! to after the next driver poll it runs about once per tick (a handful of times in all),
//! where it ran a whole batch (61 times or more) before.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ringcore::net::{TcpListener, TcpStream};

/// How a busy task gives the core back.
#[derive(Clone, Copy, Debug)]
enum SelfWake {
    /// `ringcore::yield_now()`.
    YieldNow,
    /// A hand-written future that wakes its own waker by value and returns `Pending` once
    /// (as cooperative budgets and hyper do).
    WakeByValue,
}

/// Returns `Pending` once after waking its own waker by value.
struct WakeSelfOnce(bool);

impl Future for WakeSelfOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        // By value on purpose: the path under test (clippy 1.95's waker_clone_wake).
        #[allow(clippy::waker_clone_wake)]
        cx.waker().clone().wake();
        Poll::Pending
    }
}

/// Spawns a task that computes for `work` and gives the core back, until `stop` is set;
/// `rounds` counts its turns.
fn spawn_busy(how: SelfWake, work: Duration, rounds: Rc<Cell<u64>>, stop: Rc<Cell<bool>>) {
    ringcore::spawn(async move {
        while !stop.get() {
            let start = Instant::now();
            while start.elapsed() < work {
                std::hint::spin_loop();
            }
            rounds.set(rounds.get() + 1);
            match how {
                SelfWake::YieldNow => ringcore::yield_now().await,
                SelfWake::WakeByValue => WakeSelfOnce(false).await,
            }
        }
    });
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn timers_beside_a_busy_loop(how: SelfWake) {
    ringcore::block_on(async move {
        let rounds = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        spawn_busy(
            how,
            Duration::from_micros(150),
            rounds.clone(),
            stop.clone(),
        );
        ringcore::yield_now().await;
        let mut during = Vec::new();
        for _ in 0..20 {
            let before = rounds.get();
            ringcore::time::sleep(Duration::from_micros(200)).await;
            during.push(rounds.get() - before);
        }
        stop.set(true);
        let m = median(during.clone());
        // 200 µs of sleep is about two 150 µs turns; one more for the tick that fires the
        // timer and one for scheduling slack. A whole batch is 61.
        assert!(
            m <= 8,
            "{how:?}: the busy loop ran a median {m} times during a 200 us sleep \
             (each sleep: {during:?}); the timer waited for a batch of its turns"
        );
    });
}

#[test]
fn a_task_yielding_in_a_loop_does_not_starve_timers() {
    timers_beside_a_busy_loop(SelfWake::YieldNow);
}

#[test]
fn a_task_waking_itself_in_a_loop_does_not_starve_timers() {
    timers_beside_a_busy_loop(SelfWake::WakeByValue);
}

fn reads_beside_a_busy_loop(how: SelfWake) {
    ringcore::block_on(async move {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let connect = ringcore::spawn(async move { TcpStream::connect(addr).await });
        let (server, _) = listener.accept().await.unwrap();
        let client = connect.await.unwrap().unwrap();

        let rounds = Rc::new(Cell::new(0));
        let stop = Rc::new(Cell::new(false));
        spawn_busy(
            how,
            Duration::from_micros(150),
            rounds.clone(),
            stop.clone(),
        );
        ringcore::yield_now().await;
        let mut during = Vec::new();
        let mut buf = Vec::with_capacity(64);
        for i in 0..20u8 {
            let before = rounds.get();
            let (res, b) = client.write_all(vec![i]).await;
            res.unwrap();
            drop(b);
            let (res, b) = server.read(buf).await;
            assert_eq!(res.unwrap(), 1);
            assert_eq!(b[0], i);
            buf = b;
            buf.clear();
            during.push(rounds.get() - before);
        }
        stop.set(true);
        let m = median(during.clone());
        assert!(
            m <= 8,
            "{how:?}: the busy loop ran a median {m} times during a loopback write and read \
             (each round trip: {during:?}); the completion waited for a batch of its turns"
        );
    });
}

#[test]
fn a_task_yielding_in_a_loop_does_not_starve_socket_reads() {
    reads_beside_a_busy_loop(SelfWake::YieldNow);
}

#[test]
fn a_task_waking_itself_in_a_loop_does_not_starve_socket_reads() {
    reads_beside_a_busy_loop(SelfWake::WakeByValue);
}

#[test]
fn yielding_tasks_still_take_turns_with_each_other() {
    // Deferral must not change who runs: two yielding tasks alternate, and both finish.
    ringcore::block_on(async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut handles = Vec::new();
        for id in 0..2u8 {
            let log = log.clone();
            handles.push(ringcore::spawn(async move {
                for _ in 0..5 {
                    log.borrow_mut().push(id);
                    ringcore::yield_now().await;
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*log.borrow(), vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    });
}
