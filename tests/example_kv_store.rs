//! The kv_store example as real processes on loopback: SET/GET through its client and a
//! raw socket, every acknowledged write surviving kill -9 (with compactions in between), a
//! torn log tail cut on restart with every whole record kept, and bad input answered
//! `ERR` without harm. The server runs on the driver `RINGCORE_DRIVER` names (the child
//! inherits it), so the file runs once per driver.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The example's modules, mounted the way a simulation harness mounts them.
#[allow(dead_code)]
#[path = "../examples/kv_store/app.rs"]
mod kv_store;

/// The example binary (`cargo build --release --all-features --example kv_store` first
/// when running this test alone).
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("examples").join("kv_store");
    assert!(
        bin.exists(),
        "{} not built (cargo test builds examples)",
        bin.display()
    );
    bin
}

/// A running server child; killed with SIGKILL on drop.
struct Server {
    child: Child,
    addr: String,
    /// The start-up line: `kv_store: listening on ADDR (snapshot K keys, log R records,
    /// torn tail T bytes)`.
    banner: String,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_on(dir, "127.0.0.1:0", extra)
    }

    fn start_on(dir: &Path, listen: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(example())
            .args(["serve", "--dir"])
            .arg(dir)
            .args(["--listen", listen])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        let addr = banner
            .strip_prefix("kv_store: listening on ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected start-up line {banner:?}"))
            .to_string();
        Server {
            child,
            addr,
            banner,
            _stdout: stdout,
        }
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    fn connect(&self) -> Conn {
        let stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Conn {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn client(&self, args: &[&str]) -> Output {
        Command::new(example())
            .args(["client", "--connect", &self.addr])
            .args(args)
            .output()
            .unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw protocol connection.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Sends `bytes` as they are and reads one answer line (without `\n`).
    fn raw(&mut self, bytes: &[u8]) -> String {
        self.stream.write_all(bytes).unwrap();
        self.answer()
    }

    fn answer(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with('\n'), "answer {line:?} has no newline");
        line.pop();
        line
    }

    fn set(&mut self, key: &str, value: &str) -> String {
        self.raw(format!("SET {key} {value}\n").as_bytes())
    }

    fn get(&mut self, key: &str) -> String {
        self.raw(format!("GET {key}\n").as_bytes())
    }
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn set_and_get_through_the_client_and_a_raw_socket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    assert!(server.banner.contains("snapshot 0 keys, log 0 records"));

    assert_eq!(stdout_of(&server.client(&["set", "city", "Lyon"])), "OK\n");
    assert_eq!(stdout_of(&server.client(&["get", "city"])), "VALUE Lyon\n");
    assert_eq!(stdout_of(&server.client(&["get", "nope"])), "NOTFOUND\n");

    let mut conn = server.connect();
    assert_eq!(conn.get("city"), "VALUE Lyon");
    assert_eq!(conn.set("greeting", "hello, wide world"), "OK");
    assert_eq!(conn.raw(b"get greeting\r\n"), "VALUE hello, wide world");
    assert_eq!(conn.set("city", "Nantes"), "OK");
    // Pipelined requests are answered in order.
    conn.stream
        .write_all(b"SET p 1\nGET p\nSET p 2\nGET p\n")
        .unwrap();
    let answers: Vec<_> = (0..4).map(|_| conn.answer()).collect();
    assert_eq!(answers, ["OK", "VALUE 1", "OK", "VALUE 2"]);
    assert_eq!(
        stdout_of(&server.client(&["get", "city"])),
        "VALUE Nantes\n"
    );

    // A client-side usage error and an invalid key are refused before anything is sent.
    let out = server.client(&["set", "bad key", "v"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    let out = server.client(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_acknowledged_write_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A small compaction threshold, so snapshots are taken while the writers run.
    let extra = ["--compact-bytes", "4096"];
    // Every acknowledged (key, value): unique keys, plus one overwritten key per writer
    // whose acknowledged counter may only grow.
    let acked: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    for round in 0..3u64 {
        let server = Server::start(dir.path(), &extra);
        let addr = server.addr.clone();
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let (addr, acked) = (addr.clone(), acked.clone());
                std::thread::spawn(move || {
                    let Ok(stream) = TcpStream::connect(&addr) else {
                        return;
                    };
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    for n in 0.. {
                        let key = format!("r{round}-w{w}-{n}");
                        let value = n + 1000 * round;
                        for (k, v) in [(key.clone(), value), (format!("w{w}"), value)] {
                            let line = format!("SET {k} {v}-{}\n", "x".repeat(40));
                            if stream.write_all(line.as_bytes()).is_err() {
                                return;
                            }
                            let mut answer = String::new();
                            match reader.read_line(&mut answer) {
                                Ok(_) if answer == "OK\n" => {
                                    acked.lock().unwrap().insert(k, v);
                                }
                                // Killed: the connection ends or resets.
                                _ => return,
                            }
                        }
                    }
                })
            })
            .collect();
        // Let the writers get well ahead, then kill the server mid-stream.
        let deadline = Instant::now() + Duration::from_secs(60);
        while acked.lock().unwrap().len() < 400 * (round as usize + 1) {
            assert!(Instant::now() < deadline, "the writers stalled");
            std::thread::sleep(Duration::from_millis(5));
        }
        server.kill9();
        for w in writers {
            w.join().unwrap();
        }
    }
    let server = Server::start(dir.path(), &extra);
    assert!(
        dir.path().join("snapshot").exists(),
        "no compaction happened"
    );
    let mut conn = server.connect();
    let acked = acked.lock().unwrap();
    for (key, &value) in acked.iter() {
        let answer = conn.get(key);
        let got: u64 = answer
            .strip_prefix("VALUE ")
            .and_then(|v| v.split('-').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("acknowledged {key} = {value} lost: {answer}"));
        if key.contains('-') {
            assert_eq!(got, value, "{key}");
        } else {
            // An overwritten key holds its last acknowledged value or a later one that was
            // written but not yet acknowledged at the kill.
            assert!(got >= value, "{key}: read {got}, acknowledged {value}");
        }
    }
}

#[test]
fn the_checking_workload_finds_no_violation_across_kill_9_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let extra = ["--compact-bytes", "8192"];
    let mut server = Server::start(dir.path(), &extra);
    let addr = server.addr.clone();
    // The workload's model spans the restarts: every acknowledged value must be read back
    // (or a later one), and no read may return less than an earlier read.
    let mut check = Command::new(example())
        .args(["check", "--connect", &addr])
        .args(["--clients", "4", "--ops", "2000", "--seed", "7"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut kills = 0;
    while kills < 3 {
        std::thread::sleep(Duration::from_millis(150));
        if check.try_wait().unwrap().is_some() {
            break;
        }
        server.kill9();
        server = Server::start_on(dir.path(), &addr, &extra);
        kills += 1;
    }
    // With two kills seen from a running workload, the first surely hit it.
    assert!(kills >= 2, "the workload ended before two kills");
    let out = check.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counts: Vec<u64> = stdout
        .trim()
        .strip_prefix("check: acked ")
        .unwrap_or_else(|| panic!("{stdout}"))
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    let [acked, reads, failures, violations] = counts[..] else {
        panic!("{stdout}")
    };
    assert!(acked > 100 && reads > 100, "{stdout}");
    assert!(failures > 0, "no kill hit the workload: {stdout}");
    assert_eq!(violations, 0);
    assert!(!stdout.contains("incomplete"), "{stdout}");
    drop(server);
}

/// The log's records after `n` SETs of `kN` = `vN`.
fn write_keys(server: &Server, n: usize) {
    let mut conn = server.connect();
    for i in 0..n {
        assert_eq!(conn.set(&format!("k{i}"), &format!("v{i}")), "OK");
    }
}

#[test]
fn a_torn_log_tail_is_cut_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let server = Server::start(dir.path(), &[]);
    write_keys(&server, 10);
    server.kill9();

    // Tear the last record: cut 3 bytes off the end of the log.
    let len = std::fs::metadata(&wal).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&wal).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);

    let server = Server::start(dir.path(), &[]);
    assert!(server.banner.contains("log 9 records"), "{}", server.banner);
    let record = len / 10;
    assert!(
        server
            .banner
            .contains(&format!("torn tail {} bytes", record - 3)),
        "{}",
        server.banner
    );
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), len - record);
    let mut conn = server.connect();
    for i in 0..9 {
        assert_eq!(conn.get(&format!("k{i}")), format!("VALUE v{i}"));
    }
    assert_eq!(conn.get("k9"), "NOTFOUND");
    // Appends after the cut are whole records that the next recovery replays.
    assert_eq!(conn.set("after", "cut"), "OK");
    drop(conn);
    server.kill9();

    // Garbage past the last record (a torn write of random bytes) is cut as well.
    let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[0x17, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3])
        .unwrap();
    drop(f);
    let server = Server::start(dir.path(), &[]);
    assert!(
        server.banner.contains("log 10 records, torn tail 11 bytes"),
        "{}",
        server.banner
    );
    let mut conn = server.connect();
    assert_eq!(conn.get("after"), "VALUE cut");
    assert_eq!(conn.get("k8"), "VALUE v8");
}

