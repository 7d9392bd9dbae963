//! Runs a short mixed workload on two cores and draws each core's telemetry histograms
//! (scheduling delay, poll duration, and the latency of its busiest ops) as one SVG, so a
//! core's health shows at a glance.
//!
//! ```text
//! cargo run --release --example metrics_svg -- docs/telemetry.svg
//! ```
//!
//! The workload, on each core: 16 loopback TCP clients doing 2,000 echo round trips of
//! 1 KiB each with the core's own echo server, a file written and read back in 16 KiB
//! blocks through the ring (a temp dir), a task sleeping 1 ms 200 times, and, on core 1
//! only, a task that blocks its core for 5 ms every 20 ms (so core 1's scheduling delay
//! grows a tail that core 0's lacks). Bars are log2 buckets (`ringcore::metrics::Histogram`);
//! a bar's height is log(count + 1) over log(largest + 1) in its panel, so a tail of a few
//! shows beside thousands; each panel's title gives the count, p50 and p99 (bucket upper
//! bounds).

use std::fmt::Write as _;
use std::rc::Rc;
use std::time::Duration;

use ringcore::metrics::{CoreMetrics, Histogram};
use ringcore::net::{TcpListener, TcpStream};

/// Buckets drawn: upper bounds 2^6 ns (64 ns) to 2^30 ns (1.07 s).
const FIRST: usize = 6;
const LAST: usize = 30;
const PANEL_W: f64 = 260.0;
const PANEL_H: f64 = 150.0;
const PANELS: usize = 5;

