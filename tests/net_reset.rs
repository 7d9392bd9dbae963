//! A peer that resets its connection costs only that connection.

mod support;

use std::cell::RefCell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream};

async fn round_trip(stream: &TcpStream, data: Vec<u8>) -> Vec<u8> {
    let len = data.len();
    let (res, _) = stream.write_all(data).await;
    res.unwrap();
    let mut got = Vec::with_capacity(len);
    while got.len() < len {
        let (res, mut b) = stream.read(Vec::with_capacity(len - got.len())).await;
        assert!(res.unwrap() > 0, "server closed early");
        got.append(&mut b);
    }
    got
}

#[test]
fn reset_mid_read_fails_that_stream_only() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let results: Rc<RefCell<Vec<std::io::Result<u64>>>> = Rc::default();
        let res2 = results.clone();
        let _server = ringcore::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let res = res2.clone();
                ringcore::spawn(async move {
                    let r = support::echo(stream, 4096).await;
                    res.borrow_mut().push(r);
                });
            }
        });

        // The first client echoes once, so the server is parked in a read, then resets.
        let doomed = TcpStream::connect(addr).await.unwrap();
        let data = support::random_bytes(1000, 1);
        assert_eq!(round_trip(&doomed, data.clone()).await, data);
        doomed.set_linger(Some(Duration::ZERO)).unwrap();
        drop(doomed);

        // A second client, opened after the reset, is served normally.
        let healthy = TcpStream::connect(addr).await.unwrap();
        let data = support::random_bytes(50_000, 2);
        assert_eq!(round_trip(&healthy, data.clone()).await, data);
        while results.borrow().is_empty() {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        {
            let res = results.borrow();
            let err = res[0].as_ref().unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        }
        healthy.shutdown(std::net::Shutdown::Write).unwrap();
        let (res, _) = healthy.read(Vec::with_capacity(16)).await;
        assert_eq!(res.unwrap(), 0);
        while results.borrow().len() < 2 {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(results.borrow()[1].as_ref().unwrap(), &50_000);
    });
}

#[test]
fn write_after_peer_reset_is_an_error_not_sigpipe() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.set_linger(Some(Duration::ZERO)).unwrap();
        drop(client);
        let mut last = Ok(0);
        for _ in 0..10 {
            let (res, _) = server.write(vec![0u8; 1024]).await;
            last = res;
            if last.is_err() {
                break;
            }
        }
        let err = last.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );
    });
}
