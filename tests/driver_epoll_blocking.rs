//! Calls that may block for as long as another party pleases, on the readiness driver
//! (src/driver/epoll/): a Unix connect to a full backlog (docs/hazards.md, H27) and
//! opens of FIFOs with no peer, or any call stalled on every thread of the driver's
//! blocking pool (H28). Each test runs on the driver `RINGCORE_DRIVER` selects, so the
//! suite checks that both drivers give the same results (`.ci/run` runs it on both).

mod support;

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::fs::File;
use ringcore::net::{ListenOptions, UnixListener, UnixStream};
use ringcore::time::timeout;

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path that lives across the call.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

/// Opens `fifo` read-write (which never waits, on Linux): every open blocked on it for a
/// peer, in the kernel's io-wq or on a pool thread, finds one and returns.
fn release_fifo(fifo: &Path) -> std::fs::File {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(fifo)
        .unwrap()
}

/// The errno under `err` (the fs layer wraps it with the path).
fn os_error(err: &std::io::Error) -> Option<i32> {
    let mut e: &(dyn std::error::Error + 'static) = err;
    loop {
        if let Some(code) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|e| e.raw_os_error())
        {
            return Some(code);
        }
        e = match e.downcast_ref::<std::io::Error>().and_then(|e| e.get_ref()) {
            Some(inner) => inner,
            None => e.source()?,
        };
    }
}

fn is_nonblocking(file: &File) -> bool {
    // SAFETY: F_GETFL takes no pointer; the fd is open (`file` holds it).
    let flags = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETFL) };
    assert!(flags >= 0);
    flags & libc::O_NONBLOCK != 0
}

