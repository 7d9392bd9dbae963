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
//! temporary file next to DST that is renamed over DST only when complete, so a failed copy
//! leaves no partial DST behind. Bad input (a missing SRC, a DST in a missing directory,
//! SRC and DST the same file) prints one `error: ...` line and exits with status 1.

mod pipeline;

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Instant;

use ringcore::fs::{self, File, OpenOptions};

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

/// Copies SRC to DST through a temporary file renamed into place; returns bytes copied.
async fn copy(src_path: &Path, dst_path: &Path, args: &Args) -> io::Result<u64> {
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
    let name = dst_path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "DST has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".part-{}", std::process::id()));
    let tmp_path = dst_path.with_file_name(tmp_name);
    let result = match args.method {
        // fs::copy creates the temporary file itself. Creating it here and letting fs::copy
        // truncate it would cost about 100 ms on ext4: closing a file that was truncated to
        // 0 and rewritten starts its writeback at once (the auto_da_alloc heuristic).
        Method::Range => {
            drop(src);
            async {
                let n = fs::copy(src_path, &tmp_path).await?;
                if args.fsync {
                    File::open(&tmp_path).await?.sync_all().await?;
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
                .open(&tmp_path)
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
            fs::rename(&tmp_path, dst_path).await?;
            Ok(n)
        }
        Err(e) => {
            let _ = fs::remove_file(&tmp_path).await;
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

fn run(args: Args) -> Result<(), String> {
    let rt = ringcore::Runtime::new().map_err(|e| e.to_string())?;
    match (&args.src, &args.dst) {
        (Some(src), Some(dst)) => {
            let start = Instant::now();
            let n = rt
                .block_on(copy(src, dst, &args))
                .map_err(|e| e.to_string())?;
            report(n, start.elapsed().as_secs_f64());
        }
        _ => {
            let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
            let (src, dst) = (dir.path().join("random.bin"), dir.path().join("copy.bin"));
            make_random_file(&src, args.self_test_mib)
                .map_err(|e| format!("making the input: {e}"))?;
            let start = Instant::now();
            let n = rt
                .block_on(copy(&src, &dst, &args))
                .map_err(|e| e.to_string())?;
            let secs = start.elapsed().as_secs_f64();
            if !same_contents(&src, &dst).map_err(|e| format!("verifying: {e}"))? {
                return Err("the copy differs from the source".into());
            }
            report(n, secs);
            say(&format!(
                "verified: the copy matches the {} MiB random source byte for byte",
                args.self_test_mib
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match parse_args().and_then(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
