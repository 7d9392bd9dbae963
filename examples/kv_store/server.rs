//! The server: recovery, the accept loop, one task per connection, and the log writer
//! task that makes SETs durable in batches (group commit) before they are acknowledged.
//!
//! # Write path (correct version)
//!
//! ```text
//! connection task                 log writer task (one per server)
//!   parse SET k v
//!   queue.put((k, v, reply)) ---> take every queued SET (a batch)
//!                                 write the batch's records at the log's end
//!                                 sync_data
//!                                 apply the batch to the map (GET sees it from now on)
//!   reply.await  <--------------- reply to each SET of the batch
//!   write "OK"                    compact if the log reached `compact_bytes`
//! ```
//!
//! So a GET never sees a value that is not durable, and an `OK` is only sent for a durable
//! record. If a write, sync or compaction fails, the writer stops: the queue is shut, the
//! SETs waiting are answered `ERR storage failure`, and [`Server::run`] returns the
//! error (after a failed fsync the page cache's state is unknown; the safe restart is a new
//! process that replays the log).
//!
//! # Planted bugs (`--bug`)
//!
//! - `ack-before-fsync`: the writer applies and acknowledges a batch right after the write,
//!   before its `sync_data`. A crash after the `OK` can lose the write.
//! - `apply-before-log`: the connection task applies the SET to the map before queueing
//!   it, so a GET can see a value that is not yet in the log; after a crash the value is
//!   gone and a read goes back in time.

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use ringcore::future::{Either, select};
use ringcore::net::{TcpListener, TcpStream};
use ringcore::sync::{Queue, oneshot};
use ringcore::task::JoinSet;

use super::protocol::{self, Line, LineReader, Request};
use super::wal::{self, Log, Map, Recovered};

/// A deliberately planted durability bug (for the simulation to find).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bug {
    /// Acknowledge a SET after its write and before its `sync_data`.
    AckBeforeFsync,
    /// Apply a SET to the map (visible to GET) before it is written to the log.
    ApplyBeforeLog,
}

impl Bug {
    /// Parses the `--bug` argument: `ack-before-fsync` or `apply-before-log`.
    pub(crate) fn parse(name: &str) -> Option<Bug> {
        match name {
            "ack-before-fsync" => Some(Bug::AckBeforeFsync),
            "apply-before-log" => Some(Bug::ApplyBeforeLog),
            _ => None,
        }
    }
}

/// What a server needs to start.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The data directory (created if missing): `wal` and `snapshot` live here.
    pub(crate) dir: PathBuf,
    /// The address to listen on, e.g. `127.0.0.1:7000` (port 0 picks a free port).
    pub(crate) listen: String,
    /// A planted bug, or `None` for the correct server.
    pub(crate) bug: Option<Bug>,
    /// The log size in bytes at which the writer compacts it into the snapshot.
    pub(crate) compact_bytes: u64,
}

impl Config {
    /// The default compaction threshold: 64 KiB of log.
    pub(crate) const DEFAULT_COMPACT_BYTES: u64 = 64 * 1024;

    /// A correct server's configuration with the default compaction threshold.
    pub(crate) fn new(dir: impl Into<PathBuf>, listen: impl Into<String>) -> Config {
        Config {
            dir: dir.into(),
            listen: listen.into(),
            bug: None,
            compact_bytes: Config::DEFAULT_COMPACT_BYTES,
        }
    }
}

/// A SET waiting for the log writer; `reply` is sent once it may be acknowledged.
struct PendingSet {
    key: String,
    value: String,
    reply: oneshot::Sender<()>,
}

/// State the connection tasks and the writer share (all on one core).
struct Shared {
    map: RefCell<Map>,
    queue: Queue<PendingSet>,
    bug: Option<Bug>,
}

/// A recovered store listening for connections; [`run`](Server::run) serves them.
pub(crate) struct Server {
    listener: TcpListener,
    log: Log,
    shared: Rc<Shared>,
    compact_bytes: u64,
    recovered: Recovered,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listener", &self.listener.local_addr())
            .field("log", &self.log)
            .field("keys", &self.shared.map.borrow().len())
            .finish()
    }
}

impl Server {
    /// Recovers the store in `config.dir` (see the `wal` module) and binds
    /// `config.listen`. No connection is accepted before recovery has finished.
    ///
    /// # Errors
    ///
    /// The file system's errors, `InvalidData` for a corrupt snapshot, bind's errors
    /// (`AddrInUse` once the address stayed in use for 3 s).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves the data directory valid (recovery only cuts a torn
    /// tail, which a later recovery would cut again).
    pub(crate) async fn open(config: Config) -> io::Result<Server> {
        let (log, map, recovered) = Log::recover(&config.dir).await?;
        let listener = bind(&config.listen).await?;
        Ok(Server {
            listener,
            log,
            shared: Rc::new(Shared {
                map: RefCell::new(map),
                queue: Queue::unbounded(),
                bug: config.bug,
            }),
            compact_bytes: config.compact_bytes.max(1),
            recovered,
        })
    }

    /// The address the server listens on.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What recovery found.
    pub(crate) fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// Serves connections until the storage fails.
    ///
    /// # Errors
    ///
    /// The log's write, sync or compaction error that stopped the writer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future (or its ending with an error) stops accepting, aborts every
    /// connection task and closes its socket, and drops the log writer wherever it is: SETs
    /// not yet acknowledged may or may not be in the log, as in a crash, and every
    /// acknowledged SET is durable.
    pub(crate) async fn run(self) -> io::Result<()> {
        let Server {
            listener,
            log,
            shared,
            compact_bytes,
            ..
        } = self;
        let writer = write_log(log, shared.clone(), compact_bytes);
        match select(writer, accept_loop(listener, shared)).await {
            Either::Left(res) => res,
            Either::Right(never) => match never {},
        }
    }
}

