//! A `poll_read` future dropped at any point loses no byte: a sequence-numbered stream read
//! under random 50–500 µs timeouts (`ringcore::time::timeout`), with a busy neighbour task
//! on the same core, arrives with zero gaps — through the tokio traits, the futures traits,
//! and mixed with dropped ownership-passing reads on the same socket (whose bytes wait in
//! the socket's stash for the next read of either kind).
#![cfg(feature = "tokio-io")]

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream};
use ringcore::time::{sleep, timeout};

/// xorshift64*: deterministic randomness, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }
}

/// How the reader reads.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Tokio,
    Futures,
    /// Alternates tokio `poll_read`s with native ownership-passing reads on the same
    /// socket, both under timeouts.
    MixedWithNative,
}

/// Numbers the writer sends, as little-endian u32s.
const COUNT: u32 = 150_000;

/// Checks the received bytes continue the sequence; returns how many numbers are done.
fn check(pending: &mut Vec<u8>, next: &mut u32) {
    let whole = pending.len() / 4 * 4;
    for chunk in pending[..whole].chunks_exact(4) {
        let got = u32::from_le_bytes(chunk.try_into().unwrap());
        assert_eq!(got, *next, "gap or reorder in the stream");
        *next += 1;
    }
    pending.drain(..whole);
}

async fn run(reader: Reader, seed: u64, stream: TcpStream, writer: TcpStream) {
    // The writer sends the sequence in random-sized chunks, pausing now and then so some
    // reads wait (and time out) and some find data at once.
    let done = Rc::new(Cell::new(false));
    // Bytes the reader has taken so far, so the writer can wait for it to catch up.
    let consumed = Rc::new(Cell::new(0usize));
    let seen = consumed.clone();
    let writer_task = ringcore::spawn(async move {
        let mut rng = Rng(seed ^ 0x5eed);
        let all: Vec<u8> = (0..COUNT).flat_map(|i| i.to_le_bytes()).collect();
        let mut at = 0;
        let mut chunks = 0u32;
        while at < all.len() {
            let n = (rng.range(1, 6000) as usize).min(all.len() - at);
            let (res, _) = writer.write_all(all[at..at + n].to_vec()).await;
            res.unwrap();
            at += n;
            chunks += 1;
            if chunks.is_multiple_of(3) {
                // Once the reader has caught up, a pause longer than any read's limit: the
                // read now waiting on an empty socket is cut short, on either driver and
                // however the ticks' timing falls.
                while seen.get() < at {
                    sleep(Duration::from_micros(100)).await;
                }
                sleep(Duration::from_millis(2)).await;
            } else if rng.range(0, 2) == 0 {
                sleep(Duration::from_micros(rng.range(10, 700))).await;
            }
        }
        drop(writer);
    });
    // The busy neighbour: keeps the core's run queue non-empty with short bursts of work.
    let d = done.clone();
    let neighbour = ringcore::spawn(async move {
        let mut spins = 0u64;
        while !d.get() {
            let t = std::time::Instant::now();
            while t.elapsed() < Duration::from_micros(20) {
                spins = spins.wrapping_add(1);
            }
            ringcore::yield_now().await;
        }
        spins
    });

    let mut rng = Rng(seed);
    let mut io = stream.into_poll_io();
    let mut pending = Vec::new();
    let mut next = 0u32;
    let (mut timeouts, mut reads) = (0u32, 0u32);
    loop {
        let len = rng.range(1, 3000) as usize;
        let limit = Duration::from_micros(rng.range(50, 500));
        let native = matches!(reader, Reader::MixedWithNative) && rng.range(0, 2) == 0;
        let got: Option<Vec<u8>> = if native {
            match timeout(limit, io.get_ref().read(Vec::with_capacity(len))).await {
                Ok((res, buf)) => {
                    let n = res.unwrap();
                    Some(buf[..n].to_vec())
                }
                Err(_) => None,
            }
        } else {
            let mut buf = vec![0u8; len];
            let res = match reader {
                Reader::Futures => {
                    timeout(limit, futures::AsyncReadExt::read(&mut io, &mut buf)).await
                }
                _ => timeout(limit, tokio::io::AsyncReadExt::read(&mut io, &mut buf)).await,
            };
            res.ok().map(|res| {
                let n = res.unwrap();
                buf.truncate(n);
                buf
            })
        };
        match got {
            None => timeouts += 1,
            Some(bytes) if bytes.is_empty() => break,
            Some(bytes) => {
                reads += 1;
                consumed.set(consumed.get() + bytes.len());
                pending.extend_from_slice(&bytes);
                check(&mut pending, &mut next);
            }
        }
    }
    done.set(true);
    writer_task.await.unwrap();
    let spins = neighbour.await.unwrap();
    eprintln!("{reader:?}: {timeouts} timeouts, {reads} reads");
    assert!(pending.is_empty(), "a partial number at the end");
    assert_eq!(next, COUNT, "numbers missing at the end");
    // The test means something only if reads really were dropped mid-wait.
    assert!(
        timeouts > 50,
        "{reader:?}: only {timeouts} timeouts in {reads} reads"
    );
    assert!(spins > 0);
}

async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = ringcore::spawn(async move { listener.accept().await.unwrap().0 });
    let client = TcpStream::connect(addr).await.unwrap();
    (client, accept.await.unwrap())
}

#[test]
fn tokio_poll_read_under_random_timeouts_has_no_gaps() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        run(Reader::Tokio, 1, client, server).await;
    });
}

#[test]
fn futures_poll_read_under_random_timeouts_has_no_gaps() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        run(Reader::Futures, 2, client, server).await;
    });
}

#[test]
fn poll_reads_mixed_with_dropped_native_reads_have_no_gaps() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        run(Reader::MixedWithNative, 3, client, server).await;
    });
}
