//! The crawler shared by `examples/crawler.rs` and `tests/web_client.rs`: asyncio's
//! `gather(*fetches, return_exceptions=True)` with a semaphore, a per-request timeout and
//! retries, over one `ringcore::hyper_rt::Client` (one connection pool) on this core.
//!
//! With the `tokio-context` feature, [`crawl_reqwest`] does the same over an unmodified
//! `reqwest::Client` (HTTPS with rustls, redirects followed), with a second limit per host:
//! one `ringcore::sync::Semaphore` for each `host:port`, taken before the global one so a
//! slow host holds none of the other hosts' slots.

#![allow(dead_code)] // Each includer uses part of it.

use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::future::RetryPolicy;
use ringcore::hyper_rt::{BodyError, Bytes, Client, ClientError, StatusCode};
use ringcore::sync::Semaphore;

/// How the crawl behaves.
#[derive(Debug, Clone)]
pub(crate) struct CrawlConfig {
    /// Requests in flight at most.
    pub(crate) concurrency: usize,
    /// Per attempt: connect, request and the whole body.
    pub(crate) timeout: Duration,
    /// Retries on connect errors and 5xx answers (not on timeouts or 4xx).
    pub(crate) retry: RetryPolicy,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            concurrency: 64,
            timeout: Duration::from_secs(5),
            retry: RetryPolicy::new(3)
                .exponential(Duration::from_millis(50), 2.0, Duration::from_secs(1))
                .jitter(0.2),
        }
    }
}

/// One URL's page.
#[derive(Debug, Clone)]
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
    /// From the first attempt to the end of the body, backoff included.
    pub(crate) latency: Duration,
    pub(crate) attempts: u32,
    /// The URL the body came from: the one asked for, or where its redirects ended.
    pub(crate) url: String,
}

/// Why one URL failed (after its retries).
#[derive(Debug, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("{0}")]
    Body(BodyError),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("HTTP {0}")]
    Status(StatusCode),
    /// reqwest's error: connect, TLS, redirect loop, body (the `--reqwest` mode).
    #[cfg(feature = "tokio-context")]
    #[error("{}", reqwest_chain(.0))]
    Reqwest(reqwest::Error),
    #[error("not an absolute http(s) URL with a host")]
    BadUrl,
}

/// reqwest's error with its causes (`error sending request for url (...)` alone hides
/// whether the connect was refused or the certificate unknown).
#[cfg(feature = "tokio-context")]
fn reqwest_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Client(e) => e.is_connect(),
            FetchError::Status(s) => s.is_server_error(),
            #[cfg(feature = "tokio-context")]
            FetchError::Reqwest(e) => e.is_connect() && !reqwest_chain(e).contains("certificate"),
            _ => false,
        }
    }
}

/// The outcome of one URL, with how many attempts it took.
pub(crate) type Outcome = Result<Page, (FetchError, u32)>;

async fn attempt(client: &Client, url: &str) -> Result<(StatusCode, Bytes, String), FetchError> {
    let resp = client.get(url).await?;
    let status = resp.status();
    let body = resp.into_body().bytes().await.map_err(FetchError::Body)?;
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    Ok((status, body, url.to_owned()))
}

/// Fetches one URL: a permit, then up to `retry.attempts()` attempts each bounded by
/// `timeout`.
async fn fetch(client: &Client, sem: &Semaphore, config: &CrawlConfig, url: &str) -> Outcome {
    let _permit = sem.acquire().await.expect("the semaphore is never closed");
    with_retries(config, || attempt(client, url)).await
}

/// Up to `retry.attempts()` attempts of `attempt`, each bounded by `timeout`.
async fn with_retries<F, Fut>(config: &CrawlConfig, mut attempt: F) -> Outcome
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(StatusCode, Bytes, String), FetchError>>,
{
    let start = Instant::now();
    let mut attempts = 0;
    let result = ringcore::future::retry_if(
        &config.retry,
        || {
            attempts += 1;
            let attempt = attempt();
            let timeout = config.timeout;
            async move {
                match ringcore::time::timeout(timeout, attempt).await {
                    Ok(r) => r,
                    Err(_) => Err(FetchError::Timeout(timeout)),
                }
            }
        },
        FetchError::retryable,
    )
    .await;
    match result {
        Ok((status, body, url)) => Ok(Page {
            status,
            body,
            latency: start.elapsed(),
            attempts,
            url,
        }),
        Err(e) => Err((e, attempts)),
    }
}

