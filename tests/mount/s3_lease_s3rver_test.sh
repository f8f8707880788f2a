#!/usr/bin/env bash
# The lease on s3rver, whatever it supports of conditional writes (the mount
# warns if exclusion is only best-effort there): a second read-write mount
# is refused, a read-only one is allowed, a clean unmount leaves no lease
# and the next mount succeeds; `s3bd unlock` on a store without a lease
# or without a volume.
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

m1=$WORK/m1 m2=$WORK/m2
mkdir -p "$m1" "$m2"
start_s3rver bucket
opts=(--endpoint "$S3_ENDPOINT" --max-retry-time 5)
host=$(hostname)

start_fg s3://bucket/vol "$m1" --size 16M "${opts[@]}"
if grep -q "ignores conditional writes" "$WORK/daemon.log"; then
  echo "s3rver ignores conditional writes: best-effort exclusion"
else
  echo "s3rver honours conditional writes"
fi
set +e
"$S3BD" mount s3://bucket/vol "$m2" -f "${opts[@]}" 2>"$WORK/refused.err"
status=$?
set -e
((status == 1)) || fail "second read-write mount exited $status: $(cat "$WORK/refused.err")"
grep -qE "^s3bd: error: s3://bucket/vol is mounted read-write by $host \(pid $DAEMON_PID\) since .*; mount it --read-only, or unmount it there$" \
  "$WORK/refused.err" || fail "unexpected refusal: $(cat "$WORK/refused.err")"
findmnt -rn "$m2" >/dev/null && fail "the refused mount is mounted"
echo "ok: $(cat "$WORK/refused.err")"
mount_bg s3://bucket/vol "$m2" --read-only "${opts[@]}"
grep -q "this read-only mount serves what it reads" "$WORK/daemon.log" || fail "no line about the writer: $(cat "$WORK/daemon.log")"
unmount_bg s3://bucket/vol "$m2"
set +e
"$S3BD" unlock s3://bucket/vol "${opts[@]}" 2>"$WORK/unlock.err"
status=$?
set -e
((status == 1)) || fail "unlock of a live lease exited $status"
grep -q "still being renewed" "$WORK/unlock.err" || fail "unexpected: $(cat "$WORK/unlock.err")"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
[[ -z $(s3_keys bucket vol/s3bd-lease) ]] || fail "a clean unmount left the lease"
[[ -z $(s3_keys bucket vol/s3bd-probe) ]] || fail "the probe object was left"
start_fg s3://bucket/vol "$m1" "${opts[@]}"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "the next mount exited $DAEMON_STATUS"
echo "ok: clean unmount left no lease; the next mount succeeded"

# unlock: no lease; not a volume; a missing bucket.
"$S3BD" unlock s3://bucket/vol "${opts[@]}" >"$WORK/unlock.out" || fail "unlock without a lease failed"
grep -q "^s3://bucket/vol has no lease: not mounted read-write$" "$WORK/unlock.out" || fail "unexpected: $(cat "$WORK/unlock.out")"
expect_unlock_error() {
  local want=$1
  shift
  set +e
  "$S3BD" unlock "$@" >/dev/null 2>"$WORK/unlock.err"
  local status=$?
  set -e
  ((status == 1)) || fail "unlock $* exited $status"
  [[ $(wc -l <"$WORK/unlock.err") == 1 ]] || fail "not one line: $(cat "$WORK/unlock.err")"
  grep -qE -- "$want" "$WORK/unlock.err" || fail "unexpected: $(cat "$WORK/unlock.err")"
}
expect_unlock_error "^s3bd: error: s3://bucket/empty holds no s3bd volume" s3://bucket/empty "${opts[@]}"
expect_unlock_error "^s3bd: error: .*bucket nobucket does not exist" s3://nobucket/vol "${opts[@]}"
AWS_ACCESS_KEY_ID=WRONGKEY expect_unlock_error "^s3bd: error: .*access denied to s3://bucket/vol: check the credentials" \
  s3://bucket/vol "${opts[@]}"
set +e
"$S3BD" unlock s3://Bad_Bucket 2>"$WORK/unlock.err"
status=$?
set -e
((status == 2)) || fail "a malformed STORE is a usage error (exit $status)"
echo "PASS s3_lease_s3rver"
