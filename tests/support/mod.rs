//! Helpers shared by the integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::Path;

pub mod seccomp;

/// Number of open file descriptors of this process (entries in /proc/self/fd).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` random bytes to `path` with std and returns them.
pub fn make_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let data = random_bytes(len, seed);
    std::fs::write(path, &data).unwrap();
    data
}

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit); returns the
/// soft limit in force afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit struct we own.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        if lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// Sets the soft RLIMIT_NOFILE to `soft`; returns the soft limit it replaced.
pub fn set_soft_nofile(soft: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the rlimit struct we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        let old = lim.rlim_cur;
        lim.rlim_cur = soft;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
        old
    }
}

/// CPU time used so far by the calling thread (`libc::CLOCK_THREAD_CPUTIME_ID`) or the
/// process (`libc::CLOCK_PROCESS_CPUTIME_ID`).
pub fn cpu_time(clock: libc::clockid_t) -> std::time::Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    let res = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(res, 0);
    std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU time used so far by the calling thread.
pub fn thread_cpu() -> std::time::Duration {
    cpu_time(libc::CLOCK_THREAD_CPUTIME_ID)
}

/// Bytes `seed, seed + 1, ...` (mod 251): a stream in which a lost, duplicated, reordered
/// or misdelivered chunk shows (give each connection its own seed).
pub fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i + seed) % 251) as u8).collect()
}

/// A child role (`child_role`) driven by lines: its stdin and stdout piped.
pub struct LineChild {
    child: std::process::Child,
    to: Option<std::process::ChildStdin>,
    from: std::io::BufReader<std::process::ChildStdout>,
}

impl LineChild {
    /// Starts this test binary's `role` with `env` set to `value`.
    pub fn spawn(role: &str, env: &str, value: &str) -> LineChild {
        use std::process::Stdio;
        let mut child = child_role(role, env, value)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let to = child.stdin.take();
        let from = std::io::BufReader::new(child.stdout.take().unwrap());
        LineChild { child, to, from }
    }

    /// Writes `line` and a newline to the child's stdin.
    pub fn send(&mut self, line: &str) {
        use std::io::Write;
        let to = self.to.as_mut().unwrap();
        writeln!(to, "{line}").unwrap();
        to.flush().unwrap();
    }

    /// Blocks (a core that calls it has nothing else to do then) until the child prints a
    /// line holding `word` (the test harness may print on the same line); panics if the
    /// child exits first.
    pub fn wait_for(&mut self, word: &str) {
        use std::io::BufRead;
        let mut line = String::new();
        while !line.contains(word) {
            line.clear();
            assert!(self.from.read_line(&mut line).unwrap() > 0, "client exited");
        }
    }

    /// Closes the child's stdin and waits for it; panics unless it exited successfully.
    pub fn finish(mut self) {
        drop(self.to.take());
        assert!(
            self.child.wait().unwrap().success(),
            "the client process failed"
        );
    }
}

/// This test binary re-executed to run only its test `role` (with `--nocapture`, one test
/// thread), with `env` set to `value`: the child-process half of a test. The role's test
/// function does nothing unless `env` is set.
pub fn child_role(role: &str, env: &str, value: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", role, "--nocapture", "--test-threads=1"])
        .env(env, value);
    cmd
}

/// Lets the runtime run a few ticks: woken tasks run up to their next wait, cancel requests
/// go out, late completions come in.
pub async fn settle() {
    for _ in 0..10 {
        ringcore::yield_now().await;
    }
    ringcore::time::sleep(std::time::Duration::from_millis(20)).await;
    for _ in 0..10 {
        ringcore::yield_now().await;
    }
}

/// A runtime of two cores (core 0 on the calling thread, core 1 on its own).
pub fn two_cores() -> ringcore::Runtime {
    ringcore::Runtime::builder()
        .cores(2)
        .build()
        .expect("2-core runtime")
}

/// Waits (up to 10 s, in 1 ms sleeps) until `rt`'s first core has no op in flight;
/// panics with the number left otherwise.
pub async fn wait_until_drained(rt: &ringcore::Runtime) {
    for _ in 0..10_000 {
        if rt.metrics().ops_in_flight == 0 {
            return;
        }
        ringcore::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("{} ops still in flight", rt.metrics().ops_in_flight);
}

/// Polls `fut` exactly once (so its SQE is queued) and hands it back unfinished, or its
/// output if it was ready at once.
pub async fn poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Result<F::Output, F> {
    use std::task::Poll;
    let ready = std::future::poll_fn(|cx| {
        Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            Poll::Ready(v) => Some(v),
            Poll::Pending => None,
        })
    })
    .await;
    ready.ok_or(fut)
}

/// Serialises the tests of one binary that count `/proc/self/fd` (the count is
/// process-wide, and the test harness runs tests on parallel threads).
pub fn fd_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Echoes every byte read from `stream` back to it through a `buf_size`-byte buffer until
/// the peer closes; returns the bytes echoed.
pub async fn echo(stream: ringcore::net::TcpStream, buf_size: usize) -> std::io::Result<u64> {
    let mut buf = Vec::with_capacity(buf_size);
    let mut total = 0;
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(total);
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
        total += n as u64;
    }
}

/// True (after printing why) when the suite runs with `RINGCORE_DRIVER=epoll`: tests about
/// io_uring itself (setup modes, ring sizes, enter counts, the kernel's own cancel paths)
/// return early there, and every other test runs on both drivers (`.ci/run` runs the suite
/// twice).
pub fn skip_on_epoll(why: &str) -> bool {
    let epoll = std::env::var("RINGCORE_DRIVER").is_ok_and(|v| v.eq_ignore_ascii_case("epoll"));
    if epoll {
        eprintln!("skipped on the epoll driver: {why}");
    }
    epoll
}
