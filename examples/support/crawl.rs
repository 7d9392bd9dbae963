//! The crawler shared by `examples/crawler.rs` and `tests/web_client.rs`: asyncio's
//! `gather(*fetches, return_exceptions=True)` with a semaphore, a per-request timeout and
//! retries, over one `ringcore::hyper_rt::Client` (one connection pool) on this core.

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
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Client(e) => e.is_connect(),
            FetchError::Status(s) => s.is_server_error(),
            _ => false,
        }
    }
}

/// The outcome of one URL, with how many attempts it took.
pub(crate) type Outcome = Result<Page, (FetchError, u32)>;

async fn attempt(client: &Client, url: &str) -> Result<(StatusCode, Bytes), FetchError> {
    let resp = client.get(url).await?;
    let status = resp.status();
    let body = resp.into_body().bytes().await.map_err(FetchError::Body)?;
    if !status.is_success() {
        return Err(FetchError::Status(status));
    }
    Ok((status, body))
}

/// Fetches one URL: a permit, then up to `retry.attempts()` attempts each bounded by
/// `timeout`.
async fn fetch(client: &Client, sem: &Semaphore, config: &CrawlConfig, url: &str) -> Outcome {
    let _permit = sem.acquire().await.expect("the semaphore is never closed");
    let start = Instant::now();
    let mut attempts = 0;
    let result = ringcore::future::retry_if(
        &config.retry,
        || {
            attempts += 1;
            async {
                match ringcore::time::timeout(config.timeout, attempt(client, url)).await {
                    Ok(r) => r,
                    Err(_) => Err(FetchError::Timeout(config.timeout)),
                }
            }
        },
        FetchError::retryable,
    )
    .await;
    match result {
        Ok((status, body)) => Ok(Page {
            status,
            body,
            latency: start.elapsed(),
            attempts,
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
