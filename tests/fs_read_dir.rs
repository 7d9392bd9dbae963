//! `fs::read_dir`: every entry once with its type, across batches; typed errors naming the
//! path; no fd left open when the listing or its futures are dropped midway.

mod support;

use std::collections::BTreeSet;
use std::io::ErrorKind;

use ringcore::fs::{FileType, read_dir};
use ringcore::stream::StreamExt;
use support::{fd_lock, open_fds, poll_once, settle};

/// A directory with `files` regular files, one subdirectory and one symlink.
fn populated(files: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..files {
        std::fs::write(dir.path().join(format!("f{i:04}")), b"x").unwrap();
    }
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink("f0000", dir.path().join("link")).unwrap();
    dir
}

#[test]
fn read_dir_lists_every_entry_once_with_its_type() {
    let _fds = fd_lock(); // the fd-count test must not see this one's fds
    // 200 files: more than one blocking batch.
    let dir = populated(200);
    ringcore::block_on(async {
        let mut entries = read_dir(dir.path()).await.unwrap();
        let mut names = BTreeSet::new();
        while let Some(entry) = entries.next_entry().await.unwrap() {
            let name = entry.file_name().into_string().unwrap();
            assert_eq!(entry.path(), dir.path().join(&name));
            let expected = match name.as_str() {
                "sub" => FileType::Dir,
                "link" => FileType::Symlink,
                _ => FileType::File,
            };
            assert_eq!(entry.file_type(), expected, "{name}");
            assert!(names.insert(name), "an entry came twice");
        }
        assert_eq!(names.len(), 202);
        // Listed to the end: stays at the end.
        assert!(entries.next_entry().await.unwrap().is_none());

        // The symlink's metadata follows it to the file.
        let link = dir.path().join("link");
        let mut stream = read_dir(dir.path()).await.unwrap();
        while let Some(entry) = stream.next().await {
            let entry = entry.unwrap();
            if entry.path() == link {
                assert!(entry.metadata().await.unwrap().is_file());
            }
        }
    });
}

#[test]
fn read_dir_of_an_empty_directory_ends_at_once() {
    let _fds = fd_lock(); // the fd-count test must not see this one's fds
    let dir = tempfile::tempdir().unwrap();
    ringcore::block_on(async {
        let entries = read_dir(dir.path()).await.unwrap();
        assert_eq!(entries.count().await, 0);
    });
}

#[test]
fn read_dir_errors_keep_their_kind_and_name_the_path() {
    let _fds = fd_lock(); // the fd-count test must not see this one's fds
    let dir = populated(1);
    ringcore::block_on(async {
        let missing = dir.path().join("no-such-dir");
        let err = read_dir(&missing).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("no-such-dir"), "{err}");
        assert!(err.to_string().contains("read_dir"), "{err}");

        let file = dir.path().join("f0000");
        let err = read_dir(&file).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory);
        assert!(err.to_string().contains("f0000"), "{err}");
    });
}

/// Dropping a `ReadDir` midway (with entries still buffered, or with a batch being read on
/// the blocking pool), or the `read_dir` future while it opens, leaves no fd open.
#[test]
fn read_dir_dropped_midway_leaks_no_fd() {
    let _fds = fd_lock();
    let dir = populated(300);
    ringcore::block_on(async {
        // Warm up: the blocking pool and anything the runtime opens lazily.
        drop(read_dir(dir.path()).await.unwrap());
        settle().await;
        let before = open_fds();

        for _ in 0..20 {
            // Dropped with buffered entries and the directory still open.
            let mut entries = read_dir(dir.path()).await.unwrap();
            entries.next_entry().await.unwrap().unwrap();
            drop(entries);

            // Dropped while a batch is being read on the blocking pool.
            let mut entries = read_dir(dir.path()).await.unwrap();
            let next = Box::pin(entries.next_entry());
            if let Ok(first) = poll_once(next).await {
                first.unwrap();
            }
            drop(entries);

            // The open itself dropped midway.
            let _ = poll_once(Box::pin(read_dir(dir.path()))).await;
        }
        settle().await;
        assert_eq!(open_fds(), before, "fds leaked by dropped listings");
    });
}

/// A `next_entry` dropped while its batch is being read loses no entry: the next call
/// returns it.
#[test]
fn read_dir_next_entry_is_cancel_safe() {
    let _fds = fd_lock(); // the fd-count test must not see this one's fds
    let dir = populated(150);
    ringcore::block_on(async {
        let mut entries = read_dir(dir.path()).await.unwrap();
        let mut seen = 0;
        loop {
            // Start a read and drop it after one poll, every time.
            let dropped = Box::pin(entries.next_entry());
            if let Ok(Some(_)) = poll_once(dropped).await.map(Result::unwrap) {
                seen += 1;
                continue;
            }
            match entries.next_entry().await.unwrap() {
                Some(_) => seen += 1,
                None => break,
            }
        }
        assert_eq!(seen, 152);
    });
}
