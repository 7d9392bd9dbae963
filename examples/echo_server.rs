//! An echo server on ringcore: one task per connection, every byte sent back.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 --stats
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 --cores 2
//! ```
//!
//! With `--cores N` every core binds its own listener on the same address with
//! SO_REUSEPORT, and the kernel spreads incoming connections across them; each core serves
//! the connections it accepted, sharing nothing with the others (a fixed port is needed
//! then: with port 0 each core would get a port of its own). A client that vanishes, resets
//! or half-closes ends only its own connection. `--stats` prints one line per second and
//! core with the open connections and the bytes echoed in that second. Ctrl-C (SIGINT) or
//! SIGTERM stops the server: core 0 receives the signal and tells the other cores, every
//! accept loop and connection is cancelled, and the totals are printed.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ringcore::CoreId;
use ringcore::channel::{Receiver, Sender, channel};
use ringcore::net::{ListenOptions, TcpListener, TcpStream};

#[derive(Default)]
struct Stats {
    open: Cell<u64>,
    accepted: Cell<u64>,
    bytes: Cell<u64>,
}

/// Echoes until the peer closes its side (Ok) or the connection fails (Err).
async fn echo(stream: TcpStream, stats: &Stats) -> io::Result<()> {
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

fn usage() -> ! {
    eprintln!("usage: echo_server [--addr HOST:PORT] [--cores N] [--stats]");
    std::process::exit(2)
}

/// What the cores share at start-up: where to report their listener, and how core 0
/// tells the others to stop (dropping their `Sender` makes their `recv` return `None`).
struct Setup {
    addr: String,
    cores: usize,
    show_stats: bool,
    ready: Sender<io::Result<SocketAddr>>,
    ready_rx: Mutex<Option<Receiver<io::Result<SocketAddr>>>>,
    stop_txs: Mutex<Vec<Sender<()>>>,
    stop_rxs: Mutex<Vec<Option<Receiver<()>>>>,
}

/// One core's server: its own listener, its own connections. Returns (connections
/// accepted, bytes echoed) on this core.
async fn serve(core: CoreId, setup: Arc<Setup>) -> io::Result<(u64, u64)> {
    // Core 0 blocks SIGINT/SIGTERM before anything else so a signal is delivered to this
    // future (the other cores' threads block them from the start).
    let signal = (core.index() == 0).then(ringcore::signal::ctrl_c_or_terminate);
    let options = ListenOptions::new().reuse_port(setup.cores > 1);
    let bound = TcpListener::bind_with(setup.addr.as_str(), &options);
    let reported = match &bound {
        Ok(l) => l.local_addr(),
        Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
    };
    let _ = setup.ready.send(reported).await;

    let stop_txs = if core.index() == 0 {
        // Taken first: returning early drops them, which stops the other cores.
        let stop_txs = std::mem::take(&mut *setup.stop_txs.lock().unwrap());
        // Wait until every core listens (or one failed), then say so once.
        let mut ready_rx = setup
            .ready_rx
            .lock()
            .unwrap()
            .take()
            .expect("core 0 runs once");
        let mut addr = None;
        for _ in 0..setup.cores {
            match ready_rx.recv().await {
                Some(Ok(a)) => addr = Some(a),
                Some(Err(e)) => return Err(e), // dropping the stop senders stops the others
                None => break,
            }
        }
        if let Some(a) = addr {
            eprintln!("echo_server: listening on {a} ({} cores)", setup.cores);
        }
        stop_txs
    } else {
        Vec::new()
    };
    let stop_rx = setup.stop_rxs.lock().unwrap()[core.index()].take();
    let Ok(listener) = bound else {
        if let Some(mut rx) = stop_rx {
            rx.recv().await;
        }
        return Ok((0, 0));
    };

    let stats = Rc::new(Stats::default());
    let accept_stats = stats.clone();
    let acceptor = ringcore::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _peer)) => {
                    let stats = accept_stats.clone();
                    stats.open.set(stats.open.get() + 1);
                    stats.accepted.set(stats.accepted.get() + 1);
                    ringcore::spawn(async move {
                        // An error ends this connection only.
                        let _ = echo(stream, &stats).await;
                        stats.open.set(stats.open.get() - 1);
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    eprintln!("echo_server: {core}: accept: {e}");
                    ringcore::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    });
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
            drop(stop_txs);
        }
        None => {
            if let Some(mut rx) = stop_rx {
                rx.recv().await;
            }
        }
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
    let (ready, ready_rx) = channel(cores);
    let mut stop_txs = Vec::new();
    let mut stop_rxs = vec![None];
    for _ in 1..cores {
        let (tx, rx) = channel(1);
        stop_txs.push(tx);
        stop_rxs.push(Some(rx));
    }
    let setup = Arc::new(Setup {
        addr,
        cores,
        show_stats,
        ready,
        ready_rx: Mutex::new(Some(ready_rx)),
        stop_txs: Mutex::new(stop_txs),
        stop_rxs: Mutex::new(stop_rxs),
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
