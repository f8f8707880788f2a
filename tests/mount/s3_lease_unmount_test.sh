#!/usr/bin/env bash
# fusermount3 -u returns while the daemon still uploads (test S3 server at
# 300 ms per request, 32 dirty blocks): a mount right after it waits for
# that upload (one line saying so) and never reads stale data.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT
start_test_s3server
mnt=$WORK/mnt
mkdir -p "$mnt"
opts=(--endpoint "$S3_ENDPOINT" --path-style --block-size 64K --cache-size 8M)
mount_bg s3://bucket/vol "$mnt" --size 16M "${opts[@]}"
head -c 2M /dev/urandom >"$WORK/old"
dd if="$WORK/old" of="$mnt/file" bs=64K conv=notrunc,fsync status=none
s3ctl config "latency_ms=300"
head -c 2M /dev/urandom >"$WORK/new"
# --write-delay keeps the 32 blocks dirty until the unmount.
unmount_bg s3://bucket/vol "$mnt"
mount_bg s3://bucket/vol "$mnt" "${opts[@]}" --write-delay 600000 --threads 2
dd if="$WORK/new" of="$mnt/file" bs=64K conv=notrunc status=none
grep -qE 'dirty blocks +32 ' "$mnt/stats" || fail "expected 32 dirty blocks: $(grep dirty "$mnt/stats")"
: >"$WORK/daemon.log"
fusermount3 -u "$mnt"
mount_bg s3://bucket/vol "$mnt" "${opts[@]}"
grep -q "waiting for $(hostname) (pid [0-9]*) to finish uploading at its unmount of $mnt" "$WORK/daemon.log" ||
  fail "the new mount did not wait for the unmount: $(cat "$WORK/daemon.log")"
cmp "$WORK/new" <(head -c 2M "$mnt/file") || fail "the mount right after the unmount read stale data"
unmount_bg s3://bucket/vol "$mnt"
echo "PASS s3_lease_unmount: $(grep -c . "$WORK/daemon.log") lines: $(head -1 "$WORK/daemon.log")"
