//! tokio-postgres over ringcore sockets, shared by `examples/postgres.rs` and
//! `tests/postgres.rs`: connect with `Config::connect_raw` over a ringcore `UnixStream` or
//! `TcpStream` (through `into_poll_io()`), and the seed's asyncpg session.

#![allow(dead_code)] // Each includer uses part of it.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ringcore::JoinHandle;
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config, NoTls};

/// Why connecting failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// No server there: the socket file is missing, or the port refuses connections.
    NotRunning { at: String, source: io::Error },
    /// Another socket error.
    Io { at: String, source: io::Error },
    /// The server answered but the startup failed (authentication, unknown database).
    Postgres {
        at: String,
        source: tokio_postgres::Error,
    },
    /// The configuration names no host (or one this example cannot resolve).
    Config(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NotRunning { at, source } => write!(
                f,
                "no PostgreSQL server at {at} ({source}); is it running? \
                 (Debian: apt-get install postgresql, then pg_ctlcluster 15 main start)"
            ),
            ConnectError::Io { at, source } => write!(f, "connecting to {at}: {source}"),
            ConnectError::Postgres { at, source } => write!(f, "PostgreSQL at {at}: {source}"),
            ConnectError::Config(msg) => write!(f, "bad connection settings: {msg}"),
        }
    }
}

impl std::error::Error for ConnectError {}

/// Where a config points: the Unix socket path or the TCP address of its first host.
enum Target {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

fn target(config: &Config) -> Result<Target, ConnectError> {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Unix(dir)) => Ok(Target::Unix(dir.join(format!(".s.PGSQL.{port}")))),
        Some(Host::Tcp(name)) => {
            let ip = if name == "localhost" {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                name.parse().map_err(|_| {
                    ConnectError::Config(format!("host {name:?}: give an IP address or localhost"))
                })?
            };
            Ok(Target::Tcp(SocketAddr::new(ip, port)))
        }
        None => Err(ConnectError::Config(
            "no host (host=/run/postgresql or host=127.0.0.1)".into(),
        )),
    }
}

fn classify(at: String, source: io::Error) -> ConnectError {
    match source.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ConnectError::NotRunning { at, source }
        }
        _ => ConnectError::Io { at, source },
    }
}

/// Connects to the first host of `config` over a ringcore socket and spawns the
/// connection's task on this core; the task ends when the `Client` is dropped.
pub(crate) async fn connect(config: &Config) -> Result<(Client, JoinHandle<()>), ConnectError> {
    macro_rules! finish {
        ($stream:expr, $at:expr) => {{
            let (client, connection) = config
                .connect_raw($stream.into_poll_io(), NoTls)
                .await
                .map_err(|source| ConnectError::Postgres {
                    at: $at.clone(),
                    source,
                })?;
            let task = ringcore::spawn(async move {
                if let Err(e) = connection.await {
                    eprintln!("postgres: connection: {e}");
                }
            });
            Ok((client, task))
        }};
    }
    match target(config)? {
        Target::Unix(path) => {
            let at = path.display().to_string();
            let stream = ringcore::net::UnixStream::connect(&path)
                .await
                .map_err(|e| classify(at.clone(), e))?;
            finish!(stream, at)
        }
        Target::Tcp(addr) => {
            let at = addr.to_string();
            let stream = ringcore::net::TcpStream::connect(addr)
                .await
                .map_err(|e| classify(at.clone(), e))?;
            let _ = stream.set_nodelay(true);
            finish!(stream, at)
        }
    }
}

/// What the session saw.
#[derive(Debug, PartialEq)]
pub(crate) struct Session {
    /// `SELECT version()`.
    pub(crate) version: String,
    /// `(id, name, age)` of every row, by id, after the inserts.
    pub(crate) users: Vec<(i32, String, Option<i32>)>,
    /// Rows seen inside the transaction before it rolled back.
    pub(crate) inside_tx: i64,
    /// Rows after the rollback.
    pub(crate) after_rollback: i64,
}

/// The seed's asyncpg session: create a table, insert rows with parameters, select them,
/// a transaction that inserts and rolls back. The table is a temporary one, so the
/// session leaves nothing behind.
pub(crate) async fn session(client: &mut Client) -> Result<Session, tokio_postgres::Error> {
    let version: String = client.query_one("SELECT version()", &[]).await?.get(0);
    client
        .batch_execute(
            "CREATE TEMPORARY TABLE users (id serial PRIMARY KEY, name text NOT NULL, age int)",
        )
        .await?;
    let insert = client
        .prepare("INSERT INTO users (name, age) VALUES ($1, $2)")
        .await?;
    for (name, age) in [("test", Some(30)), ("ring", Some(7)), ("core", None::<i32>)] {
        client.execute(&insert, &[&name, &age]).await?;
    }
    let users = client
        .query("SELECT id, name, age FROM users ORDER BY id", &[])
        .await?
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    let tx = client.transaction().await?;
    tx.execute(
        "INSERT INTO users (name, age) VALUES ($1, $2)",
        &[&"ghost", &99i32],
    )
    .await?;
    let inside_tx: i64 = tx
        .query_one("SELECT count(*) FROM users", &[])
        .await?
        .get(0);
    tx.rollback().await?;
    let after_rollback: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await?
        .get(0);
    Ok(Session {
        version,
        users,
        inside_tx,
        after_rollback,
    })
}
