//! File fast paths, side by side in alternating rounds: random 4 KiB reads (page cache
//! warm at QD1 and QD32, cold at QD1) against a blocking std pread loop, and whole-file
//! copies against `cp` and `std::fs::copy`.
//!
//! ```text
//! cargo build --release --example file_copy      # for the `copy` group's process rows
//! cargo bench --bench file_fast_paths [-- GROUP...]   # GROUP: warm, cold, copy
//! ```
//!
//! A plain bench binary (`harness = false`). Each round runs the baseline and the
//! variant once each, in alternating order (so drift and the other sessions' load fall
//! on both), and the ratio of the round is baseline time / variant time (higher is
//! better). It prints, per row, the median times, the median ratio and the range of the
//! per-round ratios. `ROUNDS` (default 11) and `FAST_PATHS_MIB` (default 256, the file
//! size) change the run; the file lives in a temp dir under `target/` (`FAST_PATHS_DIR`).
//! `FILE_COPY_BIN` adds a row for another build of the example (run without flags), and
//! `SPLICE_PIPE` sets the pipe size of the splice row (bytes).
//!
//! Cold reads evict the file before every round (fsync, then
//! posix_fadvise(POSIX_FADV_DONTNEED)), so every read misses the page cache. Copies
//! start with `sync(2)` (not timed) and an absent destination, so no copy pays for the
//! previous one's writeback; for processes, CPU is user + system time of the child
//! (getrusage(RUSAGE_CHILDREN)), in-process it is the whole process's (RUSAGE_SELF,
//! the blocking pool's thread included).

#[path = "support/random_reads.rs"]
mod random_reads;
#[path = "support/sync_reads.rs"]
mod sync_reads;
use random_reads::random_reads;

use std::fs::File as StdFile;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::fs::File;

const WARM_READS: usize = 20_000;
const COLD_READS: usize = 2_000;
const COLD_CHUNK: usize = 20;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Wall time and CPU time (user + system) of one run.
#[derive(Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

fn cpu_of(who: i32) -> Duration {
    // SAFETY: getrusage writes one rusage struct into the zeroed value we own.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut ru);
        ru
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn measure(who: i32, f: impl FnOnce()) -> Sample {
    let cpu0 = cpu_of(who);
    let t0 = Instant::now();
    f();
    let wall = t0.elapsed();
    Sample {
        wall,
        cpu: cpu_of(who).saturating_sub(cpu0),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// One A/B row: `rounds` alternating runs of `base` and `variant` (each returns its
/// sample); prints median wall (and CPU if `show_cpu`) and the ratio base/variant.
fn ab(
    label: &str,
    rounds: usize,
    show_cpu: bool,
    mut base: impl FnMut() -> Sample,
    mut variant: impl FnMut() -> Sample,
) {
    let (mut b, mut v) = (Vec::new(), Vec::new());
    for r in 0..rounds {
        if r % 2 == 0 {
            b.push(base());
            v.push(variant());
        } else {
            v.push(variant());
            b.push(base());
        }
    }
    report(label, &b, &v, show_cpu);
}

/// Prints one row: median times, median of the per-round ratios base/variant and their
/// range.
fn report(label: &str, b: &[Sample], v: &[Sample], show_cpu: bool) {
    let rounds = b.len();
    let ms = |s: &[Sample], cpu: bool| {
        median(
            s.iter()
                .map(|x| if cpu { x.cpu } else { x.wall }.as_secs_f64() * 1e3)
                .collect(),
        )
    };
    let ratios: Vec<f64> = b
        .iter()
        .zip(v)
        .map(|(b, v)| b.wall.as_secs_f64() / v.wall.as_secs_f64())
        .collect();
    let (lo, hi) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
    let total = |s: &[Sample]| s.iter().map(|x| x.wall.as_secs_f64()).sum::<f64>();
    let mut line = format!(
        "{label:<52} base {:8.2} ms  variant {:8.2} ms  ratio {:.3}x (of totals {:.3}x; rounds {lo:.3}-{hi:.3}, {rounds} rounds)",
        ms(b, false),
        ms(v, false),
        median(ratios.clone()),
        total(b) / total(v),
    );
    if show_cpu {
        let cpu_ratio = median(
            b.iter()
                .zip(v)
                .map(|(b, v)| v.cpu.as_secs_f64() / b.cpu.as_secs_f64().max(1e-9))
                .collect(),
        );
        line.push_str(&format!(
            "  cpu base {:.1} ms variant {:.1} ms (variant/base {cpu_ratio:.2}x)",
            ms(b, true),
            ms(v, true)
        ));
    }
    println!("{line}");
}

fn make_file(path: &Path, mib: u64) {
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

fn offsets(len: u64, n: usize, seed: u64) -> Vec<u64> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % (len / 4096)) * 4096
        })
        .collect()
}

fn warm(path: &Path) {
    let f = StdFile::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    while let Ok(n @ 1..) = f.read_at(&mut buf, off) {
        off += n as u64;
    }
}

