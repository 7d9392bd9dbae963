//! The simulated disk (feature `sim`): page cache and durable state, crashes that lose or
//! tear unsynced data at 4 KiB pages, restarts on the durable state, and injected faults.
//! The programs use `ringcore::fs` unchanged.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::fs::{self, File, OpenOptions};
use ringcore::sim::{DiskFaults, Sim};

const PAGE: usize = 4096;

/// Writes two synced pages of `a`, then two unsynced pages of `b`.
async fn write_then_forget() {
    let f = File::create("/data").await.unwrap();
    f.write_all_at(vec![b'a'; 2 * PAGE], 0).await.0.unwrap();
    f.sync_all().await.unwrap();
    f.write_all_at(vec![b'b'; 2 * PAGE], 2 * PAGE as u64)
        .await
        .0
        .unwrap();
    std::future::pending::<()>().await;
}

#[test]
fn a_crash_keeps_synced_data_and_tears_the_rest_at_pages() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..40 {
        let mut sim = Sim::new(seed);
        sim.host("db", write_then_forget).unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        let before = sim.file("db", "/data").unwrap().unwrap();
        assert_eq!(before.len(), 4 * PAGE, "the page cache has all four pages");
        sim.crash("db").unwrap();
        let after = sim
            .file("db", "/data")
            .unwrap()
            .expect("a synced file survives");
        assert!(
            after.len() == 2 * PAGE || after.len() == 4 * PAGE,
            "{}",
            after.len()
        );
        assert!(after[..2 * PAGE].iter().all(|&b| b == b'a'), "seed {seed}");
        let mut pages = String::new();
        for page in after[2 * PAGE..].chunks(PAGE) {
            assert_eq!(page.len(), PAGE);
            let kept = page.iter().all(|&b| b == b'b');
            assert!(
                kept || page.iter().all(|&b| b == 0),
                "seed {seed}: a torn page"
            );
            pages.push(if kept { 'b' } else { '0' });
        }
        seen.insert(pages);
    }
    // Lost, kept and torn: the seeds cover more than one outcome.
    assert!(seen.len() >= 3, "outcomes over 40 seeds: {seen:?}");
}

#[test]
fn a_restart_runs_the_entry_again_on_the_durable_state() {
    let starts = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Sim::new(11);
    let s = starts.clone();
    sim.host("node", move || {
        let s = s.clone();
        async move {
            // A boot counter: read, increment, write, sync.
            let n = match fs::read("/boots").await {
                Ok(b) => u32::from_le_bytes(b.try_into().unwrap()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
                Err(e) => panic!("{e}"),
            };
            s.borrow_mut().push(n);
            let f = File::create("/boots").await.unwrap();
            f.write_all_at((n + 1).to_le_bytes().to_vec(), 0)
                .await
                .0
                .unwrap();
            f.sync_all().await.unwrap();
            f.close().await.unwrap();
        }
    })
    .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    for _ in 0..3 {
        sim.crash("node").unwrap();
        assert!(!sim.is_up("node").unwrap());
        sim.restart("node").unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
    }
    assert_eq!(*starts.borrow(), [0, 1, 2, 3]);
}

#[test]
fn a_rename_survives_only_once_committed() {
    for commit in [false, true] {
        let mut sim = Sim::new(21);
        sim.host("h", move || async move {
            let f = File::create("/tmp-file").await.unwrap();
            f.write_all_at(b"v1".to_vec(), 0).await.0.unwrap();
            f.sync_all().await.unwrap();
            fs::rename("/tmp-file", "/file").await.unwrap();
            if commit {
                // fsync of the directory commits the rename.
                File::open("/").await.unwrap().sync_all().await.unwrap();
            }
        })
        .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.file("h", "/file").unwrap().as_deref(), Some(&b"v1"[..]));
        sim.crash("h").unwrap();
        let (file, tmp) = (
            sim.file("h", "/file").unwrap(),
            sim.file("h", "/tmp-file").unwrap(),
        );
        if commit {
            assert_eq!((file.as_deref(), tmp), (Some(&b"v1"[..]), None));
        } else {
            assert_eq!((file, tmp.as_deref()), (None, Some(&b"v1"[..])));
        }
    }
}

