# PID 1 of the guest after switch_root (run by /run/vm/busybox sh): runs the
# command that run.sh left in /run/vm/io, writes its status beside its
# output, and powers off. Whatever the command left running is killed.
bb=/run/vm/busybox
io=/run/vm/io
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
cd /
# Debian's layout that tmpfiles would make: lock files (pppd, serial tools).
$bb mkdir -p -m 1777 /run/lock
: >$io/booted
read -r timeout <$io/timeout

# A clean environment, and its own session and process group, so that the
# timeout reaches all of it.
$bb env -i PATH=$path HOME=/root $bb setsid /bin/bash $io/cmd </dev/null >$io/stdout 2>$io/stderr &
cmd=$!
(
  $bb sleep "$timeout"
  : >/run/vm/timed-out
  kill -KILL -- -"$cmd"
) &
dog=$!
# ash waits with waitpid(-1): orphans that exit meanwhile are reaped too.
wait "$cmd"
status=$?
if [ -e /run/vm/timed-out ]; then
  echo "vm: timed out after ${timeout}s" >>$io/stderr
  status=124
fi
kill "$dog" 2>/dev/null

kill -KILL -1
echo "$status" >$io/status.new
$bb mv $io/status.new $io/status
$bb sync
$bb poweroff -f
$bb reboot -f
