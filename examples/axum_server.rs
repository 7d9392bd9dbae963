//! The web server with axum, unmodified: `axum::serve` on a `tokio::net::TcpListener` on
//! every ringcore core, the per-core tokio context under it (feature `tokio-context`), and
//! file routes that read and write through ringcore's ring from axum's `Send` handlers.
//!
//! ```text
//! cargo run --release --features tokio-context --example axum_server -- --addr 127.0.0.1:8080 --dir .
//! curl http://127.0.0.1:8080/                      # Hello from core 0
//! curl http://127.0.0.1:8080/files/README.md       # the file, read through the ring
//! curl -T notes.txt http://127.0.0.1:8080/files/notes.txt   # written through the ring
//! cargo run --release --features tokio-context --example axum_server -- --addr 127.0.0.1:8080 --cores 2
//! ```
//!
//! The routes are in examples/support/axum_files.rs (shared with tests/eco_axum.rs): `/`,
//! `GET`/`PUT /files/{name}` on the files of `--dir` (a name that could leave the directory
//! gets 400, a missing file 404), `/slow` (200 ms on a tokio timer). A handler reaches the
//! ring through `ringcore::task::spawn_pinned`, which builds the `!Send` file future on the
//! handler's own core and hands back a `Send` handle.
//!
//! With `--cores N` every core binds its own listener on the same address with
//! SO_REUSEPORT (a fixed port is needed then) and runs `axum::serve` on it. Ctrl-C (SIGINT)
//! or SIGTERM, received by core 0 with `ringcore::signal`, stops every core's `axum::serve`
//! through a `tokio::sync::watch` (axum's graceful shutdown: in-flight requests finish).

#[path = "support/axum_files.rs"]
mod axum_files;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

fn usage() -> ! {
    eprintln!("usage: axum_server [--addr HOST:PORT] [--cores N] [--dir DIR]");
    std::process::exit(2)
}

/// A listener on `addr`, with SO_REUSEPORT when several cores share the address.
fn bind(addr: SocketAddr, reuse_port: bool) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

fn main() {
    let mut addr: SocketAddr = ([127, 0, 0, 1], 8080).into();
    let mut cores = 1;
    let mut dir = PathBuf::from(".");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value().parse().unwrap_or_else(|_| usage()),
            "--cores" => cores = value().parse().unwrap_or_else(|_| usage()),
            "--dir" => dir = PathBuf::from(value()),
            _ => usage(),
        }
    }
    if cores > 1 && addr.port() == 0 {
        eprintln!("axum_server: --cores > 1 needs a fixed port (each core binds it)");
        std::process::exit(2);
    }
    let rt = ringcore::Runtime::builder()
        .cores(cores)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("axum_server: {e}");
            std::process::exit(1)
        });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stop = Arc::new(stop);
    let results = rt.run_on_each_core(|core| {
        let (stop, mut stopped, dir) = (stop.clone(), stopped.clone(), dir.clone());
        move || async move {
            // Core 0 takes SIGINT/SIGTERM before anything else, so the signal comes to it.
            let signal = (core.index() == 0).then(ringcore::signal::ctrl_c_or_terminate);
            let listener = bind(addr, cores > 1)?;
            if core.index() == 0 {
                eprintln!(
                    "axum_server: listening on http://{} ({cores} cores)",
                    listener.local_addr()?
                );
            }
            if let Some(signal) = signal {
                // A ringcore task (the signal future is core-local) tells every core.
                drop(ringcore::spawn(async move {
                    let _ = signal.await;
                    eprintln!("axum_server: stopping; finishing in-flight requests");
                    let _ = stop.send(true);
                }));
            }
            axum::serve(listener, axum_files::router(dir))
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|&s| s).await;
                })
                .await
        }
    });
    drop(rt);
    for (i, r) in results.into_iter().enumerate() {
        if let Err(e) = r {
            eprintln!("axum_server: core {i}: {e}");
            std::process::exit(1);
        }
    }
    eprintln!("axum_server: stopped");
}
