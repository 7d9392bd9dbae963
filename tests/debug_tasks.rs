//! current_task, all_tasks (live only), metrics from inside the runtime.

use std::time::Duration;

use ringcore::debug::{TaskState, all_tasks, current_task};

#[test]
fn all_tasks_lists_live_tasks_and_not_finished_ones() {
    let rt = ringcore::Runtime::builder().debug(true).build().unwrap();
    rt.block_on(async {
        let done = ringcore::task::spawn_named("done", async {});
        done.await.unwrap();
        let sleeper = ringcore::task::spawn_named("sleeper", async {
            ringcore::time::sleep(Duration::from_secs(60)).await;
        });
        let fresh = ringcore::task::spawn_named("fresh", async {});
        let tasks = all_tasks();
        let names: Vec<_> = tasks.iter().filter_map(|t| t.name.clone()).collect();
        assert!(names.contains(&"sleeper".to_string()));
        assert!(names.contains(&"fresh".to_string()));
        assert!(!names.contains(&"done".to_string()));
        let s = tasks
            .iter()
            .find(|t| t.name.as_deref() == Some("sleeper"))
            .unwrap();
        assert_eq!(s.id, sleeper.id());
        assert!(s.location.file().ends_with("debug_tasks.rs"));
        ringcore::time::sleep(Duration::from_millis(5)).await;
        let s = all_tasks()
            .into_iter()
            .find(|t| t.name.as_deref() == Some("sleeper"))
            .unwrap();
        assert_eq!(s.state, TaskState::Idle);
        assert!(s.since_last_poll.unwrap() >= Duration::from_millis(5));
        sleeper.abort();
        let _ = sleeper.await;
        fresh.await.unwrap();
        assert!(all_tasks().is_empty());
    });
}

#[test]
fn current_task_reports_running_state_and_metrics_are_readable() {
    ringcore::block_on(async {
        let info = ringcore::spawn(async { current_task().unwrap() })
            .await
            .unwrap();
        assert_eq!(info.state, TaskState::Running);
        assert!(info.name.is_none());
        ringcore::time::sleep(Duration::from_millis(5)).await;
        let m = ringcore::debug::metrics().unwrap();
        assert!(m.tasks_spawned >= 1 && m.tasks_polled >= 1);
        assert!(m.parks >= 1);
        assert!(m.time_parked >= Duration::from_millis(1));
    });
    assert!(current_task().is_none());
    assert!(ringcore::debug::metrics().is_none());
}

#[test]
fn all_tasks_reports_not_started_and_cancelling_states() {
    ringcore::block_on(async {
        let fresh = ringcore::task::spawn_named("fresh", std::future::pending::<()>());
        let state = |name: &str| {
            all_tasks()
                .into_iter()
                .find(|t| t.name.as_deref() == Some(name))
                .map(|t| t.state)
        };
        assert_eq!(state("fresh"), Some(TaskState::NotStarted));
        ringcore::yield_now().await;
        assert_eq!(state("fresh"), Some(TaskState::Idle));
        fresh.abort();
        assert_eq!(state("fresh"), Some(TaskState::Cancelling));
        assert!(fresh.await.unwrap_err().is_cancelled());
        assert_eq!(state("fresh"), None);
    });
}
