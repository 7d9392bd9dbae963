//! What the server-process benches (echo, http) share: each server runs in its own
//! process pinned to one CPU, announces its address on stdout, and is charged the CPU time
//! the kernel accounts to it.

// Each bench uses some of these.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;

/// utime + stime of a process (all its threads), in seconds (10 ms ticks on most kernels).
pub(crate) fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the parenthesised command name start at field 3 (state).
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    ticks as f64 / hz
}

/// Pins the calling thread to the `cpu`-th CPU this process may use (wrapping around).
pub(crate) fn pin(cpu: usize) {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = ids.get(cpu % ids.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
}

/// Tells the parent where the server listens: one `ADDR host:port` line on stdout.
pub(crate) fn announce(addr: SocketAddr) {
    let mut stdout = std::io::stdout();
    writeln!(stdout, "ADDR {addr}").unwrap();
    stdout.flush().unwrap();
}

/// Raises this process's soft RLIMIT_NOFILE to its hard limit (thousands of sockets need
/// it); returns the new soft limit.
pub(crate) fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

/// A `kB` line of /proc/PID/status (`VmRSS`, `VmHWM`, ...), in bytes.
pub(crate) fn status_bytes(pid: u32, key: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}
