//! `ProcessPool`: CPU-bound jobs in worker processes (asyncio's
//! `loop.run_in_executor(ProcessPoolExecutor(), f, *args)`).
//!
//! # How workers start
//!
//! A worker is this program's own executable (`/proc/self/exe` unless
//! [`ProcessPoolBuilder::program`] says otherwise) started again, like Python's
//! multiprocessing "spawn" mode and the procspawn crate: never a bare `fork()` of a
//! multi-threaded process (docs/hazards.md, H13). The pool creates a Unix socket pair, starts the
//! child with `std::process::Command` with its end inherited and named in the
//! `RINGCORE_OFFLOAD_WORKER_FD` env var, and [`init_worker`], called first thing in `main`,
//! sees the variable, serves jobs on the socket and exits:
//!
//! ```no_run
//! use ringcore::offload::{Jobs, ProcessPool, init_worker};
//!
//! fn fib(n: u64) -> u64 { if n < 2 { n } else { fib(n - 1) + fib(n - 2) } }
//! fn jobs() -> Jobs { Jobs::new().register("fib", fib) }
//!
//! fn main() {
//!     init_worker(&jobs()); // in a worker: serves jobs, never returns
//!     let pool = ProcessPool::builder().workers(2).build().unwrap();
//!     let n: u64 = ringcore::block_on(pool.call("fib", &30u64)).unwrap();
//!     assert_eq!(n, 832_040);
//! }
//! ```
//!
//! A process that has the variable set refuses to build a pool ([`PoolError::InWorker`]),
//! so forgetting `init_worker` cannot fork-bomb.
//!
//! **Integration tests** run under libtest's `main`. Give the test binary a `#[test]`
//! function that calls `init_worker(&jobs())` (outside a worker it returns and the test
//! passes), and start workers with
//! `.worker_args(["--exact", "worker_entry", "--nocapture"])` so the re-executed test
//! binary runs only that function; `.inherit_stdout(false)` hides libtest's banner.
//!
//! # Calls
//!
//! [`ProcessPool::call`] encodes the arguments with postcard, waits for a worker (an idle
//! one, or a new one while fewer than [`ProcessPoolBuilder::workers`] exist; otherwise in
//! FIFO order), writes the request and reads the response through the calling core's ring,
//! and returns the worker to the pool. The pool handle is `Clone + Send + Sync`: any core
//! (any thread running a ringcore runtime) may call through it, many calls at once; each
//! worker runs one job at a time. Faults are typed ([`PoolError`]); a worker that crashed,
//! timed out or broke the protocol is killed, reaped and replaced on demand.
//!
//! The request goes out with send(2) and `MSG_NOSIGNAL`, so a worker that died or stopped
//! reading is an error for the call, never a SIGPIPE for the calling process (even one
//! that restored SIGPIPE's default action).
//!
//! # Worker death and retries
//!
//! Once a call has waited 20 ms, it also watches the worker's pid (a pidfd polled through
//! the ring; on kernels without pidfds, a `waitid` check every few ms, at most 50 ms
//! apart), not just its socket: a job that forks a child and exits leaves the socket open
//! in that child, and the death is still reported as [`PoolError::WorkerCrashed`] within
//! about 20 ms rather than when the grandchild exits.
//!
//! A worker acknowledges a request (one byte) as soon as it has read all of it, before it
//! decodes or runs it, and runs nothing if it cannot send that byte. A job **never
//! started** when its worker gave no acknowledgement: the send failed (the worker was gone
//! or had shut its read side), or the worker died before the byte arrived (e.g. it was
//! killed while idle, just before the call took it). Such a job is retried, once, on
//! another worker: a new one if the pool has room (the dead worker's slot is free), else
//! the next idle worker found alive. This is safe because a job runs only after its
//! acknowledgement was sent, and the pool never resends a request once that byte has
//! arrived: no job runs twice. A job whose worker dies after the acknowledgement may have
//! run (in part) and is reported, not retried.

mod error;
mod exchange;
mod protocol;
mod supervisor;
mod watch;
mod worker;

use std::ffi::OsString;
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::PoolError;
pub(crate) use worker::refuse_uninitialized_worker;
pub use worker::{Jobs, init_worker};

use exchange::{ExchangeError, round_trip};
use protocol::{EncodeError, Reply, Request, Response};
use supervisor::{Acquire, Checkout, Config, Shared};

