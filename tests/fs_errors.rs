//! fs error cases keep their io::ErrorKind and name the path.

mod support;

use std::io::ErrorKind;
use std::os::fd::AsRawFd;

use ringcore::fs::{self, File, OpenOptions, PathError};

#[test]
fn missing_file_is_not_found_and_names_the_path() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.txt");
        let err = File::open(&path).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.to_string().contains("missing.txt"), "{err}");
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<PathError>())
            .unwrap();
        assert_eq!(inner.path(), path);
        assert_eq!(inner.raw_os_error(), Some(libc::ENOENT));
        assert_eq!(
            fs::read(&path).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::metadata(&path).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        assert_eq!(
            fs::remove_file(&path).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        let err = fs::rename(&path, dir.path().join("x")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = File::create(dir.path().join("no/such/dir/f"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = fs::copy(&path, dir.path().join("y")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn directory_opened_for_writing_is_a_directory() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let err = OpenOptions::new()
            .write(true)
            .open(dir.path())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory);
        let err = fs::remove_file(dir.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory);
    });
}

#[test]
fn create_new_on_an_existing_file_already_exists() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("exists");
        std::fs::write(&path, "data").unwrap();
        let err = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "data",
            "nothing lost"
        );
        let err = fs::create_dir(dir.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AlreadyExists);
        let err = fs::create_dir_all(path.join("sub")).await.unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::AlreadyExists | ErrorKind::NotADirectory
        ));
    });
}

#[test]
fn read_past_eof_returns_zero_and_read_exact_fails() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short");
        std::fs::write(&path, "0123456789").unwrap();
        let f = File::open(&path).await.unwrap();
        let (res, buf) = f.read_at(Vec::with_capacity(16), 10).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty());
        let (res, _) = f.read_at(Vec::with_capacity(16), 1 << 40).await;
        assert_eq!(res.unwrap(), 0);
        let (res, buf) = f.read_exact_at(Vec::with_capacity(16), 4).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert_eq!(buf, b"456789", "bytes read before EOF are kept");
    });
}

#[test]
fn writing_a_read_only_file_descriptor_fails() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, "data").unwrap();
        let f = File::open(&path).await.unwrap();
        let (res, _) = f.write_at("x", 0).await;
        assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::EBADF));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "data");
    });
}

/// Tests run as root, which bypasses permission bits, so this uses an angle root cannot
/// bypass: the immutable attribute (chattr +i) refuses writes even to root with EPERM.
#[test]
fn immutable_file_refuses_writes_even_for_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("immutable");
    std::fs::write(&path, "keep").unwrap();
    if !set_immutable(&path, true) {
        eprintln!("skipped: this file system does not support the immutable attribute");
        return;
    }
    let res =
        ringcore::block_on(async { OpenOptions::new().write(true).open(&path).await.map(drop) });
    set_immutable(&path, false);
    let err = res.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

fn set_immutable(path: &std::path::Path, on: bool) -> bool {
    const FS_IMMUTABLE_FL: libc::c_long = 0x10;
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS/SETFLAGS read/write one c_long through a valid pointer.
    unsafe {
        if libc::ioctl(f.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) != 0 {
            return false;
        }
        flags = if on {
            flags | FS_IMMUTABLE_FL
        } else {
            flags & !FS_IMMUTABLE_FL
        };
        libc::ioctl(f.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) == 0
    }
}

#[test]
fn bad_options_and_paths_are_invalid_input() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let cases: Vec<OpenOptions> = vec![
            OpenOptions::new(),
            OpenOptions::new().read(true).create(true).clone(),
            OpenOptions::new().append(true).truncate(true).clone(),
        ];
        for opts in cases {
            let err = opts.open(&p).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{opts:?}");
        }
        assert!(!p.exists(), "nothing was created");
        let err = File::open("bad\0path").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn remove_dir_errors() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), "x").unwrap();
        let err = fs::remove_dir(dir.path()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DirectoryNotEmpty);
        let err = fs::remove_dir(dir.path().join("f")).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotADirectory);
    });
}

#[test]
fn copy_onto_itself_is_refused_and_loses_nothing() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("same");
        let data = support::make_file(&p, 10_000, 9);
        let err = fs::copy(&p, &p).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(std::fs::read(&p).unwrap(), data);
    });
}

/// io_uring reads an offset past i64::MAX as -1, "the current file position":
/// `write_at(buf, u64::MAX)` used to overwrite the start of the file. Every path now
/// answers InvalidInput, as std does, and the file is unchanged.
#[test]
fn write_at_u64_max_overwrote_the_start_of_the_file() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"original").unwrap();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .await
            .unwrap();
        for pos in [u64::MAX, i64::MAX as u64 + 1] {
            let (res, _) = file.write_at(b"XXXX" as &'static [u8], pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "write_at {pos}"
            );
            let (res, _) = file.write_all_at(b"XXXX" as &'static [u8], pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "write_all_at {pos}"
            );
            let (res, _) = file.read_at(Vec::with_capacity(8), pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "read_at {pos}"
            );
            let (res, _) = file.read_exact_at(vec![0u8; 8], pos).await;
            assert_eq!(
                res.unwrap_err().kind(),
                ErrorKind::InvalidInput,
                "read_exact_at {pos}"
            );
        }
        // The largest valid offset still works as pwrite(2) would (EFBIG/EINVAL from the
        // kernel for a regular file, but never a write at the current position).
        let (res, _) = file.write_at(b"Y" as &'static [u8], i64::MAX as u64).await;
        assert!(res.is_err(), "a write at i64::MAX succeeded");
        file.close().await.unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"original",
            "the file changed"
        );
    });
}