#[test]
fn the_fs_api_runs_unchanged() {
    let mut sim = Sim::new(4);
    sim.host("h", || async {}).unwrap();
    sim.run_until("h", async {
        fs::create_dir_all("/a/b").await.unwrap();
        fs::write("/a/b/c.txt", b"hello world".to_vec())
            .await
            .unwrap();
        assert_eq!(
            fs::read_to_string("/a/b/c.txt").await.unwrap(),
            "hello world"
        );
        assert_eq!(fs::metadata("/a/b/c.txt").await.unwrap().len(), 11);
        assert!(fs::metadata("/a/b").await.unwrap().is_dir());
        let f = OpenOptions::new()
            .write(true)
            .open("/a/b/c.txt")
            .await
            .unwrap();
        f.set_len(5).await.unwrap();
        drop(f);
        assert_eq!(fs::read("/a/b/c.txt").await.unwrap(), b"hello");
        let err = fs::remove_dir("/a").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::DirectoryNotEmpty, "{err}");
        fs::remove_file("/a/b/c.txt").await.unwrap();
        let err = fs::read("/a/b/c.txt").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
        let err = File::create("/missing/x").await.map(drop).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    })
    .unwrap();
}

#[test]
fn injected_faults_reach_the_program() {
    let mut sim = Sim::new(6);
    sim.host("h", || async {}).unwrap();
    let mut faults = DiskFaults::default();
    faults.capacity = Some(10_000);
    faults.fsync_eio = 1.0;
    sim.disk_faults("h", faults).unwrap();
    let (small, big, sync) = sim
        .run_until("h", async {
            let f = File::create("/f").await.unwrap();
            let small = f.write_all_at(vec![1; 6_000], 0).await.0;
            let big = f.write_all_at(vec![2; 6_000], 6_000).await.0;
            let sync = f.sync_all().await;
            (small, big, sync)
        })
        .unwrap();
    small.unwrap();
    assert_eq!(big.unwrap_err().raw_os_error(), Some(libc::ENOSPC));
    assert_eq!(sync.unwrap_err().raw_os_error(), Some(libc::EIO));
    // The failed sync made nothing durable: a crash loses the file's name and bytes.
    sim.crash("h").unwrap();
    assert_eq!(sim.file("h", "/f").unwrap(), None);
}

#[test]
fn short_writes_are_finished_by_write_all() {
    let mut sim = Sim::new(12);
    sim.host("h", || async {}).unwrap();
    let mut faults = DiskFaults::default();
    faults.short_write = 0.5;
    sim.disk_faults("h", faults).unwrap();
    let shorts = sim
        .run_until("h", async {
            let f = File::create("/f").await.unwrap();
            let mut shorts = 0;
            for i in 0..20u64 {
                let (n, _) = f.write_at(vec![i as u8; 1000], i * 1000).await;
                let n = n.unwrap();
                if n < 1000 {
                    shorts += 1;
                    f.write_all_at(vec![i as u8; 1000 - n], i * 1000 + n as u64)
                        .await
                        .0
                        .unwrap();
                }
            }
            shorts
        })
        .unwrap();
    assert!(shorts > 0, "no short write in 20 at p = 0.5");
    let data = sim.file("h", "/f").unwrap().unwrap();
    assert_eq!(data.len(), 20_000);
    for (i, chunk) in data.chunks(1000).enumerate() {
        assert!(chunk.iter().all(|&b| b == i as u8));
    }
}

/// A truncation writes no data: after a crash the file has its old length with its old
/// (synced) bytes, or the new length, never zeroed pages inside the old length.
#[test]
fn an_unsynced_truncation_keeps_or_loses_only_the_length() {
    let mut lengths = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let mut sim = Sim::new(seed);
        sim.host("h", || async {
            let f = File::create("/log").await.unwrap();
            f.write_all_at(vec![b'x'; 3 * PAGE], 0).await.0.unwrap();
            f.sync_all().await.unwrap();
            f.set_len(0).await.unwrap();
            std::future::pending::<()>().await;
        })
        .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        sim.crash("h").unwrap();
        let data = sim.file("h", "/log").unwrap().unwrap();
        assert!(
            data.is_empty() || data == vec![b'x'; 3 * PAGE],
            "seed {seed}: {} bytes, {} zero",
            data.len(),
            data.iter().filter(|&&b| b == 0).count()
        );
        lengths.insert(data.len());
    }
    assert_eq!(lengths.len(), 2, "both outcomes over 20 seeds");
}

