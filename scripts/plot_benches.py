#!/usr/bin/env python3
"""Plots the sweep benches' JSON lines as SVG (Python 3 standard library only).

    python3 scripts/plot_benches.py [RESULTS_DIR [PLOTS_DIR]]

Reads RESULTS_DIR/*.jsonl (default target/bench-results), as written by
`cargo bench --bench sweep_echo`, `--bench sweep_reads` and `--bench sweep_tasks`: a
first "meta" line describing the run, then one JSON object per measured point. Writes one
SVG per family it finds into PLOTS_DIR (default docs/plots):

- echo_conns.svg: msgs/s, msgs per server CPU-second (and its ratio to tokio's), p99
  latency, io_uring_enter calls per message and server VmRSS growth per connection
  against connections, one line per server kind;
- echo_rss.svg: server VmRSS growth per connection and VmRSS/VmHWM against connections;
- reads.svg: throughput of every reader against queue depth, one panel per cache state
  and block size; reads_ratio.svg: each reader's throughput over std's;
- tasks.svg: spawn and timer cost (ns each) and bytes each against N, one line per
  runtime (the fastest repetition of each point).

Series are keyed by name (server kind, reader, runtime), so a new kind in a bench becomes
a new line without a change here. Exits with status 1 if RESULTS_DIR holds no results.
"""
import json
import math
import pathlib
import sys
import time

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#17becf", "#bcbd22"]
DASHES = ["", "6,3", "2,2", "8,3,2,3"]
PANEL_W, PANEL_H = 400, 250
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 34, 46


def load(path):
    """Returns (meta, rows) of one .jsonl file."""
    meta, rows = {}, []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            raise SystemExit(f"{path}:{n}: not JSON: {e}")
        if "meta" in rec:
            meta = rec
        else:
            rows.append(rec)
    return meta, rows


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fmt(v):
    """A tick label: 1.5k, 10M, 0.25, 12."""
    if v == 0:
        return "0"
    a = abs(v)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            x = v / div
            return (f"{x:.0f}" if x == int(x) else f"{x:.3g}") + suffix
    if a >= 1:
        return f"{v:.0f}" if v == int(v) else f"{v:.3g}"
    return f"{v:.2g}"


def bs_label(bs):
    return f"{bs // 2**20} MiB" if bs >= 2**20 else f"{bs // 1024} KiB"


def nice_ticks(lo, hi, n=5):
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo, hi):
    ticks = []
    for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        span = math.log10(hi / lo)
        for m in (1, 2, 3, 5, 7) if span < 1.2 else (1, 2, 5) if span < 3 else (1,):
            v = m * 10 ** e
            if lo <= v * 1.0001 and v <= hi * 1.0001:
                ticks.append(v)
    return ticks


