//! Files and directories through the ring.
//!
//! [`File`] does positional, ownership-passing I/O (`read_at`, `write_at` and their
//! `_exact`/`_all` loops), `sync_all`/`sync_data`, `metadata`, `set_len` and an async
//! `close`. The free functions mirror `std::fs`: [`read`], [`read_to_string`], [`write()`],
//! [`copy`], [`metadata()`], [`symlink_metadata`], [`rename`], [`remove_file`],
//! [`create_dir`], [`create_dir_all`], [`remove_dir`], and [`read_dir`] (a directory
//! listing, on the blocking pool). [`Lines`] reads a file line by line.
//!
//! Errors keep their [`std::io::ErrorKind`] and name the path that failed (see
//! [`PathError`]).

mod copy;
mod file;
mod lines;
mod metadata;
mod nowait;
mod open_options;
mod path;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
mod poll_file;
mod read_dir;

use std::io;
use std::path::Path;

pub use copy::copy;
pub use file::File;
pub use lines::Lines;
pub use metadata::{FileType, Metadata};
pub use open_options::OpenOptions;
pub use path::PathError;
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
pub use poll_file::PollFile;
pub use read_dir::{DirEntry, ReadDir, read_dir};

use crate::buf::IoBuf;
use crate::driver::ops::fs::{Mkdir, Rename, Statx, Unlink};
use crate::runtime::context;
use path::{cstr, with_path};

/// Reads a whole file into a `Vec<u8>`.
///
/// # Errors
///
/// As [`File::open`] and [`File::read_at`]; the message names the path.
///
/// # Cancel safety
///
/// Dropping the future cancels the read in flight; nothing is lost but the data.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("f");
///     ringcore::fs::write(&path, vec![7u8; 100_000]).await?;
///     assert_eq!(ringcore::fs::read(&path).await?, vec![7u8; 100_000]);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let path = path.as_ref();
    let file = File::open(path).await?;
    let size = file
        .metadata()
        .await
        .map_err(|e| with_path(e, "read", path))?
        .len();
    let mut buf = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(64 * 1024);
        }
        let (len, total) = (buf.len(), buf.capacity());
        let (res, slice) = file.read_at(buf.slice(len..total), len as u64).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(with_path(e, "read", path)),
        }
    }
    file.close()
        .await
        .map_err(|e| with_path(e, "close", path))?;
    Ok(buf)
}

/// Reads a whole file into a `String`.
///
/// # Errors
///
/// As [`read`], and `InvalidData` if the contents are not UTF-8.
///
/// # Cancel safety
///
/// As [`read`].
pub async fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    let bytes = read(path).await?;
    String::from_utf8(bytes).map_err(|_| {
        with_path(
            io::Error::new(io::ErrorKind::InvalidData, "file is not valid UTF-8"),
            "read",
            path,
        )
    })
}

/// Writes `contents` as the whole of a file, creating or truncating it. `contents` is any
/// owned buffer (`Vec<u8>`, `String`, `&'static str`, ...), handed to the kernel without a
/// copy.
///
/// # Errors
///
/// As [`File::create`] and [`File::write_all_at`]; the message names the path.
///
/// # Cancel safety
///
/// Not cancel-safe: the file may be left truncated or partly written.
pub async fn write(path: impl AsRef<Path>, contents: impl IoBuf) -> io::Result<()> {
    let path = path.as_ref();
    let file = File::create(path).await?;
    let (res, _) = file.write_all_at(contents, 0).await;
    res.map_err(|e| with_path(e, "write", path))?;
    file.close().await.map_err(|e| with_path(e, "close", path))
}

/// Metadata of the file at `path`, following symlinks (IORING_OP_STATX).
///
/// # Errors
///
/// statx(2)'s errors (`NotFound`, `PermissionDenied`, `NotADirectory`), naming the path.
///
/// # Cancel safety
///
/// Cancel-safe.
pub async fn metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), true).await
}

