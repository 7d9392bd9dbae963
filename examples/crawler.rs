//! A crawler on ringcore with hyper: the seed's aiohttp crawler, one connection pool per
//! core.
//!
//! ```text
//! cargo run --release --features hyper --example crawler
//! cargo run --release --features hyper --example crawler -- --cores 2 --http2
//! cargo run --release --features hyper --example crawler -- http://127.0.0.1:8080/ http://127.0.0.1:8080/slow
//! cargo run --release --features hyper,tokio-context --example crawler -- --reqwest https://www.rust-lang.org/
//! ```
//!
//! With no URLs it serves examples/http_server.rs's routes on a loopback port (on a
//! runtime of its own, in another thread) and crawls 200 URLs from it, ten of them `/slow`
//! (1 s each), then prints ok, failed, p50/p99 latency and requests per second. With URLs
//! (http:// only) it fetches those and prints one line per URL, in the order given.
//!
//! Each core runs `join_all` over its share of the URLs with one `hyper_rt::Client` (its
//! pool), a `Semaphore` bounding the requests in flight (`--concurrency`, 64 per core), a
//! per-attempt timeout (`--timeout-ms`, 5000) and retries with exponential backoff on
//! connect errors and 5xx answers (3 attempts). A URL that fails (unresolvable, refused,
//! timed out, 5xx after its retries) keeps its error in its place, like asyncio's
//! `gather(..., return_exceptions=True)`, and the crawl goes on.
//!
//! With `--reqwest` (built with the `tokio-context` feature) each core fetches with an
//! unmodified `reqwest::Client` instead, the way most Rust crawlers are written: HTTPS
//! through rustls (webpki's root certificates, plus the PEM file given with `--ca FILE`),
//! redirects followed (up to 10; the line shows where a URL landed), and at most
//! `--per-host N` (8) requests in flight to any one host besides the global
//! `--concurrency`, each limit a `ringcore::sync::Semaphore`. reqwest's sockets, timers
//! and connection tasks live in the core's tokio context, on the core that made the client.

#[path = "support/crawl.rs"]
mod crawl;
#[path = "support/web.rs"]
mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crawl::{CrawlConfig, Outcome};
use ringcore::hyper_rt::{Client, Protocol};

fn usage() -> ! {
    eprintln!(
        "usage: crawler [--cores N] [--concurrency N] [--timeout-ms MS] [--http2] \
         [--reqwest [--per-host N] [--ca PEM_FILE]] [URL...]"
    );
    std::process::exit(2)
}

/// Serves the web example's routes on 127.0.0.1 on a one-core runtime in its own thread;
/// returns its address. The thread ends with the process.
fn start_local_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = ringcore::Runtime::new().unwrap_or_else(|e| {
            eprintln!("crawler: {e}");
            std::process::exit(1)
        });
        rt.block_on(async move {
            let listener =
                ringcore::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
            tx.send(listener.local_addr().expect("local_addr")).unwrap();
            let app = web::App::new(web::WebConfig::default()).expect("app");
            web::serve(listener, app, std::future::pending()).await;
        });
    });
    rx.recv().expect("the server thread reports its address")
}