#[test]
fn compaction_keeps_every_key_and_a_corrupt_snapshot_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--compact-bytes", "600"]);
    write_keys(&server, 100);
    server.kill9();
    let wal_len = std::fs::metadata(dir.path().join("wal")).unwrap().len();
    assert!(wal_len < 600, "the log was not compacted ({wal_len} bytes)");
    assert!(!dir.path().join("snapshot.tmp").exists());

    let server = Server::start(dir.path(), &[]);
    assert!(
        !server.banner.contains("snapshot 0 keys"),
        "{}",
        server.banner
    );
    let mut conn = server.connect();
    for i in 0..100 {
        assert_eq!(conn.get(&format!("k{i}")), format!("VALUE v{i}"));
    }
    drop(conn);
    server.kill9();

    // A snapshot is written whole before its rename: a damaged one is real corruption,
    // refused with one error line and exit status 1 rather than served partially.
    let snapshot = dir.path().join("snapshot");
    let mut bytes = std::fs::read(&snapshot).unwrap();
    bytes[20] ^= 0xff;
    std::fs::write(&snapshot, bytes).unwrap();
    let out = Command::new(example())
        .args(["serve", "--dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: snapshot corrupt"), "{stderr}");
}

#[test]
fn bad_input_is_answered_err_and_the_server_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut conn = server.connect();
    assert_eq!(conn.raw(b"DEL a\n"), "ERR unknown command");
    assert_eq!(conn.raw(b"\n"), "ERR empty command");
    assert_eq!(conn.raw(b"\x00\xff\xfe\x01junk\n"), "ERR line is not UTF-8");
    assert_eq!(conn.raw(b"SET a\n"), "ERR usage: SET key value");
    assert_eq!(conn.raw(b"GET\n"), "ERR missing key");
    assert_eq!(conn.raw(b"GET a b\n"), "ERR key has a space");
    let long_key = "k".repeat(300);
    assert_eq!(conn.get(&long_key), "ERR key too long");
    // An over-long line (a megabyte, sent in pieces) is answered once and skipped.
    let long = vec![b'x'; 1 << 20];
    conn.stream.write_all(b"SET big ").unwrap();
    conn.stream.write_all(&long).unwrap();
    conn.stream.write_all(b"\nGET big\n").unwrap();
    assert_eq!(conn.answer(), "ERR line too long");
    assert_eq!(conn.answer(), "NOTFOUND");
    // The same connection still works.
    assert_eq!(conn.set("a", "1"), "OK");
    assert_eq!(conn.get("a"), "VALUE 1");

    // Random binary junk on another connection, then it closes mid-line: every whole line
    // is answered with ERR and the server keeps serving others.
    let mut junk = server.connect();
    let mut bytes: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    bytes.retain(|&b| b != b'\n');
    for chunk in bytes.chunks(97) {
        junk.stream.write_all(chunk).unwrap();
        junk.stream.write_all(b"\n").unwrap();
    }
    junk.stream.write_all(b"SET unfinished line").unwrap();
    junk.stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = String::new();
    junk.reader.read_to_string(&mut rest).unwrap();
    let answers: Vec<_> = rest.lines().collect();
    assert_eq!(answers.len(), bytes.chunks(97).count());
    assert!(answers.iter().all(|a| a.starts_with("ERR ")), "{rest}");

    let mut other = server.connect();
    assert_eq!(other.get("a"), "VALUE 1");
    assert_eq!(other.get("unfinished"), "NOTFOUND");
}