/// `random_crashes`: a boot counter on a host crashed every 100-200 ms (down 10-20 ms) for
/// ten virtual seconds boots dozens of times, never reads a smaller count than a boot
/// before it read (each boot syncs its increment before it counts on it), and one seed
/// gives one history.
#[test]
fn random_crashes_follow_the_seed() {
    let history = |seed| {
        let reads = Rc::new(RefCell::new(Vec::new()));
        let mut sim = Sim::new(seed);
        let r = reads.clone();
        sim.host("node", move || {
            let r = r.clone();
            async move {
                let n = match fs::read("/boots").await {
                    Ok(b) if b.len() == 4 => u32::from_le_bytes(b.try_into().unwrap()),
                    _ => 0,
                };
                r.borrow_mut().push(n);
                let f = File::create("/boots.tmp").await.unwrap();
                f.write_all_at((n + 1).to_le_bytes().to_vec(), 0)
                    .await
                    .0
                    .unwrap();
                f.sync_all().await.unwrap();
                fs::rename("/boots.tmp", "/boots").await.unwrap();
                File::open("/").await.unwrap().sync_all().await.unwrap();
            }
        })
        .unwrap();
        let ms = Duration::from_millis;
        sim.random_crashes("node", (ms(100), ms(200)), (ms(10), ms(20)))
            .unwrap();
        sim.run_for(Duration::from_secs(10)).unwrap();
        let reads = reads.borrow().clone();
        (reads, sim.trace_hash())
    };
    let (reads, hash) = history(3);
    assert!((40..=95).contains(&reads.len()), "{} boots", reads.len());
    assert!(reads.windows(2).all(|w| w[0] <= w[1]), "{reads:?}");
    assert!(*reads.last().unwrap() > 30, "{reads:?}");
    assert_eq!(history(3), (reads, hash));
}

/// `fs::read_dir` lists the cached namespace by name; the entries a crash undoes are the
/// ones no sync committed.
#[test]
fn read_dir_lists_the_namespace_and_a_crash_undoes_uncommitted_names() {
    let listing = |dir: &'static str| async move {
        let mut out = Vec::new();
        let mut entries = fs::read_dir(dir).await?;
        while let Some(e) = entries.next_entry().await? {
            assert_eq!(e.path(), std::path::Path::new(dir).join(e.file_name()));
            let name = e.file_name().into_string().unwrap();
            out.push((name, e.file_type() == fs::FileType::Dir));
        }
        Ok::<_, std::io::Error>(out)
    };
    let mut sim = Sim::new(31);
    sim.host("h", || async {}).unwrap();
    let (d, root, file, missing, took) = sim
        .run_until("h", async move {
            fs::create_dir_all("/d/sub").await.unwrap();
            fs::write("/d/b", b"b".to_vec()).await.unwrap();
            fs::write("/d/a", b"a".to_vec()).await.unwrap();
            fs::write("/d/sub/deep", b"x".to_vec()).await.unwrap();
            fs::write("/x", b"x".to_vec()).await.unwrap();
            // Commit the namespace so far (a directory fsync), then add one more name.
            File::open("/d").await.unwrap().sync_all().await.unwrap();
            fs::write("/d/late", b"l".to_vec()).await.unwrap();
            let start = ringcore::time::now();
            let d = listing("/d").await.unwrap();
            let took = ringcore::time::now() - start;
            let root = listing("/").await.unwrap();
            let file = listing("/x").await.unwrap_err();
            let missing = listing("/nope").await.unwrap_err();
            (d, root, file, missing, took)
        })
        .unwrap();
    let owned = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
        v.iter().map(|(n, d)| (n.to_string(), *d)).collect()
    };
    assert_eq!(
        d,
        owned(&[("a", false), ("b", false), ("late", false), ("sub", true)])
    );
    assert_eq!(root, owned(&[("d", true), ("x", false)]));
    assert_eq!(file.kind(), std::io::ErrorKind::NotADirectory, "{file}");
    assert_eq!(missing.kind(), std::io::ErrorKind::NotFound, "{missing}");
    assert!(missing.to_string().contains("/nope"), "{missing}");
    assert!(took > Duration::ZERO, "a listing takes virtual time");
    sim.crash("h").unwrap();
    sim.restart("h").unwrap();
    let after = sim.run_until("h", listing("/d")).unwrap().unwrap();
    assert_eq!(after, owned(&[("a", false), ("b", false), ("sub", true)]));
}

