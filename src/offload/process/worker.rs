//! The worker side: the job registry and the serve loop a worker process runs.
//!
//! A worker is the program's own executable started again with [`WORKER_FD_ENV`] set to
//! the number of an inherited socket. [`init_worker`], called first thing in `main`,
//! notices the variable, serves requests on the socket with plain blocking I/O (a worker
//! runs one job at a time and needs no runtime), and exits when the pool closes the socket.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::protocol::{
    self, EncodeError, HEADER_LEN, MAX_FRAME_ENV, Reply, Request, Response, WORKER_FD_ENV,
};

/// Why a registered job produced no result (panics are caught separately).
enum JobFailure {
    BadArguments(String),
    BadResult(String),
}

type Handler = Box<dyn Fn(&[u8]) -> Result<Vec<u8>, JobFailure> + Send + Sync>;

/// The jobs a worker can run, by name: plain functions from one serde-deserialisable
/// argument (use a tuple for several) to a serde-serialisable result, both encoded with
/// postcard.
///
/// Build the same `Jobs` in every process (a function returning it is the usual way) and
/// pass it to [`init_worker`] at the top of `main`; the pool itself only needs the names.
///
/// # Examples
///
/// ```
/// use ringcore::offload::Jobs;
///
/// fn jobs() -> Jobs {
///     Jobs::new()
///         .register("add", |(a, b): (u64, u64)| a + b)
///         .register("upper", |s: String| s.to_uppercase())
/// }
/// assert_eq!(jobs().len(), 2);
/// ```
#[derive(Default)]
pub struct Jobs {
    handlers: HashMap<String, Handler>,
}

impl Jobs {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `f` under `name` (replacing any job of that name).
    ///
    /// The worker decodes the arguments as `A` (a mismatch is
    /// [`PoolError::BadArguments`](super::PoolError::BadArguments) for the caller), runs
    /// `f`, and encodes its result as `R`. A panic in `f` is caught and reported as
    /// [`PoolError::JobPanicked`](super::PoolError::JobPanicked).
    pub fn register<A, R, F>(mut self, name: &str, f: F) -> Self
    where
        A: DeserializeOwned,
        R: Serialize,
        F: Fn(A) -> R + Send + Sync + 'static,
    {
        let handler: Handler = Box::new(move |args: &[u8]| {
            let args: A =
                postcard::from_bytes(args).map_err(|e| JobFailure::BadArguments(e.to_string()))?;
            let out = f(args);
            postcard::to_allocvec(&out).map_err(|e| JobFailure::BadResult(e.to_string()))
        });
        self.handlers.insert(name.to_owned(), handler);
        self
    }

    /// Number of registered jobs.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// True if no job is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }

    /// Runs one request (its payload) and encodes the response frame.
    fn answer(&self, payload: &[u8], max_frame: usize) -> Vec<u8> {
        let req: Request<'_> = match postcard::from_bytes(payload) {
            Ok(r) => r,
            Err(e) => return encode_reply(0, Response::BadRequest(e.to_string()), max_frame),
        };
        let Some(handler) = self.handlers.get(req.job) else {
            return encode_reply(req.id, Response::UnknownJob, max_frame);
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| handler(req.args)));
        let result;
        let response = match outcome {
            Ok(Ok(bytes)) => {
                result = bytes;
                Response::Ok(&result)
            }
            Ok(Err(JobFailure::BadArguments(e))) => Response::BadArguments(e),
            Ok(Err(JobFailure::BadResult(e))) => Response::BadResult(e),
            Err(payload) => Response::Panicked(
                crate::executor::task::panic_message(&*payload)
                    .unwrap_or("<non-string payload>")
                    .to_owned(),
            ),
        };
        encode_reply(req.id, response, max_frame)
    }
}

