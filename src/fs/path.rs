//! `PathError`: the operation and path behind a failed path-taking fs call, kept inside the
//! returned `io::Error`.

use std::error::Error;
use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The error inside an [`io::Error`] returned by a path-taking fs call: which operation
/// failed on which path, and why. The outer `io::Error` keeps the cause's
/// [`io::ErrorKind`] (a missing file is `NotFound`), so matching on `kind()` still works.
///
/// ```
/// ringcore::block_on(async {
///     let err = ringcore::fs::File::open("/no/such/file").await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
///     assert!(err.to_string().contains("/no/such/file"));
/// });
/// ```
#[derive(Debug)]
pub struct PathError {
    op: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl PathError {
    /// The path the operation was given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The operation, e.g. `"open"` or `"rename"`.
    pub fn operation(&self) -> &'static str {
        self.op
    }

    /// The OS error code, if the cause was one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.op, self.path.display(), self.source)
    }
}

impl Error for PathError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Wraps `err` with the operation and path, keeping its kind.
pub(crate) fn with_path(err: io::Error, op: &'static str, path: &Path) -> io::Error {
    io::Error::new(
        err.kind(),
        PathError {
            op,
            path: path.to_owned(),
            source: err,
        },
    )
}

/// A path as the NUL-terminated string an SQE points to.
pub(crate) fn cstr(op: &'static str, path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        with_path(
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
            op,
            path,
        )
    })
}
