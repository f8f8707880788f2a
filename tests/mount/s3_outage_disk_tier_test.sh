#!/usr/bin/env bash
# The disk tier through a 60-second outage of the S3 server
# (S3BD_OUTAGE_SECONDS changes it): --cache-size 16M with a 128M
# --cache-file and --durable-cache. While the server is down, 96 MiB (six
# times the memory) are written and fsync'd: the writes land in the file and
# the fsync succeeds; every block reads back, from memory or the file, with
# no request answered; memory never holds more than --cache-size (with
# --threads 8: each running upload holds a block in memory). Once the
# server is back everything is uploaded, and a fresh mount without the cache
# file reads exactly what was written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

OUTAGE=${S3BD_OUTAGE_SECONDS:-60}
start_test_s3server --latency-ms 2
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 5 --write-delay 0)
mnt=$WORK/mnt
mkdir -p "$mnt"
head -c 96M /dev/urandom >"$WORK/data"

start_fg s3://bucket/tier "$mnt" --size 256M "${opts[@]}" --cache-size 16M --cache-file "$WORK/cache" \
  --cache-file-size 128M --durable-cache --threads 8
s3ctl "outage?seconds=$OUTAGE"
t0=$SECONDS
# Written and fsync'd during the outage: durable in the cache file.
dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc,fsync status=none || fail "write or fsync failed during the outage"
# Read back during the outage (O_DIRECT, past the kernel's page cache): from
# memory and the file, never the store.
dd if="$mnt/file" of="$WORK/back" bs=1M count=96 iflag=direct status=none || fail "read failed during the outage"
cmp "$WORK/back" "$WORK/data" || fail "read back during the outage differs"
((SECONDS - t0 < OUTAGE)) || fail "the writes and reads took longer than the outage; nothing was shown"
"$S3BD" stats "$mnt" --json >"$WORK/stats.json"
check_json "$WORK/stats.json" \
  'layer("cache")["memory_blocks"] <= layer("cache")["memory_limit_blocks"] == 16' \
  'layer("cache")["dirty_blocks"] == 96' \
  'layer("cache")["cache_file"]["file_hits"] >= 80'
# After the outage everything is uploaded: a sync now succeeds.
deadline=$((SECONDS + OUTAGE + 120))
until "$S3BD" sync "$mnt" -q 2>/dev/null; do
  ((SECONDS < deadline)) || fail "data still not uploaded long after the outage"
done
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
# A fresh mount without the cache file reads back exactly what was written.
start_fg s3://bucket/tier "$mnt" "${opts[@]}" --cache-size 16M
cmp -n $((96 << 20)) "$mnt/file" "$WORK/data" || fail "data lost across the outage"
stop_fg "$mnt"
echo "PASS s3_outage_disk_tier"
