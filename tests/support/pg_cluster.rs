//! A throwaway PostgreSQL cluster for the tests that talk to a real server
//! (tests/postgres.rs with tokio-postgres, tests/eco_sqlx.rs with sqlx): made with `initdb`
//! in a temporary directory and started with `pg_ctl`, listening only on a Unix socket in
//! that directory (no TCP), stopped when dropped, even when the test fails. initdb refuses
//! to run as root, so as root the cluster runs as the `postgres` user through `runuser`.
//!
//! The binaries come from PATH or /usr/lib/postgresql/VERSION/bin (Debian's place; .ci/run
//! installs the `postgresql` package when initdb is missing). Without them
//! [`Cluster::start`] prints how to install them and returns `None`, so the README's test
//! command works on a fresh machine; under CI (`CI` set, as .ci/run runs) or with
//! RINGCORE_REQUIRE_POSTGRES=1 a missing initdb is a failure instead.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::Command;

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
pub struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Runs `program args` as the cluster's owner: `postgres` through runuser as root,
    /// else the current user.
    pub fn run(&self, program: &str, args: &[&str]) -> std::process::Output {
        run_as_owner(&self.bin.join(program), args)
    }

    /// Makes and starts a cluster; `None` (after saying why) when PostgreSQL is not
    /// installed and neither `CI` nor RINGCORE_REQUIRE_POSTGRES is set.
    pub fn start() -> Option<Cluster> {
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

    /// The libpq connection string: the Unix socket in the cluster's directory, port
    /// 5432, user and database `postgres`, no password.
    pub fn conninfo(&self) -> String {
        format!(
            "host={} port=5432 user=postgres dbname=postgres",
            self.socket_dir.display()
        )
    }
}

impl Cluster {
    /// The directory holding the server's Unix socket (`.s.PGSQL.5432`).
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// Stops the server (immediate mode, waiting until it is down); the directory stays
    /// until the cluster is dropped. Stopping twice is harmless.
    pub fn stop(&self) {
        let data = self.data.to_str().unwrap().to_owned();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
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