/// Drops the file's pages from the page cache (they are clean: the file was synced).
fn evict(path: &Path) {
    let f = StdFile::open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: plain syscall on a live fd.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise");
}

async fn ring_reads(f: Rc<File>, offsets: Rc<Vec<u64>>, depth: usize) {
    random_reads(f, offsets, depth, || Vec::with_capacity(4096)).await
}

fn warm_reads(src: &Path, len: u64, rounds: usize, rt: &Runtime) {
    let std_file = StdFile::open(src).unwrap();
    let ring_file = Rc::new(rt.block_on(File::open(src)).unwrap());
    let offs = Rc::new(offsets(len, WARM_READS, 0x9e37_79b9_7f4a_7c15));
    warm(src);
    // Before every timed run, the same reads untimed: pages that left the cache since
    // (proactive reclaim, other processes) are back, so "warm" means warm on both sides.
    let rewarm = || sync_reads::std_reads(&std_file, &offs, 4096);
    // The floor: the same reads as raw preadv2(RWF_NOWAIT) syscalls on this thread, what
    // the inline path costs without any runtime around it.
    ab(
        "rand 4k warm: std pread / raw preadv2 NOWAIT",
        rounds,
        false,
        || {
            rewarm();
            measure(libc::RUSAGE_SELF, || {
                sync_reads::std_reads(&std_file, &offs, 4096)
            })
        },
        || {
            rewarm();
            measure(libc::RUSAGE_SELF, || {
                sync_reads::preadv2_reads(&std_file, &offs, 4096)
            })
        },
    );
    for depth in [1, 32] {
        let m0 = rt.metrics();
        rt.block_on(ring_reads(ring_file.clone(), offs.clone(), depth));
        let m1 = rt.metrics();
        println!(
            "  ringcore QD{depth}, {WARM_READS} warm reads: {} through the ring, {} task polls, {} io_uring_enter",
            m1.driver.ops_submitted - m0.driver.ops_submitted,
            m1.tasks_polled - m0.tasks_polled,
            m1.driver.enters - m0.driver.enters,
        );
        ab(
            &format!("rand 4k warm: std pread QD1 / ringcore QD{depth}"),
            rounds,
            false,
            || {
                rewarm();
                measure(libc::RUSAGE_SELF, || {
                    sync_reads::std_reads(&std_file, &offs, 4096)
                })
            },
            || {
                rewarm();
                measure(libc::RUSAGE_SELF, || {
                    rt.block_on(ring_reads(ring_file.clone(), offs.clone(), depth))
                })
            },
        );
    }
}

/// Cold reads: every round evicts the file, then std, ringcore and ringcore without the
/// inline path take turns, a chunk of COLD_CHUNK reads each (the first side rotates per
/// chunk), at distinct offsets, so all see the same disk at the same moments. A round's
/// time per side is the sum of its chunks.
fn cold_reads(src: &Path, len: u64, rounds: usize, rt: &Runtime) {
    // The same reads with the inline path off (`inline_reads_per_tick(0)`): every read
    // goes straight to the ring, never paying a failed preadv2 first.
    let rt_ring = Runtime::builder()
        .ring_entries(256)
        .inline_reads_per_tick(0)
        .build()
        .expect("io_uring runtime");
    let std_file = StdFile::open(src).unwrap();
    let ring_file = Rc::new(rt.block_on(File::open(src)).unwrap());
    let ring_only_file = Rc::new(rt_ring.block_on(File::open(src)).unwrap());
    let blocks = len / 4096;
    let zero = Sample {
        wall: Duration::ZERO,
        cpu: Duration::ZERO,
    };
    let mut sums = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..rounds as u64 {
        evict(src);
        // A stride coprime with the block count visits distinct blocks in a scattered order.
        let stride = 7919 * 4093;
        let start = round * 104_729;
        let all: Vec<u64> = (0..3 * COLD_READS as u64)
            .map(|i| ((start + i * stride) % blocks) * 4096)
            .collect();
        let mut acc = [zero; 3];
        for (k, chunk) in all.chunks(3 * COLD_CHUNK).enumerate() {
            for turn in 0..3 {
                // Rotate which side goes first, chunk by chunk.
                let side = (turn + k) % 3;
                let Some(offs) = chunk.chunks(COLD_CHUNK).nth(side) else {
                    continue;
                };
                let offs = Rc::new(offs.to_vec());
                let s = measure(libc::RUSAGE_SELF, || match side {
                    0 => sync_reads::std_reads(&std_file, &offs, 4096),
                    1 => rt.block_on(ring_reads(ring_file.clone(), offs.clone(), 1)),
                    _ => rt_ring.block_on(ring_reads(ring_only_file.clone(), offs.clone(), 1)),
                });
                acc[side].wall += s.wall;
                acc[side].cpu += s.cpu;
            }
        }
        for (sum, a) in sums.iter_mut().zip(acc) {
            sum.push(a);
        }
    }
    report(
        &format!("rand 4k cold: std pread QD1 / ringcore QD1 ({COLD_READS} each)"),
        &sums[0],
        &sums[1],
        false,
    );
    report(
        "rand 4k cold: std pread QD1 / ring only (no inline)",
        &sums[0],
        &sums[2],
        false,
    );
}

