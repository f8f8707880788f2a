#!/usr/bin/env bash
# The lease of a read-write mount (test S3 server, which honours
# If-None-Match and If-Match, and with conditions=ignore does not):
#  1. a second read-write mount of a mounted volume is refused with the
#     holder's host and pid, and nothing is written;
#  2. a read-only mount alongside is allowed and says a writer holds it;
#  3. after a clean unmount no lease is held and a new mount succeeds at
#     once (with a cache file the lease stays as a `released` record, which
#     vouches for the block map saved in it; without, none is left);
#  4. after SIGKILL a mount without the cache file is refused, naming it; a
#     mount with it recovers what fsync covered and takes the lease over;
#  5. a lease stolen while mounted fences the mount: writes and fsync fail
#     with EIO; after `s3bd unlock`, a mount with its cache file stores
#     everything it held;
#  6. a server that ignores conditions: a warning, and still a refusal;
#  7. a final flush that fails leaves the lease `unclean` with the reason,
#     which the next mount reports; with the cache file it recovers;
#  8. a server that, like Ceph RGW 16, matches only the bare ETag in
#     If-Match (conditions=rgw): the lease is renewed and released.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT
start_test_s3server
# Lease times for the test: expires after 4 s, renewed every second.
export S3BD_TEST_LEASE=4,1
host=$(hostname)
m1=$WORK/m1 m2=$WORK/m2
mkdir -p "$m1" "$m2"
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 5)
lease_url=$S3_ENDPOINT/bucket/vol/s3bd-lease

# wait_for FILE PATTERN: until FILE has a line matching PATTERN (60 s).
wait_for() {
  local deadline=$((SECONDS + 60))
  until grep -qE -- "$2" "$1"; do
    ((SECONDS < deadline)) || fail "'$2' did not appear in $1: $(cat "$1")"
    sleep 0.05
  done
}

# 1. and 2.
start_fg s3://bucket/vol "$m1" --size 64M --block-size 64K "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache"
pid1=$DAEMON_PID
grep -q "^s3bd-lease 1$" <(curl -sf "$lease_url") || fail "no lease object while mounted"
before=$(curl -sf "$lease_url")
refused "^s3bd: error: s3://bucket/vol is mounted read-write by $host \(pid $pid1\) since [0-9-]+ [0-9:]+ UTC; mount it --read-only, or unmount it there$" \
  s3://bucket/vol "$m2" "${opts[@]}"
[[ $(wc -l <"$WORK/refused.err") == 1 ]] || fail "more than one line: $(cat "$WORK/refused.err")"
[[ $(curl -sf "$lease_url") == "$before" ]] || fail "the refused mount changed the lease"
echo "ok: second read-write mount refused: $(cat "$WORK/refused.err")"
"$S3BD" mount s3://bucket/vol "$m2" -f --read-only "${opts[@]}" 2>"$WORK/ro.log" &
ro_pid=$!
deadline=$((SECONDS + 20))
until findmnt -rn "$m2" >/dev/null; do
  kill -0 "$ro_pid" 2>/dev/null || fail "read-only mount failed: $(cat "$WORK/ro.log")"
  ((SECONDS < deadline)) || fail "read-only mount did not appear"
  sleep 0.05
done
grep -qE "s3://bucket/vol is mounted read-write by $host \(pid $pid1\) since .*: this read-only mount serves what it reads" \
  "$WORK/ro.log" || fail "read-only mount did not say a writer holds the volume: $(cat "$WORK/ro.log")"
fusermount3 -u "$m2"
wait "$ro_pid" || fail "read-only mount exited $?"
echo "ok: read-only mount alongside allowed"

# 3. Clean unmount: no lease held, the next mount succeeds at once.
head -c 1M /dev/urandom >"$WORK/d1"
dd if="$WORK/d1" of="$m1/file" bs=64K conv=notrunc,fsync status=none
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
grep -q "^state released$" <(curl -sf "$lease_url") ||
  fail "a clean unmount with a cache file left: $(curl -s "$lease_url")"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M
