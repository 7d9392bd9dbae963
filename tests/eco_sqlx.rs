//! sqlx, unmodified (features `runtime-tokio`, `postgres`, `migrate`; no TLS, no
//! compile-time checked macros), inside ringcore tasks on the per-core tokio context
//! (feature `tokio-context`), against a throwaway PostgreSQL cluster on a Unix socket
//! (tests/support/pg_cluster.rs, as tests/postgres.rs uses it): a migration from
//! tests/eco_migrations, a pool of 8 connections on each of 2 cores, `query_as` into a
//! struct and into tuples, a transaction rolled back because its future was dropped, and
//! sqlx's typed errors once the server is stopped; and examples/postgres_sqlx.rs run
//! against the cluster. Runs on both drivers
//! (`RINGCORE_DRIVER=epoll` for the readiness driver).

#[path = "support/pg_cluster.rs"]
mod pg_cluster;

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant};

use pg_cluster::Cluster;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, FromRow, Row};

fn options(cluster: &Cluster) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(cluster.socket_dir())
        .port(5432)
        .username("postgres")
        .database("postgres")
}

async fn pool(cluster: &Cluster, max: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options(cluster))
        .await
        .unwrap()
}

async fn migrate(pool: &PgPool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/eco_migrations");
    // Reading the directory goes through sqlx's `spawn_blocking`: tokio's blocking pool.
    let migrator = sqlx::migrate::Migrator::new(dir).await.unwrap();
    assert_eq!(migrator.iter().count(), 2);
    migrator.run(pool).await.unwrap();
    // Running it again applies nothing new.
    migrator.run(pool).await.unwrap();
    let applied: Vec<(i64,)> =
        sqlx::query_as("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(applied, [(1,), (2,)]);
}

/// A row of `users`, read with a hand-written `FromRow` (sqlx's derive needs its macros
/// feature, which this build leaves out).
#[derive(Debug, PartialEq)]
struct User {
    id: i32,
    name: String,
    core: i32,
}

impl FromRow<'_, PgRow> for User {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(User {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            core: row.try_get("core")?,
        })
    }
}

#[test]
fn a_pool_of_8_on_each_of_2_cores_with_a_migration_and_query_as() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let pool = pool(&cluster, 1).await;
        migrate(&pool).await;
        pool.close().await;
    });
    let cluster = &cluster;
    let out = rt.run_on_each_core(move |core| {
        let opts = options(cluster);
        move || async move {
            let thread = std::thread::current().id();
            let core = core.index() as i32;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await
                .unwrap();
            // 32 queries at once, each holding its connection 50 ms: the pool grows to
            // its 8 connections, no more.
            let queries = (0..32).map(|i| {
                let pool = pool.clone();
                async move {
                    let (pid, n): (i32, i32) =
                        sqlx::query_as("SELECT pg_backend_pid(), $1::int FROM pg_sleep(0.05)")
                            .bind(i)
                            .fetch_one(&pool)
                            .await
                            .unwrap();
                    assert_eq!(n, i);
                    pid
                }
            });
            let pids: HashSet<i32> = futures::future::join_all(queries)
                .await
                .into_iter()
                .collect();
            assert_eq!(pool.size(), 8);

            let names: Vec<String> = (0..10).map(|i| format!("core{core}-user{i}")).collect();
            for name in &names {
                sqlx::query("INSERT INTO users (name, core) VALUES ($1, $2)")
                    .bind(name)
                    .bind(core)
                    .execute(&pool)
                    .await
                    .unwrap();
            }
            let users: Vec<User> =
                sqlx::query_as("SELECT id, name, core FROM users WHERE core = $1 ORDER BY id")
                    .bind(core)
                    .fetch_all(&pool)
                    .await
                    .unwrap();
            assert_eq!(
                users.iter().map(|u| u.name.clone()).collect::<Vec<_>>(),
                names
            );
            assert!(users.iter().all(|u| u.core == core && u.id > 0));
            assert_eq!(std::thread::current().id(), thread);
            pool.close().await;
            (pids, thread)
        }
    });
    assert_eq!(out[0].0.len(), 8, "core 0 used 8 connections");
    assert_eq!(out[1].0.len(), 8, "core 1 used 8 connections");
    assert!(out[0].0.is_disjoint(&out[1].0), "each core its own pool");
    assert_ne!(out[0].1, out[1].1);
}

