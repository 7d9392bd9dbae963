//! The simulation ring (feature `sim`): a [`Ring`] whose SQEs are performed against a
//! simulated host's state (src/sim/world.rs, src/sim/disk.rs) at a virtual time drawn from
//! the seed, instead of by a kernel. The driver above it (op slab, cancels, shutdown) is
//! the real one, unchanged; only the ring differs (docs/architecture.md, "The simulation
//! driver").
//!
//! - `push` copies the SQE ([`RawSqe`]); `enter` hands every queued SQE to the world:
//!   NOP and ASYNC_CANCEL are answered at once (a cancel takes its target out of the
//!   world's queue and completes it with `-ECANCELED`); every other SQE is queued to be
//!   performed after a latency from the host's [`DiskFaults`](crate::sim::DiskFaults).
//!   `enter` never blocks: the simulation moves the clock, not the ring.
//! - [`perform`] runs a due SQE: file and directory ops on the host's simulated disk;
//!   socket ops on the simulated network (net.rs; multishot ops and the provided-buffer
//!   pool the ring registers, multishot.rs; Unix sockets, unix.rs and unix_dgram.rs).
//! - A simulated fd is a real placeholder: an `O_PATH` descriptor of `/`, opened when a
//!   simulated file is opened, so the number is unique in the process, the `OwnedFd`
//!   that ringcore wraps around it closes something real, and a stray real syscall on it
//!   (a read, a write) fails with `EBADF` instead of doing I/O. The world learns of closes
//!   through the `SharedFd` release hook (`ReleasedFds`, src/driver/shared_fd.rs) and
//!   forgets the number before it performs anything or opens another placeholder.
//! - A simulated core has no wake-up eventfd (`Core::simulated`): nothing parks it, and a
//!   wake from a sibling core of its host only queues the task. (A wake-up read, were one
//!   pushed, would stay pending until cancelled.)
//! - The cores of one host share its completion queue; on a host of several cores each
//!   SQE is renamed to a host-wide `user_data` as it enters and each CQE handed back to
//!   its own core under its own number as that core reaps (`World::route`,
//!   `World::reap`).

mod calls;
mod multishot;
pub(crate) mod net;
mod unix;
mod unix_dgram;

pub(crate) use multishot::features;

use std::cell::RefCell;
use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::Duration;

use io_uring::{opcode, squeue};

use super::lifecycle::WAKE_USER_DATA;
use super::ring::{Cqe, Ring, SqFull, Wait};
use crate::sim::trace::Kind;
use crate::sim::world::{OpenFile, World};
use crate::sys::sqe::RawSqe;

/// See the module docs.
pub(crate) struct SimRing {
    world: Rc<RefCell<World>>,
    host: usize,
    /// Which of the host's cores this ring serves.
    core: usize,
    /// The host has several cores: SQEs are renamed and CQEs sorted out by the world
    /// (`World::route`, `World::reap`).
    shared: bool,
    sq: Vec<RawSqe>,
    cq: Rc<RefCell<Vec<Cqe>>>,
}

impl SimRing {
    pub(crate) fn new(world: Rc<RefCell<World>>, host: usize, core: usize) -> Self {
        let (cq, cores) = {
            let w = world.borrow();
            (w.hosts[host].cq.clone(), w.hosts[host].cores)
        };
        Self {
            world,
            host,
            core,
            shared: cores > 1,
            sq: Vec::new(),
            cq,
        }
    }
}

impl Ring for SimRing {
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SqFull> {
        self.sq.push(RawSqe::parse(sqe));
        Ok(())
    }

    fn enter(&mut self, _wait: Wait) -> io::Result<usize> {
        let n = self.sq.len();
        let mut world = self.world.borrow_mut();
        for mut sqe in self.sq.drain(..) {
            world.route(self.host, self.core, &mut sqe);
            submit(&mut world, self.host, sqe);
        }
        Ok(n)
    }

    fn reap(&mut self, out: &mut Vec<Cqe>) {
        if self.shared {
            self.world.borrow_mut().reap(self.host, self.core, out);
        } else {
            out.append(&mut self.cq.borrow_mut());
        }
    }

    fn queued(&mut self) -> usize {
        self.sq.len()
    }

    fn needs_enter(&mut self) -> bool {
        false
    }

