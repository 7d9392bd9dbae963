//! An echo server on ringcore: one task per connection, every byte sent back.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 --stats
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 --cores 2
//! cargo run --release --example echo_server -- --plain
//! ```
//!
//! It runs io_uring's network fast paths: connections come from `TcpListener::incoming()`
//! (one multishot accept), and each connection reads through `TcpStream::recv_stream()`
//! (one multishot receive into the core's pool of provided buffers), queueing every pooled
//! buffer back as it is on the stream's `send_queue()` (write-behind sends that complete in
//! the driver, so the connection's task runs once per message). An idle connection holds no buffer, so memory follows the bytes in
//! flight rather than the connections open; where the kernel lacks the fast paths both fall
//! back to plain ops by themselves. `--plain` runs the plain path instead: one `accept` per
//! connection, and a 16 KiB buffer per connection passed to `read` and `write_all` and back
//! (docs/benchmarks.md, "The echo example").
//!
//! With `--cores N` every core binds its own listener on the same address with
//! SO_REUSEPORT, and the kernel spreads incoming connections across them; each core serves
//! the connections it accepted, sharing nothing with the others (a fixed port is needed
//! then: with port 0 each core would get a port of its own). A client that vanishes, resets
//! or half-closes ends only its own connection. `--stats` prints one line per second and
//! core with the open connections and the bytes echoed in that second. Ctrl-C (SIGINT) or
//! SIGTERM stops the server: core 0 receives the signal and tells the other cores, every
//! accept loop and connection is cancelled, and the totals are printed.

#[path = "support/echo.rs"]
mod echo;
#[path = "support/shards.rs"]
mod shards;

use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use echo::{Stats, accept_loop};
use ringcore::CoreId;
use shards::{Listening, Shards};

fn usage() -> ! {
    eprintln!("usage: echo_server [--addr HOST:PORT] [--cores N] [--stats] [--plain]");
    std::process::exit(2)
}

/// What the cores share at start-up: the address, and the listen/stop handshake.
struct Setup {
    addr: String,
    cores: usize,
    show_stats: bool,
    /// `--plain`: plain accept and read/write instead of the multishot fast paths.
    plain: bool,
    shards: Shards,
}

/// One core's server: its own listener, its own connections. Returns (connections
/// accepted, bytes echoed) on this core.
async fn serve(core: CoreId, setup: Arc<Setup>) -> io::Result<(u64, u64)> {
    // Core 0 blocks SIGINT/SIGTERM before anything else so a signal is delivered to this
    // future (the other cores' threads block them from the start).
    let signal = (core.index() == 0).then(ringcore::signal::ctrl_c_or_terminate);
    let Listening {
        listener,
        addr,
        mut stop,
    } = setup.shards.listen(core, &setup.addr).await?;
    if let Some(a) = addr {
        let path = if setup.plain { "plain" } else { "multishot" };
        eprintln!(
            "echo_server: listening on {a} ({} cores, {path} accept and receive)",
            setup.cores
        );
    }
    let Ok(listener) = listener else {
        stop.stopped().await;
        return Ok((0, 0));
    };

    let stats = Rc::new(Stats::default());
    let acceptor = ringcore::spawn(accept_loop(core, listener, stats.clone(), setup.plain));
    let reporter = setup.show_stats.then(|| {
        let stats = stats.clone();
        ringcore::spawn(async move {
            let mut tick = ringcore::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = 0;
            loop {
                tick.tick().await;
                let bytes = stats.bytes.get();
                println!(
                    "{core}: open {}  echoed {} B/s  ({} MiB/s)",
                    stats.open.get(),
                    bytes - last,
                    (bytes - last) / (1024 * 1024)
                );
                last = bytes;
            }
        })
    });

    match signal {
        Some(signal) => {
            signal.await?;
            stop.stop_others();
        }
        None => stop.stopped().await,
    }
    acceptor.abort();
    if let Some(r) = reporter {
        r.abort();
    }
    Ok((stats.accepted.get(), stats.bytes.get()))
}

fn main() {
    let mut addr = String::from("127.0.0.1:7878");
    let mut show_stats = false;
    let mut plain = false;
    let mut cores = 1;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--cores" => {
                cores = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--stats" => show_stats = true,
            "--plain" => plain = true,
            _ => usage(),
        }
    }

    let rt = ringcore::Runtime::builder()
        .cores(cores)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("echo_server: {e}");
            std::process::exit(1)
        });
    let setup = Arc::new(Setup {
        addr,
        cores,
        show_stats,
        plain,
        shards: Shards::new(cores),
    });
    let results = rt.run_on_all(move |core| serve(core, setup.clone()));
    // Dropping the runtime cancels the connection tasks on every core and closes their
    // sockets.
    drop(rt);
    let (mut conns, mut bytes) = (0, 0);
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok((c, b)) => {
                if cores > 1 {
                    eprintln!("echo_server: core {i}: {c} connections, {b} bytes");
                }
                conns += c;
                bytes += b;
            }
            Err(e) => {
                eprintln!("echo_server: core {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    eprintln!("echo_server: stopped; {conns} connections, {bytes} bytes echoed on {cores} cores");
}
