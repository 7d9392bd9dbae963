//! The inline-read tracker on a real file: reads that miss the page cache switch it off,
//! reads that hit switch it back on.

use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::{FIRST_GAP, SKIP_AFTER_MISSES};
use crate::fs::File;

const MIB: u64 = 1 << 20;
const LEN: u64 = 32 * MIB;
/// Reads land 512 KiB apart, so a read's readahead (a small window for a random read)
/// does not cover the next one.
const STRIDE: u64 = 512 * 1024;

fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// Drops the (clean, synced) file's pages from the page cache and checks that it worked:
/// a preadv2(RWF_NOWAIT) at offset 0 must answer EAGAIN. No read below uses offset 0.
fn evict(path: &Path) -> bool {
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    // SAFETY: plain syscall on a live fd.
    let rc = unsafe {
        libc::posix_fadvise(
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
            0,
            libc::POSIX_FADV_DONTNEED,
        )
    };
    assert_eq!(rc, 0);
    let mut probe = [0u8; 4096];
    // SAFETY: 4096 writable bytes of our own array.
    let res = unsafe { crate::sys::fd::pread_nowait(f.as_fd(), probe.as_mut_ptr(), 4096, 0) };
    res == -(libc::EAGAIN as isize)
}

/// A 32 MiB file in a directory where eviction works (not tmpfs): the temp dir, else
/// under target/.
fn cold_file() -> (tempfile::TempDir, std::path::PathBuf) {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let candidates = [std::env::temp_dir(), target];
    for base in candidates {
        let _ = std::fs::create_dir_all(&base);
        let dir = tempfile::tempdir_in(&base).unwrap();
        let path = dir.path().join("cold.bin");
        let data: Vec<u8> = (0..LEN).map(pattern).collect();
        std::fs::write(&path, &data).unwrap();
        if evict(&path) {
            return (dir, path);
        }
    }
    panic!("posix_fadvise(DONTNEED) evicts nothing in the temp dir nor under target/");
}

/// The i-th read's offset: strided, in an order the kernel does not take for sequential.
fn offset(i: u64) -> u64 {
    let blocks = LEN / STRIDE;
    (1 + (i * 37) % (blocks - 1)) * STRIDE
}

async fn read_and_check(file: &File, i: u64) {
    let pos = offset(i);
    let (res, buf) = file.read_exact_at(Vec::with_capacity(4096), pos).await;
    res.unwrap();
    assert!(
        buf.iter()
            .enumerate()
            .all(|(k, &b)| b == pattern(pos + k as u64)),
        "wrong bytes at {pos}"
    );
}

#[test]
fn reads_that_miss_switch_inline_reads_off_and_hits_switch_them_back_on() {
    // The cold phases need the sampled pages to stay out of the page cache from the
    // eviction to their read. Readahead (a device's read_ahead_kb can be 8 MiB) or the
    // kernel's page-cache scanners can bring one back; a hit is then counted and the phase
    // is not the one it claims to be. Such a run starts over on a freshly written and
    // evicted file, at most three times; any other difference fails at once.
    let mut brought_back = Vec::new();
    for _ in 0..3 {
        match miss_then_hit() {
            Ok(()) => return,
            Err(why) => brought_back.push(why),
        }
    }
    panic!("a page came back into the cache in every run: {brought_back:?}");
}