#[test]
fn a_transaction_whose_future_is_dropped_is_rolled_back() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    ringcore::Runtime::new().unwrap().block_on(async {
        // One connection: the next query runs on the very connection the dropped
        // transaction used.
        let pool = pool(&cluster, 1).await;
        sqlx::query("CREATE TABLE items (name TEXT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        let pool2 = pool.clone();
        let work = async move {
            let mut tx = pool2.begin().await.unwrap();
            sqlx::query("INSERT INTO items VALUES ('dropped')")
                .execute(&mut *tx)
                .await
                .unwrap();
            // Never committed: the future is dropped here by the timeout.
            tokio::time::sleep(Duration::from_secs(30)).await;
            tx.commit().await.unwrap();
        };
        // ringcore's own timer drops the sqlx future.
        let start = Instant::now();
        assert!(
            ringcore::time::timeout(Duration::from_millis(100), work)
                .await
                .is_err()
        );
        assert!(start.elapsed() < Duration::from_secs(5));
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM items")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 0, "the dropped transaction was rolled back");
        // The connection is usable, and a committed transaction stays.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query("INSERT INTO items VALUES ('kept')")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let names: Vec<(String,)> = sqlx::query_as("SELECT name FROM items")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(names, [("kept".to_owned(),)]);
    });
}

#[test]
fn a_stopped_server_gives_sqlx_errors() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    ringcore::Runtime::new().unwrap().block_on(async {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(2))
            .connect_with(options(&cluster))
            .await
            .unwrap();
        let (one,): (i32,) = sqlx::query_as("SELECT 1").fetch_one(&pool).await.unwrap();
        assert_eq!(one, 1);
        cluster.stop();

        // The pooled connection's server is gone: an error, not a hang.
        let start = Instant::now();
        let err = sqlx::query("SELECT 1").execute(&pool).await.unwrap_err();
        assert!(
            matches!(
                err,
                sqlx::Error::Io(_)
                    | sqlx::Error::Database(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
            ),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{err:?}");

        // A new connection finds no socket: sqlx's I/O error.
        let err = sqlx::PgConnection::connect_with(&options(&cluster))
            .await
            .unwrap_err();
        match &err {
            sqlx::Error::Io(io) => assert!(
                matches!(
                    io.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                ),
                "{io:?}"
            ),
            other => panic!("expected sqlx::Error::Io, got {other:?}"),
        }
        pool.close().await;
    });
}

/// examples/postgres_sqlx.rs run as a user would, against the throwaway cluster.
#[test]
fn the_postgres_sqlx_example_runs_its_session() {
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/postgres_sqlx");
    let url = format!(
        "postgres://postgres@localhost:5432/postgres?host={}",
        cluster.socket_dir().display()
    );
    let out = std::process::Command::new(&bin)
        .arg(&url)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (cargo build --release --all-features --example postgres_sqlx)",
                bin.display()
            )
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("connected: PostgreSQL "), "{stdout}");
    assert!(stdout.contains("4 concurrent queries ran on"), "{stdout}");
    assert!(stdout.contains("user 2: ring, 7"), "{stdout}");
    assert!(stdout.contains("user 3: core, age unknown"), "{stdout}");
    assert!(
        stdout.contains("transaction saw 4 rows, rolled back: 3 rows remain"),
        "{stdout}"
    );
    // No server: the example says so and exits with status 1.
    cluster.stop();
    let out = std::process::Command::new(&bin).arg(&url).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is it running?"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
