//! Seccomp filters for tests: make chosen syscalls fail with a chosen errno, in a child
//! process, with libc only.
//!
//! The filter is a small classic-BPF program: it checks the architecture (x86_64 or
//! aarch64; any other architecture's syscall kills the process, since the numbers would
//! mean something else), then answers `SECCOMP_RET_ERRNO | errno` for each listed syscall
//! number and allows everything else. It is installed with `PR_SET_NO_NEW_PRIVS` (so no
//! privilege is needed) and `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC)`,
//! and, like every seccomp filter, can never be removed: it is meant for child processes.
//!
//! Two ways to use it:
//!
//! - [`deny_syscalls_and_exec`]: spawn a [`Command`] with the filter installed between
//!   fork and exec (the whole new program runs under it);
//! - [`run_in_child`]: run the calling test's own body in a child process under the
//!   filter, by re-executing this test binary with `--exact <test name>` and an env var
//!   (as the offload tests start workers). In the parent it returns the child's
//!   [`ChildRun`] (status, output, wall and CPU time); in the child it returns `None` and
//!   the test goes on to its body:
//!
//! ```ignore
//! #[test]
//! fn getppid_denied() {
//!     let deny = [libc::SYS_getppid];
//!     let limit = Duration::from_secs(10);
//!     let Some(run) = seccomp::run_in_child("getppid_denied", &deny, libc::EPERM, limit) else {
//!         // In the child, under the filter.
//!         assert_eq!(unsafe { libc::getppid() }, -1);
//!         return;
//!     };
//!     assert!(run.status.success(), "{run}");
//! }
//! ```
#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::io::{self, Read, Seek};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Env var naming the test a re-executed test binary should run as the child body.
pub const CHILD_ENV: &str = "RINGCORE_TEST_SECCOMP_CHILD";

/// `AUDIT_ARCH_*` of the architecture the tests are built for.
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E; // AUDIT_ARCH_X86_64
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7; // AUDIT_ARCH_AARCH64

// Classic BPF opcodes (linux/bpf_common.h).
/// BPF_LD (0x00) | BPF_W (0x00) | BPF_ABS (0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// BPF_JMP (0x05) | BPF_JEQ (0x10) | BPF_K (0x00).
const BPF_JEQ_K: u16 = 0x15;
/// BPF_RET (0x06) | BPF_K (0x00).
const BPF_RET_K: u16 = 0x06;
/// Offsets in `struct seccomp_data`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
const SECCOMP_FILTER_FLAG_TSYNC: libc::c_ulong = 1;

/// A seccomp program that makes some syscalls fail with one errno.
#[derive(Clone)]
pub struct Filter {
    prog: Vec<libc::sock_filter>,
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

impl Filter {
    /// A filter under which each of `syscalls` (numbers, e.g. `libc::SYS_getppid`) returns
    /// -1 with `errno` (e.g. `libc::EPERM`, `libc::ENOSYS`) without running.
    ///
    /// # Panics
    ///
    /// If `errno` is not in 1..=4095 or a number is negative.
    pub fn deny(syscalls: &[i64], errno: i32) -> Self {
        assert!((1..=4095).contains(&errno), "errno {errno} out of range");
        let mut prog = vec![
            stmt(BPF_LD_W_ABS, ARCH_OFFSET),
            jeq(AUDIT_ARCH, 1, 0),
            stmt(BPF_RET_K, libc::SECCOMP_RET_KILL_PROCESS),
            stmt(BPF_LD_W_ABS, NR_OFFSET),
        ];
        for &nr in syscalls {
            let nr = u32::try_from(nr).expect("syscall numbers are not negative");
            prog.push(jeq(nr, 0, 1));
            prog.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ERRNO | errno as u32));
        }
        prog.push(stmt(BPF_RET_K, libc::SECCOMP_RET_ALLOW));
        Self { prog }
    }

    /// Installs the filter on every thread of the calling process, for good (children
    /// inherit it). Makes only raw syscalls and allocates nothing, so it may run between
    /// fork and exec.
    ///
    /// # Errors
    ///
    /// The errno of prctl(2) or seccomp(2) (e.g. `EINVAL` on a kernel without seccomp).
    pub fn install(&self) -> io::Result<()> {
        // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes no pointers.
        if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let fprog = libc::sock_fprog {
            len: self.prog.len() as u16,
            filter: self.prog.as_ptr().cast_mut(),
        };
        // SAFETY: the program and its header live across the call; the kernel copies them.
        let res = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                SECCOMP_FILTER_FLAG_TSYNC,
                &fprog as *const libc::sock_fprog,
            )
        };
        match res {
            0 => Ok(()),
            r if r < 0 => Err(io::Error::last_os_error()),
            // TSYNC: a thread that could not be synchronised (has a conflicting filter).
            tid => Err(io::Error::other(format!("thread {tid} refused the filter"))),
        }
    }
}

