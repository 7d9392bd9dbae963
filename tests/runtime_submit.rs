//! `submit_to` and `spawn_on`: work on another core, results and panics back here.

mod support;

use std::rc::Rc;

use ringcore::{CoreId, SubmitError};

#[test]
fn submit_to_runs_a_non_send_future_on_the_target_core() {
    let rt = support::two_cores();
    let (core, value) = rt.block_on(async {
        ringcore::submit_to(CoreId::new(1), || {
            let local = Rc::new(21u64); // not Send: lives on core 1 only
            async move {
                ringcore::yield_now().await;
                (ringcore::current_core(), *local * 2)
            }
        })
        .await
        .unwrap()
    });
    assert_eq!(core, CoreId::new(1));
    assert_eq!(value, 42);
}

#[test]
fn submit_to_with_a_panicking_closure_returns_an_error_and_both_cores_keep_working() {
    let rt = support::two_cores();
    rt.block_on(async {
        // The closure panics before building its future.
        let err = ringcore::submit_to(CoreId::new(1), || -> std::future::Ready<()> {
            panic!("closure boom")
        })
        .await
        .unwrap_err();
        assert!(err.is_panic(), "{err}");
        assert_eq!(err.panic_message(), Some("closure boom"));
        assert!(matches!(err, SubmitError::Panic { core, .. } if core == CoreId::new(1)));

        // The future panics after a suspension point.
        let err = ringcore::submit_to(CoreId::new(1), || async {
            ringcore::yield_now().await;
            panic!("future boom")
        })
        .await
        .unwrap_err();
        assert_eq!(err.panic_message(), Some("future boom"));

        // Both cores keep working, in both directions.
        let one = ringcore::submit_to(CoreId::new(1), || async {
            ringcore::submit_to(CoreId::new(0), || async { ringcore::current_core() })
                .await
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(one, CoreId::new(0));
        let zero = ringcore::spawn(async { ringcore::current_core() })
            .await
            .unwrap();
        assert_eq!(zero, CoreId::new(0));
    });
    assert_eq!(rt.run_on_all(|c| async move { c.index() }), vec![0, 1]);
}

#[test]
fn a_spawn_on_handle_can_be_awaited_from_another_core() {
    let rt = support::two_cores();
    let (awaited_on, result) = rt.block_on(async {
        // Started on core 0, awaited on core 1.
        let handle = ringcore::spawn_on(CoreId::new(0), || async {
            ringcore::yield_now().await;
            ringcore::current_core()
        });
        assert_eq!(handle.core(), CoreId::new(0));
        ringcore::submit_to(CoreId::new(1), move || async move {
            (ringcore::current_core(), handle.await.unwrap())
        })
        .await
        .unwrap()
    });
    assert_eq!(awaited_on, CoreId::new(1));
    assert_eq!(result, CoreId::new(0));
}

#[test]
fn submit_to_a_core_that_does_not_exist_is_an_error() {
    let rt = support::two_cores();
    let err = rt
        .block_on(ringcore::submit_to(CoreId::new(7), || async {}))
        .unwrap_err();
    assert!(
        matches!(err, SubmitError::NoSuchCore { core, cores: 2 } if core == CoreId::new(7)),
        "{err:?}"
    );
}

#[test]
fn many_jobs_from_one_core_start_in_order() {
    let rt = support::two_cores();
    let order = rt.block_on(async {
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let log = log.clone();
                ringcore::spawn_on(CoreId::new(1), move || {
                    log.lock().unwrap().push(i);
                    async {}
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        std::sync::Arc::try_unwrap(log)
            .unwrap()
            .into_inner()
            .unwrap()
    });
    assert_eq!(order, (0..1000).collect::<Vec<_>>());
}

#[test]
fn jobs_still_pending_when_the_runtime_drops_are_cancelled() {
    let rt = support::two_cores();
    let handle = rt.block_on(async {
        let h = ringcore::spawn_on(CoreId::new(1), std::future::pending::<()>);
        ringcore::yield_now().await;
        // Handed out of the runtime on purpose, to be awaited after it is gone.
        Some(h)
    });
    drop(rt);
    let err = ringcore::block_on(handle.unwrap()).unwrap_err();
    assert!(
        matches!(err, SubmitError::Cancelled { core } if core == CoreId::new(1)),
        "{err:?}"
    );
}