/// Fetches every URL with at most `concurrency` in flight; the results are in the order
/// of `urls`, each URL's error kept in its place.
pub(crate) async fn crawl(client: &Client, urls: &[String], config: &CrawlConfig) -> Vec<Outcome> {
    let sem = Rc::new(Semaphore::new(config.concurrency.max(1)));
    let fetches = urls.iter().map(|url| {
        let sem = sem.clone();
        async move { fetch(client, &sem, config, url).await }
    });
    ringcore::future::join_all(fetches.collect::<Vec<_>>()).await
}

/// One reqwest attempt: GET (redirects followed by the client's policy), the whole body.
#[cfg(feature = "tokio-context")]
async fn attempt_reqwest(
    client: &reqwest::Client,
    url: &str,
) -> Result<(StatusCode, Bytes, String), FetchError> {
    let resp = client.get(url).send().await.map_err(FetchError::Reqwest)?;
    let status = resp.status();
    let landed = resp.url().to_string();
    let body = resp.bytes().await.map_err(FetchError::Reqwest)?;
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    Ok((status, body, landed))
}

/// [`crawl`] over an unmodified `reqwest::Client` (which must have been built on this
/// core's tokio context), with at most `per_host` requests in flight to each `host:port`
/// besides `config.concurrency` in all. A URL reqwest cannot parse, or without a host,
/// fails alone with [`FetchError::BadUrl`].
#[cfg(feature = "tokio-context")]
pub(crate) async fn crawl_reqwest(
    client: &reqwest::Client,
    urls: &[String],
    config: &CrawlConfig,
    per_host: usize,
) -> Vec<Outcome> {
    use std::cell::RefCell;
    use std::collections::HashMap;

    let sem = Semaphore::new(config.concurrency.max(1));
    let hosts: RefCell<HashMap<String, Rc<Semaphore>>> = RefCell::new(HashMap::new());
    let fetches = urls.iter().map(|url| {
        let (sem, hosts) = (&sem, &hosts);
        async move {
            let host = match reqwest::Url::parse(url) {
                Ok(u) if u.host_str().is_some() && matches!(u.scheme(), "http" | "https") => {
                    format!(
                        "{}:{}",
                        u.host_str().unwrap_or(""),
                        u.port_or_known_default().unwrap_or(0)
                    )
                }
                _ => return Err((FetchError::BadUrl, 0)),
            };
            let host_sem = hosts
                .borrow_mut()
                .entry(host)
                .or_insert_with(|| Rc::new(Semaphore::new(per_host.max(1))))
                .clone();
            // The host's slot first: waiting for it holds no global slot.
            let _host_permit = host_sem.acquire().await.expect("never closed");
            let _permit = sem.acquire().await.expect("never closed");
            with_retries(config, || attempt_reqwest(client, url)).await
        }
    });
    ringcore::future::join_all(fetches.collect::<Vec<_>>()).await
}

/// ok, failed, p50 and p99 latency of the successful fetches.
#[derive(Debug)]
pub(crate) struct Summary {
    pub(crate) ok: usize,
    pub(crate) failed: usize,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

pub(crate) fn summarize(results: &[Outcome]) -> Summary {
    let mut latencies: Vec<Duration> = results
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .map(|p| p.latency)
        .collect();
    latencies.sort();
    let pct = |p: f64| {
        if latencies.is_empty() {
            Duration::ZERO
        } else {
            latencies[((latencies.len() - 1) as f64 * p).round() as usize]
        }
    };
    Summary {
        ok: latencies.len(),
        failed: results.len() - latencies.len(),
        p50: pct(0.50),
        p99: pct(0.99),
    }
}
