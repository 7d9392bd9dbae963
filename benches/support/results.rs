//! Machine-readable bench output: one JSON object per line in
//! `target/bench-results/<family>.jsonl` (`BENCH_RESULTS_DIR` moves it), which
//! `scripts/plot_benches.py` reads. The first line of a file describes the run (`"meta"`:
//! the family, the command line, the Unix time, the load average before the run, the CPUs online); every
//! other line is one measured point. A new run of a family replaces its file.

// Each bench uses some of these.
#![allow(dead_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// One JSON object, built field by field (numbers, strings, or null).
#[derive(Default)]
pub(crate) struct Record {
    body: String,
}

impl Record {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn key(&mut self, key: &str) {
        if !self.body.is_empty() {
            self.body.push(',');
        }
        let _ = write!(self.body, "\"{key}\":");
    }

    /// A string field (`"`, `\` and control characters escaped).
    pub(crate) fn str(mut self, key: &str, v: &str) -> Self {
        self.key(key);
        self.body.push('"');
        for ch in v.chars() {
            match ch {
                '"' => self.body.push_str("\\\""),
                '\\' => self.body.push_str("\\\\"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(self.body, "\\u{:04x}", c as u32);
                }
                c => self.body.push(c),
            }
        }
        self.body.push('"');
        self
    }

    /// An integer field.
    pub(crate) fn int(mut self, key: &str, v: u64) -> Self {
        self.key(key);
        let _ = write!(self.body, "{v}");
        self
    }

    /// A float field; NaN and infinities are written as null (JSON has neither).
    pub(crate) fn num(mut self, key: &str, v: f64) -> Self {
        self.key(key);
        if v.is_finite() {
            let _ = write!(self.body, "{v}");
        } else {
            self.body.push_str("null");
        }
        self
    }

    /// A float field, or null when there is no value.
    pub(crate) fn opt(self, key: &str, v: Option<f64>) -> Self {
        match v {
            Some(v) => self.num(key, v),
            None => {
                let mut s = self;
                s.key(key);
                s.body.push_str("null");
                s
            }
        }
    }
}

/// CPUs online (not only those this thread may run on: the benches pin themselves).
fn cpus_online() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u64::try_from(n).unwrap_or(0)
}

/// The output file of one family.
pub(crate) struct Results {
    file: File,
    path: PathBuf,
}

impl Results {
    /// Creates (or truncates) `<dir>/<family>.jsonl` and writes its meta line.
    pub(crate) fn create(family: &str) -> Results {
        let dir = std::env::var_os("BENCH_RESULTS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("CARGO_TARGET_DIR")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
                    .join("bench-results")
            });
        std::fs::create_dir_all(&dir).expect("create the bench-results directory");
        let path = dir.join(format!("{family}.jsonl"));
        let file = File::create(&path).expect("create the results file");
        let mut r = Results { file, path };
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let args: Vec<String> = std::env::args().skip(1).collect();
        let env: Vec<String> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("ECHO_SWEEP")
                    || k.starts_with("READS_SWEEP")
                    || k.starts_with("TASKS_SWEEP")
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let rec = Record::new()
            .str("meta", family)
            .int("unix_time", unix)
            .str("env", &env.join(" "))
            .str("args", &args.join(" "))
            .str("loadavg", loadavg.trim())
            .int(
                "cpus",
                std::thread::available_parallelism().map_or(0, |n| n.get() as u64),
            );
        r.write(rec);
        r
    }

    /// Appends one point.
    pub(crate) fn write(&mut self, rec: Record) {
        writeln!(self.file, "{{{}}}", rec.body).expect("write the results file");
        self.file.flush().expect("flush the results file");
    }

    /// Where the lines go.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}
