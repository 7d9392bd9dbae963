//! `#[ringcore::test]` used for real: the body runs on a ringcore runtime and does I/O.
#![cfg(feature = "macros")]

use std::io;

use ringcore::io::{BufReader, BufWriter};
use ringcore::net::{TcpListener, TcpStream};

/// A TCP round trip through the ring, connecting by name, on the runtime the macro built.
#[ringcore::test]
async fn test_macro_runs_real_io() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let server = ringcore::spawn(async move {
        let (stream, _) = listener.accept().await?;
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        lines.read_line(&mut line).await?;
        let mut w = BufWriter::new(lines.into_inner());
        w.write_all(line.to_uppercase().as_bytes()).await?;
        w.shutdown().await
    });
    let client = TcpStream::connect(("localhost", port)).await?;
    let (res, _) = client.write_all(b"ping\n" as &'static [u8]).await;
    res?;
    let mut reply = String::new();
    BufReader::new(client).read_line(&mut reply).await?;
    assert_eq!(reply, "PING\n");
    server.await.unwrap()
}

#[ringcore::test(cores = 2, ring_entries = 64)]
async fn test_macro_arguments_reach_the_builder() {
    assert_eq!(ringcore::num_cores(), 2);
    let core = ringcore::submit_to(ringcore::CoreId::new(1), || async {
        ringcore::current_core().index()
    });
    assert_eq!(core.await.unwrap(), 1);
}

#[ringcore::test]
#[should_panic(expected = "inside the runtime")]
async fn test_macro_keeps_other_attributes() {
    ringcore::yield_now().await;
    panic!("inside the runtime");
}

mod every_core {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUNS: AtomicUsize = AtomicUsize::new(0);
    static CORES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    #[ringcore::main(cores = 2, every_core)]
    async fn body_on_each_core() -> Result<usize, String> {
        RUNS.fetch_add(1, Ordering::SeqCst);
        let core = ringcore::current_core().index();
        CORES.lock().unwrap().push(core);
        ringcore::yield_now().await;
        if core == 1 {
            return Ok(10);
        }
        Ok(core)
    }

    #[test]
    fn every_core_runs_the_body_once_on_each_core_and_returns_core_0s_value() {
        assert_eq!(body_on_each_core(), Ok(0));
        assert_eq!(RUNS.load(Ordering::SeqCst), 2);
        let mut cores = CORES.lock().unwrap().clone();
        cores.sort_unstable();
        assert_eq!(cores, [0, 1]);
    }

    #[ringcore::main(cores = 2, every_core)]
    async fn fails_on_core_1() -> Result<(), String> {
        match ringcore::current_core().index() {
            1 => Err("core 1 failed".to_string()),
            _ => Ok(()),
        }
    }

    #[test]
    fn every_core_returns_the_first_error_in_core_order() {
        assert_eq!(fails_on_core_1(), Err("core 1 failed".to_string()));
    }
}

mod jobs_argument {
    use ringcore::offload::Jobs;

    fn jobs() -> Jobs {
        Jobs::new().register("double", |n: u64| n * 2)
    }

    // Outside a worker, `init_worker` returns at once and the body runs.
    #[ringcore::main(jobs = jobs)]
    async fn with_jobs() -> u64 {
        7
    }

    #[test]
    fn jobs_argument_serves_in_a_worker_and_runs_the_body_otherwise() {
        assert_eq!(with_jobs(), 7);
    }
}
