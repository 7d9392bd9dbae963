//! A thousand connections echo 1 MiB each through small socket buffers (SO_SNDBUF and
//! SO_RCVBUF of 16 KiB), written, read and echoed in random chunk sizes:
//! every byte comes back, in order (each received chunk is compared with the regenerated
//! stream, which is stronger than a checksum), and nothing is lost or duplicated.

mod support;

use std::os::fd::AsRawFd;

use ringcore::net::{ListenOptions, TcpListener, TcpStream};

const CONNS: usize = 1_000;
/// SO_SNDBUF and SO_RCVBUF asked for (the kernel doubles it): far below loopback's
/// defaults (autotuned up to megabytes), so every transfer takes many short sends and
/// receives and windows close often. The kernel's minimum (about 2 KiB) is not used: with
/// loopback's 64 KiB MSS, Linux TCP then stalls in zero-window probing (persist timer with
/// backoff; `ss -tin` shows rwnd_limited 100%), which tests TCP, not the runtime.
const SOCKET_BUFFER: libc::c_int = 16 * 1024;
const BYTES: usize = 1 << 20;

/// A deterministic byte stream per connection (xorshift64*), generated chunk by chunk so
/// neither side holds the whole megabyte.
struct Bytes {
    x: u64,
    spare: u64,
    left: u32,
}

impl Bytes {
    fn new(seed: u64) -> Self {
        Self {
            x: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            spare: 0,
            left: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.x ^= self.x >> 12;
        self.x ^= self.x << 25;
        self.x ^= self.x >> 27;
        self.x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            if self.left == 0 {
                self.spare = self.next_u64();
                self.left = 8;
            }
            *b = self.spare as u8;
            self.spare >>= 8;
            self.left -= 1;
        }
    }

    /// A chunk size from 1 byte to 64 KiB, small sizes as likely as large ones.
    fn chunk(&mut self) -> usize {
        let bits = self.next_u64() % 17;
        1 + (self.next_u64() % (1u64 << bits)) as usize
    }
}

/// Shrinks both socket buffers to `SOCKET_BUFFER`.
fn tiny_buffers(fd: &impl AsRawFd) {
    for opt in [libc::SO_SNDBUF, libc::SO_RCVBUF] {
        let size = SOCKET_BUFFER;
        // SAFETY: setsockopt reads a live c_int of the given size.
        let res = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&raw const size).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(res, 0);
    }
}

async fn echo(stream: TcpStream, seed: u64) -> u64 {
    let mut sizes = Bytes::new(seed);
    let mut total = 0;
    loop {
        let (res, buf) = stream.read(Vec::with_capacity(sizes.chunk())).await;
        let n = res.expect("server read");
        if n == 0 {
            return total;
        }
        let (res, _) = stream.write_all(buf).await;
        res.expect("server write");
        total += n as u64;
    }
}

#[test]
fn a_thousand_connections_echo_a_mib_each_through_small_socket_buffers() {
    let limit = support::raise_nofile(3 * CONNS as u64 + 256);
    assert!(
        limit >= 2 * CONNS as u64 + 64,
        "RLIMIT_NOFILE too low: {limit}"
    );
    let start = std::time::Instant::now();
    ringcore::block_on(async {
        let opts = ListenOptions::new().backlog(CONNS as i32);
        let listener = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        tiny_buffers(&listener);
        let addr = listener.local_addr().unwrap();
        let server = ringcore::spawn(async move {
            let mut handles = Vec::new();
            for i in 0..CONNS {
                let (stream, _) = listener.accept().await.unwrap();
                tiny_buffers(&stream);
                handles.push(ringcore::spawn(echo(stream, 1_000_000 + i as u64)));
            }
            let mut total = 0;
            for h in handles {
                total += h.await.unwrap();
            }
            total
        });

        let clients: Vec<_> = (0..CONNS)
            .map(|i| {
                ringcore::spawn(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    tiny_buffers(&stream);
                    let (rd, wr) = stream.into_split();
                    let writer = ringcore::spawn(async move {
                        let mut data = Bytes::new(i as u64);
                        let mut sizes = Bytes::new(2_000_000 + i as u64);
                        let mut sent = 0;
                        while sent < BYTES {
                            let n = sizes.chunk().min(BYTES - sent);
                            let mut chunk = vec![0u8; n];
                            data.fill(&mut chunk);
                            let (res, _) = wr.write_all(chunk).await;
                            res.expect("client write");
                            sent += n;
                        }
                        wr.shutdown().unwrap();
                    });
                    let mut expect = Bytes::new(i as u64);
                    let mut sizes = Bytes::new(3_000_000 + i as u64);
                    let mut want = Vec::new();
                    let mut got = 0;
                    loop {
                        let cap = sizes.chunk();
                        let (res, buf) = rd.read(Vec::with_capacity(cap)).await;
                        let n = res.expect("client read");
                        if n == 0 {
                            break;
                        }
                        assert!(got + n <= BYTES, "connection {i}: more bytes than sent");
                        want.resize(n, 0);
                        expect.fill(&mut want);
                        assert!(
                            buf[..n] == want[..],
                            "connection {i}: bytes differ at {got}"
                        );
                        got += n;
                    }
                    writer.await.unwrap();
                    assert_eq!(got, BYTES, "connection {i}: bytes lost");
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        assert_eq!(server.await.unwrap(), (CONNS * BYTES) as u64);
    });
    eprintln!("{CONNS} x 1 MiB echoed in {:?}", start.elapsed());
}