/// Recovers the store and serves it: [`Server::open`], then [`Server::run`].
///
/// # Errors
///
/// As [`Server::open`] and [`Server::run`].
///
/// # Cancel safety
///
/// As [`Server::run`].
#[allow(dead_code)] // the entry point for a simulation harness; main uses `Server` directly
pub(crate) async fn serve(config: Config) -> io::Result<()> {
    Server::open(config).await?.run().await
}

/// How often [`bind`] tries an address in use, [`BIND_PAUSE`] apart (3 s in all).
const BIND_TRIES: u32 = 150;
/// The pause between two binds of an address in use.
const BIND_PAUSE: Duration = Duration::from_millis(20);

/// Binds `addr`, retrying for up to 3 s while it is in use: a server restarted right after
/// a crash finds its port still held for a moment when the crashed process ran on
/// io_uring, whose teardown (and with it the last reference to a listener an accept was
/// pending on) the kernel finishes in a worker after the process is gone.
async fn bind(addr: &str) -> io::Result<TcpListener> {
    let mut tries = 1;
    loop {
        match TcpListener::bind(addr) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse && tries < BIND_TRIES => {
                tries += 1;
                ringcore::time::sleep(BIND_PAUSE).await;
            }
            res => return res,
        }
    }
}

/// Accepts connections forever, one task per connection; a failed accept (EMFILE and
/// friends) is backed off. The connection tasks belong to the loop: dropping it aborts
/// them all and closes their sockets.
async fn accept_loop(listener: TcpListener, shared: Rc<Shared>) -> std::convert::Infallible {
    let mut connections = JoinSet::new();
    loop {
        // Reap finished connection tasks while waiting for the next connection (a dropped
        // accept loses no connection: the ring keeps it for the next accept).
        let accepted = if connections.is_empty() {
            listener.accept().await
        } else {
            match select(listener.accept(), connections.join_next()).await {
                Either::Left(accepted) => accepted,
                Either::Right(_) => continue,
            }
        };
        match accepted {
            Ok((stream, _peer)) => {
                connections.spawn(connection(stream, shared.clone()));
            }
            Err(e) => {
                eprintln!("kv_store: accept: {e}");
                ringcore::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Serves one connection until its peer closes it or a read or write fails.
async fn connection(stream: TcpStream, shared: Rc<Shared>) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut lines = LineReader::default();
    while let Some(line) = lines.next_line(&stream).await? {
        let answer = match line {
            Line::TooLong => "ERR line too long".to_string(),
            Line::Line(line) => match protocol::parse(&line) {
                Err(reason) => format!("ERR {reason}"),
                Ok(Request::Get { key }) => match shared.map.borrow().get(&key) {
                    Some(value) => format!("VALUE {value}"),
                    None => "NOTFOUND".to_string(),
                },
                Ok(Request::Set { key, value }) => set(&shared, key, value).await,
            },
        };
        let (res, _) = stream.write_all(answer + "\n").await;
        res?;
    }
    Ok(())
}

/// Hands a SET to the log writer and waits until it may be acknowledged; the answer line.
async fn set(shared: &Shared, key: String, value: String) -> String {
    if shared.bug == Some(Bug::ApplyBeforeLog) {
        shared.map.borrow_mut().insert(key.clone(), value.clone());
    }
    let (reply, acked) = oneshot::channel();
    let pending = PendingSet { key, value, reply };
    if shared.queue.put(pending).await.is_err() {
        return "ERR storage failure".to_string();
    }
    match acked.await {
        Ok(()) => "OK".to_string(),
        Err(_) => "ERR storage failure".to_string(),
    }
}

/// The log writer: takes every queued SET as one batch, logs it, syncs, applies and
/// replies (the module header's write path), and compacts when the log is large.
async fn write_log(mut log: Log, shared: Rc<Shared>, compact_bytes: u64) -> io::Result<()> {
    let result = async {
        loop {
            let Ok(first) = shared.queue.get().await else {
                return Ok(());
            };
            let mut batch = vec![first];
            while let Ok(more) = shared.queue.try_get() {
                batch.push(more);
            }
            let mut records = Vec::new();
            for p in &batch {
                wal::encode_set(&mut records, &p.key, &p.value);
            }
            log.write(records).await?;
            if shared.bug == Some(Bug::AckBeforeFsync) {
                apply_and_reply(&shared, batch);
                log.sync().await?;
            } else {
                log.sync().await?;
                apply_and_reply(&shared, batch);
            }
            if log.len() >= compact_bytes {
                let map = shared.map.borrow().clone();
                log.compact(&map).await?;
            }
        }
    }
    .await;
    // On failure no queued SET is acknowledged: shutting the queue drops their reply
    // senders, and later puts fail.
    shared.queue.shutdown();
    while let Ok(p) = shared.queue.try_get() {
        drop(p);
    }
    result
}

/// Applies a logged batch to the map in log order, then lets each SET be acknowledged.
fn apply_and_reply(shared: &Shared, batch: Vec<PendingSet>) {
    let mut map = shared.map.borrow_mut();
    for p in batch {
        map.insert(p.key, p.value);
        let _ = p.reply.send(());
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("keys", &self.map.borrow().len())
            .field("queued", &self.queue.len())
            .field("bug", &self.bug)
            .finish()
    }
}
