//! The echo load generator shared by `examples/echo_client.rs`, `benches/echo.rs` and
//! `benches/sweep_echo.rs`: `conns` connections, each sending a `size`-byte message,
//! waiting for its echo, checking every byte, and sending the next, until `duration` has
//! passed. [`run`] does it all at once; [`connect_all`], [`run_on`] and [`close_all`] keep
//! the connections open across runs (a warm-up, then the measured run, then a look at the
//! server while every connection is still open).

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

/// One open connection of the load, with its message buffers.
pub(crate) struct Conn {
    stream: TcpStream,
    id: u64,
    msg: Vec<u8>,
    back: Vec<u8>,
    seq: u64,
}

/// Opens `cfg.conns` connections, at most `batch` connects in flight at a time (so the
/// server's accept queue does not overflow when there are thousands). Returns the open
/// connections and the number of failed connects.
pub(crate) async fn connect_all(cfg: &LoadConfig, batch: usize) -> (Vec<Conn>, u64) {
    let mut conns = Vec::with_capacity(cfg.conns);
    let mut errors = 0;
    let mut id = 0u64;
    while (id as usize) < cfg.conns {
        let end = (id as usize + batch.max(1)).min(cfg.conns) as u64;
        let tasks: Vec<_> = (id..end)
            .map(|id| {
                let (addr, size) = (cfg.addr, cfg.size);
                ringcore::spawn(async move {
                    let stream = TcpStream::connect(addr).await?;
                    let _ = stream.set_nodelay(true);
                    Ok::<_, std::io::Error>(Conn {
                        stream,
                        id,
                        msg: pattern(size, id + 1),
                        back: Vec::with_capacity(size),
                        seq: 0,
                    })
                })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => conns.push(c),
                Ok(Err(e)) => {
                    eprintln!("connect: {e}");
                    errors += 1;
                }
                Err(_) => errors += 1,
            }
        }
        id = end;
    }
    (conns, errors)
}

/// Runs one connection's ping-pong loop until `deadline`; gives the connection back
/// unless it failed.
async fn connection(mut c: Conn, deadline: Instant, totals: Rc<RefCell<Totals>>) -> Option<Conn> {
    let size = c.msg.len();
    let mut lat = Vec::with_capacity(64);
    let mut error = false;
    while Instant::now() < deadline {
        // Stamp a sequence number into the message so a stale echo cannot pass the check.
        let stamp = c.seq.to_le_bytes();
        let k = stamp.len().min(size);
        c.msg[..k].copy_from_slice(&stamp[..k]);
        let start = Instant::now();
        let (res, m) = c.stream.write_all(std::mem::take(&mut c.msg)).await;
        c.msg = m;
        if let Err(e) = res {
            eprintln!("write: {e}");
            error = true;
            break;
        }
        let mut back = std::mem::take(&mut c.back);
        back.clear();
        while back.len() < size {
            let len = back.len();
            let (res, slice) = c.stream.read(back.slice(len..size)).await;
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
        c.back = back;
        if error {
            break;
        }
        if c.back != c.msg {
            eprintln!("connection {}: echo differs from what was sent", c.id);
            error = true;
            break;
        }
        lat.push(u32::try_from(start.elapsed().as_nanos()).unwrap_or(u32::MAX));
        c.seq += 1;
    }
    let mut t = totals.borrow_mut();
    t.msgs += lat.len() as u64;
    t.errors += u64::from(error);
    t.latencies_ns.append(&mut lat);
    (!error).then_some(c)
}

/// Runs ping-pong on every connection in `conns` for `duration`, on the current ringcore
/// core. Returns the connections still open (still connected, for another run) and the
/// report.
pub(crate) async fn run_on(conns: Vec<Conn>, duration: Duration) -> (Vec<Conn>, LoadReport) {
    let totals = Rc::new(RefCell::new(Totals::default()));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| ringcore::spawn(connection(c, deadline, totals.clone())))
        .collect();
    let mut errors = 0;
    let mut open = Vec::with_capacity(tasks.len());
    for t in tasks {
        match t.await {
            Ok(Some(c)) => open.push(c),
            Ok(None) => {}
            Err(_) => errors += 1,
        }
    }
    let elapsed = start.elapsed();
    let mut t = totals.take();
    t.latencies_ns.sort_unstable();
    let report = LoadReport {
        msgs: t.msgs,
        errors: t.errors + errors,
        latencies_ns: t.latencies_ns,
        elapsed,
    };
    (open, report)
}

/// Half-closes every connection (the server sees EOF) and drops it.
pub(crate) fn close_all(conns: Vec<Conn>) {
    for c in conns {
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
    }
}

/// Connects (at most 512 connects in flight), runs the load on the current ringcore core
/// for `cfg.duration` (the clock starts once every connection is open), closes the
/// connections and returns the report.
pub(crate) async fn run(cfg: LoadConfig) -> LoadReport {
    let (conns, connect_errors) = connect_all(&cfg, 512).await;
    let (conns, mut report) = run_on(conns, cfg.duration).await;
    close_all(conns);
    report.errors += connect_errors;
    report
}
