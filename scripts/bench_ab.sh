#!/bin/sh
# Side-by-side bench runs of two trees of ringcore (say a commit before a change and one
# after), alternating so machine load falls on both: for each round and each bench, the
# old tree's binary, then the new tree's. Wall-clock figures on a shared machine are noisy;
# read the ratios of runs next to each other, not one run's absolute figures.
#
#   git worktree add ../old COMMIT               # the old tree, its own target dir
#   scripts/bench_ab.sh ../old .                 # OLD_TREE NEW_TREE
#   ROUNDS=5 BENCHES="echo tasks" scripts/bench_ab.sh ../old .
#   python3 scripts/bench_ab.py target/bench-ab  # per-figure ratios new/old
#
# Builds each tree's bench binaries first (`nice -n 10 cargo bench --no-run`, in that
# tree's own target dir), copies them to OUT/old and OUT/new, then runs them WITHOUT nice.
# Each run's output goes to OUT/SIDE-BENCH-ROUND.txt; OUT/runs.log has the UTC time and
# /proc/loadavg at each start. The channel bench runs with CHANNEL_BENCH_SUMMARY_ONLY=1.
# Criterion keeps each side's history apart (CARGO_TARGET_DIR=OUT/SIDE-target).
#
# Env: ROUNDS (default 3), BENCHES (default "file_io echo channel tasks"), OUT (default
# target/bench-ab in the new tree).
set -eu
[ $# -eq 2 ] || { echo "usage: $0 OLD_TREE NEW_TREE" >&2; exit 2; }
old=$(cd "$1" && pwd)
new=$(cd "$2" && pwd)
rounds=${ROUNDS:-3}
benches=${BENCHES:-"file_io echo channel tasks"}
out=${OUT:-$new/target/bench-ab}
mkdir -p "$out/old" "$out/new"
out=$(cd "$out" && pwd)

for side in old new; do
    eval tree=\$$side
    args=""
    for b in $benches; do args="$args --bench $b"; done
    echo "== building the $side tree's benches ($tree, $(git -C "$tree" rev-parse --short HEAD))"
    # shellcheck disable=SC2086 # one word per argument
    (cd "$tree" && nice -n 10 cargo bench --no-run $args) 2>&1 | tee "$out/$side-build.log" |
        grep -E "Executable|error" || true
    for b in $benches; do
        exe=$(sed -n "s|.*Executable benches/$b.rs (\(.*\))|\1|p" "$out/$side-build.log")
        [ -n "$exe" ] || { echo "no $b binary for the $side tree" >&2; exit 1; }
        cp "$tree/$exe" "$out/$side/$b"
    done
    git -C "$tree" rev-parse HEAD >"$out/$side/commit"
done

: >"$out/runs.log"
r=1
while [ "$r" -le "$rounds" ]; do
    for b in $benches; do
        for side in old new; do
            eval tree=\$$side
            line="round $r $b $side start $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
            echo "$line" | tee -a "$out/runs.log"
            (
                cd "$tree"
                if [ "$b" = channel ]; then export CHANNEL_BENCH_SUMMARY_ONLY=1; fi
                CARGO_TARGET_DIR="$out/$side-target" "$out/$side/$b" --bench
            ) >"$out/$side-$b-$r.txt" 2>&1 || echo "  (exit $?)" | tee -a "$out/runs.log"
        done
    done
    r=$((r + 1))
done
echo "end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/runs.log"
