//! How random-read throughput grows with queue depth and block size: ringcore beside
//! blocking std, page cache warm and cold.
//!
//! ```text
//! cargo bench --bench sweep_reads                      # about 3 minutes
//! READS_SWEEP_QD=1,32 READS_SWEEP_BS=4096 READS_SWEEP_CACHE=cold cargo bench --bench sweep_reads
//! READS_SWEEP_READERS=std,ringcore cargo bench --bench sweep_reads
//! ```
//!
//! A file of `READS_SWEEP_MIB` MiB (default 512) of pseudo-random bytes in a temp dir under
//! `READS_SWEEP_DIR` (default `target`), written and fsynced once. For every cache state
//! (`READS_SWEEP_CACHE`, default `warm,cold`), block size (`READS_SWEEP_BS`, default 4, 16,
//! 64, 256 KiB and 1 MiB) and queue depth (`READS_SWEEP_QD`, default 1, 4, 16, 64, 256),
//! every reader (`READS_SWEEP_READERS`, default all of [`READERS`]) reads the same list of
//! distinct block-aligned random offsets, each block whole:
//!
//! - `std`: blocking `FileExt::read_exact_at` (pread(2)); at queue depth N, N threads
//!   (not pinned, so on this 2-CPU machine they use both CPUs) pull offsets from a shared
//!   counter. The clock starts once every thread is ready.
//! - `ringcore`: one ringcore core (`ring_entries(256)`), N tasks each awaiting
//!   `File::read_exact_at`; cached data is read inline with preadv2(RWF_NOWAIT) when a
//!   read would go out alone (the runtime's default).
//! - `ringcore_ring`: the same with `inline_reads_per_tick(0)`: every read is an SQE.
//!
//! A new read path is one more name in [`READERS`] and one more arm in [`run_reader`].
//!
//! Warm: the file is read once before the warm points; each point reads
//! `READS_SWEEP_WARM_MIB` MiB (default 256). Cold: posix_fadvise(POSIX_FADV_DONTNEED) on
//! the whole file before every reader's run; each point reads `READS_SWEEP_COLD_MIB` MiB
//! (default 32). A point reads at least 2 × QD blocks and at most the whole file. Offsets
//! within a point are distinct blocks, so a cold run never reads a block twice (the
//! kernel's readahead may still bring in neighbours). Prints MiB/s and the ratio to std
//! at the same point, and writes JSON lines to `target/bench-results/reads.jsonl`.
//!
//! Every point runs `READS_SWEEP_REPS` times (default 5), the readers alternating; the
//! figures are the fastest repetition's, the one least disturbed by other processes (the
//! JSON lines also give the median and the slowest).

#[path = "support/results.rs"]
mod results;
use results::{Record, Results};

use std::fs::File as StdFile;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// Every reader, in the order each point runs them (`std` first: the ratios are to it).
const READERS: &[&str] = &["std", "ringcore", "ringcore_ring"];

fn env_list(var: &str, default: &[u64]) -> Vec<u64> {
    match std::env::var(var) {
        Ok(s) => s
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{var}: not a number: {n:?}"))
            })
            .collect(),
        Err(_) => default.to_vec(),
    }
}

fn env_u64(var: &str, default: u64) -> u64 {
    env_list(var, &[default])[0]
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn make_file(path: &Path, mib: u64) {
    let mut f = std::io::BufWriter::new(StdFile::create(path).expect("create the file"));
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for c in block.chunks_exact_mut(8) {
            c.copy_from_slice(&rng.next().to_le_bytes());
        }
        f.write_all(&block).expect("write the file");
    }
    let f = f.into_inner().expect("flush the file");
    f.sync_all().expect("fsync the file");
}

/// `count` distinct `bs`-aligned offsets in a file of `len` bytes, in random order.
fn offsets(rng: &mut Rng, len: u64, bs: u64, count: usize) -> Vec<u64> {
    let mut slots: Vec<u64> = (0..len / bs).collect();
    let count = count.min(slots.len());
    for i in 0..count {
        let j = i + (rng.next() % (slots.len() - i) as u64) as usize;
        slots.swap(i, j);
    }
    slots.truncate(count);
    slots.into_iter().map(|s| s * bs).collect()
}

