//! Copies a file: inside the kernel with `ringcore::fs::copy` (copy_file_range(2) on the
//! blocking pool, the default), or through the ring with several reads and writes in
//! flight (`--method ring`, where `--block-size` and `--depth` apply).
//!
//! ```text
//! cargo run --release --example file_copy -- SRC DST [--method range|ring] [--block-size BYTES] [--depth N] [--fsync]
//! cargo run --release --example file_copy            # self-test on a 256 MiB random file
//! ```
//!
//! `range` is as fast as `cp` (which uses the same syscall) at the same CPU; `ring` moves
//! every byte through user space and costs about 1.5x the CPU (docs/benchmarks.md, "File
//! fast paths").
//!
//! Prints `copied <bytes> bytes in <seconds> s (<MiB/s> MiB/s)`. The copy goes to a
//! temporary file next to DST (`.NAME.part-PID`) that is renamed over DST only when
//! complete, so a failed copy leaves no partial DST behind. Bad input (a missing SRC, a DST
//! in a missing directory, SRC and DST the same file) prints one `error: ...` line and exits
//! with status 1.
//!
//! SIGINT (Ctrl-C) or SIGTERM stops the copy (`ringcore::signal::ctrl_c_or_terminate`):
//! the copy is dropped, the runtime is shut down (which waits for every op in flight, so
//! nothing can create or write the part file afterwards), the part file is removed, DST is
//! left as it was, one `error: stopped by SIGINT|SIGTERM ...` line is printed, and the exit
//! status is the shell's for a death by that signal: 130 for SIGINT, 143 for SIGTERM. The
//! self-test stops the same way and removes its temporary directory.

mod pipeline;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use ringcore::fs::{self, File, OpenOptions};
use ringcore::future::Either;
use ringcore::signal::SignalKind;

/// How the bytes move.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    /// `fs::copy`: copy_file_range(2), no byte through user space.
    Range,
    /// Reads and writes through the ring (`pipeline::copy_range`).
    Ring,
}

struct Args {
    method: Method,
    src: Option<PathBuf>,
    dst: Option<PathBuf>,
    block_size: usize,
    depth: usize,
    fsync: bool,
    self_test_mib: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        method: Method::Range,
        src: None,
        dst: None,
        block_size: 1 << 20,
        depth: 8,
        fsync: false,
        self_test_mib: 256,
    };
    let mut it = std::env::args_os().skip(1);
    let mut positional = Vec::new();
    while let Some(a) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next()
                .and_then(|v| v.into_string().ok())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.to_str() {
            Some("--block-size") => {
                args.block_size = parse_size(&value("--block-size")?)?;
            }
            Some("--depth") => {
                args.depth = value("--depth")?
                    .parse()
                    .map_err(|_| "--depth takes a number")?;
            }
            Some("--self-test-mib") => {
                args.self_test_mib = value("--self-test-mib")?
                    .parse()
                    .map_err(|_| "--self-test-mib takes a number")?;
            }
            Some("--method") => {
                args.method = match value("--method")?.as_str() {
                    "range" => Method::Range,
                    "ring" => Method::Ring,
                    m => return Err(format!("--method takes range or ring, not {m:?}")),
                };
            }
            Some("--fsync") => args.fsync = true,
            Some("-h" | "--help") => {
                return Err(
                    "usage: file_copy [SRC DST] [--method range|ring] [--block-size BYTES] [--depth N] [--fsync]"
                        .into(),
                );
            }
            Some(s) if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => positional.push(PathBuf::from(a)),
        }
    }
    if args.block_size == 0 || args.depth == 0 {
        return Err("--block-size and --depth must be at least 1".into());
    }
    match positional.len() {
        0 => {}
        2 => {
            args.dst = positional.pop();
            args.src = positional.pop();
        }
        _ => return Err("expected SRC and DST, or no arguments for the self-test".into()),
    }
    Ok(args)
}

/// Parses `4096`, `128K`, `1M`, `1G` (binary units).
fn parse_size(s: &str) -> Result<usize, String> {
    let (num, mult) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1 << 10),
        Some((i, 'm' | 'M')) => (&s[..i], 1 << 20),
        Some((i, 'g' | 'G')) => (&s[..i], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("bad size {s:?}"))
}

/// The temporary file a copy to `dst` is written to: `.NAME.part-PID` next to it.
fn part_path(dst: &Path) -> Result<PathBuf, String> {
    let name = dst.file_name().ok_or("DST has no file name")?;
    let mut part = std::ffi::OsString::from(".");
    part.push(name);
    part.push(format!(".part-{}", std::process::id()));
    Ok(dst.with_file_name(part))
}

