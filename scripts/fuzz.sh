#!/bin/bash
# Long fuzzing runs: scripts/fuzz.sh [TARGET] [SECONDS] (default: every
# target of tests/fuzz, 600 s each). The working corpus grows in
# .cache/fuzz/<target>/ (seeded from tests/fuzz/corpus/, kept between runs);
# reproducers of findings land in .cache/fuzz/findings/. Prints each
# target's executions and findings; exits 1 when anything was found.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${1:-all}
seconds=${2:-600}
CC=clang CXX=clang++ scripts/setup.sh build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized >/dev/null

if [ "$target" = all ]; then
  targets=$(ls tests/fuzz/corpus)
else
  targets=$target
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p .cache/fuzz/findings
status=0
for t in $targets; do
  exe=build-fuzz/tests/fuzz/${t}_fuzz
  [ -x "$exe" ] || { echo "fuzz: no target $t" >&2; exit 2; }
  corpus=.cache/fuzz/$t
  mkdir -p "$corpus"
  log=.cache/fuzz/$t.log
  before=$(ls .cache/fuzz/findings | wc -l)
  # New inputs go to the first directory; the seeds are only read.
  "$exe" "$corpus" tests/fuzz/corpus/"$t" -max_total_time="$seconds" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -artifact_prefix=.cache/fuzz/findings/"$t"- >"$log" 2>&1 || true
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  found=$(( $(ls .cache/fuzz/findings | wc -l) - before ))
  echo "$t: ${execs:-?} executions in ${seconds} s, $found findings (log: $log)"
  [ "$found" = 0 ] || status=1
done
exit $status
