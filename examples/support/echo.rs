//! The echo server example's serving code (examples/echo_server.rs): the accept loop and
//! the per-connection echo, on io_uring's fast paths (multishot accept, multishot receive
//! into the core's pool of provided buffers, write-behind sends on the stream's
//! `send_queue()`) or, with `plain`, one `accept` per connection
//! and a 16 KiB buffer per connection passed to `read` and `write_all` and back.
//!
//! Its own module so the simulation test (tests/sim_echo.rs) runs the very code the
//! example serves with, on a simulated host, unmodified.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringcore::CoreId;
use ringcore::net::{TcpListener, TcpStream};
use ringcore::stream::StreamExt;

/// One core's counters: connections open and accepted, bytes echoed.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) open: Cell<u64>,
    pub(crate) accepted: Cell<u64>,
    pub(crate) bytes: Cell<u64>,
}

/// Echoes until the peer closes its side (Ok) or the connection fails (Err), through a
/// multishot receive: each item is a pooled buffer, queued on the stream's send queue as it
/// is (no copy) and returned to the pool once the kernel has sent it. The task runs only
/// when bytes arrive: the sends complete in the driver.
async fn echo(stream: TcpStream, stats: &Stats) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let sends = stream.send_queue();
    let mut received = stream.recv_stream();
    while let Some(buf) = received.next().await {
        let buf = buf?;
        let n = buf.len();
        sends.send(buf).await?;
        stats.bytes.set(stats.bytes.get() + n as u64);
    }
    sends.flush().await
}

/// `echo` on the plain path (`--plain`): one 16 KiB buffer per connection, passed to
/// `read` and `write_all` and back.
async fn echo_plain(stream: TcpStream, stats: &Stats) -> io::Result<()> {
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(16 * 1024);
    loop {
        buf.clear();
        let (res, b) = stream.read(buf).await;
        let n = res?;
        if n == 0 {
            return Ok(());
        }
        let (res, b) = stream.write_all(b).await;
        res?;
        buf = b;
        stats.bytes.set(stats.bytes.get() + n as u64);
    }
}

/// Spawns the task serving one accepted connection; an error ends this connection only.
fn serve_connection(stream: TcpStream, stats: &Rc<Stats>, plain: bool) {
    let stats = stats.clone();
    stats.open.set(stats.open.get() + 1);
    stats.accepted.set(stats.accepted.get() + 1);
    ringcore::spawn(async move {
        let _ = if plain {
            echo_plain(stream, &stats).await
        } else {
            echo(stream, &stats).await
        };
        stats.open.set(stats.open.get() - 1);
    });
}

/// Accepts connections until aborted: from a multishot accept, or one `accept` at a time
/// with `plain`. A failed accept (EMFILE and friends) is reported and backed off instead of
/// spinning; the listener stays usable.
pub(crate) async fn accept_loop(
    core: CoreId,
    listener: TcpListener,
    stats: Rc<Stats>,
    plain: bool,
) {
    let backoff = || ringcore::time::sleep(Duration::from_millis(10));
    if plain {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => serve_connection(stream, &stats, true),
                Err(e) => {
                    eprintln!("echo_server: {core}: accept: {e}");
                    backoff().await;
                }
            }
        }
    }
    let mut incoming = listener.incoming();
    // The stream never ends: errors are items and it goes on.
    while let Some(conn) = incoming.next().await {
        match conn {
            Ok(stream) => serve_connection(stream, &stats, false),
            Err(e) => {
                eprintln!("echo_server: {core}: accept: {e}");
                backoff().await;
            }
        }
    }
}
