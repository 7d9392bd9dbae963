//! The seccomp test support (tests/support/seccomp.rs) does what it says: listed syscalls
//! fail with the errno asked for, the rest still work, in a re-executed child test or an
//! exec'd command.

mod support;

use std::process::Command;
use std::time::Duration;

use support::seccomp;

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

#[test]
fn a_denied_syscall_fails_with_the_chosen_errno_in_the_child_test() {
    let deny = [libc::SYS_getppid, libc::SYS_getuid];
    let limit = Duration::from_secs(20);
    let Some(run) = seccomp::run_in_child(
        "a_denied_syscall_fails_with_the_chosen_errno_in_the_child_test",
        &deny,
        libc::ENOSYS,
        limit,
    ) else {
        // SAFETY: raw syscalls without arguments.
        let (ppid, uid, pid) = unsafe {
            (
                libc::syscall(libc::SYS_getppid),
                libc::syscall(libc::SYS_getuid),
                libc::syscall(libc::SYS_getpid),
            )
        };
        assert_eq!(ppid, -1);
        assert_eq!(errno(), libc::ENOSYS);
        assert_eq!(uid, -1);
        assert_eq!(
            pid,
            i64::from(std::process::id()),
            "an allowed syscall failed"
        );
        println!("CHILD-OK");
        return;
    };
    assert!(run.status.success(), "{run}");
    assert!(run.stdout.contains("CHILD-OK"), "{run}");
    // Outside the child, the same syscall works.
    // SAFETY: getppid takes no arguments.
    assert!(unsafe { libc::getppid() } > 0);
}

#[test]
fn an_execd_command_runs_under_the_filter() {
    let mut cmd = Command::new("/bin/cat");
    cmd.arg("/proc/self/status")
        .stdout(std::process::Stdio::piped());
    let child = seccomp::deny_syscalls_and_exec(&[libc::SYS_getppid], libc::EPERM, &mut cmd)
        .expect("spawn cat");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let status = String::from_utf8_lossy(&out.stdout);
    // Mode 2 is SECCOMP_MODE_FILTER.
    assert!(
        status
            .lines()
            .any(|l| l.split_whitespace().eq(["Seccomp:", "2"])),
        "{status}"
    );
}