use crate::driver::shared_fd::SharedFd;
use crate::runtime::context;

/// Configures a [`ProcessPool`]. No process starts before the first call.
#[derive(Debug, Clone)]
pub struct ProcessPoolBuilder {
    config: Config,
}

impl Default for ProcessPoolBuilder {
    fn default() -> Self {
        Self {
            config: Config {
                max_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
                timeout: None,
                max_frame: protocol::DEFAULT_MAX_FRAME,
                program: PathBuf::from("/proc/self/exe"),
                args: Vec::new(),
                envs: Vec::new(),
                inherit_stdout: true,
            },
        }
    }
}

impl ProcessPoolBuilder {
    /// The most worker processes (default: the number of CPUs). Workers start lazily, one
    /// per call that finds none idle, and are replaced when they die.
    pub fn workers(mut self, n: usize) -> Self {
        self.config.max_workers = n;
        self
    }

    /// Default time limit of each job, from sending the request to the end of the
    /// response (default: none). A job past it has its worker killed and gets
    /// [`PoolError::Timeout`]. [`ProcessPool::call_timeout`] overrides it per call.
    pub fn job_timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Largest frame payload in bytes, each way (default 16 MiB; 64 to `u32::MAX`).
    /// Bigger requests fail with [`PoolError::FrameTooLarge`]; bigger results with
    /// [`PoolError::BadResult`]; a worker announcing a bigger frame is recycled.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.config.max_frame = bytes;
        self
    }

    /// The executable workers run (default `/proc/self/exe`, this program). It must call
    /// [`init_worker`] with the same jobs.
    pub fn program(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.program = path.into();
        self
    }

    /// Command-line arguments of the workers (default none); for test binaries,
    /// `["--exact", "<worker test fn>", "--nocapture"]` (see the module docs).
    pub fn worker_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.config.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Adds an environment variable for the workers (they inherit the rest).
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.config.envs.push((key.into(), value.into()));
        self
    }

    /// Whether workers write to this process's stdout (default `true`); with `false` their
    /// stdout is /dev/null. Stderr is always inherited (panic messages show there).
    pub fn inherit_stdout(mut self, inherit: bool) -> Self {
        self.config.inherit_stdout = inherit;
        self
    }

    /// Builds the pool. No worker starts until the first call.
    ///
    /// # Errors
    ///
    /// [`PoolError::InvalidConfig`] for 0 workers or a frame limit outside `64..=u32::MAX`;
    /// [`PoolError::InWorker`] if this process is itself a pool worker.
    pub fn build(&self) -> Result<ProcessPool, PoolError> {
        if worker::is_worker() {
            return Err(PoolError::InWorker);
        }
        if self.config.max_workers == 0 {
            return Err(PoolError::InvalidConfig(
                "workers must be at least 1".into(),
            ));
        }
        if self.config.max_frame < 64 || u32::try_from(self.config.max_frame).is_err() {
            return Err(PoolError::InvalidConfig(format!(
                "max_frame must be in 64..=4294967295 bytes, got {}",
                self.config.max_frame
            )));
        }
        Ok(ProcessPool {
            shared: Arc::new(Shared::new(self.config.clone())),
        })
    }
}

/// A bounded pool of worker processes running registered [`Jobs`]; see the module docs.
///
/// Cloning gives another handle to the same pool. When the last handle and the last call
/// are gone, every worker is killed (SIGKILL) and reaped; [`shutdown`](Self::shutdown)
/// does it sooner.
#[derive(Clone)]
pub struct ProcessPool {
    shared: Arc<Shared>,
}

impl ProcessPool {
    /// A [`ProcessPoolBuilder`] with the defaults.
    pub fn builder() -> ProcessPoolBuilder {
        ProcessPoolBuilder::default()
    }

