//! Every fs function round-trips real data in a temp dir.

mod support;

use std::io;

use ringcore::IoBuf;
use ringcore::fs::{self, File, OpenOptions};

#[test]
fn write_then_read_whole_files() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        for (i, len) in [0usize, 1, 4095, 4096, 65_537, 3 << 20]
            .into_iter()
            .enumerate()
        {
            let path = dir.path().join(format!("f{i}"));
            let data = support::random_bytes(len, i as u64 + 1);
            fs::write(&path, data.clone()).await?;
            assert_eq!(std::fs::read(&path)?, data, "fs::write of {len} bytes");
            assert_eq!(fs::read(&path).await?, data, "fs::read of {len} bytes");
        }
        let text = dir.path().join("text");
        fs::write(&text, "héllo\n").await?;
        assert_eq!(fs::read_to_string(&text).await?, "héllo\n");
        Ok::<_, io::Error>(())
    })
    .unwrap();
}

#[test]
fn positional_reads_and_writes() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("pos");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await?;
        let (res, _) = f.write_all_at(b"world" as &'static [u8], 6).await;
        res?;
        let (res, _) = f.write_all_at(String::from("hello "), 0).await;
        res?;
        let (res, buf) = f.read_at(Vec::with_capacity(64), 0).await;
        assert_eq!(res?, 11);
        assert_eq!(buf, b"hello world");
        // A read into a slice fills only that part of the buffer.
        let buf = vec![b'.'; 8];
        let (res, slice) = f.read_at(buf.slice(2..7), 6).await;
        assert_eq!(res?, 5);
        assert_eq!(slice.into_inner(), b"..world.");
        let (res, buf) = f.read_exact_at(Box::<[u8]>::from(vec![0; 5]), 0).await;
        res?;
        assert_eq!(&*buf, b"hello");
        f.close().await
    })
    .unwrap();
}

#[test]
fn large_write_all_and_read_exact() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("big");
        let data = support::random_bytes(8 << 20, 7);
        let f = File::create(&path).await?;
        let (res, data) = f.write_all_at(data, 0).await;
        res?;
        f.sync_data().await?;
        f.sync_all().await?;
        f.close().await?;
        let f = File::open(&path).await?;
        let (res, back) = f.read_exact_at(Vec::with_capacity(data.len()), 0).await;
        res?;
        assert!(back == data);
        Ok::<_, io::Error>(())
    })
    .unwrap();
}

#[test]
fn metadata_set_len_and_allocate() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("meta");
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o640)
            .open(&path)
            .await?;
        let (res, _) = f.write_all_at(vec![1u8; 1000], 0).await;
        res?;
        let m = f.metadata().await?;
        assert_eq!(m.len(), 1000);
        assert!(m.is_file() && !m.is_dir());
        assert_eq!(m.permissions() & 0o777, 0o640 & !umask());
        f.set_len(10).await?;
        assert_eq!(fs::metadata(&path).await?.len(), 10);
        f.set_len(5000).await?;
        assert_eq!(fs::metadata(&path).await?.len(), 5000);
        f.allocate(0, 1 << 20, 0).await?;
        assert_eq!(f.metadata().await?.len(), 1 << 20);
        let std_meta = std::fs::metadata(&path)?;
        let m = fs::metadata(&path).await?;
        assert_eq!(m.modified(), std_meta.modified()?);
        assert!(fs::metadata(dir.path()).await?.is_dir());
        std::os::unix::fs::symlink(&path, dir.path().join("link"))?;
        assert!(
            fs::symlink_metadata(dir.path().join("link"))
                .await?
                .is_symlink()
        );
        assert!(fs::metadata(dir.path().join("link")).await?.is_file());
        f.close().await
    })
    .unwrap();
}

fn umask() -> u32 {
    // Read the umask from /proc (Linux 4.7+), without changing it.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

#[test]
fn append_mode_writes_at_the_end() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("log");
        fs::write(&path, "one\n").await?;
        let f = OpenOptions::new().append(true).open(&path).await?;
        let (res, _) = f.write_all_at("two\n", 0).await;
        res?;
        f.close().await?;
        assert_eq!(std::fs::read_to_string(&path)?, "one\ntwo\n");
        Ok::<_, io::Error>(())
    })
    .unwrap();
}

#[test]
fn directories_rename_and_remove() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let deep = dir.path().join("a/b/c");
        fs::create_dir_all(&deep).await?;
        fs::create_dir_all(&deep).await?; // already there: fine
        assert!(std::fs::metadata(&deep)?.is_dir());
        fs::create_dir(dir.path().join("single")).await?;
        let file = deep.join("f.txt");
        fs::write(&file, "x").await?;
        let moved = dir.path().join("moved.txt");
        fs::rename(&file, &moved).await?;
        assert!(!file.exists() && moved.exists());
        fs::remove_file(&moved).await?;
        assert!(!moved.exists());
        fs::remove_dir(&deep).await?;
        fs::remove_dir(dir.path().join("single")).await?;
        assert!(!deep.exists());
        Ok::<_, io::Error>(())
    })
    .unwrap();
}

#[test]
fn copy_copies_contents_and_permissions() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        let data = support::make_file(&src, (5 << 20) + 123, 3);
        std::os::unix::fs::PermissionsExt::set_mode(
            &mut std::fs::metadata(&src)?.permissions(),
            0o600,
        );
        std::fs::set_permissions(&src, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        std::fs::write(&dst, "old contents that are longer than nothing")?;
        let n = fs::copy(&src, &dst).await?;
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(&dst)? == data);
        assert_eq!(fs::metadata(&dst).await?.permissions(), 0o600);
        Ok::<_, io::Error>(())
    })
    .unwrap();
}

#[test]
fn lines_iterate_a_file() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("lines");
        // Long enough to span several 64 KiB reads, with a line across a chunk boundary.
        let mut text = String::new();
        for i in 0..20_000 {
            text.push_str(&format!("line {i}\n"));
        }
        text.push_str("last without newline");
        std::fs::write(&path, &text)?;
        let mut lines = File::open(&path).await?.lines();
        let mut n = 0;
        while let Some(line) = lines.next_line().await? {
            if n < 20_000 {
                assert_eq!(line, format!("line {n}"));
            } else {
                assert_eq!(line, "last without newline");
            }
            n += 1;
        }
        assert_eq!(n, 20_001);
        Ok::<_, io::Error>(())
    })
    .unwrap();
}
