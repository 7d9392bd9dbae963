//! `signal::ctrl_c` completes on SIGINT, read through a signalfd.

use std::time::Duration;

#[test]
fn ctrl_c_completes_on_sigint() {
    ringcore::block_on(async {
        let waiting = ringcore::signal::ctrl_c();
        // SAFETY: pthread_self has no preconditions.
        let me = unsafe { libc::pthread_self() } as usize;
        // Signal this thread (where SIGINT is now blocked) from another thread, after the
        // future has started waiting through the ring.
        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            // SAFETY: `me` is the live test thread, blocked in the runtime until the signal
            // arrives.
            unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGINT) };
        });
        let res = ringcore::time::timeout(Duration::from_secs(10), waiting).await;
        res.expect("SIGINT did not complete ctrl_c").unwrap();
        sender.join().unwrap();
    });
}
