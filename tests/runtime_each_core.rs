//! The thread-per-core recipe: one job per core with state of its own
//! (`run_on_each_core`), stopped on every core by one `CancellationToken`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ringcore::net::{ListenOptions, TcpListener, TcpStream};
use ringcore::sync::CancellationToken;

#[test]
fn each_core_gets_its_own_state_and_runs_on_its_own_thread() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let (tx, rx) = ringcore::channel::channel::<u64>(4);
    let mut rx = Some(rx);
    // `make` owns `tx` and is dropped once every job has started, so the channel closes
    // when core 1's clone goes.
    let out = rt.run_on_each_core(move |core| {
        // Core 0 takes the receiver (not Clone, not Sync); core 1 a sender.
        let rx = if core.index() == 0 { rx.take() } else { None };
        let tx = tx.clone();
        move || async move {
            let thread = std::thread::current().id();
            let n = match rx {
                Some(mut rx) => {
                    drop(tx);
                    let mut n = 0;
                    while let Some(v) = rx.recv().await {
                        n += v;
                    }
                    n
                }
                None => {
                    for v in 0..100 {
                        tx.send(v).await.unwrap();
                    }
                    0
                }
            };
            (ringcore::current_core().index(), thread, n)
        }
    });
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].0, out[0].2), (0, 4950));
    assert_eq!((out[1].0, out[1].2), (1, 0));
    assert_ne!(out[0].1, out[1].1, "two cores, two threads");
}

#[test]
fn run_on_each_core_works_from_inside_the_runtime_and_resumes_a_panic() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let cores = ringcore::run_on_each_core(|core| move || async move { core.index() }).await;
        assert_eq!(cores, [0, 1]);
        // A panic on core 1 reaches the awaiting task once both cores are done.
        let h = ringcore::spawn(ringcore::run_on_each_core(|core| {
            move || async move {
                if core.index() == 1 {
                    panic!("core 1 job failed");
                }
                core.index()
            }
        }));
        let err = h.await.unwrap_err();
        assert!(err.is_panic());
        // Both cores keep running.
        let again = ringcore::run_on_each_core(|core| move || async move { core.index() }).await;
        assert_eq!(again, [0, 1]);
    });
}

/// The recipe of the README's "a server on N cores": a SO_REUSEPORT listener per core, a
/// counter per core summed on core 0, one token that stops every core.
#[test]
fn a_server_on_two_cores_stops_on_one_token_and_sums_its_counters() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let stop = CancellationToken::new();
    // Find a free port, then let every core bind it with SO_REUSEPORT.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let served = Arc::new(AtomicU64::new(0));
    let (stop2, served2) = (stop.clone(), served.clone());
    let per_core = rt.block_on(async move {
        let servers = ringcore::run_on_each_core(|_core| {
            let (stop, served) = (stop2.clone(), served2.clone());
            move || async move {
                let opts = ListenOptions::new().reuse_port(true);
                let listener = TcpListener::bind_with(addr, &opts).unwrap();
                let mut mine = 0u64;
                loop {
                    let accepted =
                        ringcore::future::select(listener.accept(), stop.cancelled()).await;
                    let ringcore::future::Either::Left(Ok((s, _))) = accepted else {
                        break;
                    };
                    let (res, buf) = s.read(Vec::with_capacity(16)).await;
                    res.unwrap();
                    s.write_all(buf).await.0.unwrap();
                    mine += 1;
                    served.fetch_add(1, Ordering::SeqCst);
                }
                mine
            }
        });
        // Clients: enough connections that the kernel spreads them over both listeners.
        for i in 0..40u8 {
            let c = loop {
                match TcpStream::connect(addr).await {
                    Ok(c) => break c,
                    Err(_) => ringcore::time::sleep(Duration::from_millis(2)).await,
                }
            };
            c.write_all(vec![i]).await.0.unwrap();
            let (res, buf) = c.read(Vec::with_capacity(16)).await;
            assert_eq!(res.unwrap(), 1);
            assert_eq!(buf, [i]);
        }
        stop.cancel();
        ringcore::time::timeout(Duration::from_secs(10), servers)
            .await
            .expect("a core did not stop on the token")
    });
    assert_eq!(per_core.iter().sum::<u64>(), 40);
    assert_eq!(served.load(Ordering::SeqCst), 40);
}

#[test]
fn a_token_cancelled_from_a_plain_thread_wakes_waiters_on_every_core() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let token = CancellationToken::new();
    let t = token.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        t.cancel();
        t.cancel(); // idempotent
    });
    let token2 = token.clone();
    let woke = rt.run_on_each_core(|_| {
        let token = token2.clone();
        move || async move {
            // Two waiters per core, one dropped early: the other still wakes.
            let dropped =
                ringcore::time::timeout(Duration::from_millis(1), token.cancelled()).await;
            assert!(dropped.is_err());
            token.clone().cancelled_owned().await;
            token.is_cancelled()
        }
    });
    canceller.join().unwrap();
    assert_eq!(woke, [true, true]);
    // Waiting on a cancelled token returns at once.
    ringcore::block_on(token.cancelled());
}
