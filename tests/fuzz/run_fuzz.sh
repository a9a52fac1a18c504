#!/bin/bash
# run_fuzz.sh TARGET SEED_DIR SECONDS: one libFuzzer run over a copy of the
# seeds (new inputs land in the copy, never in the tree); a finding leaves
# its reproducer in the current directory and fails the test.
set -euo pipefail
target=$1 seeds=$2 seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$seeds"/. "$work"/
"$target" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$PWD/$(basename "$target")-" "$work"
