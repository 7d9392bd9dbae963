//! PostgreSQL from ringcore with sqlx, unmodified, on the core's tokio context (feature
//! `tokio-context`): examples/postgres.rs's session the way most Rust services write it.
//!
//! ```text
//! cargo run --release --features tokio-context --example postgres_sqlx
//! cargo run --release --features tokio-context --example postgres_sqlx -- "postgres://me:secret@127.0.0.1/test"
//! cargo run --release --features tokio-context --example postgres_sqlx -- "postgres://postgres@localhost/postgres?host=/tmp/pg"
//! ```
//!
//! The argument is sqlx's connection URL (`?host=DIR` for a Unix socket in DIR; the default
//! is the `postgres` user's database on /var/run/postgresql). The example opens a
//! `PgPool` of up to 4 connections (sqlx's own sockets, timers and reaper task, all on
//! this core), runs four queries at once to show them spread over the pool, then on one
//! connection creates a temporary `users` table, inserts three rows with bound parameters,
//! reads them back with `query_as` into tuples, inserts a fourth inside a transaction that
//! rolls back, and closes the pool. When no server answers it says so and exits with
//! status 1.

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn session(options: PgConnectOptions) -> Result<(), sqlx::Error> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(std::time::Duration::from_secs(5))
        .connect_with(options)
        .await?;
    let (version,): (String,) = sqlx::query_as("SELECT version()").fetch_one(&pool).await?;
    println!("connected: {version}");

    // Four queries at once: the pool opens connections as they are needed.
    let pids = futures::future::try_join_all((0..4).map(|_| {
        sqlx::query_as::<_, (i32,)>("SELECT pg_backend_pid() FROM pg_sleep(0.05)").fetch_one(&pool)
    }))
    .await?;
    let mut pids: Vec<i32> = pids.into_iter().map(|(p,)| p).collect();
    pids.sort();
    pids.dedup();
    println!(
        "4 concurrent queries ran on {} pooled connection(s)",
        pids.len()
    );

    // A temporary table lives on one connection: take one from the pool for the session.
    let mut conn = pool.acquire().await?;
    sqlx::query("CREATE TEMPORARY TABLE users (id INT PRIMARY KEY, name TEXT NOT NULL, age INT)")
        .execute(&mut *conn)
        .await?;
    for (id, name, age) in [
        (1, "test", Some(30)),
        (2, "ring", Some(7)),
        (3, "core", None),
    ] {
        sqlx::query("INSERT INTO users (id, name, age) VALUES ($1, $2, $3)")
            .bind(id)
            .bind(name)
            .bind(age)
            .execute(&mut *conn)
            .await?;
    }
    let users: Vec<(i32, String, Option<i32>)> =
        sqlx::query_as("SELECT id, name, age FROM users ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    for (id, name, age) in &users {
        match age {
            Some(age) => println!("  user {id}: {name}, {age}"),
            None => println!("  user {id}: {name}, age unknown"),
        }
    }

    let mut tx = conn.begin().await?;
    sqlx::query("INSERT INTO users (id, name) VALUES (4, 'rolled back')")
        .execute(&mut *tx)
        .await?;
    let (inside,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
        .fetch_one(&mut *tx)
        .await?;
    tx.rollback().await?;
    let (after,): (i64,) = sqlx::query_as("SELECT count(*) FROM users")
        .fetch_one(&mut *conn)
        .await?;
    println!("transaction saw {inside} rows, rolled back: {after} rows remain");
    drop(conn);
    pool.close().await;
    println!("closed");
    Ok(())
}

fn main() {
    let url = std::env::args().nth(1).unwrap_or_else(|| {
        "postgres://postgres@localhost/postgres?host=/var/run/postgresql".into()
    });
    let options: PgConnectOptions = url.parse().unwrap_or_else(|e| {
        eprintln!("postgres_sqlx: bad connection URL {url:?}: {e}");
        std::process::exit(2)
    });
    // `ringcore::block_on` builds a one-core runtime; with the `tokio-context` feature its
    // core carries the tokio context sqlx needs.
    if let Err(e) = ringcore::block_on(session(options)) {
        match &e {
            sqlx::Error::Io(io) => {
                eprintln!("postgres_sqlx: no PostgreSQL server at {url} ({io}): is it running?")
            }
            _ => eprintln!("postgres_sqlx: {e}"),
        }
        std::process::exit(1);
    }
}