#[test]
fn the_modules_run_in_process_and_the_checker_catches_a_lost_store() {
    use kv_store::check::Model;
    use kv_store::server::{Config, Server};
    use kv_store::workload;
    use std::cell::RefCell;

    let dir = tempfile::tempdir().unwrap();
    let model = RefCell::new(Model::default());
    let mut state = 0x853c_49e6_748f_ea9bu64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    // A server task and three clients in one runtime, through the modules' own API.
    let start = |dir: &Path| {
        let config = Config::new(dir, "127.0.0.1:0");
        async move {
            let server = Server::open(config).await.unwrap();
            let addr = server.local_addr().unwrap().to_string();
            (addr, ringcore::spawn(server.run()))
        }
    };
    ringcore::block_on(async {
        let (addr, task) = start(dir.path()).await;
        for client in 0..3 {
            let counts = workload::run_client(&addr, client, 3, 4, 200, &model, &mut random)
                .await
                .unwrap();
            assert!(counts.acked > 50 && counts.reads > 50, "{counts:?}");
            assert_eq!(counts.failures, 0);
        }
        assert_eq!(workload::check_all(&addr, &model).await, Ok(true));
        task.abort();
    });
    // A second runtime over the same directory recovers every key (a clean restart).
    ringcore::block_on(async {
        let (addr, task) = start(dir.path()).await;
        assert_eq!(workload::check_all(&addr, &model).await, Ok(true));
        task.abort();
    });
    // A store that lost its files is caught by the same check.
    for name in ["wal", "snapshot"] {
        let _ = std::fs::remove_file(dir.path().join(name));
    }
    ringcore::block_on(async {
        let (addr, task) = start(dir.path()).await;
        let violation = workload::check_all(&addr, &model).await.unwrap_err();
        assert!(
            violation
                .to_string()
                .starts_with("an acknowledged write was lost"),
            "{violation}"
        );
        task.abort();
    });
}

