//! The five programs of a newcomer's first hour (issue 25), written against today's API
//! the way docs/asyncio.md teaches them, and run as tests. Each `mod` is one program; its
//! `main` is what a user's `#[ringcore::main] async fn main` would hold. docs/first_hour.md
//! compares their lines with the Python they mirror (counted between the `// program`
//! markers, blank lines and comments excluded).
#![cfg(feature = "hyper")]
// Each program module exposes its `main` to the tests below.
#![allow(unreachable_pub)]

use std::time::Duration;

/// 1. gather with return_exceptions, and wait_for.
mod gather {
    use std::time::Duration;

    use ringcore::future::join_all;
    use ringcore::time::{sleep, timeout};

    // program
    async fn fetch(i: u64) -> Result<u64, String> {
        sleep(Duration::from_millis(5 * i)).await;
        if i == 3 {
            return Err(format!("bad {i}"));
        }
        Ok(i * 10)
    }

    pub async fn main() -> Vec<String> {
        let mut out: Vec<String> = join_all((0..5).map(fetch))
            .await
            .iter()
            .map(|r| format!("{r:?}"))
            .collect();
        if timeout(Duration::from_millis(20), sleep(Duration::from_secs(1)))
            .await
            .is_err()
        {
            out.push("timed out".into());
        }
        let (a, b) = ringcore::join!(fetch(1), timeout(Duration::from_secs(1), fetch(2)));
        out.push(format!("{a:?} {:?}", b.unwrap()));
        out
    }
    // end program
}

/// 2. A Queue with task_done/join, a Semaphore and an Event.
mod queue {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use ringcore::sync::{Event, Queue, Semaphore};

    // program
    pub async fn main() -> Vec<u64> {
        let (q, sem, ready) = (
            Rc::new(Queue::<u64>::bounded(10)),
            Rc::new(Semaphore::new(2)),
            Rc::new(Event::new()),
        );
        let results = Rc::new(RefCell::new(Vec::new()));
        for _ in 0..4 {
            let (q, sem, results) = (q.clone(), sem.clone(), results.clone());
            ringcore::spawn(async move {
                while let Ok(item) = q.get().await {
                    let _permit = sem.acquire().await;
                    ringcore::time::sleep(Duration::from_millis(1)).await;
                    results.borrow_mut().push(item * 2);
                    q.task_done().unwrap();
                }
            });
        }
        let (q2, ready2) = (q.clone(), ready.clone());
        let producer = ringcore::spawn(async move {
            ready2.wait().await;
            for i in 0..20 {
                q2.put(i).await.unwrap();
            }
        });
        ready.set();
        producer.await.unwrap();
        q.join().await;
        q.shutdown();
        let mut out = results.take();
        out.sort();
        out
    }
    // end program
}

/// 3. A crawler: per-request timeout, retries, as_completed.
mod crawler {
    use std::error::Error;
    use std::time::Duration;

    use futures::StreamExt;
    use ringcore::future::{RetryPolicy, as_completed, retry};
    use ringcore::hyper_rt::Client;
    use ringcore::time::timeout;

    // program
    pub async fn main(urls: Vec<String>) -> Vec<(String, Result<usize, Box<dyn Error>>)> {
        let (client, policy) = (
            &Client::new(),
            &RetryPolicy::new(3).exponential(
                Duration::from_millis(10),
                2.0,
                Duration::from_secs(1),
            ),
        );
        let fetches = urls.into_iter().map(|url| async move {
            let got = retry(policy, || async {
                let res = timeout(Duration::from_secs(2), client.get(url.as_str())).await??;
                Ok::<_, Box<dyn Error>>(res.into_body().text().await?.len())
            })
            .await;
            (url, got)
        });
        as_completed(fetches).collect().await
    }
    // end program
}

/// 4. File lines, a copy, and fib on both pools.
mod files {
    use std::path::Path;

    use futures::StreamExt;
    use ringcore::offload::{Jobs, ProcessPool, spawn_blocking};

    pub fn fib(n: u64) -> u64 {
        if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
    }

    pub fn jobs() -> Jobs {
        Jobs::new().register("fib", fib)
    }

    // program
    pub async fn main(dir: &Path, pool: &ProcessPool) -> std::io::Result<(usize, u64, u64, u64)> {
        let src = dir.join("in.txt");
        ringcore::fs::write(&src, "one\ntwo\nthree\n").await?;
        let lines: Vec<String> = ringcore::fs::File::open(&src)
            .await?
            .lines()
            .map(Result::unwrap)
            .collect()
            .await;
        let copied = ringcore::fs::copy(&src, dir.join("out.txt")).await?;
        let on_thread = spawn_blocking(|| fib(25)).await.unwrap();
        let on_process: u64 = pool.call("fib", &25u64).await.unwrap();
        Ok((lines.len(), copied, on_thread, on_process))
    }
    // end program
}

/// 5. An echo server on two cores, counters summed on core 0.
mod echo_cores {
    use ringcore::net::{ListenOptions, TcpListener};
    use ringcore::sync::CancellationToken;