cmp -n 1048576 "$WORK/d1" "$m1/file" || fail "data of the first mount not read back"
stop_fg "$m1"
code=$(curl -s -o /dev/null -w '%{http_code}' "$lease_url")
[[ $code == 404 ]] || fail "a clean unmount without a cache file left the lease (HTTP $code)"
echo "ok: clean unmounts left no lease held; the next mount succeeded"

# 4. SIGKILL with data only in the cache file.
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache" --durable-cache --write-delay 600000
head -c 1M /dev/urandom >"$WORK/d2"
dd if="$WORK/d2" of="$m1/file" bs=64K seek=32 conv=notrunc,fsync status=none
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
fusermount3 -uz "$m1"
refused "^s3bd: error: s3://bucket/vol was not unmounted cleanly by $host \(pid [0-9]+\).*cache file $WORK/cache on $host \(id [0-9a-f]{16}\).*s3bd unlock s3://bucket/vol" \
  s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M
refused "not unmounted cleanly" s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/other-cache"
echo "ok: after SIGKILL a mount without the cache file is refused: $(cat "$WORK/refused.err")"
: >"$WORK/daemon.log"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache"
grep -q "taking over the lease of $host" "$WORK/daemon.log" || fail "no takeover line: $(cat "$WORK/daemon.log")"
"$S3BD" sync "$m1" -q
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "the recovering mount exited $DAEMON_STATUS"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 0
cmp -n 1048576 "$WORK/d2" <(dd if="$m1/file" bs=64K skip=32 count=16 status=none) ||
  fail "the blocks fsync'd before the SIGKILL are not in the bucket"
stop_fg "$m1"
echo "ok: the mount with the cache file recovered and took the lease over"

# 5. A stolen lease fences the mount.
: >"$WORK/daemon.log"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache" --durable-cache --write-delay 600000
head -c 1M /dev/urandom >"$WORK/d3"
dd if="$WORK/d3" of="$m1/file" bs=64K seek=64 conv=notrunc,fsync status=none
now=$(date +%s)
printf 's3bd-lease 1\nhost thief\npid 1\nmount-id %s\nstarted %d\nexpires %d\nstate live\n' \
  ffffffffffffffffffffffffffffffff "$now" $((now + 3600)) >"$WORK/stolen"
curl -sf -X PUT --data-binary @"$WORK/stolen" "$lease_url" >/dev/null || fail "cannot overwrite the lease"
wait_for "$WORK/daemon.log" "s3://bucket/vol: FENCED: the lease is now held by thief \(pid 1\)"
[[ $(grep -c FENCED "$WORK/daemon.log") == 1 ]] || fail "the fence is not one line: $(grep FENCED "$WORK/daemon.log")"
set +e
dd if=/dev/urandom of="$m1/file" bs=64K seek=200 count=1 conv=notrunc,fsync status=none 2>"$WORK/dd.err"
status=$?
set -e
((status != 0)) || fail "a write and fsync of a fenced mount succeeded"
grep -q "Input/output error" "$WORK/dd.err" || fail "not EIO: $(cat "$WORK/dd.err")"
[[ $(curl -sf "$lease_url") == "$(cat "$WORK/stolen")" ]] || fail "the fenced mount touched the lease"
stop_fg "$m1"
((DAEMON_STATUS == 1)) || fail "a fenced mount's unmount exited $DAEMON_STATUS, expected 1"
echo "ok: a stolen lease fenced the mount (writes and fsync: EIO)"
set +e
"$S3BD" unlock s3://bucket/vol "${opts[@]}" >"$WORK/unlock.out" 2>"$WORK/unlock.err"
status=$?
set -e
((status == 1)) || fail "unlock of a live lease exited $status: $(cat "$WORK/unlock.err")"
grep -qE "^s3bd: error: the lease of s3://bucket/vol is held by thief \(pid 1\).*still being renewed.*--force" "$WORK/unlock.err" ||
  fail "unexpected unlock refusal: $(cat "$WORK/unlock.err")"
