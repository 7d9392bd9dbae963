//! The echo bench's "multishot" server: ringcore's io_uring fast paths. Connections come
//! from `TcpListener::incoming()` (multishot accept) and each connection reads through
//! `TcpStream::recv_stream()` (multishot receive into the core's provided-buffer pool); each
//! pooled buffer is written back as it is (`write_all` takes the `RecvBuf`, no copy) and
//! returns to the pool when the write hands it back. Same control protocol as the other
//! ringcore servers (a datagram on the control socket prints `ENTERS n`). The "sqpoll"
//! kind is this server on a ring with IORING_SETUP_SQPOLL.
//!
//! `ECHO_MULTISHOT_POOL=buffers,bytes,max_buffers` sets the core's receive pool
//! (`Builder::recv_buffer_pool(buffers, bytes)`, `recv_buffer_pool_max(max_buffers)`);
//! without it the server runs ringcore's default pool. `ECHO_RING_MODE=defer|coop|plain`
//! sets the ring's setup mode of this server and of the plain `ringcore` one, and
//! `ECHO_REGISTERED_FILES=n` their cores' registered-file slots.

use std::io::Write;

use futures_util::StreamExt;
use ringcore::net::{TcpListener, TcpStream};

async fn echo(stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut items = stream.recv_stream();
    while let Some(buf) = items.next().await {
        let (res, _) = stream.write_all(buf?).await;
        res?;
    }
    Ok(())
}

/// `ECHO_RING_MODE=defer|coop|plain` asks for that io_uring setup mode
/// (`Builder::setup_mode`); unset, the runtime picks (DEFER_TASKRUN where the kernel has it).
/// `ECHO_REGISTERED_FILES=n` sets `Builder::registered_files(n)`.
pub(crate) fn ring_setup(mut builder: ringcore::Builder) -> ringcore::Builder {
    if let Ok(n) = std::env::var("ECHO_REGISTERED_FILES") {
        builder = builder.registered_files(n.parse().expect("ECHO_REGISTERED_FILES: a number"));
    }
    match std::env::var("ECHO_RING_MODE").as_deref() {
        Ok("defer") => builder.setup_mode(ringcore::SetupMode::DeferTaskrun),
        Ok("coop") => builder.setup_mode(ringcore::SetupMode::CoopTaskrun),
        Ok("plain") => builder.setup_mode(ringcore::SetupMode::Plain),
        Ok(other) => panic!("ECHO_RING_MODE: defer, coop or plain, not {other:?}"),
        Err(_) => builder,
    }
}

/// With `sqpoll`, the same server on a ring with a submission-polling kernel thread
/// (`Builder::sqpoll`, 1 ms idle): the bench's "sqpoll" kind.
pub(crate) fn serve(sqpoll: bool) {
    let mut builder = ringcore::Runtime::builder();
    if let Ok(shape) = std::env::var("ECHO_MULTISHOT_POOL") {
        let v: Vec<usize> = shape
            .split(',')
            .map(|x| x.parse().expect("a number"))
            .collect();
        builder = builder
            .recv_buffer_pool(v[0] as u16, v[1])
            .recv_buffer_pool_max(v[2] as u16);
    }
    if sqpoll {
        builder = builder.sqpoll(std::time::Duration::from_millis(1));
    }
    builder = ring_setup(builder);
    let rt = std::rc::Rc::new(builder.build().expect("ringcore runtime"));
    let rt2 = rt.clone();
    rt.block_on(async move {
        let ctrl_c = ringcore::signal::ctrl_c();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        crate::server_proc::announce(listener.local_addr().unwrap());
        ringcore::spawn(async move {
            let mut incoming = listener.incoming();
            while let Some(conn) = incoming.next().await {
                if let Ok(s) = conn {
                    ringcore::spawn(async move {
                        let _ = echo(s).await;
                    });
                }
            }
        });
        let control_path = std::env::var("ECHO_BENCH_CONTROL").expect("control socket path");
        let control = ringcore::net::UnixDatagram::bind(control_path).unwrap();
        ringcore::spawn(async move {
            loop {
                let (res, _) = control.recv(Vec::with_capacity(16)).await;
                if res.is_err() {
                    return;
                }
                println!("ENTERS {}", rt2.metrics().cores.remove(0).driver.enters);
                let _ = std::io::stdout().flush();
            }
        });
        let _ = ctrl_c.await;
    });
}
