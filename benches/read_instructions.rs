//! Instructions per cached file read (user space, under callgrind) and wall-clock ratios to
//! blocking std, for each read path: std's pread, the raw syscall floors, and ringcore.
//!
//! ```text
//! scripts/read_instructions.sh            # installs valgrind if missing, then runs this
//! cargo bench --bench read_instructions   # the same, if valgrind is installed
//! READ_INSTR_MODES=std,ringcore_qd1 ROUNDS=21 cargo bench --bench read_instructions
//! ```
//!
//! A plain bench binary (`harness = false`) that runs itself: once per mode and read count
//! under `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect=*read_instructions_measured*`, so only the instructions executed
//! inside the measured read loop count (file creation, runtime start, warm-up and the
//! tasks' setup outside it do not). Each mode runs twice, with `BASE_READS` and
//! `BASE_READS + READS` reads, and the figure is the difference over `READS`: the
//! marginal user-space cost of one read, with fixed costs (spawning the QD32 tasks, the
//! first tick) cancelled out. Callgrind counts user-space instructions only, the same
//! whatever else runs on the machine; the kernel's side of a syscall or io_uring_enter
//! is not in it.
//!
//! Then, natively, each mode against std in alternating rounds (`ROUNDS`, default 11; the
//! order flips every round): the median of the per-round ratios std time / mode time
//! (higher is better), and their range. Each timed run is preceded by the same reads
//! untimed (proactive reclaim evicts idle pages between runs), so "warm" means warm on
//! both sides. The last row reads the whole file sequentially in 128 KiB blocks.
//!
//! The file is `READ_INSTR_MIB` MiB (default 64) of pseudo-random bytes, kept in
//! `target/read-instructions/` between runs; the reads are `READS` (default 20,000)
//! random 4 KiB blocks of it. `READ_INSTR_MODES` selects modes (default all of
//! [`MODES`]); `VALGRIND=0` skips the instruction counts, `WALL=0` the wall clock;
//! `READ_INSTR_BUDGET` sets `Builder::inline_reads_per_tick` of the ringcore QD1 and QD32
//! runtime (default 64).

#[path = "support/sync_reads.rs"]
mod sync_reads;

use std::cell::Cell;
use std::fs::File as StdFile;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use io_uring::{IoUring, opcode, types};
use ringcore::Runtime;
use ringcore::fs::File;

/// Every mode: its name (`READ_INSTR_MODES`) and what it is.
const MODES: &[(&str, &str)] = &[
    ("std", "std `read_at` (pread64), QD1"),
    (
        "preadv2",
        "raw preadv2(RWF_NOWAIT) loop through libc's syscall(), QD1",
    ),
    (
        "preadv2_asm",
        "raw preadv2(RWF_NOWAIT) loop, bare syscall instruction, QD1 (the inline floor)",
    ),
    (
        "uring_batch",
        "raw io_uring, 32 READs per io_uring_enter (the batch floor)",
    ),
    (
        "uring_batch_fixed_file",
        "raw io_uring, 32 READs per enter on the registered file",
    ),
    (
        "uring_batch_fixed",
        "raw io_uring, 32 READ_FIXEDs per enter, registered file and buffers",
    ),
    (
        "task_preadv2",
        "one ringcore task awaiting a ready future around the bare preadv2 (no `File`)",
    ),
    ("ringcore_qd1", "ringcore QD1 (one task)"),
    ("ringcore_qd32", "ringcore QD32 (32 tasks, one core)"),
    (
        "ringcore_ring_qd32",
        "ringcore QD32, `inline_reads_per_tick(0)` (every read an SQE)",
    ),
];

/// Reads before the measured ones in the first of each mode's two runs.
const BASE_READS: usize = 2_000;
/// Reads in flight in the batch modes.
const BATCH: usize = 32;
const BLOCK: usize = 4096;
const SEQ_BLOCK: usize = 128 << 10;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn offsets(len: u64, n: usize) -> Vec<u64> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (len / BLOCK as u64)) * BLOCK as u64
        })
        .collect()
}

