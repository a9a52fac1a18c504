#!/bin/bash
# Smoke test of the VM tier: the runner's contract (status, stdout and
# stderr, timeout) and, inside the VM, smoke-guest.sh. Exit 0 = passed,
# 77 = the VM cannot be prepared here, anything else = failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

rc=0
"$here/prepare.sh" >/dev/null || rc=$?
case $rc in
  0) ;;
  77) echo "SKIP: the VM cannot be prepared here"; exit 77 ;;
  *) fail "prepare.sh exited $rc" ;;
esac

out=$(mktemp -d /tmp/cusenet-vm-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

rc=0
"$here/run.sh" -- sh -c 'echo to-stdout; echo to-stderr >&2; exit 3' >"$out/1" 2>"$out/2" || rc=$?
[ $rc -eq 3 ] || fail "exit status 3 came back as $rc: $(cat "$out/2")"
[ "$(cat "$out/1")" = to-stdout ] || fail "stdout came back as '$(cat "$out/1")'"
grep -qx to-stderr "$out/2" || fail "stderr came back as '$(cat "$out/2")'"
grep -q '^vm: boot [0-9.]*s, total [0-9.]*s$' "$out/2" || fail "no timing line on stderr"
ok "exit status, stdout and stderr come back ($(grep '^vm: boot' "$out/2"))"

rc=0
"$here/run.sh" --timeout 2 -- sleep 60 >"$out/1" 2>"$out/2" || rc=$?
[ $rc -eq 124 ] || fail "a command past its timeout gave $rc, not 124: $(cat "$out/2")"
ok "timeout gives 124"

rc=0
"$here/run.sh" --timeout 300 -- "$here/smoke-guest.sh" "$PWD" >"$out/1" 2>"$out/2" || rc=$?
cat "$out/1"
[ $rc -eq 0 ] || fail "inside the VM (exit $rc): $(cat "$out/2")"
guest=$(sed -n 's/^kernel=//p' "$out/1")
[ -n "$guest" ] && [ "$guest" != "$(uname -r)" ] || fail "the VM runs kernel '$guest', the host $(uname -r)"
ok "the VM runs its own kernel $guest ($(grep '^vm: boot' "$out/2"))"
echo "smoke: all passed"
