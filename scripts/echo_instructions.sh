#!/bin/bash
# User-space instructions per echoed message, under callgrind (the same whatever else the
# machine runs): the shipped echo example (its default multishot paths and --plain) and
# the hand-tuned C liburing server benches/c/echo_uring.c, at 64 connections x 1 KiB; or
# any server kind of the echo bench (benches/support/echo_servers.rs) as bench:KIND.
#
#   scripts/echo_instructions.sh
#   SERVERS="example c_uring" SECS=20 scripts/echo_instructions.sh
#   CONNS=256 SIZE=4096 SERVERS="bench:ringcore_epoll bench:multishot" scripts/echo_instructions.sh
#   ECHO_BENCH_BIN=../old/target/release/deps/echo-HASH SERVERS=bench:ringcore_epoll \
#       CONNS=256 SIZE=4096 scripts/echo_instructions.sh     # another tree's bench binary
#   RINGCORE_DRIVER=epoll CONNS=256 SIZE=4096 SERVERS=example_plain \
#       scripts/echo_instructions.sh     # the example's read/write_all loop on the epoll driver
#   ECHO_SERVER_BIN=/tmp/old/echo_server SERVERS="example example_plain" \
#       scripts/echo_instructions.sh                          # another build of the example
#
# Each server runs pinned to CPU 0 under `valgrind --tool=callgrind`, the load
# (examples/echo_client, CONNS connections x SIZE bytes, default 64 x 1024) pinned to
# CPU 1: 2 s of warm-up, then the counters are zeroed (callgrind_control -z), SECS
# seconds (default 10) of load are measured and dumped (callgrind_control -d). The
# figure is the dump's instruction total over the messages echoed in it (the client's
# msgs/s times SECS). Callgrind counts user space only: the kernel's TCP and io_uring
# work, much the same for every server, is not in it. A server runs slower under
# callgrind, which changes how many completions one enter brings, so read the figures as
# user-space cost per message at that batching. The callgrind files stay in
# target/echo-instructions (NAME.out.1 is the measured window), for callgrind_annotate.
# Installs valgrind and liburing-dev where missing (scripts/bench-deps.sh).
set -eu
cd "$(dirname "$0")/.."
sh scripts/bench-deps.sh
secs=${SECS:-10}
servers=${SERVERS:-"example example_plain c_uring"}
conns=${CONNS:-64}
size=${SIZE:-1024}
cargo build --release --example echo_server --example echo_client
case " $servers " in
    *" bench:"*)
        if [ -z "${ECHO_BENCH_BIN:-}" ]; then
            ECHO_BENCH_BIN=$(cargo bench --no-run --bench echo 2>&1 |
                sed -n 's|.*Executable benches/echo.rs (\(.*\))|\1|p')
        fi ;;
esac
mkdir -p target/release/c target/echo-instructions
cc -O2 -Wall -o target/release/c/echo_uring benches/c/echo_uring.c -luring
out=$(pwd)/target/echo-instructions
client=target/release/examples/echo_client
server=${ECHO_SERVER_BIN:-target/release/examples/echo_server}

echo "$conns connections x $size bytes"
echo "| server | msgs/s under callgrind | messages measured | user-space instructions | per message |"
echo "|---|---|---|---|---|"
for s in $servers; do
    case $s in
        example) cmd=("$server" --addr 127.0.0.1:0) ;;
        example_plain) cmd=("$server" --addr 127.0.0.1:0 --plain) ;;
        c_uring) cmd=(target/release/c/echo_uring) ;;
        c_uring_nofixed) cmd=(target/release/c/echo_uring --no-fixed) ;;
        bench:*) cmd=(env "ECHO_BENCH_SERVER=${s#bench:}" "ECHO_BENCH_CONTROL=$out/control.sock"
            valgrind --tool=callgrind --callgrind-out-file="$out/$s.out" "$ECHO_BENCH_BIN") ;;
        *) echo "unknown server $s (example, example_plain, c_uring, c_uring_nofixed, bench:KIND)" >&2; exit 2 ;;
    esac
    case $s in
        bench:*) ;;
        *) cmd=(valgrind --tool=callgrind --callgrind-out-file="$out/$s.out" "${cmd[@]}") ;;
    esac
    rm -f "$out/$s".* "$out/control.sock"
    taskset -c 0 "${cmd[@]}" >"$out/$s.log" 2>&1 &
    vpid=$!
    # Whatever stops the script, the server under callgrind does not outlive it.
    trap 'kill -9 $vpid 2>/dev/null || true' EXIT
    addr=""
    for _ in $(seq 300); do
        # The log may not exist yet (the background job opens it): no match then.
        addr=$(sed -n 's/^echo_server: listening on \([^ ]*\).*/\1/p; s/^ADDR \(.*\)/\1/p' \
            "$out/$s.log" 2>/dev/null || true)
        [ -n "$addr" ] && break
        sleep 0.1
    done
    [ -n "$addr" ] || { echo "$s did not start: $out/$s.log" >&2; kill -9 $vpid; exit 1; }
    taskset -c 1 $client --addr "$addr" --conns "$conns" --size "$size" --duration 2 >/dev/null
    callgrind_control -z $vpid >/dev/null 2>&1
    rate=$(taskset -c 1 $client --addr "$addr" --conns "$conns" --size "$size" --duration "$secs" |
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
