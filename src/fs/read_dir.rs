//! `read_dir`: an async directory listing, read in batches on the blocking pool.
//!
//! io_uring has no getdents opcode (one was proposed for Linux 5.x and never merged, and
//! the io-uring crate has none), so the directory is opened and read with `std::fs` on
//! [`spawn_blocking`](crate::offload::spawn_blocking) threads, up to [`BATCH`] entries per
//! job, each entry's type taken from `d_type` on the same thread.
//!
//! States of a [`ReadDir`]:
//!
//! - `Idle { dir, entries }`: no job in flight; `entries` are handed out one by one, then a
//!   job is started with `dir` (`None` once the directory is exhausted or failed);
//! - `Reading(handle)`: a job owns the `std::fs::ReadDir` (and so the directory's fd) and
//!   gives it back with the next batch.
//!
//! Only the task that owns the `ReadDir` moves it between states. Dropping it in `Idle`
//! closes the fd at once; dropping it in `Reading` detaches the job, whose output (the
//! `std::fs::ReadDir`) is dropped, closing the fd, when the job ends.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::metadata::{FileType, Metadata};
use super::path::with_path;
use crate::JoinHandle;
use crate::offload::spawn_blocking;

/// Entries read per blocking job.
const BATCH: usize = 64;

/// Opens the directory at `path` for listing (`std::fs::read_dir` on the blocking pool;
/// asyncio has no counterpart, `os.scandir` in `run_in_executor` is the nearest).
///
/// Entries come out of [`ReadDir::next_entry`] or, as a [`Stream`], from
/// [`StreamExt::next`](crate::stream::StreamExt::next), in the order the file system gives
/// them (not sorted), without `.` and `..`.
///
/// In a deterministic simulation (feature `sim`) the listing is of the simulated host's
/// disk: its cached namespace (what a crash may undo until a sync commits it), sorted by
/// name, taken after one op's virtual latency; it may fail with an injected EIO.
///
/// # Errors
///
/// `NotFound`, `NotADirectory`, `PermissionDenied`, ... from opendir(3), naming the path;
/// `Other` if the runtime is shutting down and the blocking pool takes no more jobs.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// Cancel-safe: if the future is dropped while the directory is being opened, the job
/// closes it when it finishes; no fd is leaked.
///
/// # Examples
///
/// ```
/// use ringcore::stream::StreamExt;
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     ringcore::fs::write(dir.path().join("a.txt"), "a").await?;
///     ringcore::fs::create_dir(dir.path().join("sub")).await?;
///
///     let mut names = Vec::new();
///     let mut entries = ringcore::fs::read_dir(dir.path()).await?;
///     while let Some(entry) = entries.next_entry().await? {
///         let is_dir = entry.file_type() == ringcore::fs::FileType::Dir;
///         names.push((entry.file_name().into_string().unwrap(), is_dir));
///     }
///     names.sort();
///     assert_eq!(names, [("a.txt".to_string(), false), ("sub".to_string(), true)]);
///
///     // The same listing as a Stream of io::Result<DirEntry>.
///     let count = ringcore::fs::read_dir(dir.path()).await?.count().await;
///     assert_eq!(count, 2);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn read_dir(path: impl AsRef<Path>) -> io::Result<ReadDir> {
    let path = path.as_ref().to_owned();
    #[cfg(feature = "sim")]
    if crate::sim::is_simulated() {
        return simulated(path).await;
    }
    let opened = {
        let path = path.clone();
        spawn_blocking(move || std::fs::read_dir(path)).await
    };
    let dir = opened
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(|e| with_path(e, "read_dir", &path))?;
    Ok(ReadDir {
        path,
        state: State::Idle {
            dir: Some(dir),
            entries: VecDeque::new(),
        },
    })
}

/// [`read_dir`] on a simulated host (src/sim/fs.rs): the listing of its disk's cached
/// namespace, taken after one op's virtual latency, handed out from memory.
#[cfg(feature = "sim")]
async fn simulated(path: PathBuf) -> io::Result<ReadDir> {
    if let Some(delay) = crate::sim::fs::list_delay() {
        crate::time::sleep(delay).await;
    }
    let listed = crate::sim::fs::list(&path).unwrap_or_else(|| {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "ringcore::sim: the simulation is not reachable from here",
        ))
    });
    let entries = listed
        .map_err(|e| with_path(e, "read_dir", &path))?
        .into_iter()
        .map(|(name, dir)| {
            Ok(DirEntry {
                path: path.join(&name),
                file_name: name.into(),
                file_type: if dir { FileType::Dir } else { FileType::File },
            })
        })
        .collect();
    Ok(ReadDir {
        path,
        state: State::Idle { dir: None, entries },
    })
}

/// A directory being listed: see [`read_dir`]. Also a [`Stream`] of
/// `io::Result<DirEntry>`.
#[must_use = "a ReadDir lists nothing unless polled"]
pub struct ReadDir {
    path: PathBuf,
    state: State,
}