/// `fs::copy` on a simulated host: the copy is in the page cache only. Without a sync a
/// crash loses it; a sync of another file commits its name but not its bytes (each page
/// survives or not, by the seed); a sync of the copy makes it durable.
#[test]
fn a_copy_is_durable_only_after_sync() {
    let src: Vec<u8> = (0..3 * PAGE + 100).map(|i| (i % 251) as u8 + 1).collect();
    let mut torn = 0;
    for (seed, mode) in (0..30).map(|s| (s, s % 3)) {
        let mut sim = Sim::new(seed);
        let data = src.clone();
        sim.host("h", move || {
            let data = data.clone();
            async move {
                fs::write("/src", data.clone()).await.unwrap();
                File::open("/src").await.unwrap().sync_all().await.unwrap();
                let n = fs::copy("/src", "/dst").await.unwrap();
                assert_eq!(n, data.len() as u64);
                assert_eq!(fs::read("/dst").await.unwrap(), data);
                match mode {
                    0 => {}
                    1 => File::create("/other")
                        .await
                        .unwrap()
                        .sync_all()
                        .await
                        .unwrap(),
                    _ => File::open("/dst").await.unwrap().sync_data().await.unwrap(),
                }
                std::future::pending::<()>().await;
            }
        })
        .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.file("h", "/dst").unwrap().as_ref(), Some(&src));
        sim.crash("h").unwrap();
        let dst = sim.file("h", "/dst").unwrap();
        match mode {
            0 => assert_eq!(dst, None, "seed {seed}: an uncommitted name"),
            1 => {
                let dst = dst.expect("the name was committed");
                for (i, page) in dst.chunks(PAGE).enumerate() {
                    let want = &src[i * PAGE..(i * PAGE + page.len()).min(src.len())];
                    assert!(
                        page == want || page.iter().all(|&b| b == 0),
                        "seed {seed}: page {i} is neither the copy nor a hole"
                    );
                }
                torn += usize::from(dst != src);
            }
            _ => assert_eq!(dst.as_ref(), Some(&src), "seed {seed}: synced"),
        }
    }
    assert!(torn > 0, "an unsynced copy never lost a page in 10 seeds");
}

/// Slow I/O: with probability `slow` a file op stalls for a time in `stall` on top of its
/// latency, so a timeout around it fires; the stalls follow the seed.
#[test]
fn slow_io_stalls_file_ops() {
    let run = |seed: u64| {
        let mut sim = Sim::new(seed);
        sim.host("h", || async {}).unwrap();
        let mut faults = DiskFaults::default();
        faults.slow = 0.3;
        faults.stall = (Duration::from_secs(2), Duration::from_secs(3));
        sim.disk_faults("h", faults).unwrap();
        let outcomes = sim
            .run_until("h", async {
                let f = File::create("/f").await.unwrap();
                let mut outcomes = Vec::new();
                for i in 0..40u64 {
                    let start = ringcore::time::now();
                    let write = f.write_all_at(vec![1u8; 100], i * 100);
                    let res = ringcore::time::timeout(Duration::from_secs(1), write).await;
                    let took = ringcore::time::now() - start;
                    outcomes.push(match res {
                        Ok((r, _)) => {
                            r.unwrap();
                            assert!(took < Duration::from_millis(1), "{took:?}");
                            true
                        }
                        Err(_) => {
                            assert!(took >= Duration::from_secs(1), "{took:?}");
                            assert!(took < Duration::from_millis(1100), "{took:?}");
                            false
                        }
                    });
                }
                outcomes
            })
            .unwrap();
        (outcomes, sim.trace_hash())
    };
    let (outcomes, hash) = run(41);
    let stalled = outcomes.iter().filter(|ok| !**ok).count();
    assert!(
        (3..=25).contains(&stalled),
        "{stalled} of 40 writes stalled at p = 0.3"
    );
    assert_eq!(run(41), (outcomes, hash), "one seed, one history");
}

/// A copy larger than one read (1 MiB) arrives whole, and copying a file onto itself or
/// copying a directory is refused as on a real runtime.
#[test]
fn a_copy_of_several_reads_is_whole_and_bad_copies_are_refused() {
    let mut sim = Sim::new(33);
    sim.host("h", || async {}).unwrap();
    let data: Vec<u8> = (0..(5 << 19) + 7).map(|i| (i * 31 % 256) as u8).collect();
    let d = data.clone();
    let (copied, same, dir) = sim
        .run_until("h", async move {
            fs::write("/big", d).await.unwrap();
            let copied = fs::copy("/big", "/big2").await.unwrap();
            let same = fs::copy("/big", "/big").await.unwrap_err();
            fs::create_dir("/dir").await.unwrap();
            let dir = fs::copy("/dir", "/dir2").await.unwrap_err();
            (copied, same, dir)
        })
        .unwrap();
    assert_eq!(copied, data.len() as u64);
    assert_eq!(sim.file("h", "/big2").unwrap().as_ref(), Some(&data));
    assert_eq!(same.kind(), std::io::ErrorKind::InvalidInput, "{same}");
    assert_eq!(dir.kind(), std::io::ErrorKind::InvalidInput, "{dir}");
    assert_eq!(sim.file("h", "/big").unwrap().as_ref(), Some(&data));
}
