//! A web server on ringcore with hyper: the seed's aiohttp server, one executor per core.
//!
//! ```text
//! cargo run --release --features hyper --example http_server -- --addr 127.0.0.1:8080 --dir .
//! curl 'http://127.0.0.1:8080/?name=ring'          # Hello, ring
//! curl http://127.0.0.1:8080/slow                   # after 1 s: Hello, slowly
//! curl http://127.0.0.1:8080/file/README.md         # the file, streamed through the ring
//! curl --http2-prior-knowledge http://127.0.0.1:8080/   # the same over h2c
//! curl http://127.0.0.1:8080/metrics                # every core's telemetry (Prometheus)
//! cargo run --release --features hyper --example http_server -- --cores 2
//! ```
//!
//! Routes are in examples/support/web.rs (shared with the crawler and tests/web_server.rs):
//! `/` and `/?name=X` answer `Hello, X` (default `Anonymous`), `/slow` sleeps on the
//! core's timer (thousands of them wait at once without blocking anything), `/file/NAME`
//! streams from `--dir` (`..`, absolute paths and symlinks out of the directory get 400 or
//! 404), `/status/CODE` answers with that status, `/metrics` every core's telemetry in the
//! Prometheus text format (names `ringcore_*`, a `core` label per series). `ringcore::hyper_rt::serve` runs each
//! core's listener: each connection speaks HTTP/1.1 or HTTP/2 with prior knowledge. A
//! client that sends a malformed request gets 400, one whose request head is larger than
//! 16 KiB gets 431, and one that stalls mid-headers for 10 s gets 408; each costs only its
//! own connection.
//!
//! With `--axum` the same `/` and `/slow` are an axum `Router` served through hyper-util's
//! `TowerToHyperService` on ringcore's executor and timer, without axum's tokio-only
//! `serve` (axum's handlers must be `Send` futures, so `/slow` sleeps on
//! `hyper_rt::RingTimer`, whose sleep is `Send`; `/file` is not offered there).
//!
//! With `--cores N` every core binds its own listener on the same address with
//! SO_REUSEPORT (a fixed port is needed then). Ctrl-C (SIGINT) or SIGTERM stops accepting
//! on every core, lets in-flight requests finish for up to `--grace SECS` (10 by
//! default), then exits.

#[path = "support/shards.rs"]
mod shards;
#[path = "support/web.rs"]
mod web;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ringcore::CoreId;
use shards::{Listening, Shards};
use web::{App, WebConfig};

fn usage() -> ! {
    eprintln!(
        "usage: http_server [--addr HOST:PORT] [--cores N] [--dir DIR] [--grace SECS] [--axum]"
    );
    std::process::exit(2)
}

/// What the cores share at start-up: where to report their listener, and how core 0
/// (which receives the signal) tells the others to stop.
struct Setup {
    addr: String,
    cores: usize,
    config: WebConfig,
    shards: Shards,
}

/// One core's server. Returns (connections accepted, requests answered, connections cut
/// off at the shutdown deadline).
async fn core_main(core: CoreId, setup: Arc<Setup>) -> io::Result<(u64, u64, usize)> {
    // Core 0 blocks SIGINT/SIGTERM before anything else so the signal comes to it.
    let signal = (core.index() == 0).then(ringcore::signal::ctrl_c_or_terminate);
    let Listening {
        listener,
        addr,
        mut stop,
    } = setup.shards.listen(core, &setup.addr).await?;
    if let Some(a) = addr {
        eprintln!(
            "http_server: listening on http://{a} ({} cores)",
            setup.cores
        );
    }
    let listener = listener?;
    let app = App::new(setup.config.clone())?;
    let shutdown = async move {
        match signal {
            Some(signal) => {
                let _ = signal.await;
                eprintln!("http_server: stopping; finishing in-flight requests");
                stop.stop_others();
            }
            None => stop.stopped().await,
        }
    };
    let cut_off = web::serve(listener, app.clone(), shutdown).await;
    Ok((app.accepted(), app.requests.get(), cut_off))
}

fn main() {
    let mut addr = String::from("127.0.0.1:8080");
    let mut cores = 1;
    let mut config = WebConfig {
        files: Some(PathBuf::from(".")),
        ..WebConfig::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--addr" => addr = value(),
            "--cores" => cores = value().parse().unwrap_or_else(|_| usage()),
            "--dir" => config.files = Some(PathBuf::from(value())),
            "--axum" => config.axum = true,
            "--grace" => {
                config.shutdown_deadline =
                    Duration::from_secs(value().parse().unwrap_or_else(|_| usage()))
            }
            _ => usage(),
        }
    }

    let rt = ringcore::Runtime::builder()
        .cores(cores)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("http_server: {e}");
            std::process::exit(1)
        });
    let setup = Arc::new(Setup {
        addr,
        cores,
        config,
        shards: Shards::new(cores),
    });
    let results = rt.run_on_all(move |core| core_main(core, setup.clone()));
    drop(rt);
    let (mut conns, mut requests, mut cut) = (0, 0, 0);
    for (i, result) in results.into_iter().enumerate() {
        match result {
            Ok((c, r, k)) => {
                if cores > 1 {
                    eprintln!("http_server: core {i}: {c} connections, {r} requests");
                }
                conns += c;
                requests += r;
                cut += k;
            }
            Err(e) => {
                eprintln!("http_server: core {i}: {e}");
                std::process::exit(1);
            }
        }
    }
    eprintln!(
        "http_server: stopped; {conns} connections, {requests} requests, \
         {cut} connections cut off at the deadline"
    );
}