    unsafe fn register_buf_ring(
        &mut self,
        addr: u64,
        entries: u16,
        _bgid: u16,
        flags: u16,
    ) -> io::Result<()> {
        // The world reads the ring as the kernel would (src/driver/sim/multishot.rs); the
        // caller keeps it valid until `unregister_buf_ring` succeeds.
        let mut world = self
            .world
            .try_borrow_mut()
            .map_err(|_| io::ErrorKind::WouldBlock)?;
        multishot::register(&mut world, self.host, self.core, addr, entries, flags)
    }

    fn unregister_buf_ring(&mut self, _bgid: u16) -> io::Result<()> {
        let mut world = self
            .world
            .try_borrow_mut()
            .map_err(|_| io::ErrorKind::WouldBlock)?;
        multishot::unregister(&mut world, self.host, self.core)
    }
}

/// Takes one SQE of `host`: answers it, or queues it for its virtual time.
fn submit(world: &mut World, host: usize, sqe: RawSqe) {
    match sqe.opcode {
        opcode::Nop::CODE => world.complete(host, sqe.user_data, 0),
        opcode::AsyncCancel::CODE => cancel(world, host, sqe.user_data, sqe.addr),
        opcode::Read::CODE if sqe.user_data == WAKE_USER_DATA => {
            world.hosts[host].wake_read = Some(sqe.user_data);
        }
        code => {
            let delay = disk_delay(world, host, code, Some(sqe.fd));
            world.schedule(host, sqe, delay);
        }
    }
}

/// The virtual latency of an op of `opcode` on `fd` (`None`: no fd, a directory listing)
/// of `host`, from its [`DiskFaults`]: the op's (or a sync's) latency range, plus a stall
/// with probability `slow` unless `fd` is a socket. Draws nothing for the stall while
/// `slow` is 0, so a simulation without slow I/O makes the same draws as before it existed.
///
/// [`DiskFaults`]: crate::sim::DiskFaults
pub(crate) fn disk_delay(
    world: &mut World,
    host: usize,
    opcode: u8,
    fd: Option<RawFd>,
) -> Duration {
    let faults = &world.hosts[host].disk.faults;
    let range = if opcode == opcode::Fsync::CODE {
        faults.sync_latency
    } else {
        faults.latency
    };
    let (slow, stall) = (faults.slow, faults.stall);
    let mut delay = world.draw(range);
    if slow > 0.0 && !fd.is_some_and(|fd| world.net.socks.contains_key(&fd)) && world.chance(slow) {
        let extra = world.draw(stall);
        let now = world.now;
        world.trace.record(
            now,
            host,
            Kind::Stall,
            i64::from(opcode),
            extra.as_nanos() as i64,
        );
        delay += extra;
    }
    delay
}

/// ASYNC_CANCEL (`user_data`) of `target`.
fn cancel(world: &mut World, host: usize, user_data: u64, target: u64) {
    let res = if let Some(sqe) = world.unschedule(host, target) {
        let now = world.now;
        world
            .trace
            .record(now, host, Kind::Cancelled, i64::from(sqe.opcode), 0);
        world.complete(host, target, -libc::ECANCELED);
        0
    } else if world.hosts[host].wake_read == Some(target) {
        world.hosts[host].wake_read = None;
        world.complete(host, target, -libc::ECANCELED);
        0
    } else if world.hosts[host]
        .cq
        .borrow()
        .iter()
        .any(|c| c.user_data == target)
    {
        -libc::EALREADY
    } else {
        -libc::ENOENT
    };
    world.complete(host, user_data, res);
}