    /// Runs job `job` with `args` on a worker and returns its result, with the pool's
    /// default timeout ([`ProcessPoolBuilder::job_timeout`]).
    ///
    /// `A` and `R` must match the types the job was registered with (postcard is not
    /// self-describing: a mismatch is detected only when the bytes do not decode).
    ///
    /// # Errors
    ///
    /// See [`PoolError`]: the job's own failures (`UnknownJob`, `BadArguments`,
    /// `BadResult`, `JobPanicked`), the worker's (`WorkerCrashed`, `Timeout`, `BadFrame`,
    /// `FrameTooLarge`), and the pool's (`Spawn`, `Io`, `Closed`).
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future while it waits for a worker gives up its place in the queue.
    /// Dropping it once the job was sent kills the worker running it (SIGKILL, reaped at
    /// once) and frees its place for a replacement; the job's result is lost, and the job
    /// may or may not have run (in part). A job whose worker died before acknowledging it
    /// is retried once on another worker (see the module docs); it never runs twice.
    pub async fn call<A, R>(&self, job: &str, args: &A) -> Result<R, PoolError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.run(job, args, self.shared.config.timeout).await
    }

    /// As [`call`](Self::call), with a time limit of its own for this job.
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call); [`PoolError::Timeout`] once `timeout` passes.
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`call`](Self::call).
    pub async fn call_timeout<A, R>(
        &self,
        job: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<R, PoolError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.run(job, args, Some(timeout)).await
    }

    /// The pool's bound on worker processes.
    pub fn max_workers(&self) -> usize {
        self.shared.max_workers()
    }

    /// Process ids of the workers alive now (idle or busy), in start order.
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.worker_pids()
    }

    /// Stops the pool: idle workers are killed and reaped now, busy ones when their calls
    /// end; calls waiting for a worker and later calls fail with [`PoolError::Closed`].
    pub fn shutdown(&self) {
        self.shared.close();
    }

    async fn run<A, R>(
        &self,
        job: &str,
        args: &A,
        timeout: Option<Duration>,
    ) -> Result<R, PoolError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        #[cfg(feature = "sim")]
        crate::sim::refuse_real_io("a ProcessPool").map_err(PoolError::Spawn)?;
        let max_frame = self.shared.config.max_frame;
        let bad_args = |reason: String| PoolError::BadArguments {
            job: job.to_owned(),
            reason,
        };
        let args = postcard::to_allocvec(args).map_err(|e| bad_args(e.to_string()))?;
        let id = self.shared.next_request_id();
        let request = Request {
            id,
            job,
            args: &args,
        };
        let mut request = match protocol::encode(&request, max_frame) {
            Ok(frame) => frame,
            Err(EncodeError::TooLarge(len)) => {
                return Err(PoolError::FrameTooLarge {
                    len,
                    limit: max_frame,
                });
            }
            Err(EncodeError::Serde(e)) => return Err(bad_args(e)),
        };
        drop(args);
        let driver = context::driver();
        let mut retried = false;
        loop {
            // A retry prefers a new worker over an idle one (which may be dying too).
            let mut checkout = Acquire::new(self.shared.clone(), retried).await?;
            let Some(worker) = checkout.worker.as_mut() else {
                return Err(PoolError::Closed);
            };
            let pid = worker.pid();
            let Some(fd) = worker.fd.take() else {
                return Err(PoolError::Closed);
            };
            let pidfd = worker.pidfd.as_ref().map(|p| p.as_fd());
            let fd = SharedFd::new(fd);
            let exchange = watch::until_exit(
                round_trip(&driver, &fd, request, max_frame),
                watch::exited(&driver, pid, pidfd),
                &fd,
            );
            let (outcome, exited) = match timeout {
                None => exchange.await,
                Some(after) => match crate::time::timeout(after, exchange).await {
                    Ok(outcome) => outcome,
                    // Dropping `checkout` kills and reaps the worker.
                    Err(_) => {
                        return Err(PoolError::Timeout {
                            job: job.to_owned(),
                            after,
                        });
                    }
                },
            };
            let frame = match outcome {
                Ok(frame) => frame,
                Err(ExchangeError::NotStarted(req)) if !retried => {
                    // The worker never acknowledged the request, so the job never ran:
                    // it may run on another worker. Dropping `checkout` kills and reaps
                    // this one.
                    retried = true;
                    request = req;
                    drop(fd);
                    drop(checkout);
                    continue;
                }
                Err(ExchangeError::NotStarted(..) | ExchangeError::Closed) => {
                    drop(fd);
                    let status = crash_status(&mut checkout).await;
                    if status.code() == Some(worker::NOT_INITIALIZED_EXIT) {
                        return Err(PoolError::WorkerNotInitialized {
                            job: job.to_owned(),
                            pid,
                        });
                    }
                    return Err(PoolError::WorkerCrashed {
                        job: job.to_owned(),
                        pid,
                        status,
                    });
                }
                Err(ExchangeError::TooLarge(len)) => {
                    return Err(PoolError::FrameTooLarge {
                        len,
                        limit: max_frame,
                    });
                }
                Err(ExchangeError::Truncated { got, want }) => {
                    return Err(PoolError::BadFrame {
                        pid,
                        reason: format!("truncated frame: got {got} of {want} bytes"),
                    });
                }
                Err(ExchangeError::Trailing) => {
                    return Err(PoolError::BadFrame {
                        pid,
                        reason: "bytes after the response frame".into(),
                    });
                }
                Err(ExchangeError::BadAck(byte)) => {
                    return Err(PoolError::BadFrame {
                        pid,
                        reason: format!("expected the acknowledgement byte, got {byte:#04x}"),
                    });
                }
                Err(ExchangeError::Io(e)) => return Err(PoolError::Io(e)),
            };
            if exited {
                // The worker answered, then died: keep the answer, discard the worker.
                drop(fd);
                return decode(job, id, pid, &frame[protocol::ACK_LEN..]).and_then(|r| r);
            }
            return finish(job, id, pid, checkout, fd, &frame[protocol::ACK_LEN..]).await;
        }
    }
}