/// This core's crawl with an unmodified `reqwest::Client` (built here, so its connection
/// pool and tasks belong to this core's tokio context).
#[cfg(feature = "tokio-context")]
async fn crawl_with_reqwest(
    urls: &[String],
    config: &CrawlConfig,
    per_host: usize,
    ca_pem: Option<&[u8]>,
) -> Vec<Outcome> {
    let mut builder = reqwest::Client::builder().pool_max_idle_per_host(per_host);
    if let Some(pem) = ca_pem {
        match reqwest::Certificate::from_pem_bundle(pem) {
            Ok(certs) => {
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
            Err(e) => {
                eprintln!("crawler: --ca: {e}");
                std::process::exit(2)
            }
        }
    }
    let client = builder.build().unwrap_or_else(|e| {
        eprintln!("crawler: {e}");
        std::process::exit(1)
    });
    crawl::crawl_reqwest(&client, urls, config, per_host).await
}

#[cfg(not(feature = "tokio-context"))]
async fn crawl_with_reqwest(
    _: &[String],
    _: &CrawlConfig,
    _: usize,
    _: Option<&[u8]>,
) -> Vec<Outcome> {
    unreachable!("--reqwest is refused without the tokio-context feature")
}

fn main() {
    let mut cores = 1;
    let mut protocol = Protocol::Http1;
    let mut config = CrawlConfig::default();
    let mut urls = Vec::new();
    let mut use_reqwest = false;
    let mut per_host = 8;
    let mut ca: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reqwest" => {
                use_reqwest = true;
                continue;
            }
            "--ca" => {
                ca = Some(args.next().unwrap_or_else(|| usage()).into());
                continue;
            }
            _ => {}
        }
        let mut value = || {
            args.next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| usage())
        };
        match arg.as_str() {
            "--cores" => cores = value() as usize,
            "--concurrency" => config.concurrency = value() as usize,
            "--timeout-ms" => config.timeout = Duration::from_millis(value()),
            "--http2" => protocol = Protocol::Http2,
            "--per-host" => per_host = value() as usize,
            a if a.starts_with("--") => usage(),
            url => urls.push(url.to_owned()),
        }
    }
    if use_reqwest && !cfg!(feature = "tokio-context") {
        eprintln!(
            "crawler: --reqwest needs the tokio-context feature (--features hyper,tokio-context)"
        );
        std::process::exit(2);
    }
    let ca_pem = ca.map(|path| {
        std::fs::read(&path).unwrap_or_else(|e| {
            eprintln!("crawler: --ca {}: {e}", path.display());
            std::process::exit(2)
        })
    });
    let self_test = urls.is_empty();
    if self_test {
        let addr = start_local_server();
        eprintln!("crawler: serving on http://{addr}; crawling 200 URLs from it");
        urls = (0..200)
            .map(|i| {
                if i % 20 == 19 {
                    format!("http://{addr}/slow")
                } else {
                    format!("http://{addr}/?name=page{i}")
                }
            })
            .collect();
    }

    let rt = ringcore::Runtime::builder()
        .cores(cores)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("crawler: {e}");
            std::process::exit(1)
        });
    let urls = Arc::new(urls);
    let shared = urls.clone();
    let start = Instant::now();
    // Core k crawls URLs k, k + cores, k + 2 × cores, ... with its own client and pool.
    let per_core = rt.run_on_all(move |core| {
        let (urls, config, ca_pem) = (shared.clone(), config.clone(), ca_pem.clone());
        async move {
            let mine: Vec<String> = urls
                .iter()
                .skip(core.index())
                .step_by(cores)
                .cloned()
                .collect();
            if use_reqwest {
                return crawl_with_reqwest(&mine, &config, per_host, ca_pem.as_deref()).await;
            }
            let client = Client::builder().protocol(protocol).build();
            crawl::crawl(&client, &mine, &config).await
        }
    });
    let elapsed = start.elapsed();
    drop(rt);
    // Back into input order.
    let mut results: Vec<Option<Outcome>> = (0..urls.len()).map(|_| None).collect();
    for (k, outcomes) in per_core.into_iter().enumerate() {
        for (j, outcome) in outcomes.into_iter().enumerate() {
            results[k + j * cores] = Some(outcome);
        }
    }
    let results: Vec<Outcome> = results
        .into_iter()
        .map(|r| r.expect("every URL has an outcome"))
        .collect();

    if !self_test {
        for (url, r) in urls.iter().zip(&results) {
            match r {
                Ok(p) => println!(
                    "{} {:>8} B {:>8.1} ms  {url}{}{}",
                    p.status.as_u16(),
                    p.body.len(),
                    p.latency.as_secs_f64() * 1e3,
                    if p.url != *url {
                        format!(" -> {}", p.url)
                    } else {
                        String::new()
                    },
                    if p.attempts > 1 {
                        format!("  ({} attempts)", p.attempts)
                    } else {
                        String::new()
                    }
                ),
                Err((e, attempts)) => println!("ERR {url}: {e} ({attempts} attempts)"),
            }
        }
    }
    let s = crawl::summarize(&results);
    println!(
        "crawled {} URLs on {cores} core(s) in {:.2} s: {} ok, {} failed, p50 {:.1} ms, p99 {:.1} ms, {:.0} req/s",
        results.len(),
        elapsed.as_secs_f64(),
        s.ok,
        s.failed,
        s.p50.as_secs_f64() * 1e3,
        s.p99.as_secs_f64() * 1e3,
        results.len() as f64 / elapsed.as_secs_f64()
    );
    if self_test && s.failed > 0 {
        std::process::exit(1);
    }
}
