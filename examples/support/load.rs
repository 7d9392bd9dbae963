//! The echo load generator shared by `examples/echo_client.rs` and `benches/echo.rs`:
//! `conns` connections, each sending a `size`-byte message, waiting for its echo, checking
//! every byte, and sending the next, until `duration` has passed.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::IoBuf;
use ringcore::net::TcpStream;

/// What to run.
#[derive(Debug, Clone)]
pub(crate) struct LoadConfig {
    pub(crate) addr: SocketAddr,
    pub(crate) conns: usize,
    pub(crate) size: usize,
    pub(crate) duration: Duration,
}

/// What happened.
#[derive(Debug, Default)]
pub(crate) struct LoadReport {
    /// Messages echoed and checked.
    pub(crate) msgs: u64,
    /// Failed connects, I/O errors, early EOFs and corrupted echoes.
    pub(crate) errors: u64,
    /// Round-trip times in nanoseconds, one per message, sorted.
    pub(crate) latencies_ns: Vec<u32>,
    /// Wall time of the run.
    pub(crate) elapsed: Duration,
}

impl LoadReport {
    pub(crate) fn msgs_per_sec(&self) -> f64 {
        self.msgs as f64 / self.elapsed.as_secs_f64()
    }

    pub(crate) fn mib_per_sec(&self, size: usize) -> f64 {
        // Bytes echoed: each message crosses the wire once each way; count one way.
        self.msgs_per_sec() * size as f64 / (1024.0 * 1024.0)
    }

    /// The `p`-th percentile latency (0..=100) in microseconds.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        if self.latencies_ns.is_empty() {
            return 0.0;
        }
        let idx = ((self.latencies_ns.len() - 1) as f64 * p / 100.0).round() as usize;
        f64::from(self.latencies_ns[idx]) / 1000.0
    }

    pub(crate) fn summary(&self, size: usize) -> String {
        format!(
            "msgs/s {:.0}  MiB/s {:.1}  p50 {:.1} us  p99 {:.1} us  errors {}",
            self.msgs_per_sec(),
            self.mib_per_sec(size),
            self.percentile(50.0),
            self.percentile(99.0),
            self.errors
        )
    }
}

/// xorshift64* bytes, so every connection sends different data.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[derive(Default)]
struct Totals {
    msgs: u64,
    errors: u64,
    latencies_ns: Vec<u32>,
}

/// Runs one connection's ping-pong loop until `deadline`.
async fn connection(cfg: Rc<LoadConfig>, id: u64, deadline: Instant, totals: Rc<RefCell<Totals>>) {
    let stream = match TcpStream::connect(cfg.addr).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("connect: {e}");
            totals.borrow_mut().errors += 1;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut msg = pattern(cfg.size, id + 1);
    let mut back: Vec<u8> = Vec::with_capacity(cfg.size);
    let mut lat = Vec::with_capacity(4096);
    let mut seq: u64 = 0;
    let mut error = false;
    while Instant::now() < deadline {
        // Stamp a sequence number into the message so a stale echo cannot pass the check.
        let stamp = seq.to_le_bytes();
        let k = stamp.len().min(msg.len());
        msg[..k].copy_from_slice(&stamp[..k]);
        let start = Instant::now();
        let (res, m) = stream.write_all(msg).await;
        msg = m;
        if let Err(e) = res {
            eprintln!("write: {e}");
            error = true;
            break;
        }
        back.clear();
        while back.len() < cfg.size {
            let len = back.len();
            let (res, slice) = stream.read(back.slice(len..cfg.size)).await;
            back = slice.into_inner();
            match res {
                Ok(0) => {
                    eprintln!("server closed the connection");
                    error = true;
                    break;
                }
                Ok(_) => {}
                Err(e) => {
                    eprintln!("read: {e}");
                    error = true;
                    break;
                }
            }
        }
        if error {
            break;
        }
        if back != msg {
            eprintln!("connection {id}: echo differs from what was sent");
            error = true;
            break;
        }
        lat.push(u32::try_from(start.elapsed().as_nanos()).unwrap_or(u32::MAX));
        seq += 1;
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut t = totals.borrow_mut();
    t.msgs += lat.len() as u64;
    t.errors += u64::from(error);
    t.latencies_ns.append(&mut lat);
}

/// Runs the load on the current ringcore core and returns the report.
pub(crate) async fn run(cfg: LoadConfig) -> LoadReport {
    let cfg = Rc::new(cfg);
    let totals = Rc::new(RefCell::new(Totals::default()));
    let start = Instant::now();
    let deadline = start + cfg.duration;
    let tasks: Vec<_> = (0..cfg.conns as u64)
        .map(|id| ringcore::spawn(connection(cfg.clone(), id, deadline, totals.clone())))
        .collect();
    let mut errors = 0;
    for t in tasks {
        if t.await.is_err() {
            errors += 1;
        }
    }
    let elapsed = start.elapsed();
    let mut t = totals.take();
    t.latencies_ns.sort_unstable();
    LoadReport {
        msgs: t.msgs,
        errors: t.errors + errors,
        latencies_ns: t.latencies_ns,
        elapsed,
    }
}
