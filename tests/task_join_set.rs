//! JoinSet / TaskGroup: completion order, fail fast, abort on drop, names.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::task::{GroupError, JoinSet};
use ringcore::time::sleep;

struct DropFlag(Rc<Cell<usize>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn join_next_yields_in_completion_order() {
    ringcore::block_on(async {
        let mut set = JoinSet::new();
        for ms in [30u64, 10, 20] {
            set.spawn(async move {
                sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 3);
        let mut got = Vec::new();
        while let Some(r) = set.join_next().await {
            got.push(r.unwrap());
        }
        assert_eq!(got, [10, 20, 30]);
        assert!(set.is_empty());
    });
}

#[test]
fn try_join_all_cancels_the_rest_on_first_error() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let mut group = JoinSet::new();
        for i in 0..5u32 {
            let flag = DropFlag(dropped.clone());
            group.spawn(async move {
                let _flag = flag;
                if i == 3 {
                    sleep(Duration::from_millis(5)).await;
                    return Err(format!("job {i}"));
                }
                sleep(Duration::from_secs(30)).await;
                Ok(i)
            });
        }
        match group.try_join_all().await {
            Err(GroupError::Task(e)) => assert_eq!(e, "job 3"),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(dropped.get(), 5);
        assert!(group.is_empty());
    });
}

#[test]
fn panics_surface_as_join_errors() {
    ringcore::block_on(async {
        let mut set = JoinSet::new();
        set.spawn(async { panic!("boom") });
        set.spawn(async { 1 });
        let all = set.join_all().await;
        assert_eq!(all.len(), 2);
        assert_eq!(all.iter().filter(|r| r.is_err()).count(), 1);
    });
}

#[test]
fn dropping_the_set_aborts_its_tasks() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(0));
        {
            let mut set = JoinSet::new();
            for _ in 0..3 {
                let flag = DropFlag(dropped.clone());
                set.spawn(async move {
                    let _flag = flag;
                    sleep(Duration::from_secs(30)).await;
                });
            }
            ringcore::yield_now().await;
        }
        for _ in 0..3 {
            ringcore::yield_now().await;
        }
        assert_eq!(dropped.get(), 3);
    });
}

#[test]
fn named_tasks_know_their_names() {
    ringcore::block_on(async {
        let a = ringcore::task::Builder::new()
            .name("alpha")
            .spawn(async { ringcore::debug::current_task().and_then(|t| t.name) });
        let b = ringcore::task::spawn_named("beta", async {
            ringcore::debug::current_task().and_then(|t| t.name)
        });
        let mut set = JoinSet::new();
        set.spawn_named("gamma", async {
            ringcore::debug::current_task().and_then(|t| t.name)
        });
        assert_eq!(a.await.unwrap().as_deref(), Some("alpha"));
        assert_eq!(b.await.unwrap().as_deref(), Some("beta"));
        assert_eq!(
            set.join_next().await.unwrap().unwrap().as_deref(),
            Some("gamma")
        );
        // block_on's own future is not a task.
        assert!(ringcore::debug::current_task().is_none());
    });
}
