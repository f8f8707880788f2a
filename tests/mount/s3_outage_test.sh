#!/usr/bin/env bash
# A 60-second outage of the S3 server (S3BD_OUTAGE_SECONDS changes it) during writes: writes keep being
# accepted into the cache, nothing is lost, and everything is uploaded once
# the server is back; an fsync during the outage waits or fails with EIO
# (never reports success while the data is not stored).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

OUTAGE=${S3BD_OUTAGE_SECONDS:-60}
start_test_s3server --latency-ms 2
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 5 --cache-size 128M --write-delay 0)
mnt=$WORK/mnt
mkdir -p "$mnt"
head -c 48M /dev/urandom >"$WORK/data"

start_fg s3://bucket/outage "$mnt" --size 256M "${opts[@]}"
s3ctl "outage?seconds=$OUTAGE"
t0=$SECONDS
# Accepted into the cache while the server is down (48 MiB < --max-dirty, by
# default the whole 128 MiB cache).
dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc status=none
((SECONDS - t0 < OUTAGE)) || fail "writes were not accepted during the outage"
dirty=$(grep -oE 'dirty blocks +[0-9]+' "$mnt/stats" | grep -oE '[0-9]+$')
echo "dirty blocks during the outage: $dirty"
((dirty > 0)) || fail "nothing dirty during the outage"
# fsync during the outage: it must not succeed while the data is not stored.
set +e
"$S3BD" sync "$mnt" -q 2>"$WORK/sync.err"
sync_status=$?
set -e
if ((sync_status == 0)); then
  ((SECONDS - t0 >= OUTAGE)) || fail "sync succeeded during the outage"
else
  grep -q "Input/output error" "$WORK/sync.err" || fail "sync failed oddly: $(cat "$WORK/sync.err")"
  echo "sync during the outage failed with EIO, as the contract allows"
fi
# After the outage everything is uploaded: a sync now succeeds.
deadline=$((SECONDS + OUTAGE + 120))
until "$S3BD" sync "$mnt" -q 2>/dev/null; do
  ((SECONDS < deadline)) || fail "data still not uploaded long after the outage"
done
grep -qE 'retries [0-9]+ .*server-error=[1-9]' "$mnt/stats" || fail "retries not counted by class: $(grep retries "$mnt/stats")"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
# The outage was announced when it began and when it ended, once each
# (a 60 s outage: at most one repeat line).
grep -qE "^s3bd: warning: requests to $S3_ENDPOINT are failing: S3 server error" "$WORK/daemon.log" ||
  fail "the outage was not announced: $(head -5 "$WORK/daemon.log")"
grep -qE "^s3bd: warning: requests to $S3_ENDPOINT succeed again after [0-9.]+ s" "$WORK/daemon.log" ||
  fail "the end of the outage was not announced"
(($(grep -c "requests to $S3_ENDPOINT" "$WORK/daemon.log") <= 4)) || fail "outage lines not rate-limited"
# A fresh mount (empty cache) reads back exactly what was written.
start_fg s3://bucket/outage "$mnt" "${opts[@]}"
cmp -n $((48 << 20)) "$mnt/file" "$WORK/data" || fail "data lost across the outage"
stop_fg "$mnt"
echo "PASS s3_outage"
