#!/usr/bin/env bash
# Stale reads (an eventually consistent store): for 300 ms after each PUT or
# DELETE the test server returns the previous version. Without the
# consistency guard such reads come back stale (the control, proving the
# fault works); with --md5-cache-size not one stale byte is returned.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

start_test_s3server --stale-ms 300 --fault get.stale=1 --fault head.stale=1
mnt=$WORK/mnt
mkdir -p "$mnt"
# No cache, so every read goes to the store right after the write.
opts=(--endpoint "$S3_ENDPOINT" --path-style --cache-size 0 --block-size 64K)

# write_then_read PREFIX: rewrites 20 blocks and reads each straight back;
# prints how many came back different from what was written.
write_then_read() {
  local bad=0 i
  for i in $(seq 0 19); do
    head -c 65536 /dev/urandom >"$WORK/v$i"
    dd if="$WORK/v$i" of="$mnt/file" bs=64K seek="$i" conv=notrunc,fsync status=none
    dd if="$mnt/file" of="$WORK/r$i" bs=64K skip="$i" count=1 iflag=direct status=none
    cmp -s "$WORK/v$i" "$WORK/r$i" || bad=$((bad + 1))
  done
  echo "$bad"
}

start_fg s3://bucket/control "$mnt" --size 4M "${opts[@]}"
for i in $(seq 0 19); do  # first versions, so that later reads have an older one
  head -c 65536 /dev/urandom | dd of="$mnt/file" bs=64K seek="$i" conv=notrunc status=none
done
unguarded=$(write_then_read)
stop_fg "$mnt"
echo "without the guard: $unguarded of 20 reads were stale"
((unguarded > 0)) || fail "the stale-read fault returned no stale data: the test proves nothing"

s3ctl reset
start_fg s3://bucket/guarded "$mnt" --size 4M "${opts[@]}" --md5-cache-size 1000 --md5-cache-time 5000
for i in $(seq 0 19); do
  head -c 65536 /dev/urandom | dd of="$mnt/file" bs=64K seek="$i" conv=notrunc status=none
done
guarded=$(write_then_read)
retried=$(grep -oE 'stale reads +[0-9]+' "$mnt/stats" | grep -oE '[0-9]+$')
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
echo "with the guard: $guarded of 20 reads were stale; $retried stale reads were retried"
((guarded == 0)) || fail "the guard returned stale data"
((retried > 0)) || fail "the guard saw no stale read: the test proves nothing"
echo "PASS s3_stale"