/// A 4 MiB file on disk whose pages are dropped from the page cache (as far as the kernel
/// agrees to), so reads of it miss the cache and go to the driver's blocking pool.
fn cold_file(dir: &Path) -> PathBuf {
    let path = dir.join("cold");
    support::make_file(&path, 4 << 20, 7);
    let f = std::fs::File::open(&path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: fadvise takes no pointer; the fd is open.
    unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    path
}

#[test]
fn a_unix_connect_to_a_full_backlog_completes_once_the_listener_accepts() {
    // Counted fds (the cancel test) are process-wide: one test at a time.
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    Runtime::new().unwrap().block_on(async {
        // Backlog 1: the kernel queues two connections; a third non-blocking connect(2)
        // gets EAGAIN, and the socket stays writable, so no readiness event comes.
        let listener = UnixListener::bind_with(&path, &ListenOptions::new().backlog(1)).unwrap();
        let connects: Vec<_> = (0..6u8)
            .map(|i| {
                let path = path.clone();
                ringcore::spawn(async move {
                    let stream = UnixStream::connect(&path).await?;
                    let (res, _) = stream.write_all(vec![i]).await;
                    res.map(|()| stream)
                })
            })
            .collect();
        // While nobody accepts, the waiting connects must not spin the core.
        let cpu = support::thread_cpu();
        ringcore::time::sleep(Duration::from_millis(100)).await;
        let spent = support::thread_cpu() - cpu;
        assert!(
            spent < Duration::from_millis(50),
            "the core spent {spent:?} of CPU in 100 ms waiting for the backlog"
        );

        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..6 {
            let (server, _) = timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("an accept waited 5 s: a connect never completed")
                .unwrap();
            let (res, buf) = server.read(Vec::with_capacity(1)).await;
            assert_eq!(res.unwrap(), 1);
            seen.push(buf[0]);
        }
        for (i, connect) in connects.into_iter().enumerate() {
            timeout(Duration::from_secs(5), connect)
                .await
                .unwrap_or_else(|_| panic!("connect {i} never completed"))
                .unwrap()
                .unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the connects took {:?} after the listener began to accept",
            start.elapsed()
        );
    });
}

#[test]
fn a_connect_waiting_for_a_full_backlog_is_cancelled_when_dropped() {
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    Runtime::new().unwrap().block_on(async {
        let listener = UnixListener::bind_with(&path, &ListenOptions::new().backlog(1)).unwrap();
        let queued = [
            UnixStream::connect(&path).await.unwrap(),
            UnixStream::connect(&path).await.unwrap(),
        ];
        let baseline = support::open_fds();
        for _ in 0..20 {
            let waited = timeout(Duration::from_millis(5), UnixStream::connect(&path)).await;
            assert!(waited.is_err(), "a connect to a full backlog completed");
        }
        support::settle().await;
        assert_eq!(
            support::open_fds(),
            baseline,
            "a dropped connect leaked its socket"
        );
        // The backlog drains and a new connect gets in.
        drop(listener.accept().await.unwrap());
        drop(queued);
        let late = timeout(Duration::from_secs(5), UnixStream::connect(&path)).await;
        late.expect("a connect after the backlog drained waited 5 s")
            .unwrap();
    });
}

#[test]
fn fifo_opens_with_no_writer_do_not_hold_up_regular_file_io() {
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let regular = dir.path().join("regular");
    let data = support::make_file(&regular, 4096, 1);
    Runtime::new().unwrap().block_on(async {
        let _release = ReleaseOnDrop(fifo.clone());
        // More opens than the driver's pool has threads (16 by default).
        let opens: Vec<_> = (0..20)
            .map(|_| ringcore::spawn(File::open(fifo.clone())))
            .collect();
        ringcore::yield_now().await;

        // A regular file's open and read on the same core are not held up meanwhile.
        let io = timeout(Duration::from_secs(2), async {
            let f = File::open(&regular).await.unwrap();
            let (res, buf) = f.read_at(Vec::with_capacity(4096), 0).await;
            assert_eq!(res.unwrap(), 4096);
            assert_eq!(buf, data);
        })
        .await;
        io.expect("a regular file's open and read waited behind FIFO opens");

        // As io_uring answers (it opens with O_NONBLOCK, then clears the flag): a FIFO
        // opened for reading with no writer is opened at once, in blocking mode.
        for (i, open) in opens.into_iter().enumerate() {
            let file = timeout(Duration::from_secs(2), open)
                .await
                .unwrap_or_else(|_| panic!("FIFO open {i} never returned"))
                .unwrap()
                .expect("a FIFO with no writer opens for reading");
            assert!(!is_nonblocking(&file), "the open left O_NONBLOCK set");
        }
        // Opened for writing with no reader: ENXIO, as open(2) with O_NONBLOCK says.
        let mut write_only = ringcore::fs::OpenOptions::new();
        write_only.write(true);
        let write = write_only.open(&fifo);
        let err = timeout(Duration::from_secs(2), write)
            .await
            .expect("a write-only FIFO open with no reader never returned")
            .expect_err("a write-only FIFO open with no reader succeeded");
        assert_eq!(os_error(&err), Some(libc::ENXIO), "{err}");
        // A caller's own O_NONBLOCK stays set.
        let file = ringcore::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .await
            .unwrap();
        assert!(is_nonblocking(&file));
        // An O_PATH open, whose file takes no F_SETFL, opens as ever.
        ringcore::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(&fifo)
            .await
            .expect("an O_PATH open of the FIFO");
    });
}

#[test]
fn stalled_calls_on_every_pool_thread_do_not_hold_up_cold_reads_and_opens() {
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let cold = cold_file(dir.path());
    let regular = dir.path().join("regular");
    let data = support::make_file(&regular, 4096, 2);
    let rt = Runtime::builder().blocking_threads(2).build().unwrap();
    rt.block_on(async {
        let _release = ReleaseOnDrop(fifo.clone());
        // A create of a FIFO that has no reader blocks in open(2) until one comes, on both
        // drivers (io_uring runs O_CREAT/O_TRUNC opens in its io-wq): a stand-in for a
        // call stalled on a dead NFS server. Four times the pool's threads of them.
        let stalled: Vec<_> = (0..8)
            .map(|_| ringcore::spawn(File::create(fifo.clone())))
            .collect();
        ringcore::time::sleep(Duration::from_millis(20)).await;

        // Many cold reads queued at once, then a regular file's open and read.
        let start = Instant::now();
        let file = std::rc::Rc::new(
            timeout(Duration::from_secs(3), File::open(&cold))
                .await
                .expect("an open waited behind stalled calls")
                .unwrap(),
        );
        let reads: Vec<_> = (0..32u64)
            .map(|i| {
                let file = file.clone();
                ringcore::spawn(async move {
                    let (res, _) = file
                        .read_at(Vec::with_capacity(64 << 10), i * (128 << 10))
                        .await;
                    res.unwrap()
                })
            })
            .collect();
        let io = timeout(Duration::from_secs(3), async {
            let f = File::open(&regular).await.unwrap();
            let (res, buf) = f.read_at(Vec::with_capacity(4096), 0).await;
            assert_eq!(res.unwrap(), 4096);
            assert_eq!(buf, data);
            for read in reads {
                assert_eq!(read.await.unwrap(), 64 << 10);
            }
        })
        .await;
        io.expect("regular file I/O waited behind calls stalled on every pool thread");
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "regular file I/O took {:?}",
            start.elapsed()
        );

        assert!(
            stalled.iter().all(|h| !h.is_finished()),
            "a create of a FIFO returned with no reader: nothing was stalled"
        );
        // The stalled creates end once a reader comes.
        let _peer = release_fifo(&fifo);
        for (i, create) in stalled.into_iter().enumerate() {
            timeout(Duration::from_secs(5), create)
                .await
                .unwrap_or_else(|_| panic!("create {i} never returned after a reader came"))
                .unwrap()
                .unwrap();
        }
    });
}

/// Opens the FIFO read-write when dropped in a panic (a failing test, whose future is
/// dropped before its runtime), so that no open stays blocked on it and the runtime's
/// drop does not wait for them.
struct ReleaseOnDrop(PathBuf);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // Keep the peer open until the process ends: blocked opens may still be
            // queued behind each other.
            std::mem::forget(release_fifo(&self.0));
        }
    }
}
