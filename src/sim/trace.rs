//! The simulation's event trace: every scheduling decision, clock jump, completion, crash
//! and restart, folded into a 64-bit hash (FNV-1a's offset basis and prime, applied to
//! each record's five 64-bit words rather than to its bytes: a fifth of the multiplies),
//! and, when asked, kept as text lines.
//! Two runs with one seed give the same hash; a different hash means the runs diverged.
//!
//! Only values that the seed determines go in: virtual nanoseconds, host indexes, queue
//! positions, opcodes and results. Never an fd number, a task id or a core id (those come
//! from process-wide counters and the kernel, and differ between runs in one process).

use std::time::Duration;

/// FNV-1a's 64-bit offset basis and prime (from the FNV specification).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What a trace record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A task ran: `a` its position among `b` ready tasks.
    Poll,
    /// The clock jumped to the record's time.
    Advance,
    /// An SQE was performed: `a` the opcode, `b` the result.
    Complete,
    /// An SQE was cancelled before it was performed: `a` the opcode.
    Cancelled,
    /// The host crashed (`a`: pages torn on its disk).
    Crash,
    /// The host (re)started its entry function (`a`: its incarnation).
    Start,
    /// The application drew from `sim::rng()`.
    Rng,
    /// A file op will stall (slow I/O): `a` the opcode, `b` the stall in nanoseconds.
    Stall,
    /// A directory was listed (`fs::read_dir`): `a` the entries, or `-errno`.
    List,
    /// A `spawn_blocking` job was given its virtual cost: `b` in nanoseconds.
    Blocking,
    /// On a host of several cores, the core whose task the next `Poll` ran (`a`: its
    /// index, seed-determined; never the process-wide core id).
    Core,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Poll => "poll",
            Kind::Advance => "advance",
            Kind::Complete => "complete",
            Kind::Cancelled => "cancelled",
            Kind::Crash => "crash",
            Kind::Start => "start",
            Kind::Rng => "rng",
            Kind::Stall => "stall",
            Kind::List => "list",
            Kind::Blocking => "blocking",
            Kind::Core => "core",
        }
    }
}

/// The running hash and, optionally, the text of every record.
#[derive(Debug)]
pub(crate) struct Trace {
    hash: u64,
    events: u64,
    log: Option<Vec<String>>,
}

impl Default for Trace {
    fn default() -> Self {
        Self {
            hash: FNV_OFFSET,
            events: 0,
            log: None,
        }
    }
}

impl Trace {
    /// Folds one record into the hash.
    pub(crate) fn record(&mut self, now: Duration, host: usize, kind: Kind, a: i64, b: i64) {
        let mut h = self.hash;
        for word in [
            now.as_nanos() as u64,
            host as u64,
            kind as u64,
            a as u64,
            b as u64,
        ] {
            h ^= word;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.hash = h;
        self.events += 1;
        if let Some(log) = &mut self.log {
            log.push(format!(
                "{:>12}ns host {host} {} {a} {b}",
                now.as_nanos(),
                kind.name()
            ));
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    pub(crate) fn events(&self) -> u64 {
        self.events
    }

    pub(crate) fn keep_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    pub(crate) fn log(&self) -> &[String] {
        self.log.as_deref().unwrap_or(&[])
    }
}