class Panel:
    def __init__(self, title, xlabel, ylabel, logx=False, logy=False, y0=None):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.logx, self.logy, self.y0 = logx, logy, y0
        self.series = []  # (label, style index, [(x, y)])

    def add(self, label, style, points):
        pts = sorted((x, y) for x, y in points
                     if x is not None and y is not None
                     and (not self.logx or x > 0) and (not self.logy or y > 0))
        if pts:
            self.series.append((label, style, pts))

    def svg(self, ox, oy):
        out = [f'<g transform="translate({ox},{oy})">']
        pw = PANEL_W - MARGIN_L - MARGIN_R
        ph = PANEL_H - MARGIN_T - MARGIN_B
        out.append(f'<text x="{PANEL_W / 2}" y="18" text-anchor="middle" '
                   f'font-weight="bold">{esc(self.title)}</text>')
        xs = [x for _, _, p in self.series for x, _ in p]
        ys = [y for _, _, p in self.series for _, y in p]
        if not xs:
            out.append(f'<text x="{PANEL_W / 2}" y="{PANEL_H / 2}" text-anchor="middle">'
                       'no data</text></g>')
            return "\n".join(out)
        xlo, xhi = min(xs), max(xs)
        ylo, yhi = min(ys), max(ys)
        if self.logx:
            xlo, xhi = (xlo / 1.5, xhi * 1.5) if xlo == xhi else (xlo, xhi)
        elif xlo == xhi:
            xlo, xhi = xlo - 1, xhi + 1
        if self.logy:
            ylo, yhi = ylo / 1.2, yhi * 1.2
        else:
            if self.y0 is not None:
                ylo = min(ylo, self.y0)
            pad = (yhi - ylo) * 0.05 or abs(yhi) * 0.1 or 1
            yhi += pad
            if self.y0 is None:
                ylo -= pad
        def tx(x):
            if self.logx:
                return MARGIN_L + pw * (math.log(x) - math.log(xlo)) / (math.log(xhi) - math.log(xlo))
            return MARGIN_L + pw * (x - xlo) / (xhi - xlo)
        def ty(y):
            if self.logy:
                return MARGIN_T + ph * (1 - (math.log(y) - math.log(ylo)) / (math.log(yhi) - math.log(ylo)))
            return MARGIN_T + ph * (1 - (y - ylo) / (yhi - ylo))
        out.append(f'<rect x="{MARGIN_L}" y="{MARGIN_T}" width="{pw}" height="{ph}" '
                   'fill="none" stroke="#444"/>')
        xt = log_ticks(xlo, xhi) if self.logx else nice_ticks(xlo, xhi)
        yt = log_ticks(ylo, yhi) if self.logy else nice_ticks(ylo, yhi)
        for t in xt:
            if not (xlo <= t <= xhi * 1.0001):
                continue
            x = tx(t)
            out.append(f'<line x1="{x:.1f}" y1="{MARGIN_T}" x2="{x:.1f}" y2="{MARGIN_T + ph}" '
                       'stroke="#ddd"/>')
            out.append(f'<text x="{x:.1f}" y="{MARGIN_T + ph + 14}" text-anchor="middle" '
                       f'font-size="10">{fmt(t)}</text>')
        for t in yt:
            if not (ylo <= t <= yhi * 1.0001):
                continue
            y = ty(t)
            out.append(f'<line x1="{MARGIN_L}" y1="{y:.1f}" x2="{MARGIN_L + pw}" y2="{y:.1f}" '
                       'stroke="#ddd"/>')
            out.append(f'<text x="{MARGIN_L - 4}" y="{y + 3:.1f}" text-anchor="end" '
                       f'font-size="10">{fmt(t)}</text>')
        out.append(f'<text x="{MARGIN_L + pw / 2}" y="{PANEL_H - 12}" text-anchor="middle" '
                   f'font-size="11">{esc(self.xlabel)}</text>')
        out.append(f'<text transform="translate(14,{MARGIN_T + ph / 2}) rotate(-90)" '
                   f'text-anchor="middle" font-size="11">{esc(self.ylabel)}</text>')
        for label, style, pts in self.series:
            color, dash = style
            d = " ".join(f"{tx(x):.1f},{ty(y):.1f}" for x, y in pts)
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" '
                       f'stroke-width="1.8"{dash_attr}><title>{esc(label)}</title></polyline>')
            for x, y in pts:
                out.append(f'<circle cx="{tx(x):.1f}" cy="{ty(y):.1f}" r="2.5" fill="{color}">'
                           f'<title>{esc(label)}: {fmt(x)}, {y:.4g}</title></circle>')
        out.append("</g>")
        return "\n".join(out)


