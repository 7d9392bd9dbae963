//! The kv_store example under deterministic simulation (feature `sim`), through its fixed
//! command line: the correct server passes, each planted durability bug is found within
//! 1,000 seeds, and the failing seed replays with the same trace hash.

use std::path::PathBuf;
use std::process::Command;

/// The example binary (`cargo build --release --features sim --example kv_store` first
/// when running this test alone).
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("kv_store");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    bin
}

/// Runs `kv_store sim ARGS`; its stdout lines.
fn sim(args: &[&str]) -> Vec<String> {
    let out = Command::new(example())
        .arg("sim")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// `seeds N, failed F, first failing seed S, trace hash H` as (N, F, S, H).
fn summary(line: &str) -> (u64, u64, Option<u64>, String) {
    let parts: Vec<&str> = line.split(", ").collect();
    assert_eq!(parts.len(), 4, "{line}");
    let num = |p: &str, prefix: &str| {
        p.strip_prefix(prefix)
            .unwrap_or_else(|| panic!("{line}"))
            .to_string()
    };
    let seed = num(parts[2], "first failing seed ");
    (
        num(parts[0], "seeds ").parse().unwrap(),
        num(parts[1], "failed ").parse().unwrap(),
        (seed != "none").then(|| seed.parse().unwrap()),
        num(parts[3], "trace hash "),
    )
}

#[test]
fn the_correct_server_passes() {
    let lines = sim(&["--seeds", "300"]);
    let (n, failed, first, _) = summary(lines.last().unwrap());
    assert_eq!((n, failed, first), (300, 0, None), "{lines:?}");
}

fn found_and_replayed(bug: &str) {
    let lines = sim(&["--seeds", "1000", "--bug", bug]);
    let (_, failed, first, hash) = summary(lines.last().unwrap());
    let seed = first.unwrap_or_else(|| panic!("--bug {bug} not found in 1000 seeds: {lines:?}"));
    assert!(failed > 0);
    let seed = seed.to_string();
    // The replay fails the same way, with the same trace, every time.
    for _ in 0..2 {
        let replay = sim(&["--seed", &seed, "--bug", bug]);
        assert_eq!(
            replay.last().unwrap(),
            &format!("seed {seed}, failed true, trace hash {hash}"),
            "{replay:?}"
        );
    }
    // Without the bug the same seed passes.
    let fixed = sim(&["--seed", &seed]);
    assert!(
        fixed
            .last()
            .unwrap()
            .starts_with(&format!("seed {seed}, failed false, ")),
        "{fixed:?}"
    );
}

#[test]
fn ack_before_fsync_is_found_and_replayed() {
    found_and_replayed("ack-before-fsync");
}

#[test]
fn apply_before_log_is_found_and_replayed() {
    found_and_replayed("apply-before-log");
}