#[test]
fn the_planted_bugs_serve_normally_until_a_crash_hits_their_window() {
    for bug in ["ack-before-fsync", "apply-before-log"] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::start(dir.path(), &["--bug", bug]);
        write_keys(&server, 20);
        let mut conn = server.connect();
        assert_eq!(conn.get("k19"), "VALUE v19", "{bug}");
        drop(conn);
        // kill -9 keeps the page cache, and the write has long reached it.
        server.kill9();
        let server = Server::start(dir.path(), &["--bug", bug]);
        assert!(
            server.banner.contains("log 20 records"),
            "{bug}: {}",
            server.banner
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(example())
        .args(["serve", "--dir"])
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--bug", "typo"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("usage: "));
}

#[test]
fn a_storage_failure_stops_the_server_without_acknowledging() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &["--compact-bytes", "300"]);
    // The next compaction cannot create its temporary file: the write path fails.
    std::fs::create_dir(dir.path().join("snapshot.tmp")).unwrap();
    let mut conn = server.connect();
    let mut acked = 0;
    let answer = loop {
        let line = format!("SET k{acked} v{acked}\n");
        let _ = conn.stream.write_all(line.as_bytes());
        let mut answer = String::new();
        let _ = conn.reader.read_line(&mut answer);
        if answer != "OK\n" {
            break answer;
        }
        acked += 1;
        assert!(acked < 100, "no compaction failed");
    };
    // The SET after the failure is refused (or its connection closed), never acknowledged.
    assert!(
        answer.is_empty() || answer == "ERR storage failure\n",
        "{answer:?}"
    );
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(1));

    std::fs::remove_dir(dir.path().join("snapshot.tmp")).unwrap();
    server = Server::start(dir.path(), &[]);
    let mut conn = server.connect();
    for i in 0..acked {
        assert_eq!(conn.get(&format!("k{i}")), format!("VALUE v{i}"));
    }
}
