//! File I/O: ringcore vs blocking std (one thread) vs tokio::fs.
//!
//! `cargo bench --bench file_io` (set `FILE_IO_MIB` to change the 256 MiB file size).
//! Groups: sequential read in 128 KiB blocks; random 4 KiB reads at QD1 and QD32 (page
//! cache warm); random 4 KiB O_DIRECT reads at QD1 and QD32; sequential write + fsync;
//! whole-file copy (`fs::copy` vs `std::fs::copy`, the file_copy loop vs a std read/write
//! loop). Ratios to std go in docs/benchmarks.md (scripts/bench_table.py reads criterion's
//! estimates).

#[path = "../examples/file_copy/pipeline.rs"]
mod pipeline;
#[path = "support/random_reads.rs"]
mod random_reads;
use random_reads::random_reads;

use std::cell::Cell;
use std::fs::File as StdFile;
use std::io::{Read, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use ringcore::Runtime;
use ringcore::buf::AlignedBuf;
use ringcore::fs::{File, OpenOptions};

const BLOCK: usize = 128 * 1024;
const RANDOM_READS: usize = 20_000;
const DIRECT_READS: usize = 4_000;

fn file_mib() -> u64 {
    std::env::var("FILE_IO_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

struct Setup {
    _dir: tempfile::TempDir,
    src: PathBuf,
    len: u64,
    offsets: Vec<u64>,
}

fn setup() -> Setup {
    let dir =
        tempfile::tempdir_in(std::env::var("FILE_IO_DIR").unwrap_or_else(|_| "target".into()))
            .expect("temp dir");
    let src = dir.path().join("src.bin");
    let len = file_mib() << 20;
    let mut f = std::io::BufWriter::new(StdFile::create(&src).unwrap());
    let mut x = 0x1234_5678_9abc_def1u64;
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..file_mib() {
        for c in block.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&block).unwrap();
    }
    f.flush().unwrap();
    drop(f);
    let blocks = len / 4096;
    let offsets = (0..RANDOM_READS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % blocks) * 4096
        })
        .collect();
    Setup {
        _dir: dir,
        src,
        len,
        offsets,
    }
}

fn warm(path: &Path) {
    let mut f = StdFile::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf).unwrap() > 0 {}
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(4));
    g
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn seq_read(c: &mut Criterion, s: &Setup, rt: &Runtime, trt: &tokio::runtime::Runtime) {
    warm(&s.src);
    let mut g = group(c, "seq_read_128k");
    g.throughput(Throughput::Bytes(s.len));
    g.bench_function("std", |b| {
        let f = StdFile::open(&s.src).unwrap();
        let mut buf = vec![0u8; BLOCK];
        b.iter(|| {
            let mut off = 0;
            while off < s.len {
                off += f.read_at(&mut buf, off).unwrap() as u64;
            }
        })
    });
    g.bench_function("ringcore_qd1", |b| {
        let f = rt.block_on(File::open(&s.src)).unwrap();
        let mut buf = Some(Vec::with_capacity(BLOCK));
        b.iter(|| {
            rt.block_on(async {
                let mut off = 0;
                while off < s.len {
                    let (res, b) = f.read_at(buf.take().unwrap(), off).await;
                    off += res.unwrap() as u64;
                    buf = Some(b);
                }
            })
        })
    });
    g.bench_function("ringcore_qd4", |b| {
        let f = Rc::new(rt.block_on(File::open(&s.src)).unwrap());
        b.iter(|| rt.block_on(read_all_pipelined(f.clone(), s.len, 4)))
    });
    g.bench_function("tokio_fs", |b| {
        b.iter(|| {
            trt.block_on(async {
                use tokio::io::AsyncReadExt;
                let mut f = tokio::fs::File::open(&s.src).await.unwrap();
                let mut buf = vec![0u8; BLOCK];
                while f.read(&mut buf).await.unwrap() > 0 {}
            })
        })
    });
    g.finish();
}

