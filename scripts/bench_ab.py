#!/usr/bin/env python3
"""Ratios new/old from the runs of scripts/bench_ab.sh.

    python3 scripts/bench_ab.py [OUT]        # OUT defaults to target/bench-ab

Reads OUT/{old,new}-BENCH-ROUND.txt and prints a markdown table: for each figure the
median of the old runs and of the new runs, each round's ratio (the new run over the old
run of the same round, which ran next to it), and the median of those ratios. Every ratio
is "higher is better": speed new/old for times (old time / new time), new/old for rates
(messages/s, messages per server CPU-second). Figures read:

- criterion's `NAME time: [low estimate high]` lines (file_io, tasks): the estimate;
- the echo bench's table rows: messages per server CPU-second and messages/s per server
  kind and configuration;
- the channel bench's summary: messages/s per channel and the submit_to round-trip p50.

A second table divides out the load of the moment: each ringcore figure relative to the
baseline that ran in the same process seconds before or after it (std in file_io, tokio
in tasks and echo, async-channel in channel), then that relative figure new over old.
The baselines' own code is the same in both trees, so their new/old ratios in the first
table show how much the load alone moved the figures.
"""
import pathlib
import re
import statistics
import sys

UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}
MULT = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}


def figures(bench, text):
    """(name, value, higher_is_better) for each figure of one run's output."""
    out = []
    last_name = None
    for line in text.splitlines():
        m = re.match(r"^(\S+/\S+)", line)
        if m and not line.startswith("Benchmarking"):
            last_name = m.group(1)
        m = re.search(r"time:\s+\[\S+ \S+ (\S+) (\S+) \S+ \S+\]", line)
        if m and last_name:
            out.append((last_name, float(m.group(1)) * UNITS[m.group(2)], False))
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if bench == "echo" and len(cells) == 10 and cells[1].isdigit() and cells[3]:
            kind, conns, size = cells[0], cells[1], cells[2]
            out.append((f"{kind} {conns}x{size} msgs per server CPU-s", float(cells[7]), True))
            out.append((f"{kind} {conns}x{size} msgs/s", float(cells[3]), True))
        if bench == "channel":
            m = re.match(r"^\| ([^|]+) \| ([\d.]+) ([KMG]?) \|", line)
            if m:
                out.append((f"{m.group(1)} msgs/s", float(m.group(2)) * MULT[m.group(3)], True))
            m = re.match(r"^submit_to round trip .*?, ([a-z ]+?)(?: \(default\))?: p50 ([\d.]+) us", line)
            if m:
                out.append((f"submit_to p50, {m.group(1)}", float(m.group(2)) * 1e-6, False))
    return out


def baseline(bench, name):
    """The figure `name` is measured against in the same run, or None."""
    if bench == "file_io" and "/" in name:
        group, variant = name.split("/", 1)
        if variant.startswith("std") or variant.startswith("tokio"):
            return None
        if group == "copy":
            return "copy/std_fs_copy" if "fs_copy" in variant else "copy/std_loop_128k"
        base = {"seq_read_128k": "std", "seq_write_fsync": "std"}.get(group, "std_qd1")
        return f"{group}/{base}"
    if bench == "tasks" and "/" in name:
        group, variant = name.split("/", 1)
        if variant.startswith("tokio"):
            return None
        return (group, "tokio")
    if bench == "echo":
        kind, rest = name.split(" ", 1)
        return None if kind == "tokio" else f"tokio {rest}"
    if bench == "channel" and name.endswith("msgs/s") and "async-channel" not in name:
        return "async-channel msgs/s"
    return None


def fmt(v, higher):
    if higher:
        return f"{v:,.0f}" if v >= 100 else f"{v:.3g}"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if v >= scale:
            return f"{v / scale:.3g} {unit}"
    return f"{v:.3g} s"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/bench-ab")
    runs = {}
    for path in sorted(root.glob("*-*-*.txt")):
        m = re.match(r"^(old|new)-(\w+)-(\d+)\.txt$", path.name)
        if not m:
            continue
        side, bench, rnd = m.group(1), m.group(2), int(m.group(3))
        for name, value, higher in figures(bench, path.read_text(errors="replace")):
            runs.setdefault((bench, name), {"higher": higher}).setdefault(side, {})[rnd] = value
    print("| bench | figure | old (median) | new (median) | new/old per round | median new/old |")
    print("|---|---|---|---|---|---|")
    for (bench, name), r in runs.items():
        old, new, higher = r.get("old", {}), r.get("new", {}), r["higher"]
        rounds = sorted(set(old) & set(new))
        if not rounds:
            continue
        ratios = [
            (new[i] / old[i]) if higher else (old[i] / new[i])
            for i in rounds
            if old[i] > 0 and new[i] > 0
        ]
        if not ratios:
            continue
        print(
            f"| {bench} | {name} | {fmt(statistics.median(old.values()), higher)} "
            f"| {fmt(statistics.median(new.values()), higher)} "
            f"| {', '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f}x |"
        )
    print()
    print("| bench | figure | baseline in the same run | old vs baseline (median) "
          "| new vs baseline (median) | new/old per round | median new/old |")
    print("|---|---|---|---|---|---|---|")
    for (bench, name), r in runs.items():
        base = baseline(bench, name)
        if isinstance(base, tuple):  # (group, prefix): the group's variant with that prefix
            base = next((n for (b, n) in runs if b == bench and n.startswith(f"{base[0]}/{base[1]}")), None)
        if base is None or (bench, base) not in runs:
            continue
        b, higher = runs[(bench, base)], r["higher"]

        def rel(side, i):
            x, y = r.get(side, {}).get(i), b.get(side, {}).get(i)
            if not x or not y:
                return None
            return x / y if higher else y / x

        rounds = sorted(set(r.get("old", {})) & set(r.get("new", {})))
        pairs = [(rel("old", i), rel("new", i)) for i in rounds]
        pairs = [(o, n) for o, n in pairs if o and n]
        if not pairs:
            continue
        ratios = [n / o for o, n in pairs]
        print(
            f"| {bench} | {name} | {base} | {statistics.median(o for o, _ in pairs):.2f}x "
            f"| {statistics.median(n for _, n in pairs):.2f}x "
            f"| {', '.join(f'{x:.2f}' for x in ratios)} | {statistics.median(ratios):.2f}x |"
        )


if __name__ == "__main__":
    main()
