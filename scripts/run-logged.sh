#!/usr/bin/env bash
# Runs CMD ARGS..., keeping its output in target/logs/NAME.log, and when it fails
# repeats the lines that say why at the very end, so that a CI log cut to its
# last lines still shows the failure (and not only a runner's backtrace).
#
#   scripts/run-logged.sh NAME CMD ARGS...      exit status: CMD's
set -uo pipefail

name="$1"
shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target/logs"
log="$root/target/logs/$name.log"

"$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if ((status != 0)); then
  echo
  echo "=== $name failed (exit $status); full log: $log; why: ==="
  grep -E -A3 "panicked at|^test .* FAILED|^failures:|timed out|Failed to detect|failed to|error(\[|:)|console output:" "$log" |
    grep -v -E "^\s+[0-9]+: |^\s+at " | tail -n 60
fi
exit "$status"
