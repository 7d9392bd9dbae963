//! The file_copy example on real files: a byte-exact copy, one clear error line with a
//! non-zero exit (and no partial DST) for each kind of bad input, and SIGTERM or SIGINT in
//! the middle of a copy leaving no part file behind.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The example binary, built by `cargo test` next to this test binary's directory.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("file_copy");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    bin
}

fn run(args: &[&Path]) -> Output {
    Command::new(example()).args(args).output().unwrap()
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn copies_a_64_mib_file_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.bin"), dir.path().join("dst.bin"));
    let data = support::make_file(&src, (64 << 20) + 777, 42);
    let runs = [
        ("range", "1M", "8"),
        ("ring", "1M", "8"),
        ("ring", "4096", "1"),
        ("ring", "100000", "3"),
    ];
    for (method, block, depth) in runs {
        let out = Command::new(example())
            .arg(&src)
            .arg(&dst)
            .args(["--method", method, "--block-size", block, "--depth", depth])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.starts_with(&format!("copied {} bytes in ", data.len())),
            "{stdout}"
        );
        assert!(stdout.contains("MiB/s"), "{stdout}");
        assert!(
            std::fs::read(&dst).unwrap() == data,
            "copy differs ({method}, block {block}, depth {depth})"
        );
        std::fs::remove_file(&dst).unwrap();
    }
    assert_eq!(
        dir_entries(dir.path()),
        ["src.bin"],
        "no temporary file left behind"
    );
}

#[test]
fn self_test_mode_verifies_its_copy() {
    let out = Command::new(example())
        .args(["--self-test-mib", "16"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("copied {} bytes", 16 << 20)),
        "{stdout}"
    );
    assert!(stdout.contains("verified"), "{stdout}");
}

fn assert_one_error_line(out: &Output, needle: &str) {
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "{stderr} should mention {needle}");
}

#[test]
fn missing_source_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&[&dir.path().join("nope.bin"), &dir.path().join("dst.bin")]);
    assert_one_error_line(&out, "nope.bin");
    assert!(dir_entries(dir.path()).is_empty(), "no DST created");
}

#[test]
fn destination_in_a_missing_directory_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    support::make_file(&src, 1 << 20, 1);
    let out = run(&[&src, &dir.path().join("missing/dir/dst.bin")]);
    assert_one_error_line(&out, "missing/dir");
    assert_eq!(dir_entries(dir.path()), ["src.bin"]);
}

#[test]
fn same_source_and_destination_fails_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.bin");
    let data = support::make_file(&src, 1 << 20, 2);
    let out = run(&[&src, &src]);
    assert_one_error_line(&out, "same file");
    // The same file through another path (a hard link) is caught too.
    let link = dir.path().join("link.bin");
    std::fs::hard_link(&src, &link).unwrap();
    let out = run(&[&src, &link]);
    assert_one_error_line(&out, "same file");
    assert!(std::fs::read(&src).unwrap() == data);
    assert_eq!(dir_entries(dir.path()), ["link.bin", "src.bin"]);
}

#[test]
fn bad_flags_fail_cleanly() {
    let out = Command::new(example())
        .args(["a", "b", "--depth", "zero"])
        .output()
        .unwrap();
    assert_one_error_line(&out, "--depth");
    let out = Command::new(example())
        .args(["a", "b", "--method", "mmap"])
        .output()
        .unwrap();
    assert_one_error_line(&out, "--method");
}

/// Starts a copy of a 4 GiB sparse file (no disk used for the source) with `flags`, waits
/// until its part file holds some bytes (the copy is under way), sends `signal`, and
/// checks: the exit status is `status`, one `error: stopped by NAME` line, no part file
/// left, and the DST that was there before is untouched. The copy cannot finish first on
/// any machine (4 GiB written in 4 KiB blocks, or through the kernel, takes seconds at
/// best, and the signal is sent within milliseconds of the first bytes); a copy that did
/// finish, or a part file that never showed up, fails the test with what happened, except
/// where `reflink_ok` allows it: fs::copy clones the file at once (FICLONE) on file systems
/// with reflinks (btrfs, XFS), and there is then no mid-copy to stop.
fn stop_mid_copy(flags: &[&str], signal: i32, name: &str, status: i32, reflink_ok: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (src, dst) = (dir.path().join("src.bin"), dir.path().join("dst.bin"));
    std::fs::File::create(&src)
        .unwrap()
        .set_len(4 << 30)
        .unwrap();
    std::fs::write(&dst, b"the old DST").unwrap();
    let mut child = Command::new(example())
        .arg(&src)
        .arg(&dst)
        .args(flags)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let part = dir.path().join(format!(".dst.bin.part-{}", child.id()));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if std::fs::metadata(&part).is_ok_and(|m| m.len() > 0) {
            break;
        }
        if let Some(exit) = child.try_wait().unwrap() {
            if reflink_ok && exit.success() {
                eprintln!("skipped: the copy finished at once (a reflink on this file system)");
                return;
            }
            let out = child.wait_with_output().unwrap();
            panic!(
                "file_copy {flags:?} exited ({exit}) before the test saw its part file: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(Instant::now() < deadline, "no part file {}", part.display());
        std::thread::sleep(Duration::from_millis(1));
    }
    // SAFETY: kill(2) on our own child, which has not been reaped (try_wait said running).
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(status), "{flags:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("error: stopped by {name}")),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        dir_entries(dir.path()),
        ["dst.bin", "src.bin"],
        "no part file left behind ({flags:?})"
    );
    assert_eq!(std::fs::read(&dst).unwrap(), b"the old DST");
}

#[test]
fn sigterm_mid_copy_removes_the_part_file_and_exits_143() {
    stop_mid_copy(
        &["--method", "ring", "--block-size", "4K", "--depth", "1"],
        libc::SIGTERM,
        "SIGTERM",
        143,
        false,
    );
}

#[test]
fn sigint_mid_copy_removes_the_part_file_and_exits_130() {
    // The default method: fs::copy in 32 MiB jobs on the blocking pool.
    stop_mid_copy(&[], libc::SIGINT, "SIGINT", 130, true);
}