fn drop_cache(path: &Path) {
    let f = StdFile::open(path).expect("open for fadvise");
    // SAFETY: posix_fadvise on an open fd; it only drops clean cached pages.
    let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    assert_eq!(rc, 0, "posix_fadvise(DONTNEED)");
}

fn warm(path: &Path) {
    let f = StdFile::open(path).expect("open to warm");
    let mut buf = vec![0u8; 1 << 20];
    let mut off = 0;
    loop {
        let n = f.read_at(&mut buf, off).expect("read to warm");
        if n == 0 {
            break;
        }
        off += n as u64;
    }
}

/// Reads `bs` bytes at every offset with `qd` readers; returns the time taken.
fn run_reader(kind: &str, path: &Path, offs: &Arc<Vec<u64>>, bs: usize, qd: usize) -> Duration {
    match kind {
        "std" => std_reads(path, offs, bs, qd),
        "ringcore" => ring_reads(
            ringcore::Runtime::builder().ring_entries(256),
            path,
            offs,
            bs,
            qd,
        ),
        "ringcore_ring" => ring_reads(
            ringcore::Runtime::builder()
                .ring_entries(256)
                .inline_reads_per_tick(0),
            path,
            offs,
            bs,
            qd,
        ),
        other => panic!("unknown reader {other:?} (known: {READERS:?})"),
    }
}

fn std_reads(path: &Path, offs: &Arc<Vec<u64>>, bs: usize, qd: usize) -> Duration {
    let f = Arc::new(StdFile::open(path).expect("open"));
    let next = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(qd));
    let threads: Vec<_> = (0..qd)
        .map(|_| {
            let (f, next, start, offs) = (f.clone(), next.clone(), start.clone(), offs.clone());
            std::thread::spawn(move || {
                let mut buf = touched(bs);
                start.wait();
                let t0 = Instant::now();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&off) = offs.get(i) else { break };
                    f.read_exact_at(&mut buf, off).expect("pread");
                }
                (t0, Instant::now())
            })
        })
        .collect();
    // From the first thread's start to the last one's end (on 2 CPUs the threads may run
    // before this thread is scheduled again, so it cannot hold the clock itself).
    let spans: Vec<(Instant, Instant)> = threads
        .into_iter()
        .map(|t| t.join().expect("reader thread"))
        .collect();
    let first = spans.iter().map(|s| s.0).min().expect("one thread");
    let last = spans.iter().map(|s| s.1).max().expect("one thread");
    last - first
}

/// A `bs`-byte buffer whose pages are all faulted in (a fresh `vec![0; bs]` of a large
/// size is mapped lazily, and the first read into it would pay the page faults).
fn touched(bs: usize) -> Vec<u8> {
    let mut buf = vec![0u8; bs];
    buf.fill(1);
    buf
}

