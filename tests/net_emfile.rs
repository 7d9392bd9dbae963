//! RLIMIT_NOFILE at 256 with 1,000 clients connecting: `accept` fails with EMFILE (an
//! error, not a panic or a hang), the listener accepts again once descriptors are freed,
//! and a server backing off while out of descriptors does not make its core spin.
//!
//! The limit is process-wide, so this binary holds this one test (plus the client role,
//! which does nothing unless the test re-executes the binary as its client process).

mod support;

use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::net::{ListenOptions, TcpListener};

const CLIENTS: usize = 1_000;
const LIMIT: u64 = 256;
/// Set (to the listener's address) in the client process.
const CLIENT_ENV: &str = "RINGCORE_TEST_EMFILE_CLIENT";

#[test]
fn accept_under_emfile_errors_then_recovers_without_spinning() {
    if std::env::var_os(CLIENT_ENV).is_some() {
        return;
    }
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let opts = ListenOptions::new().backlog(2 * CLIENTS as i32);
        let listener = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        let addr = listener.local_addr().unwrap();
        // Spawned before the limit drops, so the client process is not limited.
        let mut client = support::child_role("client_process", CLIENT_ENV, &addr.to_string())
            .spawn()
            .unwrap();
        let old_limit = support::set_soft_nofile(LIMIT);

        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut attempts, mut emfile, mut served) = (0usize, 0usize, 0usize);
        let mut held = Vec::new();
        while served < CLIENTS {
            assert!(Instant::now() < deadline, "served {served} of {CLIENTS}");
            attempts += 1;
            match listener.accept().await {
                Ok((stream, _)) => held.push(stream),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    emfile += 1;
                    // Back off while out of descriptors: the core must park, not spin.
                    let (cpu, parks) = (support::thread_cpu(), rt.metrics().parks);
                    ringcore::time::sleep(Duration::from_millis(100)).await;
                    let burnt = support::thread_cpu() - cpu;
                    assert!(
                        burnt < Duration::from_millis(50),
                        "spun {burnt:?} while idle"
                    );
                    assert!(rt.metrics().parks > parks, "the core never parked");
                    // Free descriptors: answer and close every held connection.
                    for stream in held.drain(..) {
                        let (res, _) = stream.write_all(b"ok" as &'static [u8]).await;
                        res.unwrap();
                        served += 1;
                    }
                }
                Err(e) => panic!("accept failed with {e} (expected success or EMFILE)"),
            }
            if served + held.len() == CLIENTS {
                for stream in held.drain(..) {
                    let (res, _) = stream.write_all(b"ok" as &'static [u8]).await;
                    res.unwrap();
                    served += 1;
                }
            }
        }
        support::set_soft_nofile(old_limit);

        // Each EMFILE freed about LIMIT descriptors' worth of connections.
        let bound = 2 * CLIENTS / (LIMIT as usize / 2) + 4;
        assert!(
            emfile >= 1,
            "never ran out of descriptors: the limit did not bite"
        );
        assert!(emfile <= bound, "{emfile} EMFILE errors (bound {bound})");
        assert_eq!(
            attempts,
            CLIENTS + emfile,
            "accept attempts beyond one per outcome"
        );
        let status = client.wait().unwrap();
        assert!(status.success(), "client process: {status}");
    });
}

/// The client role: connects every client first, then checks each gets "ok" and EOF.
#[test]
fn client_process() {
    let Some(addr) = std::env::var_os(CLIENT_ENV) else {
        return;
    };
    support::raise_nofile(4 * CLIENTS as u64);
    let addr = addr.to_str().unwrap();
    let streams: Vec<_> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    for (i, mut s) in streams.into_iter().enumerate() {
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut got = Vec::new();
        std::io::Read::read_to_end(&mut s, &mut got).unwrap_or_else(|e| panic!("client {i}: {e}"));
        assert_eq!(got, b"ok", "client {i}");
    }
}
