//! Unmodified ecosystem crates on ringcore's per-core tokio context (feature
//! `tokio-context`) against the same code on a plain tokio current-thread runtime, in one
//! process, the two alternating round by round:
//!
//! - `reqwest client`: a reqwest client (HTTP/1.1, keep-alive, `ECO_BENCH_CONC` requests
//!   in flight, 16 by default) against a local hyper hello-world server (its own thread,
//!   on tokio). The client runs inside `ringcore::Runtime::block_on` on one core, or
//!   inside tokio's `block_on`. Measured: requests per client CPU-second (the client
//!   thread's CPU time, CLOCK_THREAD_CPUTIME_ID, over the measured requests) and the
//!   client-side p50/p99 latency.
//! - `axum server`: axum's hello world served by `axum::serve` on a `tokio::net::TcpListener`
//!   inside one ringcore core, or inside tokio's current-thread runtime; the load comes
//!   from raw hyper HTTP/1.1 connections (`ECO_BENCH_CONC` of them, keep-alive) on another
//!   thread. Measured: requests per server CPU-second (the server thread's CPU time from
//!   its first to its last measured request's round) and the client-side p50/p99.
//!
//! ```text
//! cargo bench --features tokio-context --bench eco
//! ECO_BENCH_ROUNDS=9 ECO_BENCH_REQUESTS=40000 cargo bench --features tokio-context --bench eco
//! ECO_BENCH_SIDE=ringcore perf stat -e instructions:u,instructions:k target/release/deps/eco-HASH reqwest
//! ```
//!
//! Each round runs both sides once (which goes first alternates), and the summary gives
//! each side's median requests per CPU-second over the rounds, the ratio ringcore/tokio
//! of those medians and the median of the rounds' own ratios, and p50/p99 over all
//! rounds' requests. The load average is printed
//! before and after: the machine's other work lands in the CPU time of neither side, but
//! it stretches latencies.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;

/// This thread's CPU time (user + system), in seconds.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always
    // supported on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// One side's round: requests, CPU seconds, latencies.
struct Round {
    requests: usize,
    cpu: f64,
    latencies: Vec<Duration>,
}

/// `total` requests over `conc` concurrent loops of `one`, all in this task; returns the
/// latencies.
async fn load<F, Fut>(total: usize, conc: usize, one: F) -> Vec<Duration>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let per = total / conc;
    let one = &one;
    let loops = (0..conc).map(|c| async move {
        let mut lat = Vec::with_capacity(per);
        for _ in 0..per {
            let start = Instant::now();
            one(c).await;
            lat.push(start.elapsed());
        }
        lat
    });
    futures::future::join_all(loops)
        .await
        .into_iter()
        .flatten()
        .collect()
}

// ---- reqwest client against a hyper server ----

