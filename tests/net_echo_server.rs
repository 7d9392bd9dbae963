//! The echo_server example, on its multishot fast paths and with `--plain`: misbehaving
//! clients cost only their own connection, and SIGINT stops the server cleanly.

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

fn echo_once(addr: &str, data: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    back
}

#[test]
fn echo_server_survives_bad_clients_and_stops_on_sigint() {
    survives_bad_clients_and_stops_on_sigint(&[], "multishot");
}

#[test]
fn echo_server_plain_survives_bad_clients_and_stops_on_sigint() {
    survives_bad_clients_and_stops_on_sigint(&["--plain"], "plain");
}

fn survives_bad_clients_and_stops_on_sigint(flags: &[&str], path_name: &str) {
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
        .args(["--addr", &addr])
        .args(flags)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("listening"), "{line}");
    assert!(line.contains(path_name), "{line}");

    // Half-close: everything sent before the FIN comes back, then EOF.
    let data = support::random_bytes(200_000, 5);
    assert!(echo_once(&addr, &data) == data);

    // Vanish mid-message, and reset mid-message.
    {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(&data[..1000]).unwrap();
    }
    {
        let s = TcpStream::connect(&addr).unwrap();
        socket_linger_zero(&s);
        (&s).write_all(&data[..5000]).unwrap();
        drop(s);
    }
    // Still serving.
    assert!(echo_once(&addr, &data[..10_000]) == data[..10_000]);

    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGINT) };
    let status = server.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert!(status.success(), "exit {status}: {rest}");
    assert!(rest.contains("stopped"), "{rest}");
}

/// Sets SO_LINGER {on, 0} so dropping the stream sends RST.
fn socket_linger_zero(s: &TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt reads a live linger struct of the given size.
    let res = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(res, 0);
}
