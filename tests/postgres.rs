//! examples/postgres.rs's session (examples/support/pg.rs) against a real PostgreSQL: a
//! throwaway cluster this test makes with `initdb` in a temporary directory and starts with
//! `pg_ctl`, listening only on a Unix socket in that directory (no TCP), stopped at the
//! end even when the test fails. initdb refuses to run as root, so as root the cluster
//! runs as the `postgres` user through `runuser`.
//!
//! The binaries come from PATH or /usr/lib/postgresql/VERSION/bin (Debian's place; .ci/run
//! installs the `postgresql` package when initdb is missing). Without them the test is
//! skipped with a message saying how to install them, so the README's test command works on
//! a fresh machine; under CI (`CI` set, as .ci/run runs) or with RINGCORE_REQUIRE_POSTGRES=1
//! a missing initdb is a failure instead, so CI cannot pass without running it.

#[path = "../examples/support/pg.rs"]
mod pg;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The directory holding initdb and pg_ctl.
fn pg_bin() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return Some(dir);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A started cluster; dropping it stops the server.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Runs `program args` as the cluster's owner: `postgres` through runuser as root,
    /// else the current user.
    fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        run_as_owner(&self.bin.join(program), args)
    }

    fn start() -> Option<Cluster> {
        let Some(bin) = pg_bin() else {
            let required = std::env::var_os("CI").is_some()
                || std::env::var_os("RINGCORE_REQUIRE_POSTGRES").is_some();
            if !required {
                eprintln!(
                    "postgres test skipped: initdb not found on PATH or under \
                     /usr/lib/postgresql/*/bin (apt-get update && apt-get install -y \
                     postgresql to run it; .ci/run does this and requires it)"
                );
                return None;
            }
            panic!(
                "initdb not found on PATH or under /usr/lib/postgresql/*/bin, and CI or \
                 RINGCORE_REQUIRE_POSTGRES requires this test: install PostgreSQL \
                 (apt-get update && apt-get install -y postgresql; .ci/run does this)"
            );
        };
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let out = Command::new("id")
                .args(["-u", "postgres"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "running as root needs the `postgres` user (the postgresql package makes it)"
            );
            let uid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
            std::os::unix::fs::chown(dir.path(), Some(uid), None).unwrap();
        }
        let data = dir.path().join("data");
        let socket_dir = dir.path().to_owned();
        let cluster = Cluster {
            bin,
            data,
            socket_dir,
            _dir: dir,
        };
        let data = cluster.data.to_str().unwrap();
        let out = cluster.run(
            "initdb",
            &[
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
        );
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = cluster.socket_dir.join("server.log");
        let options = format!(
            "-c listen_addresses='' -k {} -p 5432 -F",
            cluster.socket_dir.display()
        );
        let out = cluster.run(
            "pg_ctl",
            &[
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "-t",
                "60",
                "-o",
                &options,
                "start",
            ],
        );
        if !out.status.success() {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "pg_ctl start failed: {}\n{log}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Some(cluster)
    }

    fn conninfo(&self) -> String {
        format!(
            "host={} port=5432 user=postgres dbname=postgres",
            self.socket_dir.display()
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data.to_str().unwrap().to_owned();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

fn run_as_owner(program: &Path, args: &[&str]) -> std::process::Output {
    let mut cmd = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    // The cluster's files live in a directory only its owner can enter; start there.
    cmd.args(args).current_dir("/").output().unwrap()
}

#[test]
fn session_against_a_throwaway_cluster() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let config: tokio_postgres::Config = cluster.conninfo().parse().unwrap();
    let session = ringcore::block_on(async move {
        let (mut client, connection) = pg::connect(&config).await.unwrap();
        let session = pg::session(&mut client).await.unwrap();
        // A second statement on the same connection after the session: still usable.
        let n: i64 = client
            .query_one("SELECT $1::bigint * 2", &[&21i64])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 42);
        drop(client);
        // Closing: the connection task ends once the client is gone.
        ringcore::time::timeout(Duration::from_secs(5), connection)
            .await
            .expect("the connection task ends after the client is dropped")
            .unwrap();
        session
    });
    assert!(
        session.version.starts_with("PostgreSQL "),
        "{}",
        session.version
    );
    assert_eq!(
        session.users,
        vec![
            (1, "test".to_owned(), Some(30)),
            (2, "ring".to_owned(), Some(7)),
            (3, "core".to_owned(), None),
        ]
    );
    assert_eq!((session.inside_tx, session.after_rollback), (4, 3));
    drop(cluster);
}

/// The postgres example binary, run as a user would, under a seccomp filter that denies
/// io_uring (as Docker's default profile does): `DriverKind::Auto` falls back to the epoll
/// driver and the whole session still works (see tests/driver_fallback.rs for the others).
#[test]
fn the_example_runs_on_the_fallback_driver_when_io_uring_is_denied() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/postgres");
    let mut cmd = Command::new(bin);
    cmd.arg(cluster.conninfo()).env_remove("RINGCORE_DRIVER");
    cmd.stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let deny = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    let child = support::seccomp::deny_syscalls_and_exec(&deny, libc::EPERM, &mut cmd).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected: PostgreSQL "), "{stdout}");
    assert!(stdout.contains("user 2: ring, 7"), "{stdout}");
    drop(cluster);
}

#[test]
fn no_server_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for conninfo in [
        format!("host={} user=postgres", dir.path().display()),
        format!("host=127.0.0.1 port={port} user=postgres"),
    ] {
        let config: tokio_postgres::Config = conninfo.parse().unwrap();
        let err =
            ringcore::block_on(async move { pg::connect(&config).await.map(|_| ()) }).unwrap_err();
        assert!(
            matches!(err, pg::ConnectError::NotRunning { .. }),
            "{conninfo}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("no PostgreSQL server at") && msg.contains("is it running?"),
            "{msg}"
        );
    }
}
