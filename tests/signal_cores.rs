//! Signals with several cores: worker cores block SIGINT/SIGTERM from the start, and a
//! signal can be awaited on any core.

use std::time::Duration;

use ringcore::channel::channel;
use ringcore::signal::SignalKind;
use ringcore::{CoreId, Runtime};

/// Is `signo` blocked in the calling thread?
fn blocked(signo: i32) -> bool {
    // SAFETY: sigset_t is plain data; pthread_sigmask with a null new set only reads the
    // current mask into `set`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut set),
            0
        );
        libc::sigismember(&set, signo) == 1
    }
}

#[test]
fn worker_cores_block_sigint_and_sigterm_and_a_worker_core_can_await_sigterm() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let masks = rt.run_on_all(|_| async { (blocked(libc::SIGINT), blocked(libc::SIGTERM)) });
    assert_eq!(masks[1], (true, true), "core 1 blocks both from the start");

    let got = rt.block_on(async {
        let (tid_tx, mut tid_rx) = channel::<usize>(1);
        let waiter = ringcore::spawn_on(CoreId::new(1), move || {
            let wait = ringcore::signal::ctrl_c_or_terminate();
            async move {
                // SAFETY: pthread_self has no preconditions.
                let me = unsafe { libc::pthread_self() } as usize;
                tid_tx.send(me).await.unwrap();
                wait.await
            }
        });
        let tid = tid_rx.recv().await.unwrap();
        ringcore::time::sleep(Duration::from_millis(50)).await;
        // SAFETY: `tid` is core 1's live thread, which blocks SIGTERM: the signal stays
        // pending for its signalfd.
        unsafe { libc::pthread_kill(tid as libc::pthread_t, libc::SIGTERM) };
        ringcore::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("SIGTERM did not complete the wait on core 1")
            .unwrap()
            .unwrap()
    });
    assert_eq!(got, SignalKind::Terminate);
    // Waiting on core 1 also blocked the signals on core 0's thread (this one), so a
    // process-directed signal cannot kill the process through it.
    assert!(blocked(libc::SIGINT) && blocked(libc::SIGTERM));
}
