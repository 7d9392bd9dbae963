#!/bin/bash
# User-space instructions per echoed message, under callgrind (the same whatever else the
# machine runs): the shipped echo example (its default multishot paths and --plain) and
# the hand-tuned C liburing server benches/c/echo_uring.c, at 64 connections x 1 KiB.
#
#   scripts/echo_instructions.sh
#   SERVERS="example c_uring" SECS=20 scripts/echo_instructions.sh
#
# Each server runs pinned to CPU 0 under `valgrind --tool=callgrind`, the load
# (examples/echo_client, 64 x 1 KiB) pinned to CPU 1: 2 s of warm-up, then the counters
# are zeroed (callgrind_control -z), SECS seconds (default 10) of load are measured and
# dumped (callgrind_control -d). The figure is the dump's instruction total over the
# messages echoed in it (the client's msgs/s times SECS). Callgrind counts user space only:
# the kernel's TCP and io_uring work, the same for both servers, is not in it. The server
# runs about 2x slower under callgrind, which changes how many completions one enter
# brings, so read the figures as user-space cost per message at that batching.
# Installs valgrind and liburing-dev where missing (scripts/bench-deps.sh).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bench-deps.sh
secs=${SECS:-10}
servers=${SERVERS:-"example example_plain c_uring"}
cargo build --release --example echo_server --example echo_client
mkdir -p target/release/c target/echo-instructions
cc -O2 -Wall -o target/release/c/echo_uring benches/c/echo_uring.c -luring
out=$(pwd)/target/echo-instructions
client=target/release/examples/echo_client

echo "| server | msgs/s under callgrind | messages measured | user-space instructions | per message |"
echo "|---|---|---|---|---|"
for s in $servers; do
    case $s in
        example) cmd=(target/release/examples/echo_server --addr 127.0.0.1:0) ;;
        example_plain) cmd=(target/release/examples/echo_server --addr 127.0.0.1:0 --plain) ;;
        c_uring) cmd=(target/release/c/echo_uring) ;;
        c_uring_nofixed) cmd=(target/release/c/echo_uring --no-fixed) ;;
        *) echo "unknown server $s (example, example_plain, c_uring, c_uring_nofixed)" >&2; exit 2 ;;
    esac
    rm -f "$out/$s".*
    taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$out/$s.out" "${cmd[@]}" \
        >"$out/$s.log" 2>&1 &
    vpid=$!
    addr=""
    for _ in $(seq 100); do
        addr=$(sed -n 's/^echo_server: listening on \([^ ]*\).*/\1/p; s/^ADDR \(.*\)/\1/p' "$out/$s.log")
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "$s did not start: $out/$s.log" >&2; kill -9 $vpid; exit 1; }
    taskset -c 1 $client --addr "$addr" --conns 64 --size 1024 --duration 2 >/dev/null
    callgrind_control -z $vpid >/dev/null 2>&1
    rate=$(taskset -c 1 $client --addr "$addr" --conns 64 --size 1024 --duration "$secs" |
        sed -n 's/^msgs\/s \([0-9]*\).*/\1/p')
    callgrind_control -d $vpid >/dev/null 2>&1
    # Under valgrind a signal waits for the next syscall boundary, which a parked
    # io_uring_enter may not reach: nothing after the dump is read, so SIGKILL.
    kill -9 $vpid 2>/dev/null || true
    wait $vpid 2>/dev/null || true
    instr=$(sed -n 's/^totals: //p' "$out/$s.out.1")
    python3 -c "r=$rate; n=r*$secs; i=$instr; print(f'| $s | {r:,} | {n:,} | {i:,} | {i/n:,.0f} |')"
done
echo "(callgrind files in $out; the .out.1 file is the measured window)"