/// One run of the test above; `Err` when a read that had to miss hit the page cache.
fn miss_then_hit() -> Result<(), String> {
    let (_dir, path) = cold_file();
    crate::block_on(async {
        let file = File::open(&path).await.unwrap();
        let mut i = 0;
        // Cold: each of the first SKIP_AFTER_MISSES reads tries preadv2, misses, and goes
        // through the ring; then the file is skipping.
        for _ in 0..SKIP_AFTER_MISSES {
            assert!(!file.nowait_skipping());
            read_and_check(&file, i).await;
            i += 1;
        }
        let c = file.nowait_counts();
        if c.hits != 0 {
            return Err(format!("cold phase: {c:?}"));
        }
        assert_eq!((c.hits, c.misses, c.skipped), (0, 4, 0), "{c:?}");
        assert!(file.nowait_skipping());
        // The next FIRST_GAP reads skip the attempt; the one after probes (and misses).
        for _ in 0..=FIRST_GAP {
            read_and_check(&file, i).await;
            i += 1;
        }
        let c = file.nowait_counts();
        if c.hits != 0 {
            return Err(format!("skipping phase: {c:?}"));
        }
        assert_eq!((c.hits, c.misses, c.skipped), (0, 5, 8), "{c:?}");
        assert!(file.nowait_skipping());

        // Cache the whole file; the next probe (at most 2 * FIRST_GAP + 1 reads away)
        // hits, and from then on every read is tried and hits.
        let std_file = std::fs::File::open(&path).unwrap();
        let mut block = vec![0u8; MIB as usize];
        for k in 0..LEN / MIB {
            std_file.read_exact_at(&mut block, k * MIB).unwrap();
        }
        let mut reads = 0;
        while file.nowait_skipping() {
            read_and_check(&file, i).await;
            i += 1;
            reads += 1;
            assert!(reads <= 2 * FIRST_GAP + 1, "no probe after {reads} reads");
        }
        let before = file.nowait_counts();
        assert_eq!((before.hits, before.misses), (1, 5), "{before:?}");
        for _ in 0..20 {
            read_and_check(&file, i).await;
            i += 1;
        }
        let after = file.nowait_counts();
        assert_eq!(after.hits, before.hits + 20, "{after:?}");
        assert_eq!(
            (after.misses, after.skipped),
            (before.misses, before.skipped)
        );
        file.close().await.unwrap();
        Ok(())
    })
}

/// A cached file of `len` bytes, in the temp dir.
fn warm_file(len: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warm.bin");
    std::fs::write(&path, (0..len as u64).map(pattern).collect::<Vec<u8>>()).unwrap();
    (dir, path)
}

#[test]
fn cached_reads_past_the_tick_budget_wait_for_the_next_tick_not_the_ring() {
    let (_dir, path) = warm_file(1 << 20);
    let rt = crate::Runtime::new().unwrap();
    for tasks in [1usize, 8] {
        let before = rt.metrics().cores.remove(0);
        rt.block_on(async {
            let file = std::rc::Rc::new(File::open(&path).await.unwrap());
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let file = file.clone();
                    crate::spawn(async move {
                        for i in 0..1000u64 {
                            let pos = ((i * 7 + t as u64 * 131) % 256) * 4096;
                            let (res, buf) = file.read_at(Vec::with_capacity(4096), pos).await;
                            assert_eq!(res.unwrap(), 4096);
                            assert_eq!(buf[17], pattern(pos + 17));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.unwrap();
            }
        });
        let after = rt.metrics().cores.remove(0);
        // The open and the metadata-free loop: only the open (and its close at drop,
        // which is not through the ring) may have used an SQE.
        let through_ring = after.driver.ops_submitted - before.driver.ops_submitted;
        assert!(
            through_ring <= 1,
            "{tasks} tasks: {through_ring} ops through the ring"
        );
        assert_eq!(
            after.driver.ops_inline - before.driver.ops_inline,
            1000 * tasks as u64
        );
    }
}

#[test]
fn a_task_reading_cached_data_in_a_loop_still_lets_other_tasks_run() {
    let (_dir, path) = warm_file(1 << 20);
    crate::block_on(async {
        let file = File::open(&path).await.unwrap();
        let ran = std::rc::Rc::new(std::cell::Cell::new(None));
        let flag = ran.clone();
        crate::spawn(async move { flag.set(Some(())) });
        // Every read completes inline and never returns Pending on its own; the tick's
        // budget (64) makes the loop wait for a tick boundary, where the other task runs.
        let mut reads_before_it_ran = None;
        for i in 0..1000u64 {
            let (res, _) = file
                .read_at(Vec::with_capacity(4096), (i % 256) * 4096)
                .await;
            res.unwrap();
            if ran.get().is_some() && reads_before_it_ran.is_none() {
                reads_before_it_ran = Some(i);
            }
        }
        let n = reads_before_it_ran.expect("the other task never ran during the loop");
        assert!(n <= 64, "the other task ran only after {n} reads");
    });
}
