#!/usr/bin/env python3
"""Prints the file_io criterion results as a markdown table of ratios to std.

Run after `cargo bench --bench file_io`. A ratio is std's time divided by the
variant's time for the same work (higher is better; 1.00x = as fast as std).
"""
import json
import pathlib

ROOT = pathlib.Path("target/criterion")
BASELINES = {
    "seq_read_128k": "std",
    "rand_read_4k_warm": "std_qd1",
    "rand_read_4k_direct": "std_qd1",
    "seq_write_fsync": "std",
    "copy": None,  # two baselines: std_fs_copy and std_loop_128k
}


def mean_ns(group, bench):
    path = ROOT / group / bench / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def main():
    print("| group | variant | median | ratio to std |")
    print("|---|---|---|---|")
    for group, base in BASELINES.items():
        gdir = ROOT / group
        if not gdir.exists():
            continue
        benches = sorted(p.name for p in gdir.iterdir() if (p / "new").exists())
        for bench in benches:
            t = mean_ns(group, bench)
            b = base
            if b is None:
                b = "std_fs_copy" if "fs_copy" in bench else "std_loop_128k"
            ratio = mean_ns(group, b) / t
            print(f"| {group} | {bench} | {t / 1e6:.2f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
