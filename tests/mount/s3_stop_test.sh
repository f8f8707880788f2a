#!/usr/bin/env bash
# Outages, as the user sees them (test S3 server):
#  1. a mount whose endpoint cannot be reached says so in its first line,
#     long before it gives up;
#  2. a stop (SIGTERM) while the server is down gives up within one
#     --max-retry-time however many blocks are waiting, exits 1, says how
#     many blocks were not stored, and keeps them in the cache file: the
#     next mount with it stores them;
#  3. with --hard, an fsync during an outage longer than --max-retry-time
#     waits for the server instead of failing, and the stats show the stall.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

mnt=$WORK/mnt
mkdir -p "$mnt"

# wait_for FILE PATTERN PID: until FILE has a line matching PATTERN, while
# PID lives (fails if it exits first, or after 120 s).
wait_for() {
  local deadline=$((SECONDS + 120))
  until grep -qE -- "$2" "$1"; do
    kill -0 "$3" 2>/dev/null || fail "process $3 exited before '$2' appeared in $1: $(cat "$1")"
    ((SECONDS < deadline)) || fail "'$2' did not appear in $1: $(cat "$1")"
    sleep 0.05
  done
}

# 1. Unreachable at mount: the warning comes while the mount still retries.
export AWS_ACCESS_KEY_ID=TESTKEY AWS_SECRET_ACCESS_KEY=TESTSECRET AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
"$S3BD" mount s3://bucket/u "$mnt" --endpoint http://127.0.0.1:1 --size 16M --max-retry-time 60 \
  2>"$WORK/unreachable.err" &
pid=$!
wait_for "$WORK/unreachable.err" \
  "^s3bd: warning: requests to http://127.0.0.1:1 are failing: endpoint unreachable: .*; retrying each request for up to 60 s" "$pid"
kill -0 "$pid" || fail "the mount gave up before warning"
kill "$pid"
wait "$pid" || true
findmnt -rn "$mnt" >/dev/null && fail "the unreachable mount left a mount behind"
echo "ok: unreachable endpoint announced at once: $(head -1 "$WORK/unreachable.err")"

# 2. A stop during an outage. 4 upload threads, 48 dirty blocks: before
# stops gave up as a whole, each wave of 4 uploads spent its own
# --max-retry-time (12 waves).
start_test_s3server
BUDGET=8
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time "$BUDGET" --threads 4 --cache-size 64M
      --cache-file "$WORK/cache")
head -c 48M /dev/urandom >"$WORK/data"
start_fg s3://bucket/stop "$mnt" --size 256M "${opts[@]}"
s3ctl "outage?seconds=600&mode=reset"
dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc status=none
wait_for "$WORK/daemon.log" "requests to $S3_ENDPOINT are failing" "$DAEMON_PID"
grep -qE 'retries [0-9]+ .*unreachable=[1-9]' "$mnt/stats" || fail "retries not counted by class: $(grep retries "$mnt/stats")"
grep -qE '^  outage +failing for' "$mnt/stats" || fail "stats do not show the outage: $(cat "$mnt/stats")"
t0=$SECONDS
kill -TERM "$DAEMON_PID"
set +e
wait "$DAEMON_PID"
status=$?
set -e
took=$((SECONDS - t0))
echo "stop during the outage took $took s (budget $BUDGET s), exit status $status"
((status == 1)) || fail "a stop that could not store everything exited with $status"
((took <= 2 * BUDGET + 5)) || fail "the stop took $took s, more than one retry budget ($BUDGET s)"
grep -qE "cache closed with [1-9][0-9]* blocks not stored; they stay in the cache file $WORK/cache" "$WORK/daemon.log" ||
  fail "no count of the blocks not stored: $(tail -5 "$WORK/daemon.log")"
grep -q "s3bd is stopping" "$WORK/daemon.log" || fail "the give-up is not explained: $(tail -5 "$WORK/daemon.log")"
fusermount3 -uz "$mnt" 2>/dev/null || true
# The server is back: the next mount with the cache file stores them.
s3ctl "outage?seconds=0"
start_fg s3://bucket/stop "$mnt" "${opts[@]}"
"$S3BD" sync "$mnt" -q
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "remount with the cache file exited $DAEMON_STATUS"
start_fg s3://bucket/stop "$mnt" --endpoint "$S3_ENDPOINT" --path-style
cmp -n $((48 << 20)) "$mnt/file" "$WORK/data" || fail "data not recovered from the cache file"
stop_fg "$mnt"
echo "ok: stop during the outage gave up in $took s and lost nothing"

# 3. --hard: an fsync waits through an outage three times --max-retry-time.
: >"$WORK/daemon.log"
start_fg s3://bucket/hard "$mnt" --size 64M --endpoint "$S3_ENDPOINT" --path-style --max-retry-time 2 --hard
head -c 8M /dev/urandom >"$WORK/data8"
s3ctl "outage?seconds=6"
t0=$SECONDS
dd if="$WORK/data8" of="$mnt/file" bs=1M conv=notrunc,fsync status=none || fail "fsync failed during an outage with --hard"
waited=$((SECONDS - t0))
grep -q "I/O waits until the server answers (--hard)" "$WORK/daemon.log" ||
  fail "no outage line for --hard: $(cat "$WORK/daemon.log")"
grep -q "requests to $S3_ENDPOINT succeed again after" "$WORK/daemon.log" ||
  fail "no recovery line: $(cat "$WORK/daemon.log")"
grep -qE 'retries [0-9]+ .*server-error=[1-9]' "$mnt/stats" || fail "503 retries not counted as server errors: $(grep retries "$mnt/stats")"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "--hard mount exited $DAEMON_STATUS"
echo "ok: --hard fsync waited $waited s through the outage and succeeded"
echo "PASS s3_stop"
