//! One simulated host's disk: files and directories in memory, each with a page-cache
//! state (what reads see) and a durable state (what survives a crash).
//!
//! The model, ext4 with `data=ordered` in outline:
//!
//! - **Data.** A write changes a file's cached bytes. `fsync`/`fdatasync` of the file
//!   copies its cached bytes to its durable bytes. A crash keeps, for every 4 KiB page that
//!   differs between the two, either the old or the new page (the seed decides, as the
//!   kernel's writeback might have written it or not), and a length of either the durable
//!   or the cached length: a write not synced may be lost, kept, or torn at a page
//!   boundary. A truncation writes no data: the pages it cut keep their durable bytes if
//!   the old length survives.
//! - **Names.** Creating, renaming and removing files and directories change the cached
//!   namespace at once. Like a journaling file system's single journal, any `fsync` or
//!   `fdatasync` on the host (of a file or of a directory) commits the whole namespace; a
//!   crash goes back to the namespace of the last commit. Files whose names did not survive
//!   are gone.
//! - **Listings and copies.** [`fs::read_dir`](crate::fs::read_dir) lists the cached
//!   namespace (what a crash may still undo), sorted by name, after one op's latency; it
//!   fails with EIO as a read does. [`fs::copy`](crate::fs::copy) reads and writes through
//!   the ring like any program, so the copy is in the page cache only: its bytes are
//!   durable after a sync of the new file, its name after any sync (the commit above).
//! - **Faults** ([`DiskFaults`]): EIO on reads, writes or syncs with a probability, ENOSPC
//!   past a capacity, short writes with a probability, each op's latency, and slow I/O: with
//!   a probability, a file op stalls for a long virtual time on top of its latency (a disk
//!   retrying a sector, a saturated queue), so timeouts around disk I/O fire.
//!
//! Paths are absolute from the host's root `/` (a relative path is taken from `/`);
//! `.` and `..` are resolved by name. Symbolic links, hard links, permissions and
//! extended attributes are not simulated.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap;
use std::time::Duration;

/// Bytes per page: the unit a crash tears writes at.
pub(crate) const PAGE: usize = 4096;

/// Faults and latencies of one host's simulated disk; set with
/// [`Sim::disk_faults`](super::Sim::disk_faults). Probabilities are in `0.0..=1.0` and drawn
/// from the simulation's seed for every op, so a seed replays the same faults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DiskFaults {
    /// Probability that a read fails with `EIO`.
    pub read_eio: f64,
    /// Probability that a write fails with `EIO` (nothing is written).
    pub write_eio: f64,
    /// Probability that an `fsync`/`fdatasync` fails with `EIO` (nothing becomes durable).
    pub fsync_eio: f64,
    /// Probability that a write of more than one byte writes only a prefix (at least one
    /// byte, drawn from the seed) and returns its length.
    pub short_write: f64,
    /// Bytes the disk holds (the sum of every file's cached length); a write or
    /// allocation that would grow the total past it fails with `ENOSPC`. `None`: no limit.
    pub capacity: Option<u64>,
    /// The latency of a read, write or metadata op: uniform in this range (inclusive).
    pub latency: (Duration, Duration),
    /// The latency of an `fsync`/`fdatasync`: uniform in this range (inclusive).
    pub sync_latency: (Duration, Duration),
    /// Probability that a file op (not a socket op) stalls: [`stall`](Self::stall) is
    /// added to its latency.
    pub slow: f64,
    /// How long a stalled op waits on top of its latency: uniform in this range
    /// (inclusive).
    pub stall: (Duration, Duration),
}

impl Default for DiskFaults {
    /// No faults; ops take 1-100 us, syncs 100 us-2 ms; a stall, when `slow` is set,
    /// 100 ms-5 s.
    fn default() -> Self {
        Self {
            read_eio: 0.0,
            write_eio: 0.0,
            fsync_eio: 0.0,
            short_write: 0.0,
            capacity: None,
            latency: (Duration::from_micros(1), Duration::from_micros(100)),
            sync_latency: (Duration::from_micros(100), Duration::from_millis(2)),
            slow: 0.0,
            stall: (Duration::from_millis(100), Duration::from_secs(5)),
        }
    }
}