fn make_file(path: &Path, mib: u64) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == mib << 20) {
        return;
    }
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut f = std::io::BufWriter::new(StdFile::create(path).unwrap());
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for c in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
    f.into_inner().unwrap().sync_all().unwrap();
}

/// Reads the whole file once, so its pages are in the page cache.
fn warm(f: &StdFile) {
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while let Ok(n @ 1..) = f.read_at(&mut buf, off) {
        off += n as u64;
    }
}

/// What a mode needs, set up outside the measured loop.
struct Setup {
    std_file: StdFile,
    rt: Runtime,
    file: Rc<File>,
    rt_ring: Runtime,
    file_ring: Rc<File>,
    uring: IoUring,
    bufs: Vec<Vec<u8>>,
}

impl Setup {
    fn new(path: &Path) -> Self {
        // READ_INSTR_BUDGET: the inline budget per tick (default: the runtime's, 64).
        let mut b = Runtime::builder().ring_entries(256);
        if let Ok(n) = std::env::var("READ_INSTR_BUDGET") {
            b = b.inline_reads_per_tick(n.parse().unwrap());
        }
        let rt = b.build().unwrap();
        let rt_ring = Runtime::builder()
            .ring_entries(256)
            .inline_reads_per_tick(0)
            .build()
            .unwrap();
        let file = Rc::new(rt.block_on(File::open(path)).unwrap());
        let file_ring = Rc::new(rt_ring.block_on(File::open(path)).unwrap());
        // The ring ringcore sets up on this kernel (src/sys/uring.rs).
        let mut b = IoUring::builder();
        b.setup_cqsize(512)
            .setup_clamp()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_taskrun_flag();
        let uring = b.build(256).unwrap();
        let std_file = StdFile::open(path).unwrap();
        let mut bufs: Vec<Vec<u8>> = (0..BATCH).map(|_| vec![0u8; BLOCK]).collect();
        let iovecs: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        // SAFETY: the buffers live in `Setup` as long as the ring, and are not resized.
        unsafe { uring.submitter().register_buffers(&iovecs).unwrap() };
        uring
            .submitter()
            .register_files(&[std_file.as_raw_fd()])
            .unwrap();
        Self {
            std_file,
            rt,
            file,
            rt_ring,
            file_ring,
            uring,
            bufs,
        }
    }

    /// Runs `offs` as 4 KiB reads the way `mode` reads.
    fn run(&mut self, mode: &str, offs: &Rc<Vec<u64>>) {
        match mode {
            "std" => sync_reads::std_reads(&self.std_file, offs, BLOCK),
            "preadv2" => sync_reads::preadv2_reads(&self.std_file, offs, BLOCK),
            "preadv2_asm" => preadv2_asm_reads(&self.std_file, offs),
            "uring_batch" => uring_batch(&mut self.uring, &self.std_file, &mut self.bufs, offs, 0),
            "uring_batch_fixed_file" => {
                uring_batch(&mut self.uring, &self.std_file, &mut self.bufs, offs, 1)
            }
            "uring_batch_fixed" => {
                uring_batch(&mut self.uring, &self.std_file, &mut self.bufs, offs, 2)
            }
            "task_preadv2" => {
                let fd = self.std_file.as_raw_fd();
                self.rt.block_on(task_reads(fd, offs.clone()))
            }
            "ringcore_qd1" => self
                .rt
                .block_on(ring_reads(self.file.clone(), offs.clone(), 1)),
            "ringcore_qd32" => self
                .rt
                .block_on(ring_reads(self.file.clone(), offs.clone(), BATCH)),
            "ringcore_ring_qd32" => {
                self.rt_ring
                    .block_on(ring_reads(self.file_ring.clone(), offs.clone(), BATCH))
            }
            other => panic!("unknown mode {other}"),
        }
    }

