//! Tasks: join, panic, abort, detach, yield.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::{JoinError, Runtime, time};

struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn a_panicking_task_yields_join_error_panic_and_the_core_keeps_running() {
    ringcore::block_on(async {
        let bad = ringcore::spawn(async {
            ringcore::yield_now().await;
            panic!("task exploded: {}", 42)
        });
        let good = ringcore::spawn(async { 7 });
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("task exploded: 42"));
        assert!(err.to_string().contains("task exploded: 42"));
        assert_eq!(good.await.unwrap(), 7);
        // Still running: timers and new tasks work.
        time::sleep(Duration::from_millis(1)).await;
        assert_eq!(ringcore::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn abort_cancels_and_drops_the_future() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = SetOnDrop(dropped.clone());
        let handle = ringcore::spawn(async move {
            let _guard = guard;
            time::sleep(Duration::from_secs(3600)).await;
        });
        ringcore::yield_now().await;
        assert!(!handle.is_finished());
        handle.abort();
        let err = handle.await.unwrap_err();
        assert!(matches!(err, JoinError::Cancelled(_)));
        assert!(dropped.get(), "the aborted task's future was dropped");
    });
}

#[test]
fn abort_before_the_first_poll() {
    ringcore::block_on(async {
        let polled = Rc::new(Cell::new(false));
        let p = polled.clone();
        let handle = ringcore::spawn(async move { p.set(true) });
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert!(!polled.get());
    });
}

#[test]
fn a_dropped_handle_detaches_the_task() {
    ringcore::block_on(async {
        let done = Rc::new(Cell::new(false));
        let d = done.clone();
        drop(ringcore::spawn(async move {
            time::sleep(Duration::from_millis(5)).await;
            d.set(true);
        }));
        time::sleep(Duration::from_millis(50)).await;
        assert!(done.get());
    });
}

#[test]
fn yield_now_lets_other_tasks_run() {
    ringcore::block_on(async {
        let log = Rc::new(std::cell::RefCell::new(Vec::new()));
        let tasks: Vec<_> = (0..3)
            .map(|id| {
                let log = log.clone();
                ringcore::spawn(async move {
                    for step in 0..3 {
                        log.borrow_mut().push((id, step));
                        ringcore::yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.borrow();
        // Round-robin: every task's step 0 comes before any task's step 1.
        let first_step1 = log.iter().position(|&(_, s)| s == 1).unwrap();
        assert_eq!(first_step1, 3, "{log:?}");
    });
}

#[test]
fn a_busy_task_does_not_starve_timers() {
    ringcore::block_on(async {
        let stop = Rc::new(Cell::new(false));
        let s = stop.clone();
        let spinner = ringcore::spawn(async move {
            let mut spins = 0u64;
            while !s.get() {
                spins += 1;
                ringcore::yield_now().await;
            }
            spins
        });
        time::sleep(Duration::from_millis(20)).await;
        stop.set(true);
        assert!(spinner.await.unwrap() > 0);
    });
}

#[test]
fn dropping_the_runtime_cancels_tasks() {
    let dropped = Rc::new(Cell::new(false));
    let rt = Runtime::new().unwrap();
    let guard = SetOnDrop(dropped.clone());
    let handle = rt.spawn(async move {
        let _g = guard;
        std::future::pending::<()>().await
    });
    rt.block_on(ringcore::yield_now());
    assert_eq!(rt.live_tasks(), 1);
    drop(rt);
    assert!(dropped.get(), "the task's future was dropped on shutdown");
    assert!(handle.is_finished());
}

#[test]
fn tasks_survive_between_block_on_calls() {
    let rt = Runtime::new().unwrap();
    let handle = rt.spawn(async { 5 });
    assert_eq!(rt.block_on(handle).unwrap(), 5);
    let h = rt.spawn(async {
        time::sleep(Duration::from_millis(1)).await;
        6
    });
    assert_eq!(rt.block_on(h).unwrap(), 6);
}

#[test]
#[should_panic(expected = "inside a ringcore runtime")]
fn spawn_outside_a_runtime_panics_with_a_clear_message() {
    drop(ringcore::spawn(async {}));
}

#[test]
fn abort_outside_block_on_drops_the_future_at_the_next_block_on() {
    let rt = Runtime::new().unwrap();
    let dropped = Rc::new(Cell::new(false));
    let guard = SetOnDrop(dropped.clone());
    let handle = rt.spawn(async move {
        let _g = guard;
        std::future::pending::<()>().await
    });
    rt.block_on(ringcore::yield_now());
    // No runtime is entered here: the handle finds its core's registry anyway.
    handle.abort();
    assert!(!dropped.get(), "dropped on its core's next run, not here");
    let err = rt.block_on(handle).unwrap_err();
    assert!(err.is_cancelled());
    assert!(dropped.get());
    assert_eq!(rt.live_tasks(), 0);
}

#[test]
fn abort_with_two_runtimes_on_one_thread_cancels_only_its_own_task() {
    let (a, b) = (Runtime::new().unwrap(), Runtime::new().unwrap());
    let ha = a.spawn(std::future::pending::<()>());
    let hb = b.spawn(std::future::pending::<()>());
    a.block_on(ringcore::yield_now());
    b.block_on(ringcore::yield_now());
    // Both tasks sit in the same registry slot of their own cores.
    b.block_on(async { ha.abort() });
    assert!(a.block_on(ha).unwrap_err().is_cancelled());
    assert_eq!(a.live_tasks(), 0);
    assert_eq!(b.live_tasks(), 1);
    assert!(!hb.is_finished());
}

struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("drop exploded");
    }
}

#[test]
fn a_panic_in_an_aborted_futures_drop_is_contained() {
    ringcore::block_on(async {
        let handle = ringcore::spawn(async {
            let _p = PanicOnDrop;
            std::future::pending::<()>().await
        });
        ringcore::yield_now().await;
        handle.abort();
        assert!(handle.await.unwrap_err().is_cancelled());
        assert_eq!(ringcore::spawn(async { 3 }).await.unwrap(), 3);
    });
}

#[test]
#[should_panic(expected = "JoinHandle polled after completion")]
fn polling_a_join_handle_after_completion_panics() {
    ringcore::block_on(async {
        let mut handle = ringcore::spawn(async { 1 });
        assert_eq!((&mut handle).await.unwrap(), 1);
        let _ = (&mut handle).await;
    });
}

#[test]
fn a_join_handle_is_one_pointer() {
    assert_eq!(
        std::mem::size_of::<ringcore::JoinHandle<u64>>(),
        std::mem::size_of::<usize>()
    );
}
