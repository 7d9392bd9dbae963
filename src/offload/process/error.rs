//! `PoolError`: why a `ProcessPool` call produced no result, and whose fault it was.

use std::io;
use std::process::ExitStatus;
use std::time::Duration;

/// Why a [`ProcessPool`](super::ProcessPool) call produced no result.
///
/// Variants say who is at fault: the job or its arguments (`UnknownJob`, `BadArguments`,
/// `BadResult`, `JobPanicked`; the worker survives), the worker (`WorkerCrashed`,
/// `Timeout`, `BadFrame`, `FrameTooLarge` from a worker; the worker is killed and a new
/// one started for the next call), or the pool itself (`Spawn`, `Io`, `Closed`,
/// `InvalidConfig`, `InWorker`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// No job of this name is registered in the worker's [`Jobs`](super::Jobs).
    #[error("no job named {job:?} is registered in the worker")]
    UnknownJob {
        /// The name that was called.
        job: String,
    },
    /// The arguments could not be encoded here or decoded by the job in the worker
    /// (the argument type does not match the job's).
    #[error("bad arguments for job {job:?}: {reason}")]
    BadArguments {
        /// The job.
        job: String,
        /// The serde error.
        reason: String,
    },
    /// The job's result could not be encoded by the worker or decoded here (the result
    /// type asked for does not match the job's, or it exceeds the frame limit).
    #[error("bad result from job {job:?}: {reason}")]
    BadResult {
        /// The job.
        job: String,
        /// The serde error, or the size that went over the limit.
        reason: String,
    },
    /// The job panicked in the worker; the worker caught it and lives on.
    #[error("job {job:?} panicked: {message}")]
    JobPanicked {
        /// The job.
        job: String,
        /// The panic message (`<non-string payload>` if it was not a string).
        message: String,
    },
    /// The worker running the job died (a crash, `abort`, a signal such as `kill -9`, or
    /// an exit) before it answered. Only this job fails; the worker is replaced.
    ///
    /// The job may have run (in part) if the worker had acknowledged it. A job that no
    /// worker acknowledged is retried once first, so this also means that two workers in
    /// a row failed to take it (both died or stopped reading); see the
    /// [module docs](super#worker-death-and-retries).
    #[error("worker {pid} running job {job:?} died: {status}")]
    WorkerCrashed {
        /// The job.
        job: String,
        /// The worker's process id.
        pid: u32,
        /// How it ended (exit code or signal, see `std::os::unix::process::ExitStatusExt`).
        status: ExitStatus,
    },
    /// The worker exited before it served a job because its program does not call
    /// [`init_worker`](super::init_worker) first in `main`: it built a ringcore runtime
    /// while started as a worker, and ringcore stopped it there so that it runs none of the
    /// parent's program. Fix: call `init_worker(&jobs)` first in `main`, or use
    /// `#[ringcore::main(jobs = jobs)]`, which does.
    #[error(
        "worker {pid} exited before serving job {job:?}: call init_worker(&jobs) first in \
         main (or use #[ringcore::main(jobs = jobs)]); the worker program built a runtime \
         without it"
    )]
    WorkerNotInitialized {
        /// The job.
        job: String,
        /// The worker's process id.
        pid: u32,
    },
    /// The job ran past its timeout; its worker was killed (SIGKILL) and reaped.
    #[error("job {job:?} timed out after {after:?}; its worker was killed")]
    Timeout {
        /// The job.
        job: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// A frame's declared length exceeds the pool's frame limit: a request too large to
    /// send, or a worker's (rogue) answer, in which case the worker is recycled.
    #[error("frame of {len} bytes exceeds the limit of {limit} bytes")]
    FrameTooLarge {
        /// Declared payload length in bytes.
        len: u64,
        /// The limit ([`ProcessPoolBuilder::max_frame`](super::ProcessPoolBuilder::max_frame)).
        limit: usize,
    },
    /// The worker sent a truncated, trailing or undecodable frame, or something other than
    /// the acknowledgement byte first; the worker is recycled.
    #[error("worker {pid} broke the protocol: {reason}")]
    BadFrame {
        /// The worker's process id.
        pid: u32,
        /// What was wrong.
        reason: String,
    },
    /// A worker process could not be started (the executable is missing, fork failed,
    /// too many processes or fds).
    #[error("cannot start a worker process: {0}")]
    Spawn(#[source] io::Error),
    /// Reading or writing the worker's socket failed for a reason other than its death.
    #[error("I/O error talking to a worker: {0}")]
    Io(#[source] io::Error),
    /// The pool was shut down ([`ProcessPool::shutdown`](super::ProcessPool::shutdown)).
    #[error("the process pool is shut down")]
    Closed,
    /// A builder option is out of range.
    #[error("invalid process pool configuration: {0}")]
    InvalidConfig(String),
    /// This process is itself a pool worker: building a pool here would start workers
    /// recursively. Call [`init_worker`](super::init_worker) first thing in `main`.
    #[error(
        "this process is a ringcore pool worker; call ringcore::offload::init_worker(&jobs) \
         at the top of main so it serves jobs instead of running main"
    )]
    InWorker,
}