    /// Driver counters of the runtime `mode` runs on: (ops through the ring, enters,
    /// task polls).
    fn counters(&self, mode: &str) -> (u64, u64, u64) {
        let rt = if mode == "ringcore_ring_qd32" {
            &self.rt_ring
        } else {
            &self.rt
        };
        let m = rt.metrics();
        (m.driver.ops_submitted, m.driver.enters, m.tasks_polled)
    }
}

/// preadv2(fd, buf, off, RWF_NOWAIT) as ringcore makes it (src/sys/fd.rs): a bare
/// `syscall`; the count or `-errno`.
#[cfg(target_arch = "x86_64")]
#[inline]
fn preadv2_asm(fd: i32, buf: &mut [u8], off: u64) -> isize {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let n: isize;
    // SAFETY: the x86_64 syscall ABI (rax number; rdi, rsi, rdx, r10, r8, r9; rcx and r11
    // clobbered): preadv2(fd, &iov, 1, off, 0, RWF_NOWAIT) into the buffer we borrow.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_preadv2 as isize => n,
            in("rdi") fd as isize,
            in("rsi") &iov as *const libc::iovec,
            in("rdx") 1isize,
            in("r10") off as i64,
            in("r8") 0isize,
            in("r9") libc::RWF_NOWAIT as isize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    n
}

