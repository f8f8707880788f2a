#!/usr/bin/env bash
# A hostile proxy (test S3 server faults: get.strip drops the ETag and the
# x-amz-meta-* headers of every GET, get.corrupt flips a byte): blocks that
# arrive without their checksum are corrupt (retried, then EIO), never data.
# A new volume records that every object carries its CRC-32C, so a GET
# without one is refused even when nothing else looks wrong.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

start_test_s3server
mnt=$WORK/mnt
mkdir -p "$mnt"
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 2)
head -c 4M /dev/urandom >"$WORK/data"
start_fg s3://bucket/vol "$mnt" --size 16M "${opts[@]}"
dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc,fsync status=none
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "first mount exited $DAEMON_STATUS"
curl -sf "$S3_ENDPOINT/bucket/vol/s3bd-volume" | grep -qx "checksum-crc32c 1" ||
  fail "the new volume does not record its checksums: $(curl -s "$S3_ENDPOINT/bucket/vol/s3bd-volume")"

# read_fails FAULTS: with these GET faults, reading the data back fails with
# EIO and is counted as checksum mismatches; nothing wrong is returned.
read_fails() {
  start_fg s3://bucket/vol "$mnt" "${opts[@]}"
  s3ctl config "$1"
  set +e
  dd if="$mnt/file" of="$WORK/back" bs=1M count=4 iflag=direct status=none 2>"$WORK/dd.err"
  local status=$?
  set -e
  ((status != 0)) || fail "with $1 the read succeeded"
  grep -q "Input/output error" "$WORK/dd.err" || fail "with $1: $(cat "$WORK/dd.err")"
  grep -qE "errors .*checksum-mismatch=[1-9]" "$mnt/stats" || fail "with $1 no checksum mismatch counted"
  if [[ -s $WORK/back ]]; then
    cmp -n "$(stat -c %s "$WORK/back")" "$WORK/back" "$WORK/data" || fail "with $1 wrong data was returned"
  fi
  s3ctl config "get.strip=0&get.corrupt=0"
  stop_fg "$mnt"
  echo "ok: $1 -> EIO"
}
read_fails "get.strip=1&get.corrupt=1"  # the hostile proxy
read_fails "get.strip=1"                # a checksum missing, data intact

# Without faults every block reads back.
start_fg s3://bucket/vol "$mnt" "${opts[@]}"
cmp -n $((4 << 20)) "$mnt/file" "$WORK/data" || fail "data differs without faults"
stop_fg "$mnt"
grep -q "arrived without\|no x-amz-meta-s3bd-crc32c header" "$WORK/daemon.log" || fail "no log line names the problem"
echo "PASS s3_integrity"
