//! At most N requests in flight, limited by a `Semaphore` (asyncio's
//! `async with sem: await fetch(url)`).
//!
//! The example starts a tiny, slow HTTP server on a std thread (each answer takes 50 ms)
//! and fetches 16 paths from it with `ringcore::net::TcpStream`, through the ring; the
//! semaphore bounds how many requests are in flight at once.
//!
//! Run: `cargo run --example bounded_fetch`

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::sync::Semaphore;
use ringcore::task::JoinSet;

const LIMIT: usize = 4;

fn serve(listener: TcpListener) {
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(&stream).read_line(&mut line);
            std::thread::sleep(Duration::from_millis(50)); // a slow backend
            let body = format!(
                "you asked for {}",
                line.split_whitespace().nth(1).unwrap_or("?")
            );
            let _ = write!(
                stream,
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        });
    }
}

/// One HTTP/1.0 GET through the ring; returns the body.
async fn fetch(addr: SocketAddr, path: String) -> std::io::Result<String> {
    let stream = ringcore::net::TcpStream::connect(addr).await?;
    let (res, _) = stream
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").into_bytes())
        .await;
    res?;
    let mut response = Vec::new();
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(4096)).await;
        if res? == 0 {
            break; // HTTP/1.0: the server closes after the body
        }
        response.extend_from_slice(&buf);
    }
    let text = String::from_utf8_lossy(&response);
    Ok(text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    std::thread::spawn(move || serve(listener));

    ringcore::block_on(async move {
        let sem = Rc::new(Semaphore::new(LIMIT));
        let in_flight = Rc::new(Cell::new(0usize));
        let peak = Rc::new(Cell::new(0usize));
        let start = Instant::now();
        let mut set = JoinSet::new();
        for i in 0..16 {
            let (sem, in_flight, peak) = (sem.clone(), in_flight.clone(), peak.clone());
            set.spawn(async move {
                let _permit = sem.acquire().await.expect("semaphore open");
                in_flight.set(in_flight.get() + 1);
                peak.set(peak.get().max(in_flight.get()));
                let body = fetch(addr, format!("/item/{i}")).await;
                in_flight.set(in_flight.get() - 1);
                body
            });
        }
        let mut ok = 0;
        while let Some(res) = set.join_next().await {
            match res.expect("task") {
                Ok(body) => {
                    ok += 1;
                    println!("{body}");
                }
                Err(e) => eprintln!("request failed: {e}"),
            }
        }
        println!(
            "{ok} requests, at most {} at once (limit {LIMIT}), in {:?}",
            peak.get(),
            start.elapsed()
        );
        assert!(peak.get() <= LIMIT);
    });
    Ok(())
}
