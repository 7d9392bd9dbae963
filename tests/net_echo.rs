//! Many concurrent TCP connections echo random data byte-exactly.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use ringcore::IoBuf;
use ringcore::net::{TcpListener, TcpStream};

const CONNS: usize = 2_000;
const BYTES: usize = 64 * 1024;

#[test]
fn two_thousand_connections_echo_64k_each() {
    let limit = support::raise_nofile(3 * CONNS as u64 + 256);
    assert!(
        limit >= 2 * CONNS as u64 + 64,
        "RLIMIT_NOFILE too low: {limit}"
    );
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server_errors = Rc::new(Cell::new(0u32));
        let errs = server_errors.clone();
        let server = ringcore::spawn(async move {
            let mut handles = Vec::new();
            for _ in 0..CONNS {
                let (stream, _) = listener.accept().await.unwrap();
                let errs = errs.clone();
                handles.push(ringcore::spawn(async move {
                    match support::echo(stream, 16 * 1024).await {
                        Ok(n) => assert_eq!(n, BYTES as u64),
                        Err(_) => errs.set(errs.get() + 1),
                    }
                }));
            }
            for h in handles {
                h.await.unwrap();
            }
        });

        let mut clients = Vec::new();
        for i in 0..CONNS {
            clients.push(ringcore::spawn(async move {
                let data = support::random_bytes(BYTES, i as u64 + 1);
                let stream = TcpStream::connect(addr).await?;
                let (rd, wr) = stream.into_split();
                let expected = data.clone();
                let writer = ringcore::spawn(async move {
                    // Send in uneven chunks to exercise partial reads on the far side.
                    let mut data = data;
                    let mut off = 0;
                    let mut step = 1000 + i % 7000;
                    while off < BYTES {
                        let end = (off + step).min(BYTES);
                        let (res, slice) = wr.write_all(data.slice(off..end)).await;
                        data = slice.into_inner();
                        res?;
                        off = end;
                        step = step * 3 % 9001 + 1;
                    }
                    wr.shutdown()?;
                    Ok::<_, std::io::Error>(())
                });
                let mut got = Vec::with_capacity(BYTES + 1);
                loop {
                    let len = got.len();
                    if len == got.capacity() {
                        got.reserve(4096);
                    }
                    let cap = got.capacity();
                    let (res, slice) = rd.read(got.slice(len..cap)).await;
                    got = slice.into_inner();
                    if res? == 0 {
                        break;
                    }
                }
                writer.await.unwrap()?;
                assert!(got == expected, "connection {i}: echoed bytes differ");
                Ok::<_, std::io::Error>(())
            }));
        }
        let mut errors = 0;
        for c in clients {
            if let Err(e) = c.await.unwrap() {
                eprintln!("client error: {e}");
                errors += 1;
            }
        }
        server.await.unwrap();
        assert_eq!(errors, 0);
        assert_eq!(server_errors.get(), 0);
    });
}