/// Spawns `cmd` with `syscalls` made to fail with `errno` in the new process (the filter is
/// installed after fork, before exec). An empty list installs no filter.
///
/// # Errors
///
/// Spawning errors, including the filter's installation failing in the child.
pub fn deny_syscalls_and_exec(
    syscalls: &[i64],
    errno: i32,
    cmd: &mut Command,
) -> io::Result<Child> {
    if !syscalls.is_empty() {
        let filter = Filter::deny(syscalls, errno);
        // SAFETY: the hook runs in the child between fork and exec; `install` makes only
        // the prctl and seccomp syscalls (async-signal-safe) on memory built beforehand.
        unsafe { cmd.pre_exec(move || filter.install()) };
    }
    cmd.spawn()
}

/// How a child test process ended.
#[derive(Debug)]
pub struct ChildRun {
    /// Its exit status (a SIGKILL if it ran past its limit).
    pub status: ExitStatus,
    /// True if it ran past its limit and was killed.
    pub timed_out: bool,
    /// Wall time from spawn to exit.
    pub wall: Duration,
    /// User + system CPU time it used (from wait4's rusage).
    pub cpu: Duration,
    /// What it wrote to stdout.
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
}

impl fmt::Display for ChildRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "child {:?}{} after {:?} wall, {:?} CPU\n--- stdout\n{}\n--- stderr\n{}",
            self.status,
            if self.timed_out {
                " (killed: past its limit)"
            } else {
                ""
            },
            self.wall,
            self.cpu,
            self.stdout,
            self.stderr
        )
    }
}

/// True in a child started by [`run_in_child`] for test `test`.
pub fn in_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|t| t == test)
}

/// Runs test `test` (its libtest name: `name` for a test at the top of the file,
/// `module::name` inside a module) of this test binary in a child process whose
/// `syscalls` fail with `errno` (an empty list: no filter), and waits for it, killing it
/// after `limit`. Returns the child's outcome in the parent and `None` in the child, where
/// the test should then run its body (see the module docs).
///
/// # Panics
///
/// In the parent, if the child cannot be started or waited for.
pub fn run_in_child(test: &str, syscalls: &[i64], errno: i32, limit: Duration) -> Option<ChildRun> {
    if in_child(test) {
        return None;
    }
    let mut out = tempfile::tempfile().expect("temp file");
    let mut err = tempfile::tempfile().expect("temp file");
    let mut cmd = Command::new(std::env::current_exe().expect("current_exe"));
    // `--include-ignored`: the parent runs, so the child must too, ignored or not.
    let args = [
        "--exact",
        test,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ];
    cmd.args(args)
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"));
    let start = Instant::now();
    // Reaped by the wait4 below, which also gives its rusage.
    #[allow(clippy::zombie_processes)]
    let child = deny_syscalls_and_exec(syscalls, errno, &mut cmd).expect("spawn the child test");
    let pid = child.id() as libc::pid_t;
    let mut timed_out = false;
    let (status, usage) = loop {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 writes the status and usage we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let flags = if timed_out { 0 } else { libc::WNOHANG };
        // SAFETY: as above; `pid` is our unreaped child (std's `Child` never waits here).
        let r = unsafe { libc::wait4(pid, &mut status, flags, &mut usage) };
        assert!(r >= 0, "wait4: {}", io::Error::last_os_error());
        if r == pid {
            break (ExitStatus::from_raw(status), usage);
        }
        if start.elapsed() > limit {
            timed_out = true;
            // SAFETY: kill(2) takes no pointers; `pid` is unreaped, so still ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    let wall = start.elapsed();
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    let read_all = |f: &mut std::fs::File| {
        let mut s = String::new();
        f.rewind().expect("rewind");
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).expect("read output");
        s.push_str(&String::from_utf8_lossy(&bytes));
        s
    };
    Some(ChildRun {
        status,
        timed_out,
        wall,
        cpu,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    })
}
