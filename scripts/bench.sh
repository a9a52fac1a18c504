#!/bin/bash
# Runs every benchmark (tests/bench) on a release build and prints its table;
# each figure comes with the reference it is compared with, measured in the
# same run. JSON results go to bench-results/ (one file per benchmark).
#   scripts/bench.sh [SECONDS_PER_MEASUREMENT]      (SCALE_PAIRS=N: pppd pairs, 200)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1}

# -O3 makes GCC 12 warn falsely on std::string (-Wrestrict, GCC bug 105329):
# warnings stay warnings in this build only.
scripts/setup.sh build-release -Dbuildtype=release -Dwerror=false >/dev/null
out=bench-results
mkdir -p "$out"
export CUSENETD=$PWD/build-release/tools/cusenetd CUSENETCTL=$PWD/build-release/tools/cusenetctl

echo "=== framing (tests/bench/framing_bench.cc)"
build-release/tests/bench/framing_bench "$(python3 -c "print(max(0.05, $seconds / 3))")" --json "$out/framing.json"
echo
echo "=== /dev/net/tun round trips (tests/bench/tun_bench.cc)"
build-release/tests/bench/tun_bench --seconds "$seconds" --json "$out/tun.json"
echo
echo "=== /dev/ppp frame rate, unit <-> channel over --ppp-wire (tests/bench/ppp_bench.cc)"
build-release/tests/bench/ppp_bench --seconds "$seconds" --json "$out/ppp.json"
echo
echo "=== scale: memory per unit, port and channel; 200 pppd pairs (tests/bench/scale.sh)"
tests/bench/scale.sh "${SCALE_PAIRS:-200}" --json "$out/scale.json" || [ $? = 77 ]
echo
echo "=== memory after teardown: 3 rounds of 2000 tun interfaces (tests/bench/teardown.sh)"
tests/bench/teardown.sh 2000 3 --json "$out/teardown.json" || [ $? = 77 ]
echo
echo "=== end to end: iperf3 and ping through vtund and pppd (tests/bench/e2e_bench.sh)"
tests/bench/e2e_bench.sh --seconds "$seconds" --json "$out/e2e.json" || [ $? = 77 ]
echo
echo "results: $out/*.json"