/// Copies SRC to DST through the temporary file `tmp_path`, renamed into place; returns
/// bytes copied.
async fn copy(src_path: &Path, dst_path: &Path, tmp_path: &Path, args: &Args) -> io::Result<u64> {
    let src = File::open(src_path).await?;
    let meta = src.metadata().await?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not a regular file", src_path.display()),
        ));
    }
    if let Ok(d) = fs::metadata(dst_path).await
        && (d.dev(), d.ino()) == (meta.dev(), meta.ino())
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "{} and {} are the same file",
                src_path.display(),
                dst_path.display()
            ),
        ));
    }
    let result = match args.method {
        // fs::copy creates the temporary file itself. Creating it here and letting fs::copy
        // truncate it would cost about 100 ms on ext4: closing a file that was truncated to
        // 0 and rewritten starts its writeback at once (the auto_da_alloc heuristic).
        Method::Range => {
            drop(src);
            async {
                let n = fs::copy(src_path, tmp_path).await?;
                if args.fsync {
                    File::open(tmp_path).await?.sync_all().await?;
                }
                Ok::<u64, io::Error>(n)
            }
            .await
        }
        Method::Ring => {
            let dst = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(meta.permissions())
                .open(tmp_path)
                .await?;
            let (src, dst) = (Rc::new(src), Rc::new(dst));
            let (block, depth) = (args.block_size, args.depth);
            async {
                let n = pipeline::copy_range(src.clone(), dst.clone(), meta.len(), block, depth)
                    .await?;
                if args.fsync {
                    dst.sync_all().await?;
                }
                Ok::<u64, io::Error>(n)
            }
            .await
        }
    };
    match result {
        Ok(n) => {
            fs::rename(tmp_path, dst_path).await?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(tmp_path).await;
            Err(e)
        }
    }
}

fn report(bytes: u64, secs: f64) {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    say(&format!(
        "copied {bytes} bytes in {secs:.3} s ({:.1} MiB/s)",
        mib / secs.max(1e-9)
    ));
}

/// Prints a line to stdout; a closed stdout (`| head -1`) is not an error worth a panic.
fn say(line: &str) {
    use std::io::Write;
    let _ = writeln!(io::stdout(), "{line}");
}

/// Writes `mib` MiB of pseudo-random data (xorshift64*) to `path`.
fn make_random_file(path: &Path, mib: u64) -> io::Result<()> {
    use std::io::Write;
    let mut out = io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ u64::from(std::process::id());
    let mut block = vec![0u8; 1 << 20];
    for _ in 0..mib {
        for chunk in block.chunks_exact_mut(8) {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            chunk.copy_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        out.write_all(&block)?;
    }
    out.flush()
}

/// Compares two files byte for byte with std.
fn same_contents(a: &Path, b: &Path) -> io::Result<bool> {
    let (mut fa, mut fb) = (std::fs::File::open(a)?, std::fs::File::open(b)?);
    let (mut ba, mut bb) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na != nb || ba[..na] != bb[..nb] {
            return Ok(false);
        }
        if na == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Why a run did not finish.
enum Failure {
    /// One `error: ...` line, exit status 1.
    Error(String),
    /// Stopped by a signal: exit status 130 (SIGINT) or 143 (SIGTERM).
    Signal(SignalKind),
}

impl From<String> for Failure {
    fn from(msg: String) -> Self {
        Failure::Error(msg)
    }
}

/// Runs `work` on `rt` until it finishes or SIGINT/SIGTERM arrives. On a signal `work` is
/// dropped and the runtime shut down before this returns, so no op of the copy is still in
/// flight (an open that creates the part file, a write into it) when the caller cleans up.
fn until_signal<T>(
    rt: ringcore::Runtime,
    work: impl Future<Output = Result<T, String>>,
) -> Result<T, Failure> {
    let outcome = rt.block_on(async {
        // First: from here on SIGINT and SIGTERM are blocked in this thread and in every
        // thread the runtime starts (the blocking pool), and come to this future instead.
        let signal = ringcore::signal::ctrl_c_or_terminate();
        ringcore::future::select(work, signal).await
    });
    match outcome {
        Either::Left(result) => Ok(result?),
        Either::Right(signal) => {
            // Dropping the runtime cancels every task and waits for every op's completion.
            drop(rt);
            Err(Failure::Signal(signal.map_err(|e| format!("signal: {e}"))?))
        }
    }
}

fn run(args: Args) -> Result<(), Failure> {
    let rt = ringcore::Runtime::new().map_err(|e| e.to_string())?;
    match (&args.src, &args.dst) {
        (Some(src), Some(dst)) => {
            let part = part_path(dst)?;
            let start = Instant::now();
            let copied = until_signal(rt, async {
                copy(src, dst, &part, &args)
                    .await
                    .map_err(|e| e.to_string())
            });
            if let Err(Failure::Signal(_)) = copied {
                // The runtime is gone: nothing can recreate the file after this.
                let _ = std::fs::remove_file(&part);
            }
            report(copied?, start.elapsed().as_secs_f64());
        }
        _ => {
            let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
            let (src, dst) = (dir.path().join("random.bin"), dir.path().join("copy.bin"));
            let part = part_path(&dst)?;
            let mib = args.self_test_mib;
            // Dropping `dir` on any return removes the input, the copy and the part file.
            let (n, secs) = until_signal(rt, async {
                let input = src.clone();
                ringcore::offload::spawn_blocking(move || make_random_file(&input, mib))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|e| format!("making the input: {e}"))?;
                let start = Instant::now();
                let n = copy(&src, &dst, &part, &args)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok((n, start.elapsed().as_secs_f64()))
            })?;
            if !same_contents(&src, &dst).map_err(|e| format!("verifying: {e}"))? {
                return Err("the copy differs from the source".to_string().into());
            }
            report(n, secs);
            say(&format!(
                "verified: the copy matches the {mib} MiB random source byte for byte"
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().map_err(Failure::Error).and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Error(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
        Err(Failure::Signal(signal)) => {
            let (name, status) = match signal {
                SignalKind::Interrupt => ("SIGINT", 130),
                _ => ("SIGTERM", 143),
            };
            eprintln!("error: stopped by {name}; the partial copy was removed, DST is unchanged");
            ExitCode::from(status)
        }
    }
}
