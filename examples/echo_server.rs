//! An echo server on ringcore: one task per connection, every byte sent back.
//!
//! ```text
//! cargo run --release --example echo_server -- --addr 127.0.0.1:7878 --stats
//! ```
//!
//! A client that vanishes, resets or half-closes ends only its own connection. `--stats`
//! prints one line per second with the open connections and the bytes echoed in that
//! second. Ctrl-C stops the server: the accept loop and every connection are cancelled,
//! and the totals are printed.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream};

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
    eprintln!("usage: echo_server [--addr HOST:PORT] [--stats]");
    std::process::exit(2)
}

fn main() {
    let mut addr = String::from("127.0.0.1:7878");
    let mut show_stats = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--addr" => addr = args.next().unwrap_or_else(|| usage()),
            "--stats" => show_stats = true,
            _ => usage(),
        }
    }

    let rt = ringcore::Runtime::new().unwrap_or_else(|e| {
        eprintln!("echo_server: {e}");
        std::process::exit(1)
    });
    let stats = Rc::new(Stats::default());
    let result = rt.block_on(async {
        // Block SIGINT before anything else so Ctrl-C is delivered to this future.
        let ctrl_c = ringcore::signal::ctrl_c();
        let listener = TcpListener::bind(addr.as_str())?;
        eprintln!("echo_server: listening on {}", listener.local_addr()?);

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
                        eprintln!("echo_server: accept: {e}");
                        ringcore::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
        let reporter = show_stats.then(|| {
            let stats = stats.clone();
            ringcore::spawn(async move {
                let mut tick = ringcore::time::interval(Duration::from_secs(1));
                tick.tick().await;
                let mut last = 0;
                loop {
                    tick.tick().await;
                    let bytes = stats.bytes.get();
                    println!(
                        "open {}  echoed {} B/s  ({} MiB/s)",
                        stats.open.get(),
                        bytes - last,
                        (bytes - last) / (1024 * 1024)
                    );
                    last = bytes;
                }
            })
        });
        ctrl_c.await?;
        acceptor.abort();
        if let Some(r) = reporter {
            r.abort();
        }
        Ok::<_, io::Error>(())
    });
    let metrics = rt.metrics();
    // Dropping the runtime cancels the connection tasks and closes their sockets.
    drop(rt);
    match result {
        Ok(()) => eprintln!(
            "echo_server: stopped; {} connections, {} bytes echoed, {} io_uring_enter calls",
            stats.accepted.get(),
            stats.bytes.get(),
            metrics.driver.enters
        ),
        Err(e) => {
            eprintln!("echo_server: {e}");
            std::process::exit(1);
        }
    }
}