/// One file or directory.
#[derive(Debug, Clone, Default)]
pub(crate) struct Inode {
    pub(crate) dir: bool,
    /// What reads see (the page cache). Changed only through [`Inode::write_at`] and
    /// [`Inode::set_len`], which keep `dirty`.
    data: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// One bit per page of `data` that may differ from `durable` (written, or inside a
    /// length change, since the last sync): a sync copies only these, so a sync costs the
    /// pages written since the previous one, not the file's size.
    dirty: Vec<u64>,
    /// Last modification, virtual time since the simulation began.
    pub(crate) mtime: Duration,
}

impl Inode {
    fn new(dir: bool, now: Duration) -> Self {
        Self {
            dir,
            mtime: now,
            ..Self::default()
        }
    }

    /// What reads see.
    pub(crate) fn data(&self) -> &[u8] {
        &self.data
    }

    /// Marks the pages holding bytes `start..end` dirty.
    fn mark(&mut self, start: usize, end: usize) {
        if end <= start {
            return;
        }
        let (first, last) = (start / PAGE, (end - 1) / PAGE);
        if self.dirty.len() <= last / 64 {
            self.dirty.resize(last / 64 + 1, 0);
        }
        for page in first..=last {
            self.dirty[page / 64] |= 1 << (page % 64);
        }
    }

    /// Writes `src` at byte `start` of the cached state, growing it (with zeros up to
    /// `start`) as needed.
    pub(crate) fn write_at(&mut self, start: usize, src: &[u8]) {
        let end = start + src.len();
        if self.data.len() < end {
            self.set_len(end);
        }
        self.data[start..end].copy_from_slice(src);
        self.mark(start, end);
    }

    /// Sets the cached length (new bytes are zeros).
    pub(crate) fn set_len(&mut self, len: usize) {
        let old = self.data.len();
        self.data.resize(len, 0);
        self.mark(old.min(len), old.max(len));
    }

    /// Makes the cached state durable: copies the dirty pages.
    fn sync(&mut self) {
        let len = self.data.len();
        self.durable.resize(len, 0);
        for (w, word) in std::mem::take(&mut self.dirty).into_iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let page = w * 64 + bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let start = page * PAGE;
                if start >= len {
                    break;
                }
                let end = (start + PAGE).min(len);
                self.durable[start..end].copy_from_slice(&self.data[start..end]);
            }
        }
        debug_assert!(self.data == self.durable);
    }
}

/// A host's disk; see the module docs.
#[derive(Debug)]
pub(crate) struct Disk {
    /// Looked up by every file op, so hashed; a crash walks it in inode order.
    pub(crate) inodes: FxHashMap<u64, Inode>,
    next_ino: u64,
    /// The cached namespace: normalised absolute path to inode.
    names: BTreeMap<String, u64>,
    /// The namespace at the last commit.
    durable_names: BTreeMap<String, u64>,
    /// `names` changed since the last commit (a commit copies it only then).
    names_changed: bool,
    pub(crate) faults: DiskFaults,
}

/// The root directory's inode.
const ROOT: u64 = 1;

impl Default for Disk {
    fn default() -> Self {
        let mut inodes = FxHashMap::default();
        inodes.insert(ROOT, Inode::new(true, Duration::ZERO));
        let names = BTreeMap::from([("/".to_string(), ROOT)]);
        Self {
            inodes,
            next_ino: ROOT + 1,
            durable_names: names.clone(),
            names,
            names_changed: false,
            faults: DiskFaults::default(),
        }
    }
}