async fn echo_clients(addr: std::net::SocketAddr) {
    let mut clients = Vec::new();
    for _ in 0..16 {
        clients.push(ringcore::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            let mut msg = vec![1u8; 1024];
            let mut buf = Vec::with_capacity(1024);
            for _ in 0..2_000 {
                let (res, m) = s.write_all(msg).await;
                res.unwrap();
                msg = m;
                let mut got = 0;
                while got < 1024 {
                    buf.clear();
                    let (res, b) = s.read(buf).await;
                    got += res.unwrap();
                    buf = b;
                }
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
}

async fn workload(core: usize, dir: std::path::PathBuf) {
    let listener = Rc::new(TcpListener::bind("127.0.0.1:0").unwrap());
    let addr = listener.local_addr().unwrap();
    let server = ringcore::spawn({
        let listener = listener.clone();
        async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    return;
                };
                ringcore::spawn(async move {
                    let mut buf = Vec::with_capacity(1024);
                    loop {
                        let (res, b) = s.read(buf).await;
                        if !matches!(res, Ok(n) if n > 0) {
                            return;
                        }
                        let (res, mut b) = s.write_all(b).await;
                        if res.is_err() {
                            return;
                        }
                        b.clear();
                        buf = b;
                    }
                });
            }
        }
    });
    let sleeper = ringcore::spawn(async {
        for _ in 0..200 {
            ringcore::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let blocker = (core == 1).then(|| {
        ringcore::spawn(async {
            for _ in 0..25 {
                std::thread::sleep(Duration::from_millis(5));
                ringcore::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });
    let path = dir.join(format!("core-{core}"));
    let f = ringcore::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .open(&path)
        .await
        .unwrap();
    for i in 0..256u64 {
        let (res, _) = f
            .write_all_at(vec![i as u8; 16 * 1024], i * 16 * 1024)
            .await;
        res.unwrap();
    }
    for i in 0..256u64 {
        let (res, _) = f
            .read_at(Vec::with_capacity(16 * 1024), i * 16 * 1024)
            .await;
        res.unwrap();
    }
    echo_clients(addr).await;
    sleeper.await.unwrap();
    if let Some(b) = blocker {
        b.await.unwrap();
    }
    server.abort();
}

fn human(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}us", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{}ms", ns / 1_000_000),
        _ => format!("{}s", ns / 1_000_000_000),
    }
}

fn panel(out: &mut String, x0: f64, y0: f64, title: &str, h: &Histogram, colour: &str) {
    let counts = h.counts();
    let max = counts[FIRST..=LAST]
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let q = |p: f64| h.quantile(p).map_or("-".into(), human);
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold">{title}</text>"#,
        x0,
        y0 + 12.0
    );
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#444">n={} p50&lt;={} p99&lt;={}</text>"##,
        x0,
        y0 + 25.0,
        h.count(),
        q(0.5),
        q(0.99)
    );
    let (plot_y, plot_h) = (y0 + 32.0, PANEL_H - 60.0);
    let n = LAST - FIRST + 1;
    let bar_w = (PANEL_W - 20.0) / n as f64;
    let _ = writeln!(
        out,
        r##"<line x1="{x0:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#888"/>"##,
        plot_y + plot_h,
        x0 + PANEL_W - 20.0,
        plot_y + plot_h
    );
    for (i, &c) in counts[FIRST..=LAST].iter().enumerate() {
        let bx = x0 + i as f64 * bar_w;
        if c > 0 {
            // Log scale, so a tail of a few slow polls shows beside thousands of fast ones.
            let bh = ((c as f64 + 1.0).ln() / (max as f64 + 1.0).ln() * plot_h).max(1.0);
            let _ = writeln!(
                out,
                r#"<rect x="{bx:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{colour}"><title>&lt;= {}: {c}</title></rect>"#,
                plot_y + plot_h - bh,
                bar_w - 1.0,
                human(Histogram::upper_bound(FIRST + i))
            );
        }
        if (FIRST + i) % 4 == 2 {
            let _ = writeln!(
                out,
                r##"<text x="{:.1}" y="{:.1}" font-size="8" fill="#444" text-anchor="middle">{}</text>"##,
                bx + bar_w / 2.0,
                plot_y + plot_h + 10.0,
                human(Histogram::upper_bound(FIRST + i))
            );
        }
    }
}

fn render(cores: &[CoreMetrics]) -> String {
    let width = 20.0 + PANELS as f64 * PANEL_W;
    let height = 40.0 + cores.len() as f64 * (PANEL_H + 20.0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" font-family="sans-serif">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">ringcore telemetry: one row per core (log2 buckets, log-scale bar heights; examples/metrics_svg.rs)</text>"#
    );
    for (row, c) in cores.iter().enumerate() {
        let y0 = 35.0 + row as f64 * (PANEL_H + 20.0);
        let _ = writeln!(
            out,
            r#"<text x="10" y="{:.1}" font-size="12">core {} ({} polls, {} ops, driver {})</text>"#,
            y0 + 5.0,
            c.core.index(),
            c.tasks_polled,
            c.driver.ops_submitted,
            c.driver_kind.as_str()
        );
        let y0 = y0 + 10.0;
        panel(
            &mut out,
            10.0,
            y0,
            "scheduling delay",
            &c.schedule_delay,
            "#c0392b",
        );
        panel(
            &mut out,
            10.0 + PANEL_W,
            y0,
            "poll duration",
            &c.poll_duration,
            "#2c3e50",
        );
        let mut ops: Vec<_> = c.ops.iter().collect();
        ops.sort_by_key(|o| std::cmp::Reverse(o.submitted));
        for (i, o) in ops.iter().take(PANELS - 2).enumerate() {
            let x0 = 10.0 + (i + 2) as f64 * PANEL_W;
            panel(
                &mut out,
                x0,
                y0,
                &format!("op {} latency", o.name),
                &o.latency,
                "#2980b9",
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "telemetry.svg".to_string());
    let dir = tempfile_dir();
    let rt = ringcore::Runtime::builder()
        .cores(2)
        .inline_reads_per_tick(0)
        .telemetry(true)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("metrics_svg: {e}");
            std::process::exit(1)
        });
    let d = dir.clone();
    rt.run_on_all(move |core| workload(core.index(), d.clone()));
    let m = rt.metrics();
    drop(rt);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = std::fs::write(&path, render(&m.cores)) {
        eprintln!("metrics_svg: cannot write {path}: {e}");
        std::process::exit(1);
    }
    eprintln!("metrics_svg: wrote {path}");
}

/// A fresh directory under the system temp dir for the workload's files.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringcore-metrics-svg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        eprintln!("metrics_svg: cannot create {}: {e}", dir.display());
        std::process::exit(1)
    });
    dir
}