"$S3BD" unlock s3://bucket/vol "${opts[@]}" --force >"$WORK/unlock.out" || fail "unlock --force failed"
grep -q "^removed the lease of s3://bucket/vol: it was held by thief (pid 1)" "$WORK/unlock.out" ||
  fail "unlock did not say whose lease it was: $(cat "$WORK/unlock.out")"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache"
"$S3BD" sync "$m1" -q
stop_fg "$m1"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 0
cmp -n 1048576 "$WORK/d3" <(dd if="$m1/file" bs=64K skip=64 count=16 status=none) ||
  fail "the fenced mount's dirty blocks were lost"
stop_fg "$m1"
echo "ok: after unlock, the cache file's blocks were stored"

# 6. A server that ignores conditions.
s3ctl config "conditions=ignore"
: >"$WORK/daemon.log"
start_fg s3://bucket/vol "$m1" "${opts[@]}"
grep -q "ignores conditional writes.*best-effort" "$WORK/daemon.log" || fail "no best-effort warning: $(cat "$WORK/daemon.log")"
refused "is mounted read-write by $host \(pid $DAEMON_PID\)" s3://bucket/vol "$m2" "${opts[@]}"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
code=$(curl -s -o /dev/null -w '%{http_code}' "$lease_url")
[[ $code == 404 ]] || fail "the lease was left (HTTP $code)"
s3ctl config "conditions=honour"
echo "ok: without conditional writes, best-effort exclusion still refused the second mount"

# 7. The final flush fails (every block upload fails: S3BD_INJECT_FAULTS).
: >"$WORK/daemon.log"
S3BD_INJECT_FAULTS=write=1 start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache" \
  --durable-cache --write-delay 600000
head -c 256K /dev/urandom >"$WORK/d4"
dd if="$WORK/d4" of="$m1/file" bs=64K seek=96 conv=notrunc,fsync status=none
stop_fg "$m1"
((DAEMON_STATUS == 1)) || fail "a failed final flush exited $DAEMON_STATUS"
curl -sf "$lease_url" >"$WORK/unclean"
grep -q "^state unclean$" "$WORK/unclean" || fail "the lease is not unclean: $(cat "$WORK/unclean")"
grep -q "^reason the final flush failed: " "$WORK/unclean" || fail "no reason: $(cat "$WORK/unclean")"
refused "not unmounted cleanly by $host .*the final flush failed.*cache file $WORK/cache" s3://bucket/vol "$m1" "${opts[@]}"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 8M --cache-file "$WORK/cache"
"$S3BD" sync "$m1" -q
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "the recovering mount exited $DAEMON_STATUS"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 0
cmp -n 262144 "$WORK/d4" <(dd if="$m1/file" bs=64K skip=96 count=4 status=none) || fail "blocks of the failed flush lost"
stop_fg "$m1"
echo "ok: a failed final flush left the lease unclean with its reason; the cache file recovered it"

# 8. Ceph RGW's If-Match: renewals (the lease's expiry moves on) and release.
s3ctl config "conditions=rgw"
: >"$WORK/daemon.log"
start_fg s3://bucket/vol "$m1" "${opts[@]}"
first=$(curl -sf "$lease_url" | grep '^expires ')
deadline=$((SECONDS + 30))
until [[ $(curl -sf "$lease_url" | grep '^expires ') != "$first" ]]; do
  ((SECONDS < deadline)) || fail "the lease was not renewed on an RGW-like server: $(tail -3 "$WORK/daemon.log")"
  sleep 0.1
done
grep -q FENCED "$WORK/daemon.log" && fail "fenced on an RGW-like server: $(grep FENCED "$WORK/daemon.log")"
refused "is mounted read-write by $host" s3://bucket/vol "$m2" "${opts[@]}"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
code=$(curl -s -o /dev/null -w '%{http_code}' "$lease_url")
[[ $code == 404 ]] || fail "the lease was not released on an RGW-like server (HTTP $code)"
s3ctl config "conditions=honour"
echo "ok: with RGW's If-Match (bare ETag only) the lease was renewed and released"
echo "PASS s3_lease"