/// Encodes a reply; one too large for the frame limit becomes a `BadResult` saying so.
fn encode_reply(id: u64, outcome: Response<'_>, max_frame: usize) -> Vec<u8> {
    let reason = match protocol::encode(&Reply { id, outcome }, max_frame) {
        Ok(frame) => return frame,
        Err(EncodeError::TooLarge(len)) => {
            format!("the result frame of {len} bytes exceeds the limit of {max_frame} bytes")
        }
        Err(EncodeError::Serde(e)) => e,
    };
    let outcome = Response::BadResult(reason);
    protocol::encode(&Reply { id, outcome }, max_frame).unwrap_or_else(|_| {
        // Only if even the reason does not fit (max_frame >= 64 makes that unlikely):
        // a BadResult with an empty reason always does.
        protocol::encode(
            &Reply {
                id,
                outcome: Response::BadResult(String::new()),
            },
            usize::MAX,
        )
        .unwrap_or_default()
    })
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.handlers.keys().collect();
        names.sort();
        f.debug_struct("Jobs").field("names", &names).finish()
    }
}

/// Makes this process serve `jobs` if it was started as a [`ProcessPool`](super::ProcessPool)
/// worker, and returns at once otherwise.
///
/// Call it first thing in `main` (before starting threads or a runtime). In a worker it
/// never returns: it serves requests one at a time until the pool closes the socket, then
/// exits the process with status 0 (status 70 if the socket misbehaves).
///
/// Integration-test binaries have libtest's `main`; there, call it from a dedicated
/// `#[test]` function and point the pool at it with
/// [`ProcessPoolBuilder::worker_args`](super::ProcessPoolBuilder::worker_args)
/// (`["--exact", "that_test", "--nocapture"]`); see the module docs.
///
/// # Panics
///
/// Never in the parent. In a worker, jobs' panics are caught and reported to the caller.
pub fn init_worker(jobs: &Jobs) {
    let Some(raw) = std::env::var_os(WORKER_FD_ENV) else {
        return;
    };
    SERVING.store(true, std::sync::atomic::Ordering::SeqCst);
    let code = match serve(jobs, raw.to_str().and_then(|s| s.parse().ok())) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ringcore pool worker {}: {e}", std::process::id());
            70
        }
    };
    std::process::exit(code);
}

/// Exit status of a worker whose program built a ringcore runtime before it called
/// [`init_worker`]: the parent reports it as [`PoolError::WorkerNotInitialized`](super::PoolError::WorkerNotInitialized).
pub(crate) const NOT_INITIALIZED_EXIT: i32 = 86;

/// Set by [`init_worker`] in a worker, before it serves: a runtime built after that (by a
/// job) is the job's own business.
static SERVING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Called by `Builder::build`: in a process started as a pool worker whose `main` built a
/// runtime without calling [`init_worker`] first, exits at once with
/// [`NOT_INITIALIZED_EXIT`], so the worker never runs the parent's program (its side
/// effects would happen twice) and the parent can say what is missing.
pub(crate) fn refuse_uninitialized_worker() {
    if is_worker() && !SERVING.load(std::sync::atomic::Ordering::SeqCst) {
        eprintln!(
            "ringcore pool worker {}: this program was started as a ProcessPool worker but \
             built a runtime without calling ringcore::offload::init_worker(&jobs) first in \
             main (or #[ringcore::main(jobs = ...)]); exiting before it runs anything else",
            std::process::id()
        );
        std::process::exit(NOT_INITIALIZED_EXIT);
    }
}

/// True if this process was started as a pool worker (the worker env var is set).
pub(crate) fn is_worker() -> bool {
    std::env::var_os(WORKER_FD_ENV).is_some()
}

fn serve(jobs: &Jobs, fd: Option<i32>) -> io::Result<()> {
    let fd = fd.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad worker fd"))?;
    let max_frame = std::env::var(MAX_FRAME_ENV)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(protocol::DEFAULT_MAX_FRAME);
    let mut sock = UnixStream::from(crate::sys::process::adopt_inherited(fd)?);
    let mut payload = Vec::new();
    loop {
        let mut prefix = [0u8; HEADER_LEN];
        match sock.read_exact(&mut prefix) {
            Ok(()) => {}
            // The pool closed the socket: a clean shutdown.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let len = protocol::payload_len(prefix, max_frame).map_err(|len| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("request frame of {len} bytes exceeds the limit of {max_frame}"),
            )
        })?;
        payload.clear();
        payload.resize(len, 0);
        sock.read_exact(&mut payload)?;
        // Before anything runs: the pool retries a job only if this byte never arrived.
        sock.write_all(&[protocol::ACK])?;
        let frame = jobs.answer(&payload, max_frame);
        sock.write_all(&frame)?;
    }
}
