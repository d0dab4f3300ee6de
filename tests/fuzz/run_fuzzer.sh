#!/usr/bin/env bash
# run_fuzzer.sh BINARY CORPUS SECONDS: fuzz for SECONDS on a scratch copy of CORPUS; print the
# executions done. A crash fails the test and leaves the reproducer in the scratch directory.
set -euo pipefail
bin=$1 corpus=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work/corpus"' EXIT
mkdir -p "$work/corpus"
cp -r "$corpus"/. "$work/corpus/" 2>/dev/null || true
"$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$work/" -max_len=65536 \
       -rss_limit_mb=2048 "$work/corpus" 2>&1 | tail -n 25