/// Metadata of the file at `path`, not following a final symlink.
///
/// # Errors
///
/// As [`metadata()`].
///
/// # Cancel safety
///
/// Cancel-safe.
pub async fn symlink_metadata(path: impl AsRef<Path>) -> io::Result<Metadata> {
    stat(path.as_ref(), false).await
}

async fn stat(path: &Path, follow: bool) -> io::Result<Metadata> {
    let op = Statx::of_path(cstr("stat", path)?, follow);
    let stx = context::driver()
        .submit(op)
        .await
        .map_err(|e| with_path(e, "stat", path))?;
    Ok(Metadata::from_statx(&stx))
}

/// Renames `from` to `to`, replacing `to` if it exists (IORING_OP_RENAMEAT, rename(2)).
///
/// # Errors
///
/// rename(2)'s errors (`NotFound`, `CrossesDevices`, `IsADirectory`, ...), naming `from`.
///
/// # Cancel safety
///
/// Dropping the future leaves it unknown whether the rename happened (it is atomic).
pub async fn rename(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<()> {
    let (from, to) = (from.as_ref(), to.as_ref());
    let op = Rename {
        from: cstr("rename", from)?,
        to: cstr("rename", to)?,
    };
    context::driver()
        .submit(op)
        .await
        .map_err(|e| with_path(e, "rename", from))
}

/// Removes a file (IORING_OP_UNLINKAT, unlink(2)).
///
/// # Errors
///
/// `NotFound`, `IsADirectory` (use [`remove_dir`]), `PermissionDenied`, naming the path.
///
/// # Cancel safety
///
/// Dropping the future leaves it unknown whether the file was removed.
pub async fn remove_file(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), false, "remove_file").await
}

/// Removes an empty directory (IORING_OP_UNLINKAT with AT_REMOVEDIR, rmdir(2)).
///
/// # Errors
///
/// `NotFound`, `DirectoryNotEmpty`, `NotADirectory`, naming the path.
///
/// # Cancel safety
///
/// As [`remove_file`].
pub async fn remove_dir(path: impl AsRef<Path>) -> io::Result<()> {
    unlink(path.as_ref(), true, "remove_dir").await
}

async fn unlink(path: &Path, dir: bool, op_name: &'static str) -> io::Result<()> {
    let op = Unlink {
        path: cstr(op_name, path)?,
        dir,
    };
    context::driver()
        .submit(op)
        .await
        .map_err(|e| with_path(e, op_name, path))
}

/// Creates a directory with mode 0o777 before the umask (IORING_OP_MKDIRAT).
///
/// # Errors
///
/// `AlreadyExists`, `NotFound` (a missing parent), naming the path.
///
/// # Cancel safety
///
/// Dropping the future leaves it unknown whether the directory was created.
pub async fn create_dir(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    let op = Mkdir {
        path: cstr("create_dir", path)?,
        mode: 0o777,
    };
    context::driver()
        .submit(op)
        .await
        .map_err(|e| with_path(e, "create_dir", path))
}

/// Creates a directory and every missing parent; succeeds if it already exists as a
/// directory.
///
/// # Errors
///
/// `NotADirectory`/`AlreadyExists` if a component exists and is not a directory, or the
/// first mkdir error, naming the path.
///
/// # Cancel safety
///
/// Dropping the future may leave some parents created.
pub async fn create_dir_all(path: impl AsRef<Path>) -> io::Result<()> {
    let path = path.as_ref();
    // Walk up to the first ancestor that exists, then create downwards.
    let mut missing = Vec::new();
    let mut cur = Some(path);
    while let Some(p) = cur {
        if p.as_os_str().is_empty() {
            break;
        }
        match metadata(p).await {
            Ok(m) if m.is_dir() => break,
            Ok(_) => {
                let err = io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a directory",
                );
                return Err(with_path(err, "create_dir_all", p));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing.push(p);
                cur = p.parent();
            }
            Err(e) => return Err(e),
        }
    }
    for p in missing.into_iter().rev() {
        match create_dir(p).await {
            Ok(()) => {}
            // Created concurrently by someone else: fine if it is a directory.
            Err(e)
                if e.kind() == io::ErrorKind::AlreadyExists
                    && metadata(p).await.is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
