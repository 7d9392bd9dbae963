#!/bin/sh
# What the benches need beyond cargo, installed only when missing (Debian/Ubuntu, apt-get):
#
# - liburing-dev (liburing.h, liburing.so) and a C compiler, for the C liburing echo server
#   benches/c/echo_uring.c, the echo bench's "c_uring" kind (benches/echo.rs builds it with
#   `cc` and runs this script when the build fails for want of them);
# - valgrind, for scripts/read_instructions.sh (which installs it by itself too).
#
#   scripts/bench-deps.sh
#
# CI runs no benches, so .ci/run does not call this.
set -eu
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
missing=""
if [ ! -e /usr/include/liburing.h ]; then missing="$missing liburing-dev"; fi
if ! command -v cc >/dev/null 2>&1; then missing="$missing gcc libc6-dev"; fi
if ! command -v valgrind >/dev/null 2>&1; then missing="$missing valgrind"; fi
if [ -z "$missing" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench-deps: missing$missing, and no apt-get to install them with" >&2
    exit 1
fi
echo "== apt-get install$missing (for the benches)" >&2
$sudo apt-get update -qq
# shellcheck disable=SC2086 # one word per package
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
