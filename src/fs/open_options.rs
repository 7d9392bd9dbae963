//! `OpenOptions`: how a file is opened (openat(2) flags), as `std::fs::OpenOptions`.

use std::io;
use std::path::Path;

use super::File;
use super::path::{cstr, with_path};
use crate::driver::ops::fs::Open;
use crate::runtime::context;

/// Options for opening a file, as `std::fs::OpenOptions` (openat(2) flags).
///
/// Files are always opened with O_CLOEXEC. `custom_flags` adds raw flags such as
/// `libc::O_DIRECT` (then buffers and offsets must be aligned to the device's logical
/// block size; see [`AlignedBuf`](crate::buf::AlignedBuf)).
///
/// # Examples
///
/// ```
/// use ringcore::fs::OpenOptions;
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let f = OpenOptions::new()
///         .write(true)
///         .create_new(true)
///         .mode(0o600)
///         .open(dir.path().join("new"))
///         .await?;
///     f.close().await
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    truncate: bool,
    create: bool,
    create_new: bool,
    mode: u32,
    custom_flags: i32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// All options off; mode 0o666 (before the umask).
    pub fn new() -> Self {
        Self {
            read: false,
            write: false,
            append: false,
            truncate: false,
            create: false,
            create_new: false,
            mode: 0o666,
            custom_flags: 0,
        }
    }

    /// Open for reading.
    pub fn read(&mut self, read: bool) -> &mut Self {
        self.read = read;
        self
    }

    /// Open for writing.
    pub fn write(&mut self, write: bool) -> &mut Self {
        self.write = write;
        self
    }

    /// Open for appending (O_APPEND): every write goes to the end, whatever its offset.
    pub fn append(&mut self, append: bool) -> &mut Self {
        self.append = append;
        self
    }

    /// Truncate to 0 bytes on open (O_TRUNC). Needs write access.
    pub fn truncate(&mut self, truncate: bool) -> &mut Self {
        self.truncate = truncate;
        self
    }

    /// Create the file if it does not exist (O_CREAT). Needs write or append access.
    pub fn create(&mut self, create: bool) -> &mut Self {
        self.create = create;
        self
    }

    /// Create the file, failing with `AlreadyExists` if it exists (O_CREAT | O_EXCL).
    pub fn create_new(&mut self, create_new: bool) -> &mut Self {
        self.create_new = create_new;
        self
    }

    /// Permission bits for a created file, before the umask (default 0o666).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode;
        self
    }

    /// Extra open(2) flags, or-ed in (e.g. `libc::O_DIRECT`, `libc::O_NOATIME`). The access
    /// mode bits are ignored.
    pub fn custom_flags(&mut self, flags: i32) -> &mut Self {
        self.custom_flags = flags;
        self
    }

    /// The open(2) flags these options stand for, checked as std checks them.
    fn flags(&self) -> io::Result<i32> {
        let access = match (self.read, self.write, self.append) {
            (true, false, false) => libc::O_RDONLY,
            (false, true, false) => libc::O_WRONLY,
            (true, true, false) => libc::O_RDWR,
            (false, _, true) => libc::O_WRONLY | libc::O_APPEND,
            (true, _, true) => libc::O_RDWR | libc::O_APPEND,
            (false, false, false) => {
                return Err(invalid("no access mode set: call read, write or append"));
            }
        };
        let creation = match (
            self.write || self.append,
            self.truncate,
            self.create,
            self.create_new,
        ) {
            (_, false, false, false) => 0,
            (false, _, _, _) => {
                return Err(invalid(
                    "truncate, create and create_new need write or append access",
                ));
            }
            (true, false, true, false) => libc::O_CREAT,
            (true, true, false, false) => {
                if self.append {
                    return Err(invalid("truncate and append cannot be combined"));
                }
                libc::O_TRUNC
            }
            (true, true, true, false) => {
                if self.append {
                    return Err(invalid("truncate and append cannot be combined"));
                }
                libc::O_CREAT | libc::O_TRUNC
            }
            (true, _, _, true) => libc::O_CREAT | libc::O_EXCL,
        };
        Ok(libc::O_CLOEXEC | access | creation | (self.custom_flags & !libc::O_ACCMODE))
    }

    /// Opens `path` with these options through the ring (IORING_OP_OPENAT).
    ///
    /// # Errors
    ///
    /// `InvalidInput` for contradictory options or a path with a NUL byte; otherwise
    /// openat(2)'s error, with its kind (`NotFound`, `AlreadyExists`, `PermissionDenied`,
    /// `IsADirectory`, ...) and the path in its message.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the open; if the kernel had already opened the file,
    /// the descriptor is closed when the completion arrives. A file created with `create`
    /// before the cancel stays created.
    pub async fn open(&self, path: impl AsRef<Path>) -> io::Result<File> {
        let path = path.as_ref();
        let flags = self.flags().map_err(|e| with_path(e, "open", path))?;
        let op = Open {
            path: cstr("open", path)?,
            flags,
            mode: self.mode,
        };
        let driver = context::driver();
        let fd = driver
            .submit(op)
            .await
            .map_err(|e| with_path(e, "open", path))?;
        Ok(File::from_parts(fd, driver, flags & libc::O_DIRECT != 0))
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
