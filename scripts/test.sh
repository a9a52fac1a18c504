#!/bin/bash
# Runs every test: unit tests, system tests against the kernel and the
# emulator, and end-to-end tests with unmodified vtund and pppd. The same
# suite runs a second time on an ASan+UBSan build, where a leak or undefined
# behaviour in the daemon fails the test that caused it. Then each libFuzzer
# target of tests/fuzz runs 15 s over its seeds (clang build, suite fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh build
scripts/setup.sh build-asan -Dsanitize=address -Dbuildtype=debug
CC=clang CXX=clang++ scripts/setup.sh build-fuzz -Dfuzz=true -Dbuildtype=debugoptimized

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

status=0
for build in build build-asan; do
  echo "=== meson test in $build"
  meson test -C "$build" --print-errorlogs --num-processes 2 || status=1
done
echo "=== meson test in build-fuzz"
meson test -C build-fuzz --suite fuzz --print-errorlogs --num-processes 2 || status=1

# One closing line over the three runs, in the plain form CI reads.
python3 - build/meson-logs/testlog.json build-asan/meson-logs/testlog.json \
  build-fuzz/meson-logs/testlog.json <<'PY'
import json, re, sys
# gtest's closing counts: "[  PASSED  ] 34 tests.", "[  SKIPPED ] 2 tests, listed below:".
TALLY = re.compile(r"\[  (PASSED|SKIPPED|FAILED) *\] \d+ tests?")
counts = {"OK": 0, "FAIL": 0, "SKIP": 0, "TIMEOUT": 0, "ERROR": 0, "EXPECTEDFAIL": 0, "UNEXPECTEDPASS": 0}
for path in sys.argv[1:]:
    for line in open(path):
        r = json.loads(line)
        counts[r["result"]] = counts.get(r["result"], 0) + 1
        if " / vm_" in r["name"]:
            # The VM tier's times and each test's own tally, for the CI log.
            out = ((r.get("stdout") or "") + "\n" + (r.get("stderr") or "")).splitlines()
            boot = [l for l in out if l.startswith("vm: boot")]
            tally = [m.group(0) for m in map(TALLY.match, out) if m]
            print(f"{path.split('/')[0]}: {r['name']}: {r['result']} in {r['duration']:.0f} s; "
                  + (boot[-1] if boot else "no VM times") + "".join("; " + t for t in tally))
        if r["result"] == "SKIP":
            print(f"skipped: {r['name']} in {path.split('/')[0]}")
failed = counts["FAIL"] + counts["TIMEOUT"] + counts["ERROR"] + counts["UNEXPECTEDPASS"]
print(f"tests: {counts['OK'] + counts['EXPECTEDFAIL']} passed, {failed} failed, {counts['SKIP']} skipped")
PY
exit $status