/// Decodes a response, puts the worker back (unless it broke the protocol), and maps the
/// outcome.
async fn finish<R: DeserializeOwned>(
    job: &str,
    id: u64,
    pid: u32,
    mut checkout: Checkout,
    fd: SharedFd,
    frame: &[u8],
) -> Result<R, PoolError> {
    // A protocol violation returns here, and dropping `checkout` discards the worker.
    let outcome = decode(job, id, pid, frame)?;
    // Every op on the fd has completed, so this resolves at once.
    let fd = fd.into_sole_owner().await;
    match (checkout.worker.as_mut(), fd) {
        (Some(worker), Some(fd)) => {
            worker.fd = Some(fd);
            worker.jobs_served += 1;
            checkout.release();
        }
        // Unreachable; the worker is discarded by dropping the checkout.
        _ => drop(checkout),
    }
    outcome
}

/// Decodes a response frame: `Err` if the worker broke the protocol, else the job's
/// outcome.
fn decode<R: DeserializeOwned>(
    job: &str,
    id: u64,
    pid: u32,
    frame: &[u8],
) -> Result<Result<R, PoolError>, PoolError> {
    let response = match postcard::from_bytes::<Reply<'_>>(&frame[protocol::HEADER_LEN..]) {
        Ok(Reply {
            outcome: Response::BadRequest(reason),
            ..
        }) => {
            return Err(PoolError::BadFrame {
                pid,
                reason: format!("the worker could not decode the request: {reason}"),
            });
        }
        Ok(reply) if reply.id == id => reply.outcome,
        Ok(reply) => {
            return Err(PoolError::BadFrame {
                pid,
                reason: format!("reply to request {}, expected {id}", reply.id),
            });
        }
        Err(e) => {
            return Err(PoolError::BadFrame {
                pid,
                reason: format!("undecodable response: {e}"),
            });
        }
    };
    let job = job.to_owned();
    Ok(match response {
        Response::Ok(bytes) => postcard::from_bytes(bytes).map_err(|e| PoolError::BadResult {
            job,
            reason: e.to_string(),
        }),
        Response::UnknownJob => Err(PoolError::UnknownJob { job }),
        Response::BadArguments(reason) => Err(PoolError::BadArguments { job, reason }),
        Response::BadResult(reason) => Err(PoolError::BadResult { job, reason }),
        Response::Panicked(message) => Err(PoolError::JobPanicked { job, message }),
        // Handled above.
        Response::BadRequest(reason) => Err(PoolError::BadFrame { pid, reason }),
    })
}

/// The exit status of a worker whose socket closed: waits up to ~200 ms (the socket closes
/// just before the process becomes a zombie; at once when its death was what ended the
/// exchange), then kills it.
async fn crash_status(checkout: &mut Checkout) -> ExitStatus {
    let Some(worker) = checkout.worker.as_mut() else {
        return ExitStatus::from_raw(libc::SIGKILL);
    };
    for _ in 0..200 {
        if let Some(status) = worker.try_status() {
            return status;
        }
        crate::time::sleep(Duration::from_millis(1)).await;
    }
    worker
        .kill_and_reap()
        .unwrap_or(ExitStatus::from_raw(libc::SIGKILL))
}

impl std::fmt::Debug for ProcessPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessPool")
            .field("max_workers", &self.max_workers())
            .field("worker_pids", &self.worker_pids())
            .finish()
    }
}
