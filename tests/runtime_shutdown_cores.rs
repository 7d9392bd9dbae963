//! Dropping a multi-core runtime with tasks blocked on channels, sockets and timers on
//! every core returns, and leaves no fd and no thread behind.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ringcore::channel::{Receiver, Sender, channel};
use ringcore::net::{TcpListener, TcpStream};
use ringcore::{CoreId, Runtime};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// What one core gets: a sender into a full channel and a receiver of an empty one (to
/// block on), and the other core's far ends (to hold without using them).
#[derive(Default)]
struct Ends {
    full_tx: Option<Sender<u64>>,
    empty_rx: Option<Receiver<u64>>,
    idle_rx: Option<Receiver<u64>>,
    idle_tx: Option<Sender<u64>>,
}

/// Starts tasks on this core that block forever: on an accept, on a read, on a timer, and
/// on the cross-core channels in `ends`.
async fn block_everything(core: CoreId, ends: Arc<Mutex<Vec<Ends>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    ringcore::spawn(async move {
        // Accepts the client, then waits on a second accept with the stream open.
        let (server_side, _) = listener.accept().await.unwrap();
        let _ = listener.accept().await;
        drop(server_side);
    });
    ringcore::spawn(async move {
        let (res, _buf) = client.read(Vec::with_capacity(64)).await;
        let _ = res;
    });
    ringcore::spawn(ringcore::time::sleep(Duration::from_secs(3600)));

    let mine = std::mem::take(&mut ends.lock().unwrap()[core.index()]);
    let (full_tx, mut empty_rx) = (mine.full_tx.unwrap(), mine.empty_rx.unwrap());
    let (idle_rx, idle_tx) = (mine.idle_rx.unwrap(), mine.idle_tx.unwrap());
    full_tx.try_send(0).unwrap();
    ringcore::spawn(async move {
        let _ = full_tx.send(1).await;
    });
    ringcore::spawn(async move {
        let _ = empty_rx.recv().await;
    });
    ringcore::spawn(async move {
        ringcore::time::sleep(Duration::from_secs(3600)).await;
        drop((idle_rx, idle_tx));
    });
    for _ in 0..10 {
        ringcore::yield_now().await;
    }
}

fn ends() -> Vec<Ends> {
    let (f0_tx, f0_rx) = channel::<u64>(1);
    let (f1_tx, f1_rx) = channel::<u64>(1);
    let (e0_tx, e0_rx) = channel::<u64>(1);
    let (e1_tx, e1_rx) = channel::<u64>(1);
    vec![
        Ends {
            full_tx: Some(f0_tx),
            empty_rx: Some(e0_rx),
            idle_rx: Some(f1_rx),
            idle_tx: Some(e1_tx),
        },
        Ends {
            full_tx: Some(f1_tx),
            empty_rx: Some(e1_rx),
            idle_rx: Some(f0_rx),
            idle_tx: Some(e0_tx),
        },
    ]
}

#[test]
fn a_runtime_with_blocked_tasks_on_every_core_shuts_down_without_leaking_fds_or_threads() {
    let _lock = support::fd_lock();
    // Warm up lazily created process-wide state before counting.
    drop(Runtime::builder().cores(2).build().unwrap());
    let fds_before = support::open_fds();
    let threads_before = threads();

    for _round in 0..3 {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let runner = std::thread::spawn(move || {
            let rt = Runtime::builder().cores(2).build().unwrap();
            let ends = Arc::new(Mutex::new(ends()));
            rt.run_on_all(move |core| block_everything(core, ends.clone()));
            assert_eq!(rt.live_tasks(), 6);
            drop(rt);
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("dropping the runtime hung");
        runner.join().unwrap();
    }

    // Threads are joined by the runtime's drop; the runner threads may need a moment to
    // leave /proc.
    let deadline = Instant::now() + Duration::from_secs(30);
    while threads() > threads_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(threads(), threads_before, "threads left behind");
    assert_eq!(support::open_fds(), fds_before, "fds left open");
}
