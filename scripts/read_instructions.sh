#!/bin/sh
# Instructions per cached file read (callgrind, user space) and wall-clock ratios to std,
# per read path: benches/read_instructions.rs. Installs valgrind first if it is missing.
#
#   scripts/read_instructions.sh
#   READ_INSTR_MODES=std,ringcore_qd1 ROUNDS=21 scripts/read_instructions.sh
set -eu
if ! command -v valgrind >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update
    $sudo apt-get install -y valgrind
fi
cd "$(dirname "$0")/.."
exec cargo bench --bench read_instructions -- "$@"
