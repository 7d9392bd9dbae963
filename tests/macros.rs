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