/// A hyper HTTP/1.1 hello-world server on its own thread (tokio current-thread); runs
/// until the process exits.
fn start_hyper_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        tokio_rt().block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                tcp.set_nodelay(true).unwrap();
                tokio::task::spawn(async move {
                    let service = hyper::service::service_fn(|_req| async {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                            b"Hello, World!",
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// The client program both runtimes run: warm-up, then `total` measured requests.
async fn reqwest_client(url: String, total: usize, conc: usize) -> Round {
    let client = reqwest::Client::builder().http1_only().build().unwrap();
    let get = |_c: usize| {
        let req = client.get(&url).send();
        async move {
            let body = req.await.unwrap().bytes().await.unwrap();
            assert_eq!(body.len(), 13);
        }
    };
    load(conc * 20, conc, get).await;
    let cpu0 = thread_cpu();
    let latencies = load(total, conc, get).await;
    Round {
        requests: latencies.len(),
        cpu: thread_cpu() - cpu0,
        latencies,
    }
}

fn reqwest_round(on_ringcore: bool, url: &str, total: usize, conc: usize) -> Round {
    let program = reqwest_client(url.to_owned(), total, conc);
    if on_ringcore {
        ringcore::Runtime::new().unwrap().block_on(program)
    } else {
        tokio_rt().block_on(program)
    }
}

// ---- axum hello world served by axum::serve ----

/// Serves axum's hello world with `axum::serve` on a thread of its own (one ringcore core,
/// or tokio's current-thread runtime) until the load is done; returns the server thread's
/// CPU seconds from the first measured request to the last, with the load's latencies.
fn axum_round(on_ringcore: bool, total: usize, conc: usize) -> Round {
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The server reads its CPU clock when the load starts measuring and when it ends.
    let (mark_tx, mut mark_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let server = std::thread::spawn(move || {
        let program = async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            let app =
                axum::Router::new().route("/", axum::routing::get(|| async { "Hello, World!" }));
            let marks = tokio::spawn(async move {
                mark_rx.recv().await;
                let cpu0 = thread_cpu();
                mark_rx.recv().await;
                thread_cpu() - cpu0
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await
                .unwrap();
            marks.await.unwrap()
        };
        if on_ringcore {
            ringcore::Runtime::new().unwrap().block_on(program)
        } else {
            tokio_rt().block_on(program)
        }
    });
    let addr = addr_rx.recv().unwrap();
    let latencies = tokio_rt().block_on(async move {
        let mut senders = Vec::new();
        for _ in 0..conc {
            let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
            tcp.set_nodelay(true).unwrap();
            let (sender, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            senders.push(tokio::sync::Mutex::new(sender));
        }
        let senders = &senders;
        let get = |c: usize| async move {
            let mut sender = senders[c].lock().await;
            let req = hyper::Request::get("/")
                .header("host", "localhost")
                .body(Empty::new())
                .unwrap();
            let resp = sender.send_request(req).await.unwrap();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(body.len(), 13);
        };
        load(conc * 20, conc, get).await;
        mark_tx.send(()).unwrap();
        let latencies = load(total, conc, get).await;
        mark_tx.send(()).unwrap();
        latencies
    });
    stop_tx.send(()).unwrap();
    let cpu = server.join().unwrap();
    Round {
        requests: latencies.len(),
        cpu,
        latencies,
    }
}

// ---- report ----

#[derive(Default)]
struct Side {
    per_cpu: Vec<f64>,
    latencies: Vec<Duration>,
}

impl Side {
    fn add(&mut self, r: Round) -> f64 {
        let rate = r.requests as f64 / r.cpu.max(1e-9);
        self.per_cpu.push(rate);
        self.latencies.extend(r.latencies);
        rate
    }

    fn median(&self) -> f64 {
        let mut v = self.per_cpu.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    }

    fn pct_ms(&mut self, p: f64) -> f64 {
        self.latencies.sort();
        let i = ((self.latencies.len() - 1) as f64 * p).round() as usize;
        self.latencies[i].as_secs_f64() * 1e3
    }
}

/// `ECO_BENCH_SIDE=ringcore` or `tokio` runs that side alone, rounds times, for a profiler
/// or syscall counter attached to the whole process (`perf stat`, `strace -c -f`).
fn one_side(name: &str, rounds: usize, on_ringcore: bool, mut run: impl FnMut(bool) -> Round) {
    let mut side = Side::default();
    let mut requests = 0;
    for _ in 0..rounds {
        let r = run(on_ringcore);
        requests += r.requests;
        side.add(r);
    }
    println!(
        "{name}: {} alone: {requests} measured requests, median {:.0} req per CPU-s",
        if on_ringcore { "ringcore" } else { "tokio" },
        side.median()
    );
}

fn compare(name: &str, rounds: usize, mut run: impl FnMut(bool) -> Round) {
    match std::env::var("ECO_BENCH_SIDE").as_deref() {
        Ok("ringcore") => return one_side(name, rounds, true, run),
        Ok("tokio") => return one_side(name, rounds, false, run),
        _ => {}
    }
    let (mut ring, mut tokio) = (Side::default(), Side::default());
    for round in 0..rounds {
        // Alternate which side goes first.
        let order = if round % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let mut line = format!("{name}: round {round}:");
        for on_ringcore in order {
            let r = run(on_ringcore);
            let side = if on_ringcore { &mut ring } else { &mut tokio };
            let rate = side.add(r);
            line.push_str(&format!(
                " {} {:.0} req/CPU-s",
                if on_ringcore { "ringcore" } else { "tokio" },
                rate
            ));
        }
        println!("{line}");
    }
    println!("| {name} | side | median req per CPU-s | p50 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    let (rm, tm) = (ring.median(), tokio.median());
    for (label, side, m) in [
        ("ringcore + tokio context", &mut ring, rm),
        ("tokio current-thread", &mut tokio, tm),
    ] {
        println!(
            "| {name} | {label} | {m:.0} | {:.3} | {:.3} |",
            side.pct_ms(0.50),
            side.pct_ms(0.99)
        );
    }
    // Each round's two runs are neighbours in time: their ratio drifts less with the
    // machine's other load than either side does.
    let mut paired: Vec<f64> = ring
        .per_cpu
        .iter()
        .zip(&tokio.per_cpu)
        .map(|(r, t)| r / t)
        .collect();
    paired.sort_by(f64::total_cmp);
    println!(
        "{name}: ratio ringcore/tokio (req per CPU-s): {:.3}x of the medians, \
         {:.3}x median of the rounds' ratios",
        rm / tm,
        paired[paired.len() / 2]
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument of "reqwest" or "axum" runs one.
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wants = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    let rounds = env("ECO_BENCH_ROUNDS", 5);
    let total = env("ECO_BENCH_REQUESTS", 20_000);
    let conc = env("ECO_BENCH_CONC", 16).max(1);
    println!(
        "eco bench: {rounds} rounds of {total} requests, {conc} in flight; load average {}",
        loadavg()
    );
    if wants("reqwest") {
        let url = format!("http://{}/", start_hyper_server());
        compare("reqwest client", rounds, |on| {
            reqwest_round(on, &url, total, conc)
        });
    }
    if wants("axum") {
        compare("axum server", rounds, |on| axum_round(on, total, conc));
    }
    println!("load average after: {}", loadavg());
}