/// Performs a due SQE of `host` and returns its CQE's `res`, or `None` when it waits for
/// a socket (the caller parks it).
pub(crate) fn perform(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    for fd in world.take_released() {
        net::close(world, fd);
    }
    if net::is_socket_op(sqe.opcode) && world.net.socks.contains_key(&sqe.fd) {
        let res = net::perform(world, host, sqe)?;
        trace_completion(world, host, sqe, res);
        return Some(res);
    }
    let res = match sqe.opcode {
        opcode::OpenAt::CODE => open(world, host, sqe),
        opcode::Read::CODE => read(world, host, sqe),
        opcode::Write::CODE => write(world, host, sqe),
        opcode::Fsync::CODE => fsync(world, host, sqe),
        opcode::Statx::CODE => statx(world, host, sqe),
        opcode::Ftruncate::CODE => {
            let len = sqe.off;
            file_of(world, host, sqe.fd, |f| f.write, -libc::EINVAL)
                .and_then(|f| resize(world, host, f.ino, len, true))
        }
        opcode::Fallocate::CODE => {
            let (offset, len, mode) = (sqe.off, sqe.addr, sqe.len);
            if mode != 0 {
                Err(-libc::EOPNOTSUPP)
            } else {
                file_of(world, host, sqe.fd, |f| f.write, -libc::EBADF)
                    .and_then(|f| resize(world, host, f.ino, offset.saturating_add(len), false))
            }
        }
        opcode::RenameAt::CODE => {
            let flags = sqe.op_flags;
            if flags & !libc::RENAME_NOREPLACE != 0 {
                Err(-libc::EINVAL)
            } else {
                path_at(sqe.fd, sqe.addr).and_then(|from| {
                    let to = path_at(sqe.len as i32, sqe.off)?;
                    world.hosts[host]
                        .disk
                        .rename(&from, &to, flags & libc::RENAME_NOREPLACE != 0)
                        .map(|()| 0)
                })
            }
        }
        opcode::UnlinkAt::CODE => path_at(sqe.fd, sqe.addr).and_then(|p| {
            let dir = sqe.op_flags as i32 & libc::AT_REMOVEDIR != 0;
            world.hosts[host].disk.remove(&p, dir).map(|()| 0)
        }),
        opcode::MkDirAt::CODE => path_at(sqe.fd, sqe.addr).and_then(|p| {
            let now = world.now;
            world.hosts[host].disk.create(&p, true, now).map(|_| 0)
        }),
        opcode::Close::CODE => {
            world.fds.remove(&sqe.fd);
            // The caller owned the number (it came from `into_raw_fd`): close it, as the
            // kernel would. A placeholder closes; nothing is written anywhere.
            crate::sys::placeholder::close(sqe.fd)
                .map(|()| 0)
                .map_err(|e| errno(&e))
        }
        code if net::is_socket_op(code) => Err(-libc::ENOTSOCK),
        _ => Err(-libc::EOPNOTSUPP),
    };
    let res = res.unwrap_or_else(|e| e);
    trace_completion(world, host, sqe, res);
    Some(res)
}

/// Records a completion in the trace. A new fd (of an open or accept) is recorded as 0:
/// its number comes from the process's fd table, which other threads share, and must not
/// make two runs of one seed differ.
pub(crate) fn trace_completion(world: &mut World, host: usize, sqe: &RawSqe, res: i32) {
    let res = match sqe.opcode {
        opcode::OpenAt::CODE | opcode::Accept::CODE => res.min(0),
        _ => res,
    };
    let now = world.now;
    world.trace.record(
        now,
        host,
        Kind::Complete,
        i64::from(sqe.opcode),
        i64::from(res),
    );
}

/// The simulated file at `fd` of `host`, if `allowed` by its open mode (else `denied`).
fn file_of(
    world: &World,
    host: usize,
    fd: i32,
    allowed: impl FnOnce(&OpenFile) -> bool,
    denied: i32,
) -> Result<OpenFile, i32> {
    match world.fds.get(&fd) {
        Some(f) if f.host == host => {
            if allowed(f) {
                Ok(f.clone())
            } else {
                Err(denied)
            }
        }
        _ => Err(-libc::EBADF),
    }
}

/// The normalised path of an SQE: `dirfd` must be AT_FDCWD (or the path absolute).
fn path_at(dirfd: i32, ptr: u64) -> Result<String, i32> {
    if ptr == 0 {
        return Err(-libc::EFAULT);
    }
    // SAFETY: a path-taking SQE points at a NUL-terminated C string owned by its op, which
    // is in flight until this SQE's CQE, and that CQE is made only after this returns.
    let bytes = unsafe { CStr::from_ptr(ptr as *const libc::c_char) }.to_bytes();
    if dirfd != libc::AT_FDCWD && !bytes.starts_with(b"/") {
        return Err(-libc::EINVAL);
    }
    crate::sim::disk::normalise(bytes)
}

