//! ringcore's own I/O and unmodified ecosystem crates together on the per-core tokio
//! context (feature `tokio-context`): one task that reads a file through the ring, calls
//! an HTTP server with reqwest and queries PostgreSQL with sqlx; and a runtime dropped while
//! reqwest and sqlx connections are open and requests are in flight, which returns
//! promptly and leaves no fd open (counted in /proc/self/fd). The PostgreSQL parts use the
//! throwaway cluster of tests/support/pg_cluster.rs. Runs on both drivers
//! (`RINGCORE_DRIVER=epoll` for the readiness driver).

#[path = "support/eco.rs"]
mod eco;
#[path = "support/pg_cluster.rs"]
mod pg_cluster;
mod support;

use std::time::{Duration, Instant};

use pg_cluster::Cluster;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

fn options(cluster: &Cluster) -> PgConnectOptions {
    PgConnectOptions::new()
        .socket(cluster.socket_dir())
        .port(5432)
        .username("postgres")
        .database("postgres")
}

#[test]
fn one_task_mixes_a_ring_file_read_reqwest_and_sqlx() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("path.txt");
    std::fs::write(&input, b"/echo").unwrap();
    let output = dir.path().join("out.txt");
    let opts = options(&cluster);
    let out = output.clone();
    ringcore::Runtime::new().unwrap().block_on(async move {
        let addr = eco::serve_http(eco::app()).await;
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await
            .unwrap();
        let http = reqwest::Client::new();

        // In sequence: each step feeds the next.
        let path = ringcore::fs::read_to_string(&input).await.unwrap();
        let echoed = http
            .post(format!("http://{addr}{path}"))
            .body("ring")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(echoed, "ring");
        let (joined,): (String,) = sqlx::query_as("SELECT $1 || 'core'")
            .bind(&echoed)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(joined, "ringcore");
        ringcore::fs::write(&out, joined.into_bytes())
            .await
            .unwrap();

        // At once, in the same task: all three in flight together.
        let (file, resp, row) = futures::join!(
            ringcore::fs::read(&out),
            http.get(format!("http://{addr}/hello")).send(),
            sqlx::query_as::<_, (i64,)>("SELECT 6::bigint * 7").fetch_one(&pool),
        );
        assert_eq!(file.unwrap(), b"ringcore");
        assert_eq!(resp.unwrap().text().await.unwrap(), "hello");
        assert_eq!(row.unwrap().0, 42);
        pool.close().await;
    });
    assert_eq!(std::fs::read(&output).unwrap(), b"ringcore");
}

/// One runtime of two cores with reqwest and sqlx connections open on each, requests in
/// flight (a reqwest GET the server answers only after 10 s, a 30 s `pg_sleep`), then
/// dropped.
fn run_and_drop_with_connections_open(cluster: &Cluster) -> Duration {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    rt.block_on(async {
        let addr = eco::serve_http(eco::app()).await;
        let opts = options(cluster);
        ringcore::run_on_each_core(move |_core| {
            let opts = opts.clone();
            move || async move {
                let http = reqwest::Client::new();
                let hello = http.get(format!("http://{addr}/hello")).send().await;
                assert_eq!(hello.unwrap().text().await.unwrap(), "hello");
                let pool = PgPoolOptions::new()
                    .max_connections(3)
                    .connect_with(opts)
                    .await
                    .unwrap();
                let queries = (0..3).map(|_| sqlx::query("SELECT pg_sleep(0.02)").execute(&pool));
                for r in futures::future::join_all(queries).await {
                    r.unwrap();
                }
                assert_eq!(pool.size(), 3);
                // In flight at the drop: a tokio task and a ringcore task.
                let slow = http.get(format!("http://{addr}/slow"));
                tokio::spawn(async move {
                    let _ = slow.send().await;
                });
                let sleeper = pool.clone();
                // (Dropping a ringcore JoinHandle detaches the task.)
                drop(ringcore::spawn(async move {
                    let _ = sqlx::query("SELECT pg_sleep(30)").execute(&sleeper).await;
                }));
                // The client and the pool stay alive in a task that never ends.
                drop(ringcore::spawn(async move {
                    let _keep = (http, pool);
                    std::future::pending::<()>().await;
                }));
            }
        })
        .await;
        // Let the in-flight requests reach their servers.
        tokio::time::sleep(Duration::from_millis(100)).await;
    });
    let start = Instant::now();
    drop(rt);
    start.elapsed()
}

#[test]
fn dropping_the_runtime_with_reqwest_and_sqlx_connections_open_leaks_no_fd() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let Some(cluster) = Cluster::start() else {
        return;
    };
    // A first round warms up whatever a process opens once (none is expected, but the
    // claim is about each runtime's drop).
    run_and_drop_with_connections_open(&cluster);
    let before = support::open_fds();
    let took = run_and_drop_with_connections_open(&cluster);
    let after = support::open_fds();
    assert!(took < Duration::from_secs(5), "the drop took {took:?}");
    assert_eq!(after, before, "fds open before and after a runtime's life");
}
