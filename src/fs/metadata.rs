//! `Metadata` and `FileType`: what statx(2) says about a file.

use std::time::{Duration, SystemTime};

/// What kind of file a [`Metadata`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (only from [`symlink_metadata`](super::symlink_metadata)).
    Symlink,
    /// A FIFO, socket, or block or character device.
    Other,
}

/// File metadata from statx(2).
#[derive(Debug, Clone)]
pub struct Metadata {
    len: u64,
    mode: u32,
    file_type: FileType,
    ino: u64,
    dev: (u32, u32),
    nlink: u32,
    uid: u32,
    gid: u32,
    blksize: u32,
    blocks: u64,
    accessed: SystemTime,
    modified: SystemTime,
    created: Option<SystemTime>,
}

fn time(ts: libc::statx_timestamp) -> SystemTime {
    let d = Duration::new(ts.tv_sec.unsigned_abs(), ts.tv_nsec);
    if ts.tv_sec >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

impl Metadata {
    pub(crate) fn from_statx(stx: &libc::statx) -> Self {
        let mode = u32::from(stx.stx_mode);
        let file_type = match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::File,
            libc::S_IFDIR => FileType::Dir,
            libc::S_IFLNK => FileType::Symlink,
            _ => FileType::Other,
        };
        Self {
            len: stx.stx_size,
            mode,
            file_type,
            ino: stx.stx_ino,
            dev: (stx.stx_dev_major, stx.stx_dev_minor),
            nlink: stx.stx_nlink,
            uid: stx.stx_uid,
            gid: stx.stx_gid,
            blksize: stx.stx_blksize,
            blocks: stx.stx_blocks,
            accessed: time(stx.stx_atime),
            modified: time(stx.stx_mtime),
            created: (stx.stx_mask & libc::STATX_BTIME != 0).then(|| time(stx.stx_btime)),
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the size is 0 bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file's type.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// True for a regular file.
    pub fn is_file(&self) -> bool {
        self.file_type == FileType::File
    }

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Dir
    }

    /// True for a symbolic link.
    pub fn is_symlink(&self) -> bool {
        self.file_type == FileType::Symlink
    }

    /// Permission bits (`st_mode & 0o7777`).
    pub fn permissions(&self) -> u32 {
        self.mode & 0o7777
    }

    /// The full `st_mode` (type and permission bits).
    pub fn mode(&self) -> u32 {
        self.mode
    }

    /// Inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    /// Device (major, minor) holding the file.
    pub fn dev(&self) -> (u32, u32) {
        self.dev
    }

    /// Number of hard links.
    pub fn nlink(&self) -> u32 {
        self.nlink
    }

    /// Owner user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Owner group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// Preferred I/O block size in bytes.
    pub fn blksize(&self) -> u32 {
        self.blksize
    }

    /// Allocated 512-byte blocks.
    pub fn blocks(&self) -> u64 {
        self.blocks
    }

    /// Last access time.
    pub fn accessed(&self) -> SystemTime {
        self.accessed
    }

    /// Last modification time.
    pub fn modified(&self) -> SystemTime {
        self.modified
    }

    /// Creation (birth) time, where the file system records it.
    pub fn created(&self) -> Option<SystemTime> {
        self.created
    }
}
