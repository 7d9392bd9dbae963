//! What `ringcore::fs` and `ringcore::offload` do without an SQE, on a simulated host: a
//! directory listing (io_uring has no getdents, so the real `read_dir` reads on the
//! blocking pool) and the virtual cost of a `spawn_blocking` job. Each function answers
//! `None` when no simulation runs on this thread: the caller then does the real thing.
//!
//! Both go through the seed as an SQE would: a listing waits one op's latency (with the
//! host's slow I/O) and may fail with EIO as a read does; a blocking job's cost is drawn
//! from the range [`Sim::blocking_cost`](super::Sim::blocking_cost) sets.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use io_uring::opcode;

use super::trace::Kind;
use super::world::with_current;

/// How long a listing of the current host's disk takes: one op's latency, plus a stall
/// with the disk's `slow` probability.
pub(crate) fn list_delay() -> Option<Duration> {
    with_current(|w| {
        let host = w.current_host;
        crate::driver::sim::disk_delay(w, host, opcode::Read::CODE, None)
    })
}

/// The entries of directory `path` on the current host's disk, by name: (name, is a
/// directory). Fails with `EIO` with the disk's `read_eio` probability, `NotFound` if
/// there is nothing at `path`, `NotADirectory` if it is a file.
pub(crate) fn list(path: &Path) -> Option<io::Result<Vec<(String, bool)>>> {
    with_current(|w| {
        let host = w.current_host;
        let p = w.hosts[host].disk.faults.read_eio;
        let res = if w.chance(p) {
            Err(-libc::EIO)
        } else {
            super::disk::normalise(path.as_os_str().as_bytes())
                .and_then(|path| w.hosts[host].disk.list(&path))
        };
        let traced = match &res {
            Ok(entries) => entries.len() as i64,
            Err(e) => i64::from(*e),
        };
        let now = w.now;
        w.trace.record(now, host, Kind::List, traced, 0);
        res.map_err(|e| io::Error::from_raw_os_error(-e))
    })
}

/// The virtual time a `spawn_blocking` job takes, drawn from the simulation's range.
pub(crate) fn blocking_cost() -> Option<Duration> {
    with_current(|w| {
        let range = w.blocking_cost;
        let cost = w.draw(range);
        let (now, host) = (w.now, w.current_host);
        w.trace
            .record(now, host, Kind::Blocking, 0, cost.as_nanos() as i64);
        cost
    })
}
