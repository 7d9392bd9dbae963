//! examples/postgres.rs's session (examples/support/pg.rs) against a real PostgreSQL: a
//! throwaway cluster (tests/support/pg_cluster.rs, shared with tests/eco_sqlx.rs) this test
//! makes with `initdb` in a temporary directory and starts with
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
#[path = "support/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::process::Command;
use std::time::Duration;

use pg_cluster::Cluster;

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