/// `path` (bytes of a C string) made absolute and normalised, or `-errno`.
pub(crate) fn normalise(path: &[u8]) -> Result<String, i32> {
    let path = std::str::from_utf8(path).map_err(|_| -libc::EINVAL)?;
    if path.is_empty() {
        return Err(-libc::ENOENT);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// Whether `path` lies under directory `dir` (not `dir` itself).
fn under(path: &str, dir: &str) -> bool {
    if dir == "/" {
        path != "/"
    } else {
        path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
    }
}

impl Disk {
    pub(crate) fn lookup(&self, path: &str) -> Option<u64> {
        self.names.get(path).copied()
    }

    pub(crate) fn inode(&self, ino: u64) -> Option<&Inode> {
        self.inodes.get(&ino)
    }

    /// The entries of directory `path` in the cached namespace, by name: (name, is a
    /// directory). `-ENOENT` if there is nothing at `path`, `-ENOTDIR` if it is a file.
    pub(crate) fn list(&self, path: &str) -> Result<Vec<(String, bool)>, i32> {
        let ino = self.lookup(path).ok_or(-libc::ENOENT)?;
        if !self.inodes[&ino].dir {
            return Err(-libc::ENOTDIR);
        }
        let prefix = if path == "/" {
            "/".to_string()
        } else {
            format!("{path}/")
        };
        Ok(self
            .names
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter_map(|(p, ino)| {
                let name = &p[prefix.len()..];
                (!name.is_empty() && !name.contains('/'))
                    .then(|| (name.to_string(), self.inodes[ino].dir))
            })
            .collect())
    }

    /// Bytes held by every file (cached lengths).
    pub(crate) fn used(&self) -> u64 {
        self.inodes.values().map(|i| i.data.len() as u64).sum()
    }

    /// Checks that `path`'s parent exists and is a directory.
    fn check_parent(&self, path: &str) -> Result<(), i32> {
        match self
            .names
            .get(parent(path))
            .and_then(|i| self.inodes.get(i))
        {
            Some(i) if i.dir => Ok(()),
            Some(_) => Err(-libc::ENOTDIR),
            None => Err(-libc::ENOENT),
        }
    }

    /// Creates an empty file or directory at `path`; its inode.
    pub(crate) fn create(&mut self, path: &str, dir: bool, now: Duration) -> Result<u64, i32> {
        self.check_parent(path)?;
        if self.names.contains_key(path) {
            return Err(-libc::EEXIST);
        }
        let ino = self.next_ino;
        self.next_ino += 1;
        self.inodes.insert(ino, Inode::new(dir, now));
        self.names.insert(path.to_string(), ino);
        self.names_changed = true;
        Ok(ino)
    }

    /// unlinkat(2): a file, or with `dir` an empty directory.
    pub(crate) fn remove(&mut self, path: &str, dir: bool) -> Result<(), i32> {
        let ino = self.lookup(path).ok_or(-libc::ENOENT)?;
        let is_dir = self.inodes[&ino].dir;
        match (dir, is_dir) {
            (false, true) => return Err(-libc::EISDIR),
            (true, false) => return Err(-libc::ENOTDIR),
            (true, true) if path == "/" => return Err(-libc::EBUSY),
            (true, true) if self.names.keys().any(|p| under(p, path)) => {
                return Err(-libc::ENOTEMPTY);
            }
            _ => {}
        }
        self.names.remove(path);
        self.names_changed = true;
        Ok(())
    }

    /// renameat2(2) with flags 0 or RENAME_NOREPLACE.
    pub(crate) fn rename(&mut self, from: &str, to: &str, noreplace: bool) -> Result<(), i32> {
        let ino = self.lookup(from).ok_or(-libc::ENOENT)?;
        self.check_parent(to)?;
        if from == to {
            return Ok(());
        }
        let moving_dir = self.inodes[&ino].dir;
        if moving_dir && under(to, from) {
            return Err(-libc::EINVAL);
        }
        if let Some(target) = self.lookup(to) {
            if noreplace {
                return Err(-libc::EEXIST);
            }
            let target_dir = self.inodes[&target].dir;
            if target_dir && !moving_dir {
                return Err(-libc::EISDIR);
            }
            if !target_dir && moving_dir {
                return Err(-libc::ENOTDIR);
            }
            if target_dir && self.names.keys().any(|p| under(p, to)) {
                return Err(-libc::ENOTEMPTY);
            }
        }
        let moved: Vec<(String, u64)> = self
            .names
            .iter()
            .filter(|(p, _)| *p == from || under(p, from))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        for (p, _) in &moved {
            self.names.remove(p);
        }
        for (p, i) in moved {
            self.names.insert(format!("{to}{}", &p[from.len()..]), i);
        }
        self.names_changed = true;
        Ok(())
    }

    /// Commits the namespace and makes `ino`'s cached bytes durable.
    pub(crate) fn sync(&mut self, ino: u64) {
        if self.names_changed {
            self.durable_names.clone_from(&self.names);
            self.names_changed = false;
        }
        if let Some(inode) = self.inodes.get_mut(&ino) {
            inode.sync();
        }
    }

    /// A crash: the namespace of the last commit, each surviving file's bytes torn between
    /// its durable and cached states at page boundaries by `coin`. Returns the number of
    /// pages that kept unsynced data.
    ///
    /// The length is the durable or the cached one. A page the cached state still has
    /// (below its length) is the old or the new page; a page only the durable state has
    /// (the cache truncated it) keeps its durable bytes, as a truncation writes no data:
    /// it is only the length that may not have survived.
    pub(crate) fn crash(&mut self, mut coin: impl FnMut() -> bool) -> u64 {
        self.names = self.durable_names.clone();
        self.names_changed = false;
        let live: std::collections::BTreeSet<u64> = self.names.values().copied().collect();
        self.inodes.retain(|ino, _| live.contains(ino));
        let mut kept = 0;
        // In inode order: the coins are drawn per inode, so the order is the seed's.
        let mut order: Vec<u64> = self.inodes.keys().copied().collect();
        order.sort_unstable();
        for ino in order {
            let inode = self.inodes.get_mut(&ino).expect("a live inode");
            if inode.data == inode.durable {
                continue;
            }
            let len = if coin() {
                inode.data.len()
            } else {
                inode.durable.len()
            };
            let mut out = inode.durable.clone();
            out.resize(len, 0);
            for start in (0..len.min(inode.data.len())).step_by(PAGE) {
                let end = (start + PAGE).min(len);
                let mut new = inode.data[start..end.min(inode.data.len())].to_vec();
                new.resize(end - start, 0);
                if new != out[start..end] && coin() {
                    out[start..end].copy_from_slice(&new);
                    kept += 1;
                }
            }
            inode.durable.clone_from(&out);
            inode.data = out;
            inode.dirty.clear();
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Syncing only the dirty pages leaves the durable state equal to the cached one, after
    /// any mix of writes, growths, truncations and crashes.
    #[test]
    fn a_sync_of_the_dirty_pages_makes_the_cache_durable() {
        for seed in 0..50 {
            let mut rng = fastrand::Rng::with_seed(seed);
            let mut inode = Inode::new(false, Duration::ZERO);
            for _ in 0..200 {
                match rng.u8(..10) {
                    0..=5 => {
                        let start = rng.usize(..12 * PAGE);
                        let len = rng.usize(..3 * PAGE);
                        let byte = rng.u8(1..);
                        inode.write_at(start, &vec![byte; len]);
                    }
                    6 => inode.set_len(rng.usize(..12 * PAGE)),
                    7 => {
                        let mut coin = fastrand::Rng::with_seed(rng.u64(..));
                        let mut disk = Disk::default();
                        disk.inodes.insert(ROOT + 1, inode.clone());
                        disk.names.insert("/f".into(), ROOT + 1);
                        disk.durable_names.insert("/f".into(), ROOT + 1);
                        disk.crash(|| coin.bool());
                        inode = disk.inodes[&(ROOT + 1)].clone();
                        assert_eq!(inode.data, inode.durable, "seed {seed}: after a crash");
                    }
                    _ => {
                        inode.sync();
                        assert_eq!(inode.data, inode.durable, "seed {seed}");
                        assert!(inode.dirty.is_empty());
                    }
                }
            }
        }
    }
}
