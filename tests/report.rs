//! The capability report (`ringcore::report`): on this machine it finds io_uring and its
//! opcodes; its JSON has the documented fields; under a seccomp filter that denies
//! io_uring (tests/support/seccomp.rs) it says unavailable, seccomp/EPERM, epoll;
//! `RINGCORE_DRIVER=epoll` is reported as the reason; the doctor example prints both
//! formats.
//!
//! The doctor binary is the one `cargo test` builds (target/<profile>/examples; run
//! `cargo build --example doctor` first when running this file alone).

mod support;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ringcore::DriverKind;
use ringcore::report::{Cause, Report};
use serde_json::Value;
use support::seccomp;

/// The syscalls a Docker-like profile denies.
const IO_URING: [i64; 3] = [
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn doctor() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin = dir.join("examples").join("doctor");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    bin
}

fn show(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "{}", show(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", show(out)))
}

#[test]
fn on_this_machine_io_uring_is_available_and_its_opcodes_are_listed() {
    let report = ringcore::report::probe();
    assert!(report.io_uring.available, "{report}");
    assert_eq!(report.io_uring.reason, None);
    for op in [
        "IORING_OP_READ",
        "IORING_OP_WRITE",
        "IORING_OP_RECV",
        "IORING_OP_SEND",
        "IORING_OP_ACCEPT",
        "IORING_OP_ASYNC_CANCEL",
    ] {
        let check = report.check(op).unwrap_or_else(|| panic!("no {op}"));
        assert_eq!(check.supported, Some(true), "{op}: {report}");
    }
    // Everything ringcore requires is there, and nothing was left unknown.
    for name in ["IORING_FEAT_NODROP", "IORING_FEAT_EXT_ARG"] {
        assert_eq!(report.check(name).unwrap().supported, Some(true));
    }
    let unknown: Vec<_> = [&report.setup_flags, &report.features, &report.opcodes]
        .into_iter()
        .flatten()
        .filter(|c| c.supported.is_none())
        .collect();
    assert!(unknown.is_empty(), "{unknown:?}");
    assert!(report.kernel.release.is_some());
    assert!(report.limits.nofile.soft.is_some() && report.limits.ring_entries > 0);
    // The driver `build` would choose: io_uring, unless the suite forces epoll.
    let want = if support::skip_on_epoll("the suite forces epoll") {
        DriverKind::Epoll
    } else {
        DriverKind::IoUring
    };
    assert_eq!(report.driver.driver, Some(want), "{report}");
    let text = report.to_string();
    assert!(text.contains("io_uring             available"), "{text}");
    assert!(text.contains("IORING_OP_READ"), "{text}");
}

#[test]
fn the_json_parses_and_has_the_documented_fields() {
    let report = ringcore::report::probe();
    let v: Value = serde_json::from_str(&report.to_json()).unwrap();
    for key in [
        "ringcore_version",
        "kernel",
        "io_uring",
        "driver",
        "setup_flags",
        "features",
        "opcodes",
        "registrations",
        "multishot",
        "limits",
        "fast_paths",
        "runtime",
    ] {
        assert!(v.get(key).is_some(), "no {key} in {v:#}");
    }
    for key in ["release", "machine", "error"] {
        assert!(v["kernel"].get(key).is_some(), "kernel.{key}");
    }
    for key in [
        "available",
        "cause",
        "reason",
        "io_uring_disabled",
        "setup_error",
        "enter_error",
        "probe_error",
    ] {
        assert!(v["io_uring"].get(key).is_some(), "io_uring.{key}");
    }
    for key in ["driver", "reason", "env", "setup_mode"] {
        assert!(v["driver"].get(key).is_some(), "driver.{key}");
    }
    let read = v["opcodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "IORING_OP_READ")
        .unwrap();
    assert_eq!(read["supported"], true);
    assert_eq!(read["ringcore"], "used");
    assert!(read.get("detail").is_some());
    for key in ["soft", "hard", "error"] {
        assert!(
            v["limits"]["nofile"].get(key).is_some(),
            "limits.nofile.{key}"
        );
    }
    let path = &v["fast_paths"][0];
    for key in ["name", "active", "detail"] {
        assert!(path.get(key).is_some(), "fast_paths[0].{key}");
    }
    assert!(v["runtime"].is_null());
    assert!(matches!(
        v["driver"]["driver"].as_str(),
        Some("io_uring" | "epoll")
    ));
}

#[test]
fn a_runtime_reports_its_driver_and_each_cores_fast_paths() {
    let cores = 2.min(std::thread::available_parallelism().map_or(1, |n| n.get()));
    let rt = ringcore::Runtime::builder().cores(cores).build().unwrap();
    let report = rt.report();
    let runtime = report
        .runtime
        .as_ref()
        .expect("Runtime::report fills runtime");
    assert_eq!(runtime.driver.driver, Some(rt.driver_kind()));
    assert_eq!(runtime.cores.len(), cores);
    for core in &runtime.cores {
        assert_eq!(core.error, None, "{report}");
        assert!(!core.fast_paths.is_empty());
        // Each core reports the ring it set up itself.
        let uring = rt.driver_kind() == DriverKind::IoUring;
        assert_eq!(core.setup_mode.is_some(), uring, "{report}");
        if !uring {
            assert_eq!(core.registered_file_slots, None, "{report}");
        }
    }
    if rt.driver_kind() == DriverKind::IoUring {
        assert_eq!(
            runtime.cores[0].setup_mode, runtime.driver.setup_mode,
            "{report}"
        );
    }
    if rt.driver_kind() == DriverKind::IoUring {
        assert!(runtime.driver.reason.contains("setup mode"), "{report}");
        assert!(
            runtime.cores[0].fast_paths.iter().any(|p| p.active),
            "{report}"
        );
    } else {
        assert!(runtime.driver.reason.contains("forced by RINGCORE_DRIVER"));
        let active = runtime
            .cores
            .iter()
            .flat_map(|c| &c.fast_paths)
            .any(|p| p.active);
        assert!(!active, "no io_uring fast path on epoll: {report}");
    }
    // From inside a task as well.
    let inside = rt.block_on(async { rt.report() });
    assert_eq!(inside.runtime.unwrap().cores.len(), cores);
    assert!(report.to_string().contains("this runtime"));
}

const DENIED_CHILD: &str = "under_a_seccomp_filter_the_report_says_unavailable_seccomp_and_epoll";

#[test]
fn under_a_seccomp_filter_the_report_says_unavailable_seccomp_and_epoll() {
    let limit = Duration::from_secs(30);
    let Some(run) = seccomp::run_in_child(DENIED_CHILD, &IO_URING, libc::EPERM, limit) else {
        // In the child, under the filter: io_uring_setup answers EPERM.
        let report: Report = ringcore::report::probe();
        let u = &report.io_uring;
        assert!(!u.available, "{report}");
        assert_eq!(u.cause, Some(Cause::Seccomp), "{report}");
        let reason = u.reason.as_deref().unwrap();
        assert!(
            reason.contains("EPERM") && reason.contains("seccomp"),
            "{reason}"
        );
        assert!(u.setup_error.as_deref().unwrap().starts_with("EPERM"));
        assert_eq!(report.driver.driver, Some(DriverKind::Epoll), "{report}");
        // Every probe that needs a ring is unknown, with the errno.
        let read = report.check("IORING_OP_READ").unwrap();
        assert_eq!(read.supported, None);
        assert!(
            read.detail.as_deref().unwrap().contains("EPERM"),
            "{read:?}"
        );
        assert!(report.fast_paths.iter().all(|p| !p.active), "{report}");
        // A runtime falls back and says why.
        let rt = ringcore::Runtime::new().expect("Auto falls back");
        assert_eq!(rt.driver_kind(), DriverKind::Epoll);
        let rt_report = rt.report();
        let driver = &rt_report.runtime.as_ref().unwrap().driver;
        if std::env::var_os(ringcore::DRIVER_ENV).is_none() {
            assert!(driver.reason.contains("seccomp"), "{rt_report}");
            assert!(report.driver.reason.contains("EPERM"), "{report}");
            // The reason is each runtime's own: one that asked for epoll says so, though
            // another runtime of this process fell back.
            let asked = ringcore::Runtime::builder()
                .driver(DriverKind::Epoll)
                .build()
                .unwrap();
            let asked = asked.report();
            let reason = &asked.runtime.as_ref().unwrap().driver.reason;
            assert!(reason.contains("Builder::driver"), "{asked}");
        }
        println!("{rt_report}");
        return;
    };
    assert!(run.status.success(), "{run}");
    // The child's report, for whoever runs this with --nocapture.
    println!("{}", run.stdout);
}

#[test]
fn the_doctor_under_the_filter_reports_seccomp_in_json() {
    let mut cmd = Command::new(doctor());
    cmd.arg("--json")
        .env_remove(ringcore::DRIVER_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = seccomp::deny_syscalls_and_exec(&IO_URING, libc::EPERM, &mut cmd).unwrap();
    let v = json_of(&child.wait_with_output().unwrap());
    assert_eq!(v["io_uring"]["available"], false, "{v:#}");
    assert_eq!(v["io_uring"]["cause"], "seccomp", "{v:#}");
    assert_eq!(v["driver"]["driver"], "epoll", "{v:#}");
    assert_eq!(v["runtime"]["driver"]["driver"], "epoll", "{v:#}");
    let reason = v["runtime"]["driver"]["reason"].as_str().unwrap();
    assert_eq!(reason, "io_uring_setup returned EPERM (seccomp)");
}

#[test]
fn ringcore_driver_epoll_is_reported_as_the_reason() {
    let out = Command::new(doctor())
        .arg("--json")
        .env(ringcore::DRIVER_ENV, "epoll")
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["driver"]["driver"], "epoll", "{v:#}");
    assert_eq!(v["driver"]["env"], "epoll");
    let reason = v["driver"]["reason"].as_str().unwrap();
    assert!(reason.contains("forced by RINGCORE_DRIVER"), "{reason}");
    let reason = v["runtime"]["driver"]["reason"].as_str().unwrap();
    assert!(reason.contains("forced by RINGCORE_DRIVER"), "{reason}");
    // io_uring itself is still probed (and available here).
    assert_eq!(v["io_uring"]["available"], true, "{v:#}");
}

#[test]
fn the_doctor_prints_text_and_json() {
    let text = Command::new(doctor())
        .arg("--cores")
        .arg("1")
        .output()
        .unwrap();
    assert!(text.status.success(), "{}", show(&text));
    let stdout = String::from_utf8_lossy(&text.stdout);
    for needle in [
        "capability report",
        "kernel ",
        "io_uring ",
        "driver (build)",
        "IORING_OP_READ",
        "IORING_SETUP_DEFER_TASKRUN",
        "RLIMIT_MEMLOCK",
        "fast paths",
        "this runtime",
        "core 0",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in\n{stdout}");
    }
    let json = Command::new(doctor())
        .args(["--json", "--no-runtime"])
        .output()
        .unwrap();
    let v = json_of(&json);
    assert!(v["runtime"].is_null());
    assert!(v["opcodes"].as_array().is_some_and(|a| !a.is_empty()));
    let bad = Command::new(doctor()).arg("--bogus").output().unwrap();
    assert_eq!(bad.status.code(), Some(2), "{}", show(&bad));
}

#[test]
fn the_doctor_with_only_io_uring_enter_denied_names_io_uring_enter() {
    let mut cmd = Command::new(doctor());
    cmd.arg("--json")
        .env_remove(ringcore::DRIVER_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let deny = [libc::SYS_io_uring_enter];
    let child = seccomp::deny_syscalls_and_exec(&deny, libc::EPERM, &mut cmd).unwrap();
    let v = json_of(&child.wait_with_output().unwrap());
    assert_eq!(v["io_uring"]["available"], false, "{v:#}");
    assert_eq!(v["io_uring"]["cause"], "enter_denied", "{v:#}");
    assert!(v["io_uring"]["setup_error"].is_null(), "{v:#}");
    let enter = v["io_uring"]["enter_error"].as_str().unwrap();
    assert!(enter.starts_with("EPERM"), "{enter}");
    assert_eq!(v["driver"]["driver"], "epoll", "{v:#}");
    let reason = v["runtime"]["driver"]["reason"].as_str().unwrap();
    assert_eq!(reason, "io_uring_enter returned EPERM (seccomp)");
    // What needs no io_uring_enter is still probed; the multishot probes are not.
    let read = v["opcodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "IORING_OP_READ")
        .unwrap();
    assert_eq!(read["supported"], true, "{v:#}");
    assert!(v["multishot"][0]["supported"].is_null(), "{v:#}");
}

#[test]
fn the_doctor_where_io_uring_does_not_exist_says_enosys() {
    let mut cmd = Command::new(doctor());
    cmd.args(["--json", "--no-runtime"])
        .env_remove(ringcore::DRIVER_ENV)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = seccomp::deny_syscalls_and_exec(&IO_URING, libc::ENOSYS, &mut cmd).unwrap();
    let v = json_of(&child.wait_with_output().unwrap());
    assert_eq!(v["io_uring"]["available"], false, "{v:#}");
    assert_eq!(v["io_uring"]["cause"], "enosys", "{v:#}");
    assert_eq!(v["driver"]["driver"], "epoll", "{v:#}");
    let reason = v["driver"]["reason"].as_str().unwrap();
    assert!(reason.contains("ENOSYS"), "{reason}");
}