fn open(world: &mut World, host: usize, sqe: &RawSqe) -> Result<i32, i32> {
    let path = path_at(sqe.fd, sqe.addr)?;
    let flags = sqe.op_flags as i32;
    let acc = flags & libc::O_ACCMODE;
    let (read, write) = (acc != libc::O_WRONLY, acc != libc::O_RDONLY);
    if flags & (libc::O_PATH | (libc::O_TMPFILE & !libc::O_DIRECTORY)) != 0 {
        return Err(-libc::EOPNOTSUPP);
    }
    let now = world.now;
    let disk = &mut world.hosts[host].disk;
    let ino = match disk.lookup(&path) {
        Some(_) if flags & libc::O_CREAT != 0 && flags & libc::O_EXCL != 0 => {
            return Err(-libc::EEXIST);
        }
        Some(ino) => ino,
        None if flags & libc::O_CREAT != 0 => disk.create(&path, false, now)?,
        None => return Err(-libc::ENOENT),
    };
    let inode = disk.inodes.get_mut(&ino).ok_or(-libc::ENOENT)?;
    if inode.dir && write {
        return Err(-libc::EISDIR);
    }
    if !inode.dir && flags & libc::O_DIRECTORY != 0 {
        return Err(-libc::ENOTDIR);
    }
    if flags & libc::O_TRUNC != 0 && write && !inode.data().is_empty() {
        inode.set_len(0);
        inode.mtime = now;
    }
    let fd = placeholder(world)?;
    world.fds.insert(
        fd,
        OpenFile {
            host,
            ino,
            read,
            write,
            append: flags & libc::O_APPEND != 0,
            pos: 0,
        },
    );
    Ok(fd)
}

/// A new placeholder fd (see the module docs).
fn placeholder(world: &mut World) -> Result<i32, i32> {
    net::fresh_fd(world).map_err(|e| errno(&e))
}

/// `-errno` of an I/O error.
fn errno(e: &io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(libc::EIO)
}

fn read(world: &mut World, host: usize, sqe: &RawSqe) -> Result<i32, i32> {
    let f = file_of(world, host, sqe.fd, |f| f.read, -libc::EBADF)?;
    let p = world.hosts[host].disk.faults.read_eio;
    if world.chance(p) {
        return Err(-libc::EIO);
    }
    let inode = world.hosts[host].disk.inode(f.ino).ok_or(-libc::EBADF)?;
    if inode.dir {
        return Err(-libc::EISDIR);
    }
    let at = if sqe.off == u64::MAX { f.pos } else { sqe.off };
    let start = usize::try_from(at)
        .unwrap_or(usize::MAX)
        .min(inode.data().len());
    let n = (sqe.len as usize).min(inode.data().len() - start);
    if n > 0 {
        // SAFETY: a READ SQE points at `len` writable bytes of a buffer its op owns until
        // this SQE's CQE, which is made only after this returns; `n <= len`.
        unsafe {
            std::ptr::copy_nonoverlapping(inode.data()[start..].as_ptr(), sqe.addr as *mut u8, n);
        }
    }
    if sqe.off == u64::MAX
        && let Some(open) = world.fds.get_mut(&sqe.fd)
    {
        open.pos = at + n as u64;
    }
    Ok(n as i32)
}

fn write(world: &mut World, host: usize, sqe: &RawSqe) -> Result<i32, i32> {
    let f = file_of(world, host, sqe.fd, |f| f.write, -libc::EBADF)?;
    let faults = &world.hosts[host].disk.faults;
    let (write_eio, short_write, capacity) =
        (faults.write_eio, faults.short_write, faults.capacity);
    if world.chance(write_eio) {
        return Err(-libc::EIO);
    }
    let mut len = sqe.len as usize;
    if len > 1 && world.chance(short_write) {
        len = world.rng.usize(1..len);
    }
    let now = world.now;
    let disk = &mut world.hosts[host].disk;
    let used = if capacity.is_some() { disk.used() } else { 0 };
    let inode = disk.inodes.get_mut(&f.ino).ok_or(-libc::EBADF)?;
    let at = if f.append {
        inode.data().len() as u64
    } else if sqe.off == u64::MAX {
        f.pos
    } else {
        sqe.off
    };
    let start = usize::try_from(at).map_err(|_| -libc::EFBIG)?;
    let end = start.checked_add(len).ok_or(-libc::EFBIG)?;
    let growth = end.saturating_sub(inode.data().len()) as u64;
    if capacity.is_some_and(|cap| used + growth > cap) {
        return Err(-libc::ENOSPC);
    }
    if len > 0 {
        // SAFETY: a WRITE SQE points at `len` readable bytes of a buffer its op owns until
        // this SQE's CQE, which is made only after this returns; `len` is at most the
        // SQE's own.
        let src = unsafe { std::slice::from_raw_parts(sqe.addr as *const u8, len) };
        inode.write_at(start, src);
    } else if inode.data().len() < end {
        inode.set_len(end);
    }
    inode.mtime = now;
    if (sqe.off == u64::MAX || f.append)
        && let Some(open) = world.fds.get_mut(&sqe.fd)
    {
        open.pos = end as u64;
    }
    Ok(len as i32)
}