    // program
    pub async fn main(addr: std::net::SocketAddr, stop: CancellationToken) -> u64 {
        let per_core = ringcore::run_on_each_core(|_| {
            let stop = stop.clone();
            move || async move {
                let listener =
                    TcpListener::bind_with(addr, &ListenOptions::new().reuse_port(true)).unwrap();
                let mut served = 0;
                while let ringcore::future::Either::Left(Ok((conn, _))) =
                    ringcore::future::select(listener.accept(), stop.cancelled()).await
                {
                    served += 1;
                    ringcore::spawn(async move {
                        let mut buf = Vec::with_capacity(4096);
                        while let (Ok(1..), b) = conn.read(buf).await {
                            let (res, b) = conn.write_all(b).await;
                            if res.is_err() {
                                break;
                            }
                            buf = b;
                        }
                    });
                }
                served
            }
        });
        per_core.await.iter().sum()
    }
    // end program
}

#[test]
fn gather_with_errors_as_values_and_wait_for() {
    let out = ringcore::block_on(gather::main());
    assert_eq!(
        out,
        [
            "Ok(0)",
            "Ok(10)",
            "Ok(20)",
            "Err(\"bad 3\")",
            "Ok(40)",
            "timed out",
            "Ok(10) Ok(20)"
        ]
    );
}

#[test]
fn queue_semaphore_event() {
    let out = ringcore::block_on(queue::main());
    assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<u64>>());
}

#[test]
fn crawler_with_timeouts_retries_and_as_completed() {
    ringcore::block_on(async {
        let listener = ringcore::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let hello =
            ringcore::hyper_rt::service_fn(|req: ringcore::hyper_rt::Request<_>| async move {
                let body = format!("hello {}", req.uri().path());
                Ok::<_, std::convert::Infallible>(ringcore::hyper_rt::Response::new(
                    ringcore::hyper_rt::Body::from(body),
                ))
            });
        ringcore::spawn(async move { ringcore::hyper_rt::serve(listener, hello).await });
        let mut urls: Vec<String> = (0..10).map(|i| format!("http://{addr}/p{i}")).collect();
        // A closed port: three attempts, then its error.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        urls.push(format!("http://{closed}/"));
        let got = crawler::main(urls).await;
        assert_eq!(got.len(), 11);
        let ok = got.iter().filter(|(_, r)| r.is_ok()).count();
        assert_eq!(ok, 10, "{got:?}");
        for (url, res) in &got {
            if url.contains(&closed.to_string()) {
                assert!(res.is_err());
            } else {
                let path = url.rsplit('/').next().unwrap();
                assert_eq!(*res.as_ref().unwrap(), "hello /".len() + path.len());
            }
        }
    });
}

#[test]
fn first_hour_worker_entry() {
    ringcore::offload::init_worker(&files::jobs());
}

#[test]
fn files_lines_copy_and_fib_on_both_pools() {
    let dir = tempfile::tempdir().unwrap();
    let pool = ringcore::offload::ProcessPool::builder()
        .workers(1)
        .worker_args(["--exact", "first_hour_worker_entry", "--nocapture"])
        .inherit_stdout(false)
        .build()
        .unwrap();
    let out = ringcore::block_on(files::main(dir.path(), &pool)).unwrap();
    assert_eq!(out, (3, 14, files::fib(25), files::fib(25)));
    assert_eq!(
        std::fs::read(dir.path().join("out.txt")).unwrap(),
        b"one\ntwo\nthree\n"
    );
}

#[test]
fn an_echo_server_on_two_cores_sums_its_counters() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let stop = ringcore::sync::CancellationToken::new();
    let total = rt.block_on(async {
        let server = ringcore::spawn(echo_cores::main(addr, stop.clone()));
        for i in 0..20u8 {
            let c = loop {
                match ringcore::net::TcpStream::connect(addr).await {
                    Ok(c) => break c,
                    Err(_) => ringcore::time::sleep(Duration::from_millis(2)).await,
                }
            };
            c.write_all(vec![i; 3]).await.0.unwrap();
            let (res, b) = c.read(Vec::with_capacity(8)).await;
            assert_eq!(res.unwrap(), 3);
            assert_eq!(b, [i; 3]);
        }
        stop.cancel();
        server.await.unwrap()
    });
    assert_eq!(total, 20);
}

/// The line counts docs/first_hour.md reports: a program's lines between its markers, not
/// blank and not comments. The test keeps the document's table honest.
#[test]
fn program_line_counts_match_the_document() {
    let src = include_str!("first_hour.rs");
    let mut counts = Vec::new();
    let mut inside = None;
    for line in src.lines() {
        let t = line.trim();
        if t == "// program" {
            inside = Some(0);
        } else if t == "// end program" {
            counts.push(inside.take().unwrap());
        } else if let Some(n) = inside.as_mut()
            && !t.is_empty()
            && !t.starts_with("//")
        {
            *n += 1;
        }
    }
    let doc = include_str!("../docs/first_hour.md");
    for (i, n) in counts.iter().enumerate() {
        let row = format!("| {} |", i + 1);
        let line = doc
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row {row}"));
        assert!(
            line.contains(&format!("| {n} |")),
            "program {}: {n} lines, the document says {line}",
            i + 1
        );
    }
    assert_eq!(counts.len(), 5);
}
