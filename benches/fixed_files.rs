//! Does a registered file (IORING_REGISTER_FILES, a direct descriptor) cut the per-op cost
//! enough to be worth it? The raw ring (the io-uring crate, no ringcore driver), one
//! thread: batches of 64 ops submitted and reaped with one io_uring_enter(2), the same op on
//! a plain fd and on the same file registered in the fixed table (IOSQE_FIXED_FILE), runs
//! alternating, three each. Ops: a 64-byte IORING_OP_READ of /dev/zero (kernel work
//! small, so the file lookup shows), and a 64-byte IORING_OP_SEND on a connected UDP
//! loopback socket (the work of a small send).
//!
//! ```text
//! cargo bench --bench fixed_files
//! ```
//!
//! Prints ns per op (thread CPU time / ops) for each and the ratio fixed / plain, then the
//! cost of filling and emptying one slot of a sparse table, which ringcore pays once per
//! busy socket.

use std::os::fd::AsRawFd;

use io_uring::{IoUring, opcode, squeue, types};

const BATCH: usize = 64;
const OPS: usize = 1 << 20;

fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// ns of thread CPU per op for `OPS` ops built by `sqe`.
fn run(ring: &mut IoUring, sqe: &dyn Fn() -> squeue::Entry) -> f64 {
    let start = thread_cpu();
    let mut done = 0;
    while done < OPS {
        {
            let mut sq = ring.submission();
            for _ in 0..BATCH {
                // SAFETY: the entries point at a buffer and fds that outlive the run (the
                // caller's), and every CQE is reaped below before they are dropped.
                unsafe { sq.push(&sqe()).expect("SQ has room for a batch") };
            }
        }
        ring.submit_and_wait(BATCH).expect("io_uring_enter");
        let mut n = 0;
        for cqe in ring.completion() {
            assert!(cqe.result() >= 0, "op failed: {}", cqe.result());
            n += 1;
        }
        assert_eq!(n, BATCH);
        done += BATCH;
    }
    (thread_cpu() - start) * 1e9 / OPS as f64
}

fn main() {
    let mut ring = IoUring::new(256).expect("io_uring");
    let zero = std::fs::File::open("/dev/zero").expect("/dev/zero");
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    tx.connect(rx.local_addr().unwrap()).unwrap();
    // The receiver must not fill up: a big buffer, drained between runs.
    rx.set_nonblocking(true).unwrap();
    ring.submitter()
        .register_files(&[zero.as_raw_fd(), tx.as_raw_fd()])
        .expect("register_files");
    let mut buf = vec![0u8; 64];
    let ptr = buf.as_mut_ptr();
    let drain = |rx: &std::net::UdpSocket| {
        let mut b = [0u8; 128];
        while rx.recv(&mut b).is_ok() {}
    };
    let read_plain = || opcode::Read::new(types::Fd(zero.as_raw_fd()), ptr, 64).build();
    let read_fixed = || opcode::Read::new(types::Fixed(0), ptr, 64).build();
    let send_plain = || opcode::Send::new(types::Fd(tx.as_raw_fd()), ptr, 64).build();
    let send_fixed = || opcode::Send::new(types::Fixed(1), ptr, 64).build();
    println!("| op | fd | ns per op (3 runs) | ratio fixed/plain (means) |");
    println!("|---|---|---|---|");
    type Make<'a> = &'a dyn Fn() -> squeue::Entry;
    let cases: [(&str, Make, Make); 2] = [
        ("READ 64 B of /dev/zero", &read_plain, &read_fixed),
        ("SEND 64 B, UDP loopback", &send_plain, &send_fixed),
    ];
    for (name, plain, fixed) in cases {
        let (mut p, mut f) = (Vec::new(), Vec::new());
        for _ in 0..3 {
            drain(&rx);
            p.push(run(&mut ring, plain));
            drain(&rx);
            f.push(run(&mut ring, fixed));
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let show = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("| {name} | plain | {} | |", show(&p));
        println!(
            "| {name} | fixed | {} | {:.3}x |",
            show(&f),
            mean(&f) / mean(&p)
        );
    }
    drop(buf);
    register_and_release();
}

/// What ringcore pays to move a socket into a slot and back (`driver::fixed`): two
/// io_uring_register(2) IORING_REGISTER_FILES_UPDATE calls on a sparse table.
fn register_and_release() {
    const ROUNDS: u32 = 200_000;
    let ring = IoUring::new(8).expect("io_uring");
    ring.submitter()
        .register_files_sparse(1024)
        .expect("register_files_sparse");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = sock.as_raw_fd();
    let mut runs = Vec::new();
    for _ in 0..3 {
        let start = thread_cpu();
        for i in 0..ROUNDS {
            let slot = i % 1024;
            ring.submitter()
                .register_files_update(slot, &[fd])
                .expect("fill a slot");
            ring.submitter()
                .register_files_update(slot, &[-1])
                .expect("empty a slot");
        }
        runs.push(format!(
            "{:.0}",
            (thread_cpu() - start) * 1e9 / f64::from(ROUNDS)
        ));
    }
    println!(
        "\nfill + empty one slot of a sparse table: {} ns (3 runs)",
        runs.join(", ")
    );
}