fn example_bin() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?.parent()?.join("examples").join("file_copy");
    bin.exists().then_some(bin)
}

fn run_process(cmd: &mut Command) -> Sample {
    measure(libc::RUSAGE_CHILDREN, || {
        let out = cmd.output().expect("spawn");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    })
}

fn splice_copy(src: &Path, dst: &Path) {
    // SPLICE_PIPE sets the pipe size in bytes (default 1 MiB, the default pipe-max-size).
    let pipe = env_num("SPLICE_PIPE", 1 << 20) as i32;
    let from = StdFile::open(src).unwrap();
    let to = StdFile::create(dst).unwrap();
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into our array; fcntl and splice take live fds and
    // null offsets (use the files' positions).
    unsafe {
        assert_eq!(libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC), 0);
        libc::fcntl(fds[1], libc::F_SETPIPE_SZ, pipe);
        loop {
            let n = libc::splice(
                from.as_raw_fd(),
                std::ptr::null_mut(),
                fds[1],
                std::ptr::null_mut(),
                pipe as usize,
                libc::SPLICE_F_MOVE,
            );
            assert!(n >= 0, "splice in");
            if n == 0 {
                break;
            }
            let mut left = n as usize;
            while left > 0 {
                let m = libc::splice(
                    fds[0],
                    std::ptr::null_mut(),
                    to.as_raw_fd(),
                    std::ptr::null_mut(),
                    left,
                    libc::SPLICE_F_MOVE,
                );
                assert!(m > 0, "splice out");
                left -= m as usize;
            }
        }
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
}

fn copies(src: &Path, rounds: usize, rt: &Runtime) {
    let dst = src.with_file_name("copy.bin");
    warm(src);
    let fresh = || {
        let _ = std::fs::remove_file(&dst);
        // SAFETY: sync(2) takes no arguments.
        unsafe { libc::sync() };
    };
    ab(
        "copy: std::fs::copy / ringcore fs::copy",
        rounds,
        true,
        || {
            fresh();
            measure(libc::RUSAGE_SELF, || {
                std::fs::copy(src, &dst).unwrap();
            })
        },
        || {
            fresh();
            measure(libc::RUSAGE_SELF, || {
                rt.block_on(ringcore::fs::copy(src, &dst)).unwrap();
            })
        },
    );
    // IORING_OP_SPLICE's work without the ring: file -> pipe -> file with blocking
    // splice(2) calls through a 1 MiB pipe. If this is not faster than copy_file_range
    // (a splice through an internal pipe on ext4), the ring version is not either.
    ab(
        "copy: std::fs::copy / splice loop via a pipe",
        rounds,
        true,
        || {
            fresh();
            measure(libc::RUSAGE_SELF, || {
                std::fs::copy(src, &dst).unwrap();
            })
        },
        || {
            fresh();
            measure(libc::RUSAGE_SELF, || splice_copy(src, &dst))
        },
    );
    let Some(bin) = example_bin() else {
        println!("copy: cp / file_copy: skipped (cargo build --release --example file_copy first)");
        return;
    };
    // FILE_COPY_BIN: another build of the example (say, of an older commit), run with no
    // flags against cp.
    if let Ok(other) = std::env::var("FILE_COPY_BIN") {
        ab(
            &format!("copy: cp / {other} (processes)"),
            rounds,
            true,
            || {
                fresh();
                run_process(Command::new("cp").arg(src).arg(&dst))
            },
            || {
                fresh();
                run_process(Command::new(&other).arg(src).arg(&dst))
            },
        );
    }
    for method in ["range", "ring"] {
        ab(
            &format!("copy: cp / file_copy --method {method} (processes)"),
            rounds,
            true,
            || {
                fresh();
                run_process(Command::new("cp").arg(src).arg(&dst))
            },
            || {
                fresh();
                run_process(
                    Command::new(&bin)
                        .arg(src)
                        .arg(&dst)
                        .args(["--method", method]),
                )
            },
        );
    }
    let _ = std::fs::remove_file(&dst);
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let groups: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |g: &str| groups.is_empty() || groups.iter().any(|a| a == g);
    let rounds = if quick { 1 } else { env_num("ROUNDS", 11) } as usize;
    let mib = if quick {
        8
    } else {
        env_num("FAST_PATHS_MIB", 256)
    };
    let dir =
        tempfile::tempdir_in(std::env::var("FAST_PATHS_DIR").unwrap_or_else(|_| "target".into()))
            .expect("temp dir");
    let src = dir.path().join("src.bin");
    make_file(&src, mib);
    let rt = Runtime::builder()
        .ring_entries(256)
        .build()
        .expect("io_uring runtime");
    if wants("warm") {
        warm_reads(&src, mib << 20, rounds, &rt);
    }
    if wants("cold") {
        cold_reads(&src, mib << 20, rounds, &rt);
    }
    if wants("copy") {
        copies(&src, rounds, &rt);
    }
}
