//! `echo_server --cores 2`: one SO_REUSEPORT listener per core, connections spread across
//! both cores, every byte echoed, SIGTERM stops every core and the totals add up.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

fn example(name: &str) -> std::path::PathBuf {
    // tests run from target/<profile>/deps; `cargo test` builds examples next to it.
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

const CONNS: usize = 1000;
const CLIENT_THREADS: usize = 8;

#[test]
fn echo_server_on_two_cores_serves_a_thousand_connections_on_both_cores() {
    let path = example("echo_server");
    if !path.exists() {
        eprintln!("skipped: {} not built", path.display());
        return;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut server = Command::new(&path)
        .args(["--addr", &addr, "--cores", "2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(
        line.contains("listening") && line.contains("2 cores"),
        "{line}"
    );

    let clients: Vec<_> = (0..CLIENT_THREADS)
        .map(|t| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut bytes = 0u64;
                for i in 0..CONNS / CLIENT_THREADS {
                    let seed = (t * CONNS + i) as u64;
                    let data = support::random_bytes(1 + (seed as usize * 7919) % 8192, seed);
                    let mut s = TcpStream::connect(&addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    s.write_all(&data).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                    let mut back = Vec::new();
                    s.read_to_end(&mut back).unwrap();
                    assert!(back == data, "connection {seed}: echo differs");
                    bytes += data.len() as u64;
                }
                bytes
            })
        })
        .collect();
    let sent: u64 = clients.into_iter().map(|c| c.join().unwrap()).sum();

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    let status = server.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status}: {rest}");

    // "echo_server: core 0: N connections, B bytes"
    let per_core: Vec<(u64, u64)> = rest
        .lines()
        .filter_map(|l| l.strip_prefix("echo_server: core "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[1].parse().unwrap(), words[3].parse().unwrap())
        })
        .collect();
    assert_eq!(per_core.len(), 2, "{rest}");
    assert!(
        per_core.iter().all(|&(conns, _)| conns > 0),
        "a core served no connection: {rest}"
    );
    assert_eq!(
        per_core.iter().map(|c| c.0).sum::<u64>(),
        CONNS as u64,
        "{rest}"
    );
    assert_eq!(per_core.iter().map(|c| c.1).sum::<u64>(), sent, "{rest}");
    assert!(
        rest.contains(&format!("stopped; {CONNS} connections")),
        "{rest}"
    );
}