fn ring_reads(
    builder: ringcore::Builder,
    path: &Path,
    offs: &Arc<Vec<u64>>,
    bs: usize,
    qd: usize,
) -> Duration {
    let rt = builder.build().expect("ringcore runtime");
    rt.block_on(async {
        let f = Rc::new(ringcore::fs::File::open(path).await.expect("open"));
        // Buffers are allocated (and faulted in) before the clock starts, as std's are.
        let bufs: Vec<Vec<u8>> = (0..qd).map(|_| touched(bs)).collect();
        let next = Rc::new(std::cell::Cell::new(0usize));
        let t0 = Instant::now();
        let tasks: Vec<_> = bufs
            .into_iter()
            .map(|mut buf| {
                let (f, next, offs) = (f.clone(), next.clone(), offs.clone());
                ringcore::spawn(async move {
                    loop {
                        let i = next.get();
                        let Some(&off) = offs.get(i) else { break };
                        next.set(i + 1);
                        buf.clear();
                        let (res, b) = f.read_exact_at(buf, off).await;
                        res.expect("read");
                        buf = b;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("reader task");
        }
        t0.elapsed()
    })
}

fn main() {
    let mib = env_u64("READS_SWEEP_MIB", 512);
    let bss = env_list("READS_SWEEP_BS", &[4096, 16384, 65536, 262144, 1 << 20]);
    let qds = env_list("READS_SWEEP_QD", &[1, 4, 16, 64, 256]);
    let warm_mib = env_u64("READS_SWEEP_WARM_MIB", 256);
    let cold_mib = env_u64("READS_SWEEP_COLD_MIB", 32);
    let reps = env_u64("READS_SWEEP_REPS", 5).max(1) as usize;
    let caches = std::env::var("READS_SWEEP_CACHE").unwrap_or_else(|_| "warm,cold".into());
    let readers: Vec<&str> = match std::env::var("READS_SWEEP_READERS") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                *READERS
                    .iter()
                    .find(|k| **k == n)
                    .unwrap_or_else(|| panic!("unknown reader {n:?} (known: {READERS:?})"))
            })
            .collect(),
        Err(_) => READERS.to_vec(),
    };
    let dir = tempfile::tempdir_in(
        std::env::var("READS_SWEEP_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").to_string()),
    )
    .expect("temp dir");
    let path = dir.path().join("sweep.bin");
    let len = mib << 20;
    let t = Instant::now();
    make_file(&path, mib);
    println!(
        "file: {mib} MiB in {} (written and fsynced in {:.1} s); readers {readers:?}",
        dir.path().display(),
        t.elapsed().as_secs_f64()
    );
    let mut out = Results::create("reads");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    println!("| cache | block | QD | reader | reads | MiB/s | reads/s | ratio to std |");
    println!("|---|---|---|---|---|---|---|---|");
    for cache in caches.split(',') {
        let budget = match cache {
            "warm" => {
                warm(&path);
                warm_mib << 20
            }
            "cold" => cold_mib << 20,
            other => panic!("READS_SWEEP_CACHE: unknown {other:?} (warm, cold)"),
        };
        for &bs in &bss {
            for &qd in &qds {
                let count = (budget / bs).max(2 * qd).min(len / bs) as usize;
                let offs = Arc::new(offsets(&mut rng, len, bs, count));
                // Repetitions alternate between readers, so all see the same machine.
                let mut times: Vec<Vec<f64>> = vec![Vec::new(); readers.len()];
                for _ in 0..reps {
                    for (i, &kind) in readers.iter().enumerate() {
                        if cache == "cold" {
                            drop_cache(&path);
                        }
                        let d = run_reader(kind, &path, &offs, bs as usize, qd as usize);
                        times[i].push(d.as_secs_f64());
                    }
                }
                // (reader, fastest, median, slowest): the fastest repetition is the one
                // least disturbed by other processes on a shared machine.
                let rows: Vec<(&str, f64, f64, f64)> = readers
                    .iter()
                    .zip(times.iter_mut())
                    .map(|(&kind, t)| {
                        t.sort_by(f64::total_cmp);
                        (kind, t[0], t[t.len() / 2], t[t.len() - 1])
                    })
                    .collect();
                let std_secs = rows.iter().find(|r| r.0 == "std").map(|r| r.1);
                for (kind, secs, median, max) in rows {
                    let bytes = (offs.len() as u64 * bs) as f64;
                    let mib_s = bytes / secs / (1024.0 * 1024.0);
                    let ratio = std_secs.map(|s| s / secs);
                    println!(
                        "| {cache} | {} KiB | {qd} | {kind} | {} | {mib_s:.1} | {:.0} | {} |",
                        bs / 1024,
                        offs.len(),
                        offs.len() as f64 / secs,
                        ratio.map_or_else(|| "-".into(), |r| format!("{r:.2}x")),
                    );
                    out.write(
                        Record::new()
                            .str("family", "reads")
                            .str("cache", cache)
                            .str("reader", kind)
                            .int("bs", bs)
                            .int("qd", qd)
                            .int("reads", offs.len() as u64)
                            .int("reps", reps as u64)
                            .num("secs", secs)
                            .num("secs_median", median)
                            .num("secs_max", max)
                            .num("mib_per_s", mib_s)
                            .num("reads_per_s", offs.len() as f64 / secs)
                            .opt("ratio_to_std", ratio),
                    );
                }
            }
        }
    }
    println!("(JSON lines in {})", out.path().display());
}