def figure(path, title, subtitle, panels, legend, cols=2):
    """Writes panels in a grid under a title and a shared legend [(label, (color, dash))]."""
    rows = math.ceil(len(panels) / cols)
    legend_rows = math.ceil(len(legend) / 4)
    top = 44 + 18 * legend_rows
    width = cols * PANEL_W
    height = top + rows * PANEL_H + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="10" y="18" font-size="14" font-weight="bold">{esc(title)}</text>',
           f'<text x="10" y="34" font-size="10" fill="#555">{esc(subtitle)}</text>']
    for i, (label, (color, dash)) in enumerate(legend):
        x = 10 + (i % 4) * (width - 20) / 4
        y = 50 + 18 * (i // 4)
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" stroke="{color}" '
                   f'stroke-width="2"{dash_attr}/>')
        out.append(f'<text x="{x + 30}" y="{y}">{esc(label)}</text>')
    for i, p in enumerate(panels):
        out.append(p.svg((i % cols) * PANEL_W, top + (i // cols) * PANEL_H))
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")
    print(f"wrote {path}")


def subtitle(meta, rows):
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(meta.get("unix_time", 0)))
    parts = [f"run of {when}", f"{len(rows)} points"]
    if meta.get("env"):
        parts.append(meta["env"][:100])
    if meta.get("loadavg"):
        parts.append("load average before: " + " ".join(meta["loadavg"].split()[:3]))
    return "; ".join(parts)


def ordered(rows, key):
    """The distinct values of rows[key], in the order they first appear."""
    seen = []
    for r in rows:
        if r.get(key) not in seen:
            seen.append(r.get(key))
    return seen


def styles(names):
    return {n: (COLORS[i % len(COLORS)], "") for i, n in enumerate(names)}


def plot_echo_conns(meta, rows, out):
    kinds = ordered(rows, "server")
    st = styles(kinds)
    size = rows[0]["size"] if rows else 0
    panels = [
        Panel("messages/s", "connections", "msgs/s", logx=True, y0=0),
        Panel("messages per server CPU-second", "connections", "msgs / CPU-s", logx=True, y0=0),
        Panel("p99 round-trip latency", "connections", "µs", logx=True, logy=True),
        Panel("io_uring_enter calls per message", "connections", "enters / msg", logx=True,
              logy=True),
    ]
    base = "tokio" if "tokio" in kinds else kinds[0]
    ratio = Panel(f"messages per server CPU-second / {base}'s", "connections", "ratio",
                  logx=True)
    rss = Panel("server VmRSS growth per connection", "connections", "bytes / connection",
                logx=True, y0=0)
    panels += [ratio, rss]
    base_of = {r["conns"]: r["msgs_per_cpu_s"] for r in rows if r["server"] == base}
    for k in kinds:
        rs = [r for r in rows if r["server"] == k]
        for p, key in zip(panels, ["msgs_per_s", "msgs_per_cpu_s", "p99_us", "enters_per_msg"]):
            p.add(k, st[k], [(r["conns"], r.get(key)) for r in rs])
        ratio.add(k, st[k], [(r["conns"], r["msgs_per_cpu_s"] / base_of[r["conns"]])
                             for r in rs if base_of.get(r["conns"])])
        # One connection's share of the growth is mostly noise (a few pages).
        rss.add(k, st[k], [(r["conns"], r["rss_per_conn_bytes"]) for r in rs if r["conns"] >= 64])
    figure(out / "echo_conns.svg", f"Echo servers vs connections ({size}-byte messages)",
           subtitle(meta, rows), panels, [(k, st[k]) for k in kinds])


def plot_echo_rss(meta, rows, out):
    kinds = ordered(rows, "server")
    st = styles(kinds)
    size = rows[0]["size"] if rows else 0
    growth = Panel("server VmRSS growth per connection", "connections", "bytes / connection",
                   logx=True, y0=0)
    rss = Panel("server VmRSS (solid) and VmHWM (dashed)", "connections", "MiB", logx=True, y0=0)
    legend = []
    for k in kinds:
        rs = [r for r in rows if r["server"] == k]
        growth.add(k, st[k], [(r["conns"], r["rss_per_conn_bytes"]) for r in rs])
        rss.add(k, st[k], [(r["conns"], r["rss_bytes"] / 2**20) for r in rs])
        rss.add(k + " VmHWM", (st[k][0], "4,3"), [(r["conns"], r["hwm_bytes"] / 2**20) for r in rs])
        legend.append((k, st[k]))
    figure(out / "echo_rss.svg",
           f"Echo server memory with traffic flowing ({size}-byte messages)",
           subtitle(meta, rows), [growth, rss], legend)


def plot_reads(meta, rows, out):
    readers = ordered(rows, "reader")
    st = styles(readers)
    caches = ordered(rows, "cache")
    bss = sorted(set(r["bs"] for r in rows))
    panels = []
    for cache in caches:
        for bs in bss:
            p = Panel(f"{cache}, {bs_label(bs)} blocks", "queue depth", "MiB/s",
                      logx=True, logy=True)
            for rd in readers:
                p.add(rd, st[rd], [(r["qd"], r["mib_per_s"]) for r in rows
                                   if r["cache"] == cache and r["bs"] == bs and r["reader"] == rd])
            panels.append(p)
    figure(out / "reads.svg", "Random reads: throughput vs queue depth", subtitle(meta, rows),
           panels, [(rd, st[rd]) for rd in readers], cols=len(bss) if len(bss) <= 5 else 4)
    # Ratios to std: one panel per (cache, reader), one line per block size.
    bst = {bs: (COLORS[i % len(COLORS)], "") for i, bs in enumerate(bss)}
    ratio_panels = []
    for cache in caches:
        for rd in readers:
            if rd == "std":
                continue
            p = Panel(f"{rd} / std, {cache}", "queue depth", "throughput ratio", logx=True, y0=0)
            for bs in bss:
                p.add(bs_label(bs), bst[bs],
                      [(r["qd"], r.get("ratio_to_std")) for r in rows
                       if r["cache"] == cache and r["bs"] == bs and r["reader"] == rd])
            ratio_panels.append(p)
    figure(out / "reads_ratio.svg", "Random reads: ringcore's throughput over std's (1.0 = equal)",
           subtitle(meta, rows), ratio_panels,
           [(bs_label(bs) + " blocks", bst[bs]) for bs in bss],
           cols=max(1, len(readers) - 1))


def plot_tasks(meta, rows, out):
    runtimes = ordered(rows, "runtime")
    st = styles(runtimes)

    def series(family, key, scale=1.0):
        res = {}
        for rt in runtimes:
            pts = []
            for n in sorted(set(r["n"] for r in rows if r["family"] == family)):
                vals = [r[key] for r in rows if r["family"] == family and r["runtime"] == rt
                        and r["n"] == n and r.get(key) is not None]
                if vals:
                    pts.append((n, min(vals) * scale))
            res[rt] = pts
        return res

    specs = [
        ("spawn: time to spawn N tasks, per task", "spawn", "first_ns_each", 1.0, "ns", False),
        ("spawn + join, per task", "spawn", "total_ns_each", 1.0, "ns", False),
        ("spawn: bytes per task (N spawned, none run)", "spawn", "bytes_each", 1.0, "bytes", False),
        ("timers: time to arm N, per timer", "timers", "first_ns_each", 1.0, "ns", False),
        ("timers: bytes per armed timer (with its box)", "timers", "bytes_each", 1.0,
         "bytes", False),
        ("timers: lag after the last deadline", "timers", "total_s", 1e3, "ms", True),
    ]
    panels = []
    for title, family, key, scale, unit, logy in specs:
        p = Panel(title, "N", unit, logx=True, logy=logy, y0=None if logy else 0)
        for rt, pts in series(family, key, scale).items():
            p.add(rt, st[rt], pts)
        panels.append(p)
    figure(out / "tasks.svg", "Spawning tasks and arming timers vs N (fastest of the repetitions)",
           subtitle(meta, rows), panels, [(rt, st[rt]) for rt in runtimes])


PLOTTERS = {
    "echo_conns": plot_echo_conns,
    "echo_rss": plot_echo_rss,
    "reads": plot_reads,
    "tasks": plot_tasks,
}


def main(argv):
    results = pathlib.Path(argv[1] if len(argv) > 1 else "target/bench-results")
    out = pathlib.Path(argv[2] if len(argv) > 2 else "docs/plots")
    out.mkdir(parents=True, exist_ok=True)
    done = 0
    for family, plot in PLOTTERS.items():
        path = results / f"{family}.jsonl"
        if not path.exists():
            print(f"skip {family}: no {path}")
            continue
        meta, rows = load(path)
        if not rows:
            print(f"skip {family}: {path} has no points")
            continue
        plot(meta, rows, out)
        done += 1
    if done == 0:
        print(f"no results in {results}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
