//! PostgreSQL from ringcore with tokio-postgres: the seed's asyncpg example.
//!
//! ```text
//! cargo run --release --example postgres                      # host=/var/run/postgresql user=postgres
//! cargo run --release --example postgres -- "host=/tmp/pg port=5433 user=me dbname=test"
//! cargo run --release --example postgres -- "host=127.0.0.1 user=postgres password=secret"
//! ```
//!
//! The argument is a libpq-style connection string. tokio-postgres runs over a ringcore
//! `UnixStream` (a `host=` that is a directory: the socket `DIR/.s.PGSQL.PORT`) or
//! `TcpStream` (an IP address or `localhost`), handed to `Config::connect_raw` through
//! `into_poll_io()`; no TLS. The session (examples/support/pg.rs) creates a temporary
//! `users` table, inserts three rows with parameters, selects them, inserts a fourth in a
//! transaction that rolls back, and closes. When no server is running it says so and
//! exits with status 1.
//!
//! On Debian, `apt-get install postgresql && pg_ctlcluster 15 main start` (as root) gives
//! a server on /var/run/postgresql for the `postgres` user; run the example as that user
//! (`runuser -u postgres -- target/release/examples/postgres`) or pass `user=postgres` with
//! peer authentication allowing it. tests/postgres.rs starts a throwaway cluster instead.

#[path = "support/pg.rs"]
mod pg;

fn main() {
    let conninfo = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "host=/var/run/postgresql user=postgres dbname=postgres".to_owned());
    let config: tokio_postgres::Config = conninfo.parse().unwrap_or_else(|e| {
        eprintln!("postgres: bad connection string {conninfo:?}: {e}");
        std::process::exit(2)
    });
    let result = ringcore::block_on(async move {
        let (mut client, connection) = pg::connect(&config).await?;
        let session = pg::session(&mut client).await?;
        println!("connected: {}", session.version);
        for (id, name, age) in &session.users {
            match age {
                Some(age) => println!("  user {id}: {name}, {age}"),
                None => println!("  user {id}: {name}, age unknown"),
            }
        }
        println!(
            "transaction saw {} rows, rolled back: {} rows remain",
            session.inside_tx, session.after_rollback
        );
        // Dropping the client sends Terminate; the connection task then ends.
        drop(client);
        let _ = connection.await;
        println!("closed");
        Ok::<(), Box<dyn std::error::Error>>(())
    });
    if let Err(e) = result {
        eprintln!("postgres: {e}");
        std::process::exit(1);
    }
}