async fn read_all_pipelined(f: Rc<File>, len: u64, depth: usize) {
    let next = Rc::new(Cell::new(0u64));
    let tasks: Vec<_> = (0..depth)
        .map(|_| {
            let (f, next) = (f.clone(), next.clone());
            ringcore::spawn(async move {
                let mut buf = Vec::with_capacity(BLOCK);
                loop {
                    let off = next.get();
                    if off >= len {
                        break;
                    }
                    next.set(off + BLOCK as u64);
                    let (res, b) = f.read_at(buf, off).await;
                    res.unwrap();
                    buf = b;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

fn rand_read(
    c: &mut Criterion,
    s: &Setup,
    rt: &Runtime,
    ert: &Runtime,
    trt: &tokio::runtime::Runtime,
) {
    warm(&s.src);
    let offsets = Rc::new(s.offsets.clone());
    let mut g = group(c, "rand_read_4k_warm");
    g.throughput(Throughput::Elements(offsets.len() as u64));
    g.bench_function("std_qd1", |b| {
        let f = StdFile::open(&s.src).unwrap();
        let mut buf = vec![0u8; 4096];
        b.iter(|| {
            for &off in offsets.iter() {
                assert_eq!(f.read_at(&mut buf, off).unwrap(), 4096);
            }
        })
    });
    // The floor of any non-blocking read: preadv2(RWF_NOWAIT) is what ringcore's inline
    // path calls (a page-cache miss must not block the core), and it costs more in the
    // kernel than pread64 (it imports an iovec), so ringcore_qd1 / this row is how close
    // the runtime's own overhead lets it come.
    g.bench_function("std_preadv2_nowait_qd1", |b| {
        use std::os::fd::AsRawFd;
        let f = StdFile::open(&s.src).unwrap();
        let mut buf = vec![0u8; 4096];
        b.iter(|| {
            for &off in offsets.iter() {
                let iov = libc::iovec {
                    iov_base: buf.as_mut_ptr().cast(),
                    iov_len: buf.len(),
                };
                // SAFETY: `iov` describes `buf`, writable for its length for the call.
                let n =
                    unsafe { libc::preadv2(f.as_raw_fd(), &iov, 1, off as i64, libc::RWF_NOWAIT) };
                assert_eq!(n, 4096);
            }
        })
    });
    let f = Rc::new(rt.block_on(File::open(&s.src)).unwrap());
    for depth in [1, 32] {
        g.bench_function(format!("ringcore_qd{depth}"), |b| {
            b.iter(|| {
                rt.block_on(random_reads(f.clone(), offsets.clone(), depth, || {
                    Vec::with_capacity(4096)
                }))
            })
        });
    }
    // The same reads on the epoll readiness driver (Builder::driver(DriverKind::Epoll)).
    let ef = Rc::new(ert.block_on(File::open(&s.src)).unwrap());
    for depth in [1, 32] {
        g.bench_function(format!("ringcore_epoll_qd{depth}"), |b| {
            b.iter(|| {
                ert.block_on(random_reads(ef.clone(), offsets.clone(), depth, || {
                    Vec::with_capacity(4096)
                }))
            })
        });
    }
    g.bench_function("tokio_fs_qd1", |b| {
        b.iter(|| {
            trt.block_on(async {
                use tokio::io::{AsyncReadExt, AsyncSeekExt};
                let mut f = tokio::fs::File::open(&s.src).await.unwrap();
                let mut buf = vec![0u8; 4096];
                for &off in offsets.iter() {
                    f.seek(std::io::SeekFrom::Start(off)).await.unwrap();
                    f.read_exact(&mut buf).await.unwrap();
                }
            })
        })
    });
    g.finish();
}

fn direct_read(c: &mut Criterion, s: &Setup, rt: &Runtime) {
    let offsets = Rc::new(s.offsets[..DIRECT_READS].to_vec());
    let mut g = group(c, "rand_read_4k_direct");
    g.throughput(Throughput::Elements(offsets.len() as u64));
    g.bench_function("std_qd1", |b| {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECT)
            .open(&s.src)
            .unwrap();
        let mut buf = AlignedBuf::new(4096, 4096).unwrap();
        b.iter(|| {
            for &off in offsets.iter() {
                assert_eq!(f.read_at(&mut buf, off).unwrap(), 4096);
            }
        })
    });
    let f = Rc::new(
        rt.block_on(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_DIRECT)
                .open(&s.src),
        )
        .unwrap(),
    );
    for depth in [1, 32, 128] {
        g.bench_function(format!("ringcore_qd{depth}"), |b| {
            b.iter(|| {
                rt.block_on(random_reads(f.clone(), offsets.clone(), depth, || {
                    AlignedBuf::new(4096, 4096).unwrap()
                }))
            })
        });
    }
    g.finish();
}

fn seq_write(c: &mut Criterion, s: &Setup, rt: &Runtime, trt: &tokio::runtime::Runtime) {
    let dst = s.src.with_file_name("write.bin");
    let data: Vec<u8> = (0..BLOCK).map(|i| i as u8).collect();
    let mut g = group(c, "seq_write_fsync");
    g.throughput(Throughput::Bytes(s.len));
    g.bench_function("std", |b| {
        b.iter(|| {
            let f = StdFile::create(&dst).unwrap();
            let mut off = 0;
            while off < s.len {
                f.write_all_at(&data, off).unwrap();
                off += BLOCK as u64;
            }
            f.sync_all().unwrap();
        })
    });
    for depth in [1, 4] {
        g.bench_function(format!("ringcore_qd{depth}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let f = Rc::new(File::create(&dst).await.unwrap());
                    let next = Rc::new(Cell::new(0u64));
                    let tasks: Vec<_> = (0..depth)
                        .map(|_| {
                            let (f, next, len) = (f.clone(), next.clone(), s.len);
                            let mut buf = data.clone();
                            ringcore::spawn(async move {
                                loop {
                                    let off = next.get();
                                    if off >= len {
                                        break;
                                    }
                                    next.set(off + BLOCK as u64);
                                    let (res, b) = f.write_all_at(buf, off).await;
                                    res.unwrap();
                                    buf = b;
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                    f.sync_all().await.unwrap();
                })
            })
        });
    }
    g.bench_function("tokio_fs", |b| {
        b.iter(|| {
            trt.block_on(async {
                use tokio::io::AsyncWriteExt;
                let mut f = tokio::fs::File::create(&dst).await.unwrap();
                let mut off = 0;
                while off < s.len {
                    f.write_all(&data).await.unwrap();
                    off += BLOCK as u64;
                }
                f.sync_all().await.unwrap();
            })
        })
    });
    g.finish();
}

fn copy(c: &mut Criterion, s: &Setup, rt: &Runtime) {
    warm(&s.src);
    let dst = s.src.with_file_name("copy.bin");
    let mut g = group(c, "copy");
    g.throughput(Throughput::Bytes(s.len));
    g.bench_function("std_fs_copy", |b| {
        b.iter(|| std::fs::copy(&s.src, &dst).unwrap())
    });
    g.bench_function("ringcore_fs_copy", |b| {
        b.iter(|| rt.block_on(ringcore::fs::copy(&s.src, &dst)).unwrap())
    });
    g.bench_function("std_loop_128k", |b| {
        b.iter(|| {
            let mut src = StdFile::open(&s.src).unwrap();
            let mut out = StdFile::create(&dst).unwrap();
            let mut buf = vec![0u8; BLOCK];
            loop {
                let n = src.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                out.write_all(&buf[..n]).unwrap();
            }
        })
    });
    for depth in [1, 8] {
        g.bench_function(format!("ringcore_loop_128k_qd{depth}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let src = Rc::new(File::open(&s.src).await.unwrap());
                    let out = Rc::new(File::create(&dst).await.unwrap());
                    pipeline::copy_range(src, out, s.len, BLOCK, depth)
                        .await
                        .unwrap()
                })
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    let s = setup();
    let rt = Runtime::builder()
        .ring_entries(256)
        .driver(ringcore::DriverKind::IoUring)
        .build()
        .expect("io_uring runtime");
    let ert = Runtime::builder()
        .driver(ringcore::DriverKind::Epoll)
        .build()
        .expect("epoll runtime");
    let trt = tokio_rt();
    seq_read(c, &s, &rt, &trt);
    rand_read(c, &s, &rt, &ert, &trt);
    direct_read(c, &s, &rt);
    seq_write(c, &s, &rt, &trt);
    copy(c, &s, &rt);
}

criterion_group!(file_io, benches);
criterion_main!(file_io);