enum State {
    Idle {
        dir: Option<std::fs::ReadDir>,
        entries: VecDeque<io::Result<DirEntry>>,
    },
    Reading(JoinHandle<(std::fs::ReadDir, Batch)>),
}

/// One job's entries, and whether the directory has more.
struct Batch {
    entries: VecDeque<io::Result<DirEntry>>,
    more: bool,
}

/// Reads up to [`BATCH`] entries of `dir`; runs on a blocking thread.
fn read_batch(mut dir: std::fs::ReadDir) -> (std::fs::ReadDir, Batch) {
    let mut entries = VecDeque::with_capacity(BATCH);
    let mut more = true;
    while entries.len() < BATCH {
        match dir.next() {
            Some(Ok(entry)) => {
                let file_type = entry.file_type().map(|t| {
                    if t.is_symlink() {
                        FileType::Symlink
                    } else if t.is_dir() {
                        FileType::Dir
                    } else if t.is_file() {
                        FileType::File
                    } else {
                        FileType::Other
                    }
                });
                entries.push_back(file_type.map(|file_type| DirEntry {
                    path: entry.path(),
                    file_name: entry.file_name(),
                    file_type,
                }));
            }
            Some(Err(e)) => {
                // readdir(3) errors are not retried: stop after reporting it.
                entries.push_back(Err(e));
                more = false;
                break;
            }
            None => {
                more = false;
                break;
            }
        }
    }
    (dir, Batch { entries, more })
}

impl ReadDir {
    /// The next entry, or `None` once the directory has been listed.
    ///
    /// # Errors
    ///
    /// readdir(3)'s errors (e.g. `NotFound` if the directory was removed, `Other` for an
    /// I/O error), naming the directory; after an error the listing ends (`None`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a batch being read when the future is dropped stays with the
    /// `ReadDir`, and the next call returns its entries; no entry is lost.
    ///
    /// # Examples
    ///
    /// See [`read_dir`].
    pub async fn next_entry(&mut self) -> io::Result<Option<DirEntry>> {
        std::future::poll_fn(|cx| self.poll_next_entry(cx))
            .await
            .transpose()
    }

    /// Polls for the next entry: `Ready(None)` once the directory has been listed.
    pub fn poll_next_entry(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<DirEntry>>> {
        loop {
            match &mut self.state {
                State::Idle { dir, entries } => {
                    if let Some(entry) = entries.pop_front() {
                        return Poll::Ready(Some(
                            entry.map_err(|e| with_path(e, "read_dir", &self.path)),
                        ));
                    }
                    let Some(dir) = dir.take() else {
                        return Poll::Ready(None);
                    };
                    self.state = State::Reading(spawn_blocking(move || read_batch(dir)));
                }
                State::Reading(handle) => {
                    let (dir, batch) = match Pin::new(handle).poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(done)) => done,
                        Poll::Ready(Err(e)) => {
                            // The pool dropped the job (the runtime is shutting down): the
                            // listing ends with this error.
                            self.state = State::Idle {
                                dir: None,
                                entries: VecDeque::new(),
                            };
                            let err = io::Error::other(e.to_string());
                            return Poll::Ready(Some(Err(with_path(err, "read_dir", &self.path))));
                        }
                    };
                    self.state = State::Idle {
                        dir: batch.more.then_some(dir),
                        entries: batch.entries,
                    };
                }
            }
        }
    }

    /// The path this listing was opened with.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Stream for ReadDir {
    type Item = io::Result<DirEntry>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_entry(cx)
    }
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDir")
            .field("path", &self.path)
            .field("reading", &matches!(self.state, State::Reading(_)))
            .finish()
    }
}

/// One entry of a [`ReadDir`]: its name, full path and type, read together with the
/// listing (no further system call).
#[derive(Debug, Clone)]
pub struct DirEntry {
    path: PathBuf,
    file_name: OsString,
    file_type: FileType,
}

impl DirEntry {
    /// The directory's path joined with [`file_name`](Self::file_name).
    pub fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The entry's bare name (no directory part).
    pub fn file_name(&self) -> OsString {
        self.file_name.clone()
    }

    /// The entry's type as the listing reported it; a symlink is
    /// [`FileType::Symlink`] (not followed).
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The entry's metadata through the ring, following a symlink (as
    /// [`fs::metadata`](super::metadata())).
    ///
    /// # Errors
    ///
    /// As [`fs::metadata`](super::metadata()): `NotFound` if the entry was removed since the
    /// listing, naming its path.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    ///
    /// # Examples
    ///
    /// ```
    /// ringcore::block_on(async {
    ///     let dir = tempfile::tempdir()?;
    ///     ringcore::fs::write(dir.path().join("f"), vec![0u8; 10]).await?;
    ///     let mut entries = ringcore::fs::read_dir(dir.path()).await?;
    ///     let entry = entries.next_entry().await?.unwrap();
    ///     assert_eq!(entry.metadata().await?.len(), 10);
    ///     Ok::<_, std::io::Error>(())
    /// })
    /// .unwrap();
    /// ```
    pub async fn metadata(&self) -> io::Result<Metadata> {
        super::metadata(&self.path).await
    }
}
