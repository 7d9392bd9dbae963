//! `axum::serve`, unmodified, with a `tokio::net::TcpListener`, inside ringcore cores on
//! the per-core tokio context (feature `tokio-context`), serving examples/axum_server.rs's
//! app (examples/support/axum_files.rs), whose `Send` handlers read and write files
//! through ringcore's ring with `task::spawn_pinned`. Checked with a real client: reqwest on
//! a plain tokio runtime in the test's own thread. The example binary itself is run too,
//! and stopped with SIGINT. Runs on both drivers
//! (`RINGCORE_DRIVER=epoll` for the readiness driver).

#[path = "../examples/support/axum_files.rs"]
mod axum_files;
#[path = "support/eco.rs"]
mod eco;
mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A server on `cores` cores, each running `axum::serve` on a listener of its own, on a
/// ringcore runtime in its own thread.
struct Server {
    addrs: Vec<SocketAddr>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: std::thread::JoinHandle<Vec<usize>>,
}

impl Server {
    fn start(cores: usize, root: PathBuf) -> Server {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = ringcore::Runtime::builder().cores(cores).build().unwrap();
            rt.run_on_each_core(|core| {
                let (tx, root, mut stopped) = (tx.clone(), root.clone(), stopped.clone());
                move || async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                    tx.send((core.index(), listener.local_addr().unwrap()))
                        .unwrap();
                    axum::serve(listener, axum_files::router(root))
                        .with_graceful_shutdown(async move {
                            let _ = stopped.wait_for(|&s| s).await;
                        })
                        .await
                        .unwrap();
                    core.index()
                }
            })
        });
        let mut addrs: Vec<(usize, SocketAddr)> = (0..cores).map(|_| rx.recv().unwrap()).collect();
        addrs.sort();
        Server {
            addrs: addrs.into_iter().map(|(_, a)| a).collect(),
            stop,
            thread,
        }
    }

    /// Stops accepting on every core and waits for the runtime's thread; returns the
    /// cores whose `axum::serve` returned.
    fn stop(self) -> Vec<usize> {
        self.stop.send(true).unwrap();
        self.thread.join().unwrap()
    }
}

/// The client side: a plain tokio runtime on the test's thread.
fn client<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn files_read_and_written_through_the_ring_from_axum_handlers() {
    let dir = tempfile::tempdir().unwrap();
    let data = support::make_file(&dir.path().join("data.bin"), 3 << 20, 7);
    std::fs::write(dir.path().join(".hidden"), b"secret").unwrap();
    let server = Server::start(1, dir.path().to_owned());
    let base = format!("http://{}", server.addrs[0]);
    client(async {
        let http = reqwest::Client::new();
        let get = |path: &str| http.get(format!("{base}{path}")).send();

        let resp = get("/").await.unwrap();
        assert_eq!(resp.text().await.unwrap(), "Hello from core 0\n");

        // 3 MiB read through the ring, byte for byte.
        let resp = get("/files/data.bin").await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.bytes().await.unwrap(), data);

        // Bad input: typed HTTP answers, the server goes on.
        for (path, status) in [
            ("/files/missing", 404),
            ("/files/.hidden", 400),
            ("/files/..%2Fetc%2Fpasswd", 400),
            ("/nope", 404),
        ] {
            assert_eq!(get(path).await.unwrap().status(), status, "{path}");
        }

        // A write through the ring, read back.
        let body: Vec<u8> = support::random_bytes(100_000, 9);
        let resp = http
            .put(format!("{base}/files/up.bin"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        assert_eq!(std::fs::read(dir.path().join("up.bin")).unwrap(), body);
        assert_eq!(
            get("/files/up.bin").await.unwrap().bytes().await.unwrap(),
            body
        );

        // 64 requests at once, file reads and timers mixed.
        let many = (0..64).map(|i| {
            let path = if i % 2 == 0 {
                "/files/data.bin"
            } else {
                "/slow"
            };
            let url = format!("{base}{path}");
            let http = http.clone();
            async move { http.get(url).send().await.unwrap().bytes().await.unwrap() }
        });
        let start = Instant::now();
        for (i, body) in futures::future::join_all(many)
            .await
            .into_iter()
            .enumerate()
        {
            if i % 2 == 0 {
                assert_eq!(body.len(), data.len());
            } else {
                assert_eq!(body.as_ref(), b"slow");
            }
        }
        assert!(start.elapsed() < Duration::from_secs(10));
    });
    let start = Instant::now();
    assert_eq!(server.stop(), [0]);
    assert!(start.elapsed() < Duration::from_secs(5), "graceful stop");
}

#[test]
fn axum_serve_on_each_of_two_cores() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), b"same file, two cores").unwrap();
    let server = Server::start(2, dir.path().to_owned());
    let addrs = server.addrs.clone();
    client(async {
        let http = reqwest::Client::new();
        for (core, addr) in addrs.iter().enumerate() {
            for _ in 0..10 {
                let hello = http
                    .get(format!("http://{addr}/"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(hello, format!("Hello from core {core}\n"));
                let file = http
                    .get(format!("http://{addr}/files/a.txt"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                assert_eq!(file, "same file, two cores");
            }
        }
    });
    assert_eq!(server.stop(), [0, 1]);
}

/// examples/axum_server.rs run as a user would: it says where it listens, serves a file
/// through the ring, and stops on SIGINT with exit status 0.
#[test]
fn the_axum_server_example_serves_files_and_stops_on_sigint() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), b"through the ring").unwrap();
    let mut child = std::process::Command::new(eco::example("axum_server"))
        .args(["--addr", "127.0.0.1:0", "--dir"])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    client(async {
        let http = reqwest::Client::new();
        let body = http
            .get(format!("http://{addr}/files/hello.txt"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "through the ring");
        let missing = http
            .get(format!("http://{addr}/files/nope.txt"))
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404);
    });
    // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("axum_server: stopped"), "{rest}");
}
