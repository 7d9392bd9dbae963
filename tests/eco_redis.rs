//! redis-rs, unmodified (features `tokio-comp` and `connection-manager`), inside ringcore
//! tasks on the per-core tokio context (feature `tokio-context`), against a redis-server
//! child process the test starts on a free loopback port with its files in a temporary
//! directory (tests/support/eco.rs; .ci/run installs the `redis-server` package when it is
//! missing, and under CI a missing one fails the test instead of skipping it). Runs on
//! both drivers (`RINGCORE_DRIVER=epoll` for the readiness driver).

#[path = "support/eco.rs"]
mod eco;

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

fn rt() -> ringcore::Runtime {
    ringcore::Runtime::new().expect("runtime")
}

async fn manager(url: &str) -> ConnectionManager {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_max_delay(Duration::from_millis(100));
    redis::Client::open(url)
        .unwrap()
        .get_connection_manager_with_config(config)
        .await
        .unwrap()
}

#[test]
fn commands_pipelines_and_concurrent_clones() {
    let Some(server) = eco::RedisServer::start() else {
        return;
    };
    let url = server.url();
    rt().block_on(async move {
        let mut con = manager(&url).await;
        let () = con.set("greeting", "hello from a ring").await.unwrap();
        let got: String = con.get("greeting").await.unwrap();
        assert_eq!(got, "hello from a ring");
        // A value larger than one socket read.
        let big: Vec<u8> = (0..500_000u32).map(|i| (i % 253) as u8).collect();
        let () = con.set("big", big.as_slice()).await.unwrap();
        let back: Vec<u8> = con.get("big").await.unwrap();
        assert_eq!(back, big);

        // 200 INCRs from 200 tokio tasks over clones of the one multiplexed connection.
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let mut con = con.clone();
                tokio::spawn(async move { con.incr::<_, _, i64>("counter", 1).await.unwrap() })
            })
            .collect();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        seen.sort();
        assert_eq!(seen, (1..=200).collect::<Vec<i64>>());

        // An atomic pipeline (MULTI/EXEC).
        let (a, b): (i64, i64) = redis::pipe()
            .atomic()
            .incr("counter", 10)
            .incr("counter", 10)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((a, b), (210, 220));

        // A blocking command that times out on the server: answered after ~0.2 s, while
        // the core keeps running other work (a tokio interval here).
        let start = Instant::now();
        let ticks = tokio::spawn(async {
            let mut interval = tokio::time::interval(Duration::from_millis(20));
            for _ in 0..5 {
                interval.tick().await;
            }
        });
        let popped: Option<(String, String)> = con.blpop("empty-list", 0.2).await.unwrap();
        assert_eq!(popped, None);
        assert!(start.elapsed() >= Duration::from_millis(150));
        ticks.await.unwrap();
    });
    drop(server);
}

/// The server goes away: commands fail with redis' typed I/O error, promptly; it comes
/// back on the same port: the connection manager reconnects by itself.
#[test]
fn a_lost_server_is_an_error_and_a_restarted_one_is_reconnected() {
    let Some(mut server) = eco::RedisServer::start() else {
        return;
    };
    let (url, port) = (server.url(), server.port());
    rt().block_on(async move {
        let mut con = manager(&url).await;
        let () = con.set("k", 1).await.unwrap();
        server.stop();
        let start = Instant::now();
        let err = con.get::<_, i64>("k").await.unwrap_err();
        assert!(
            err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal(),
            "{err:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{err:?}");

        // A new server on the same port (empty: persistence is off).
        let server = eco::RedisServer::start_on(port).expect("restart");
        let deadline = Instant::now() + Duration::from_secs(10);
        let value = loop {
            match con.get::<_, Option<i64>>("k").await {
                Ok(v) => break v,
                Err(e) => {
                    assert!(Instant::now() < deadline, "no reconnect: {e:?}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        assert_eq!(value, None, "a new, empty server");
        drop(server);
    });
}

/// Two cores, a connection manager on each, on one server: each core's commands run on
/// its own thread.
#[test]
fn a_connection_manager_on_each_core() {
    let Some(server) = eco::RedisServer::start() else {
        return;
    };
    let url = server.url();
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let out = rt.run_on_each_core(move |core| {
        let url = url.clone();
        move || async move {
            let thread = std::thread::current().id();
            let mut con = manager(&url).await;
            let key = format!("core-{}", core.index());
            for i in 0..100 {
                let () = con.rpush(&key, i).await.unwrap();
            }
            let n: usize = con.llen(&key).await.unwrap();
            assert_eq!(std::thread::current().id(), thread);
            let total: i64 = con.incr("both", 1).await.unwrap();
            (n, thread, total)
        }
    });
    assert_eq!((out[0].0, out[1].0), (100, 100));
    assert_ne!(out[0].1, out[1].1);
    let mut totals = [out[0].2, out[1].2];
    totals.sort();
    assert_eq!(totals, [1, 2]);
    drop(server);
}
