//! Where IORING_OP_SEND_ZC starts to pay: one TCP connection over loopback, the sender a
//! ringcore runtime on CPU 0 doing `write_all` of `size`-byte buffers (plain IORING_OP_SEND,
//! or SEND_ZC through `Builder::send_zerocopy_from(Some(0))`), the receiver a std thread on
//! CPU 1 reading into a 256 KiB buffer until end of stream. Plain and zero-copy runs
//! alternate, twice each per size.
//!
//! ```text
//! cargo bench --bench send_zc
//! SEND_ZC_BENCH_MIB=1024 cargo bench --bench send_zc    # bytes per run (default 512 MiB)
//! ```
//!
//! Prints per run: throughput (GiB/s), the sender thread's CPU time per GiB and the
//! receiver thread's (CLOCK_THREAD_CPUTIME_ID; loopback delivery runs partly in the
//! sender's context), and the ratio zero-copy / plain of sender CPU per GiB.

use std::io::Read;
use std::time::Instant;

use ringcore::net::TcpStream;

const SIZES: [usize; 7] = [
    16 << 10,
    32 << 10,
    64 << 10,
    128 << 10,
    256 << 10,
    512 << 10,
    1 << 20,
];

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn pin(cpu: usize) {
    let ids = core_affinity::get_core_ids().unwrap_or_default();
    if let Some(id) = ids.get(cpu % ids.len().max(1)) {
        core_affinity::set_for_current(*id);
    }
}

struct Run {
    gib_per_s: f64,
    send_cpu_per_gib: f64,
    recv_cpu_per_gib: f64,
    zerocopy_sends: u64,
}

fn run(size: usize, total: usize, zc: bool) -> Run {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = std::thread::spawn(move || {
        pin(1);
        let (mut s, _) = listener.accept().unwrap();
        let cpu0 = thread_cpu();
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0usize;
        loop {
            match s.read(&mut buf).unwrap() {
                0 => break,
                k => n += k,
            }
        }
        (n, thread_cpu() - cpu0)
    });
    let rt = ringcore::Runtime::builder()
        .send_zerocopy_from(if zc { Some(0) } else { None })
        .build()
        .unwrap();
    let (secs, send_cpu) = rt.block_on(async move {
        let s = TcpStream::connect(addr).await.unwrap();
        let mut buf = vec![0x5au8; size];
        let start = Instant::now();
        let cpu0 = thread_cpu();
        let mut sent = 0;
        while sent < total {
            let (res, b) = s.write_all(buf).await;
            res.unwrap();
            buf = b;
            sent += size;
        }
        let out = (start.elapsed().as_secs_f64(), thread_cpu() - cpu0);
        s.shutdown(std::net::Shutdown::Write).unwrap();
        out
    });
    let zerocopy_sends = rt.metrics().cores.remove(0).driver.zerocopy_sends;
    let (received, recv_cpu) = receiver.join().unwrap();
    assert!(received >= total);
    let gib = received as f64 / (1u64 << 30) as f64;
    Run {
        gib_per_s: gib / secs,
        send_cpu_per_gib: send_cpu / gib,
        recv_cpu_per_gib: recv_cpu / gib,
        zerocopy_sends,
    }
}

fn main() {
    pin(0);
    let mib: usize = std::env::var("SEND_ZC_BENCH_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(512);
    let total = mib << 20;
    println!("| size KiB | send | GiB/s | sender CPU s/GiB | receiver CPU s/GiB | SEND_ZC ops |");
    println!("|---|---|---|---|---|---|");
    for size in SIZES {
        let mut per = [Vec::new(), Vec::new()];
        for _ in 0..2 {
            for zc in [false, true] {
                let r = run(size, total, zc);
                println!(
                    "| {} | {} | {:.2} | {:.3} | {:.3} | {} |",
                    size >> 10,
                    if zc { "zero-copy" } else { "plain" },
                    r.gib_per_s,
                    r.send_cpu_per_gib,
                    r.recv_cpu_per_gib,
                    r.zerocopy_sends
                );
                per[usize::from(zc)].push((r.send_cpu_per_gib, r.gib_per_s));
            }
        }
        let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
            v.iter().map(f).sum::<f64>() / v.len() as f64
        };
        println!(
            "| {} | ratio zero-copy/plain | {:.2}x | {:.2}x | | |",
            size >> 10,
            mean(&per[1], |p| p.1) / mean(&per[0], |p| p.1),
            mean(&per[1], |p| p.0) / mean(&per[0], |p| p.0),
        );
    }
}
