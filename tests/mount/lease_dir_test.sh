#!/usr/bin/env bash
# The lease on a directory store: the flock excludes a second writer, and
# the lease file says who holds it, in the same message as on S3; a clean
# unmount removes it; `s3bd unlock` cannot open a mounted store.
source "$(dirname "$0")/lib.sh"
require_fuse
store=$WORK/store m1=$WORK/m1 m2=$WORK/m2
mkdir -p "$store" "$m1" "$m2"
host=$(hostname)
start_fg "$store" "$m1" --size 16M
grep -q "^pid $DAEMON_PID$" "$store/s3bd-lease" || fail "no lease file: $(cat "$store/s3bd-lease" 2>&1)"
set +e
"$S3BD" mount "$store" "$m2" -f 2>"$WORK/refused.err"
status=$?
set -e
((status == 1)) || fail "second read-write mount exited $status"
grep -qE "^s3bd: error: $store is mounted read-write by $host \(pid $DAEMON_PID\) since .* UTC; mount it --read-only, or unmount it there$" \
  "$WORK/refused.err" || fail "unexpected refusal: $(cat "$WORK/refused.err")"
set +e
"$S3BD" unlock "$store" 2>"$WORK/unlock.err"
status=$?
set -e
((status == 1)) || fail "unlock of a mounted directory store exited $status"
grep -q "is mounted read-write by $host" "$WORK/unlock.err" || fail "unexpected: $(cat "$WORK/unlock.err")"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
[[ ! -e $store/s3bd-lease ]] || fail "a clean unmount left the lease file"
start_fg "$store" "$m1"
stop_fg "$m1"
echo "PASS lease_dir"