/// Elsewhere, libc's syscall() (as ringcore does there); the count or `-errno`.
#[cfg(not(target_arch = "x86_64"))]
fn preadv2_asm(fd: i32, buf: &mut [u8], off: u64) -> isize {
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: one iovec over the buffer we borrow; the fd is live.
    let n = unsafe {
        libc::syscall(
            libc::SYS_preadv2,
            fd,
            &iov as *const libc::iovec,
            1,
            off as libc::off_t,
            0,
            libc::RWF_NOWAIT,
        )
    };
    if n < 0 {
        -(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        n as isize
    }
}

fn preadv2_asm_reads(f: &StdFile, offs: &[u64]) {
    let mut buf = vec![0u8; BLOCK];
    for &off in offs {
        if preadv2_asm(f.as_raw_fd(), &mut buf, off) != BLOCK as isize {
            assert_eq!(f.read_at(&mut buf, off).unwrap(), BLOCK);
        }
    }
}

/// The task loop of `ring_reads` at QD1 around the bare preadv2 in a ready future: what
/// the caller's side of an awaited read costs on ringcore's executor, without `File`.
async fn task_reads(fd: i32, offs: Rc<Vec<u64>>) {
    let next = Rc::new(Cell::new(0usize));
    ringcore::spawn(async move {
        let mut buf = vec![0u8; BLOCK];
        loop {
            let i = next.get();
            if i >= offs.len() {
                break;
            }
            next.set(i + 1);
            let n = std::future::ready(preadv2_asm(fd, &mut buf, offs[i])).await;
            assert_eq!(n, BLOCK as isize);
        }
    })
    .await
    .unwrap();
}

/// `BATCH` READ SQEs per io_uring_enter, on a ring set up like ringcore's: what batching
/// costs with no runtime around it.
/// `fixed` 1: READ on the registered file (slot 0); 2: READ_FIXED on registered buffers
/// and the registered file.
fn uring_batch(ring: &mut IoUring, f: &StdFile, bufs: &mut [Vec<u8>], offs: &[u64], fixed: u8) {
    let fd = types::Fd(f.as_raw_fd());
    for chunk in offs.chunks(BATCH) {
        {
            let mut sq = ring.submission();
            for (i, (&off, buf)) in chunk.iter().zip(bufs.iter_mut()).enumerate() {
                let e = match fixed {
                    0 => opcode::Read::new(fd, buf.as_mut_ptr(), BLOCK as u32)
                        .offset(off)
                        .build(),
                    1 => opcode::Read::new(types::Fixed(0), buf.as_mut_ptr(), BLOCK as u32)
                        .offset(off)
                        .build(),
                    _ => opcode::ReadFixed::new(
                        types::Fixed(0),
                        buf.as_mut_ptr(),
                        BLOCK as u32,
                        i as u16,
                    )
                    .offset(off)
                    .build(),
                }
                .user_data(i as u64);
                // SAFETY: the buffer outlives the CQE, which is reaped below before the
                // next batch reuses it.
                unsafe { sq.push(&e).unwrap() };
            }
        }
        ring.submit_and_wait(chunk.len()).unwrap();
        let mut done = 0;
        for cqe in ring.completion() {
            assert_eq!(cqe.result(), BLOCK as i32);
            done += 1;
        }
        assert_eq!(done, chunk.len());
    }
}

/// Reads 4 KiB at every offset with `depth` tasks sharing one cursor.
async fn ring_reads(f: Rc<File>, offs: Rc<Vec<u64>>, depth: usize) {
    let next = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..depth)
        .map(|_| {
            let (f, offs, next) = (f.clone(), offs.clone(), next.clone());
            ringcore::spawn(async move {
                let mut buf = Vec::with_capacity(BLOCK);
                loop {
                    let i = next.get();
                    if i >= offs.len() {
                        break;
                    }
                    next.set(i + 1);
                    let (res, b) = f.read_at(buf, offs[i]).await;
                    assert_eq!(res.unwrap(), BLOCK);
                    buf = b;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The measured loop: callgrind collects only inside this function (its name is the
/// `--toggle-collect` pattern).
#[inline(never)]
fn read_instructions_measured(setup: &mut Setup, mode: &str, offs: &Rc<Vec<u64>>) {
    setup.run(mode, offs);
}

/// The child: one mode, `n` reads, run under callgrind by the parent.
fn child(mode: &str, path: &Path, n: usize) {
    let mut setup = Setup::new(path);
    warm(&setup.std_file);
    let mib = std::fs::metadata(path).unwrap().len();
    let all = offsets(mib, n + 2_000);
    // Untimed warm-up on other offsets of the same kind: lazy initialisation (the
    // runtime's first ticks, buffers' first page faults) stays out of the count.
    let warmup = Rc::new(all[n..].to_vec());
    setup.run(mode, &warmup);
    let offs = Rc::new(all[..n].to_vec());
    let before = setup.counters(mode);
    read_instructions_measured(&mut setup, mode, &offs);
    let after = setup.counters(mode);
    println!(
        "counters: ring_ops={} enters={} task_polls={}",
        after.0 - before.0,
        after.1 - before.1,
        after.2 - before.2
    );
}

/// Runs the child for `mode` and `n` reads under callgrind; returns the instructions
/// collected and the child's counter line.
fn callgrind(exe: &Path, out_dir: &Path, path: &Path, mode: &str, n: usize) -> (u64, String) {
    let out = out_dir.join(format!("callgrind.{mode}.{n}.out"));
    let res = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*read_instructions_measured*",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .env("READ_INSTR_CHILD", mode)
        .env("READ_INSTR_FILE", path)
        .env("READ_INSTR_N", n.to_string())
        .output()
        .expect("run valgrind");
    assert!(
        res.status.success(),
        "valgrind {mode}: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("totals:")
                .or_else(|| l.strip_prefix("summary:"))
        })
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .expect("callgrind totals");
    let counters = String::from_utf8_lossy(&res.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("counters: ").map(str::to_owned))
        .unwrap_or_default();
    (total, counters)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Alternating rounds of `base` and `variant` (order flipped every round); returns the
/// median ratio base/variant and the range.
fn ab(
    rounds: usize,
    mut base: impl FnMut() -> Duration,
    mut variant: impl FnMut() -> Duration,
) -> (f64, f64, f64) {
    let mut ratios = Vec::new();
    for r in 0..rounds {
        let (b, v) = if r % 2 == 0 {
            let b = base();
            (b, variant())
        } else {
            let v = variant();
            (base(), v)
        };
        ratios.push(b.as_secs_f64() / v.as_secs_f64());
    }
    let lo = ratios.iter().copied().fold(f64::MAX, f64::min);
    let hi = ratios.iter().copied().fold(f64::MIN, f64::max);
    (median(ratios), lo, hi)
}

/// User and system CPU time of this thread so far (getrusage(RUSAGE_THREAD): the kernel's
/// accounting, at its tick's granularity on this kernel; summed over many runs).
fn cpu_now() -> (Duration, Duration) {
    // SAFETY: getrusage writes one rusage struct into the zeroed value we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

/// Runs `f`, adds its user and system CPU time to `acc`, returns its wall time.
fn timed_cpu(acc: &Cell<(Duration, Duration)>, f: impl FnOnce()) -> Duration {
    let (u0, s0) = cpu_now();
    let t = timed(f);
    let (u1, s1) = cpu_now();
    let (u, s) = acc.get();
    acc.set((u + (u1 - u0), s + (s1 - s0)));
    t
}

fn timed(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

/// Sequential 128 KiB reads of the whole file: std against ringcore with one read in
/// flight (both read the same blocks).
fn seq_ratio(setup: &Setup, rounds: usize) -> (f64, f64, f64) {
    let len = setup.std_file.metadata().unwrap().len();
    let std_seq = || {
        let mut buf = vec![0u8; SEQ_BLOCK];
        let mut off = 0;
        while off < len {
            off += setup.std_file.read_at(&mut buf, off).unwrap() as u64;
        }
    };
    let ring_seq = || {
        let f = setup.file.clone();
        setup.rt.block_on(async move {
            let mut buf = Vec::with_capacity(SEQ_BLOCK);
            let mut off = 0;
            while off < len {
                let (res, b) = f.read_at(buf, off).await;
                off += res.unwrap() as u64;
                buf = b;
            }
        })
    };
    ab(
        rounds,
        || {
            std_seq();
            timed(std_seq)
        },
        || {
            ring_seq();
            timed(ring_seq)
        },
    )
}

fn main() {
    if let Ok(mode) = std::env::var("READ_INSTR_CHILD") {
        let path = PathBuf::from(std::env::var("READ_INSTR_FILE").unwrap());
        child(&mode, &path, env_num("READ_INSTR_N", 0) as usize);
        return;
    }
    // `cargo test --benches` runs bench binaries without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let reads = if quick { 200 } else { env_num("READS", 20_000) } as usize;
    let rounds = if quick { 1 } else { env_num("ROUNDS", 11) } as usize;
    let mib = env_num("READ_INSTR_MIB", if quick { 4 } else { 64 });
    let modes: Vec<&str> = match std::env::var("READ_INSTR_MODES") {
        Ok(s) => MODES
            .iter()
            .map(|m| m.0)
            .filter(|m| s.split(',').any(|x| x == *m))
            .collect(),
        Err(_) => MODES.iter().map(|m| m.0).collect(),
    };
    let dir = PathBuf::from("target/read-instructions");
    let path = dir.join(format!("data-{mib}mib.bin"));
    make_file(&path, mib);
    let path = path.canonicalize().unwrap();

    let have_valgrind = Command::new("valgrind").arg("--version").output().is_ok();
    let mut instr: Vec<Option<(f64, String)>> = vec![None; modes.len()];
    if env_num("VALGRIND", 1) == 1 && !quick {
        if have_valgrind {
            let exe = std::env::current_exe().unwrap();
            for (i, mode) in modes.iter().enumerate() {
                let (t0, _) = callgrind(&exe, &dir, &path, mode, BASE_READS);
                let (t1, counters) = callgrind(&exe, &dir, &path, mode, BASE_READS + reads);
                let per = (t1 as f64 - t0 as f64) / reads as f64;
                println!(
                    "{mode:<20} {per:8.1} instructions per read  ({counters} for {} reads)",
                    BASE_READS + reads
                );
                instr[i] = Some((per, counters));
            }
        } else {
            println!(
                "valgrind not found: no instruction counts (scripts/read_instructions.sh installs it)"
            );
        }
    }

    let mut wall: Vec<Option<(f64, f64, f64)>> = vec![None; modes.len()];
    // CPU per read (user ns, system ns), summed over every timed run of the mode.
    let mut cpu: Vec<Option<(f64, f64)>> = vec![None; modes.len()];
    let std_cpu = Cell::new((Duration::ZERO, Duration::ZERO));
    let mut std_runs = 0usize;
    let mut seq = None;
    if env_num("WALL", 1) == 1 {
        let mut setup = Setup::new(&path);
        warm(&setup.std_file);
        let offs = Rc::new(offsets(mib << 20, reads));
        let std_file = StdFile::open(&path).unwrap();
        for (i, mode) in modes.iter().enumerate() {
            if *mode == "std" {
                continue;
            }
            let setup = std::cell::RefCell::new(&mut setup);
            let acc = Cell::new((Duration::ZERO, Duration::ZERO));
            let r = ab(
                rounds,
                || {
                    sync_reads::std_reads(&std_file, &offs, BLOCK);
                    timed_cpu(&std_cpu, || sync_reads::std_reads(&std_file, &offs, BLOCK))
                },
                || {
                    sync_reads::std_reads(&std_file, &offs, BLOCK);
                    timed_cpu(&acc, || setup.borrow_mut().run(mode, &offs))
                },
            );
            std_runs += rounds;
            let n = (rounds * reads) as f64;
            let (u, s) = acc.get();
            cpu[i] = Some((u.as_nanos() as f64 / n, s.as_nanos() as f64 / n));
            println!(
                "{mode:<20} std / {mode}: {:.3}x (rounds {:.3}-{:.3})",
                r.0, r.1, r.2
            );
            wall[i] = Some(r);
        }
        let r = seq_ratio(&setup, rounds);
        println!(
            "seq 128 KiB          std / ringcore QD1: {:.3}x (rounds {:.3}-{:.3})",
            r.0, r.1, r.2
        );
        seq = Some(r);
        if let Some(i) = modes.iter().position(|m| *m == "std")
            && std_runs > 0
        {
            let n = (std_runs * reads) as f64;
            let (u, s) = std_cpu.get();
            cpu[i] = Some((u.as_nanos() as f64 / n, s.as_nanos() as f64 / n));
        }
    }

    println!();
    println!(
        "| path | user-space instructions per 4 KiB read | wall: std QD1 time / this (median, range of {rounds} rounds) | CPU per read, user + system (ns) |"
    );
    println!("|---|---|---|---|");
    for (i, mode) in modes.iter().enumerate() {
        let what = MODES.iter().find(|m| m.0 == *mode).unwrap().1;
        let ins = instr[i]
            .as_ref()
            .map_or("-".to_owned(), |(p, _)| format!("{p:.1}"));
        let w = match wall[i] {
            Some((m, lo, hi)) => format!("{m:.2}x ({lo:.2}-{hi:.2})"),
            None if *mode == "std" => "1.00x".to_owned(),
            None => "-".to_owned(),
        };
        let c = cpu[i].map_or("-".to_owned(), |(u, s)| format!("{u:.0} + {s:.0}"));
        println!("| {what} | {ins} | {w} | {c} |");
    }
    if let Some((m, lo, hi)) = seq {
        println!(
            "| sequential 128 KiB, ringcore QD1 against std | | {m:.2}x ({lo:.2}-{hi:.2}) | |"
        );
    }
    println!();
    println!(
        "{reads} reads of 4 KiB at random offsets of a {mib} MiB file, page cache warm; instructions: callgrind, ({} reads - {BASE_READS} reads) / {reads}",
        BASE_READS + reads
    );
}
