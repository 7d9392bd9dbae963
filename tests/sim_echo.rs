//! The echo_server example's serving code, unmodified (examples/support/echo.rs, the
//! module the example itself serves with), on a simulated host (feature `sim`): its
//! multishot accept and receive path and its `--plain` path, with simulated clients that
//! check every byte comes back, through latency, a partition, a crashed client and a
//! crashed and restarted server; one seed gives one trace.

#[allow(dead_code)]
#[path = "../examples/support/echo.rs"]
mod echo;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use echo::{Stats, accept_loop};
use ringcore::net::{TcpListener, TcpStream};
use ringcore::sim::Sim;
use ringcore::time::sleep;

/// Messages each client connection sends.
const MESSAGES: usize = 40;
/// Connections per client host.
const CONNS: usize = 3;

/// Reads exactly `n` bytes.
async fn read_n(stream: &TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < n {
        let (res, buf) = stream.read(Vec::with_capacity(n - out.len())).await;
        if res? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

/// One client connection's work: `MESSAGES` messages of 1 byte to 64 KiB, each sent and
/// read back whole before the next; on an error (the server crashed, a reset) it connects
/// again and sends the message again. Returns the bytes it saw echoed.
async fn client(id: u8) -> u64 {
    let mut rng = ringcore::sim::rng();
    let mut conn: Option<TcpStream> = None;
    let mut echoed = 0;
    for m in 0..MESSAGES {
        let len = if rng.bool() {
            rng.usize(1..200)
        } else {
            rng.usize(1..64 * 1024)
        };
        let msg: Vec<u8> = (0..len).map(|k| (k as u8) ^ id ^ m as u8).collect();
        loop {
            let stream = match conn.take() {
                Some(s) => s,
                None => match TcpStream::connect("echo:7878").await {
                    Ok(s) => s,
                    Err(_) => {
                        sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (res, _) = stream.write_all(msg.clone()).await;
            if res.is_err() {
                continue;
            }
            match read_n(&stream, len).await {
                Ok(back) => {
                    assert_eq!(back, msg, "client {id} message {m} came back changed");
                    echoed += len as u64;
                    conn = Some(stream);
                    break;
                }
                Err(_) => sleep(Duration::from_millis(100)).await,
            }
        }
    }
    echoed
}

/// A client host: `CONNS` connections at once; adds what they saw echoed to `done` as each
/// finishes.
fn client_host(sim: &mut Sim, name: &str, id: u8, done: &Rc<RefCell<Vec<(u8, u64)>>>) {
    let done = done.clone();
    sim.host(name, move || {
        let done = done.clone();
        async move {
            for c in 0..CONNS as u8 {
                let done = done.clone();
                let id = id * 16 + c;
                ringcore::spawn(async move {
                    let n = client(id).await;
                    done.borrow_mut().push((id, n));
                });
            }
        }
    })
    .unwrap();
}

/// What a run left: the finished client connections (id, bytes), the last server
/// incarnation's counters (accepted, open, bytes), and the trace hash.
type Outcome = (Vec<(u8, u64)>, (u64, u64, u64), u64);

fn run(seed: u64, plain: bool) -> Outcome {
    let mut sim = Sim::new(seed);
    sim.net_latency(Duration::from_millis(2), Duration::from_millis(20));
    let stats: Rc<RefCell<Rc<Stats>>> = Rc::default();
    let s = stats.clone();
    sim.host("echo", move || {
        let fresh = Rc::new(Stats::default());
        *s.borrow_mut() = fresh.clone();
        async move {
            // The host binds with its own simulated name.
            let listener = TcpListener::bind("echo:7878").unwrap();
            accept_loop(ringcore::current_core(), listener, fresh, plain).await;
        }
    })
    .unwrap();
    let done = Rc::new(RefCell::new(Vec::new()));
    client_host(&mut sim, "a", 1, &done);
    client_host(&mut sim, "b", 2, &done);
    client_host(&mut sim, "c", 3, &done);

    sim.run_for(Duration::from_millis(100)).unwrap();
    // a is cut off from the server mid-transfer, until after the server's restart.
    sim.partition(&["a"], &["echo"]).unwrap();
    sim.run_for(Duration::from_millis(50)).unwrap();
    // A client vanishes: its connections reset on the server, which serves the rest.
    sim.crash("c").unwrap();
    sim.run_for(Duration::from_millis(200)).unwrap();
    // The server crashes and comes back: clients reconnect and send again.
    sim.crash("echo").unwrap();
    sim.run_for(Duration::from_millis(500)).unwrap();
    sim.restart("echo").unwrap();
    sim.run_for(Duration::from_secs(2)).unwrap();
    sim.heal();
    sim.run_for(Duration::from_secs(120)).unwrap();

    // The path the server took: pool buffers on the multishot path, none on the plain one.
    let pool = sim
        .run_until("echo", async {
            ringcore::debug::metrics().unwrap().driver.recv_pool_buffers
        })
        .unwrap();
    assert_eq!(pool > 0, !plain, "{pool} pool buffers");
    let st = stats.borrow();
    let counters = (st.accepted.get(), st.open.get(), st.bytes.get());
    let mut done = done.borrow().clone();
    done.sort_unstable();
    (done, counters, sim.trace_hash())
}

fn check((done, (accepted, open, bytes), _): &Outcome) {
    let ids: Vec<u8> = done.iter().map(|d| d.0).collect();
    assert_eq!(
        ids,
        [16, 17, 18, 32, 33, 34],
        "a's and b's connections all finished"
    );
    assert!(done.iter().all(|d| d.1 > 0));
    // a's connections, cut off when the server crashed, reconnected to the restarted one
    // (b's did too, unless they had finished by then); c stayed down.
    assert!((3..=6).contains(accepted), "{accepted} accepted");
    // The clients dropped their connections when done: the server ends with none open.
    assert_eq!(*open, 0, "every connection ended on the server");
    assert!(*bytes > 0 && *bytes <= done.iter().map(|d| d.1).sum::<u64>());
}

#[test]
fn the_echo_example_serves_through_faults_on_its_multishot_path() {
    let out = run(21, false);
    check(&out);
    assert_eq!(run(21, false).2, out.2, "one seed, one trace");
}

#[test]
fn the_echo_example_serves_through_faults_on_its_plain_path() {
    let out = run(22, true);
    check(&out);
    assert_eq!(run(22, true).2, out.2, "one seed, one trace");
}

#[test]
fn many_seeds_pass() {
    for seed in 100..110 {
        check(&run(seed, seed % 2 == 0));
    }
}