fn fsync(world: &mut World, host: usize, sqe: &RawSqe) -> Result<i32, i32> {
    let f = file_of(world, host, sqe.fd, |_| true, -libc::EBADF)?;
    let p = world.hosts[host].disk.faults.fsync_eio;
    if world.chance(p) {
        return Err(-libc::EIO);
    }
    world.hosts[host].disk.sync(f.ino);
    Ok(0)
}

/// Sets a file's length (`shrink`: may cut it, else only grows it).
fn resize(world: &mut World, host: usize, ino: u64, len: u64, shrink: bool) -> Result<i32, i32> {
    let now = world.now;
    let disk = &mut world.hosts[host].disk;
    let used = disk.used();
    let cap = disk.faults.capacity;
    let inode = disk.inodes.get_mut(&ino).ok_or(-libc::EBADF)?;
    let len = usize::try_from(len).map_err(|_| -libc::EFBIG)?;
    if len < inode.data().len() && !shrink {
        return Ok(0);
    }
    let growth = len.saturating_sub(inode.data().len()) as u64;
    if cap.is_some_and(|cap| used + growth > cap) {
        return Err(-libc::ENOSPC);
    }
    inode.set_len(len);
    inode.mtime = now;
    Ok(0)
}

/// Seconds since the Unix epoch at which the simulation's clock starts (2026-01-01).
const EPOCH_OFFSET: i64 = 1_767_225_600;

fn statx(world: &mut World, host: usize, sqe: &RawSqe) -> Result<i32, i32> {
    let by_fd = sqe.op_flags as i32 & libc::AT_EMPTY_PATH != 0;
    let ino = if by_fd {
        file_of(world, host, sqe.fd, |_| true, -libc::EBADF)?.ino
    } else {
        let path = path_at(sqe.fd, sqe.addr)?;
        world.hosts[host].disk.lookup(&path).ok_or(-libc::ENOENT)?
    };
    let inode = world.hosts[host].disk.inode(ino).ok_or(-libc::ENOENT)?;
    let ts = |d: Duration| {
        // SAFETY: statx_timestamp is plain integers; all-zero is valid.
        let mut t: libc::statx_timestamp = unsafe { std::mem::zeroed() };
        t.tv_sec = EPOCH_OFFSET + d.as_secs() as i64;
        t.tv_nsec = d.subsec_nanos();
        t
    };
    // SAFETY: statx is plain integers; all-zero is valid.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    st.stx_mask = libc::STATX_BASIC_STATS | libc::STATX_BTIME;
    st.stx_blksize = 4096;
    st.stx_nlink = 1;
    st.stx_mode = if inode.dir {
        (libc::S_IFDIR | 0o755) as u16
    } else {
        (libc::S_IFREG | 0o644) as u16
    };
    st.stx_ino = ino;
    st.stx_size = inode.data().len() as u64;
    st.stx_blocks = (inode.data().len() as u64).div_ceil(512);
    st.stx_mtime = ts(inode.mtime);
    st.stx_ctime = ts(inode.mtime);
    st.stx_atime = ts(inode.mtime);
    st.stx_btime = ts(Duration::ZERO);
    if sqe.off == 0 {
        return Err(-libc::EFAULT);
    }
    // SAFETY: a STATX SQE points (in `off`, addr2) at a `statx` buffer its op owns until
    // this SQE's CQE, which is made only after this returns.
    unsafe { (sqe.off as *mut libc::statx).write(st) };
    Ok(0)
}
