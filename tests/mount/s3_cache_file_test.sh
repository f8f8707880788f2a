#!/usr/bin/env bash
# The cache file on S3 (our test server): a restart revalidates the cached
# blocks with conditional GETs (304: no data moves), a block changed in the
# bucket meanwhile is fetched again, and after a SIGKILL under
# --durable-cache the next mount uploads what fsync had put in the file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

start_test_s3server
mnt=$WORK/mnt cache=$WORK/cache
mkdir -p "$mnt"
s3=(--endpoint "$S3_ENDPOINT" --path-style --block-size 64K)
received() { grep -oE 'bytes sent [0-9]+ received [0-9]+' "$mnt/stats" | grep -oE '[0-9]+$'; }

head -c 4M /dev/urandom >"$WORK/data"
start_fg s3://bucket/vol "$mnt" --size 16M "${s3[@]}" --cache-size 8M --cache-file "$cache"
dd if="$WORK/data" of="$mnt/file" bs=64K conv=notrunc,fsync status=none
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "exit status $DAEMON_STATUS"
[[ $(stat -c %a "$cache") == 600 ]] || fail "cache file mode $(stat -c %a "$cache")"

# Change one block in the bucket behind the cache file's back.
head -c 64K /dev/urandom >"$WORK/other"
start_fg s3://bucket/vol "$mnt" "${s3[@]}" --cache-size 0
dd if="$WORK/other" of="$mnt/file" bs=64K seek=5 conv=notrunc,fsync status=none
stop_fg "$mnt"
dd if="$WORK/other" of="$WORK/data" bs=64K seek=5 conv=notrunc status=none

start_fg s3://bucket/vol "$mnt" "${s3[@]}" --cache-size 8M --cache-file "$cache"
cmp -n 4194304 "$WORK/data" "$mnt/file" || fail "data read after the restart differs"
grep -q "revalidated       63 unchanged, 1 changed" "$mnt/stats" || fail "revalidation: $(grep revalidated "$mnt/stats")"
got=$(received)
((got <= 2 * 65536)) || fail "the restart fetched $got bytes: unchanged blocks should move no data"
echo "restart: 63 blocks revalidated by 304, 1 fetched again ($got bytes received)"

# A SIGKILL after fsync with --durable-cache: the data is in the file only.
stop_fg "$mnt"
start_fg s3://bucket/vol "$mnt" "${s3[@]}" --cache-size 8M --cache-file "$cache" --durable-cache --write-delay 60000
head -c 1M /dev/urandom >"$WORK/late"
dd if="$WORK/late" of="$mnt/file" bs=64K seek=100 conv=notrunc,fsync status=none
grep -qE 'dirty blocks +16 ' "$mnt/stats" || fail "expected 16 dirty blocks: $(grep dirty "$mnt/stats")"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
fusermount3 -uz "$mnt"
start_fg s3://bucket/vol "$mnt" "${s3[@]}" --cache-size 8M --cache-file "$cache"
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
stop_fg "$mnt"
grep -q "16 unsaved blocks to upload" "$WORK/daemon.log" || fail "the restart did not recover the 16 blocks"
# The bucket alone holds it.
start_fg s3://bucket/vol "$mnt" "${s3[@]}" --cache-size 0
cmp -n 1048576 "$WORK/late" <(dd if="$mnt/file" bs=64K skip=100 count=16 status=none) ||
  fail "the blocks fsync'd before the SIGKILL are not in the bucket"
stop_fg "$mnt"
echo "PASS s3 cache file"
