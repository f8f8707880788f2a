#!/usr/bin/env bash
# `s3bd unmount` (test S3 server):
#  1. with the server at 300 ms a request and 32 dirty blocks it returns only
#     after the final flush: a mount right after it reads the new data; it
#     exits 0 and removes the daemon's status file;
#  2. a final flush that fails (the endpoint stops answering, small
#     --max-retry-time) makes it exit 1 with the count and the reason, and
#     the failure is in --log-file (mode 0600);
#     the same for a directory store on a full disk (tmpfs);
#  3. without --log-file and without /dev/log the mount says so before it
#     detaches; bad input.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

mnt=$WORK/mnt
mkdir -p "$mnt"
start_test_s3server
opts=(--endpoint "$S3_ENDPOINT" --path-style)

# 1. A slow server: the flush takes a while, and unmount waits for it.
"$S3BD" mount s3://bucket/slow "$mnt" --size 64M "${opts[@]}" --log-file "$WORK/slow.log" 2>"$WORK/mount.err" ||
  fail "mount: $(cat "$WORK/mount.err")"
head -c 32M /dev/urandom >"$WORK/data"
dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc status=none
s3ctl config "latency_ms=300"
status_file=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["daemon"]["status_file"])' "$mnt/.stats.json")
[[ $(stat -c %a "$status_file") == 600 ]] || fail "status file $status_file mode $(stat -c %a "$status_file")"
"$S3BD" unmount "$mnt" -q 2>"$WORK/unmount.err" || fail "s3bd unmount failed: $(cat "$WORK/unmount.err")"
findmnt -rn "$mnt" >/dev/null && fail "still mounted after s3bd unmount"
[[ -e $status_file ]] && fail "status file $status_file left behind"
s3ctl config "latency_ms=0"
start_fg s3://bucket/slow "$mnt" "${opts[@]}"
cmp -n $((32 << 20)) "$mnt/file" "$WORK/data" || fail "a mount right after s3bd unmount read stale data"
stop_fg "$mnt"
grep -q "all data flushed to the store" "$WORK/slow.log" || fail "log file: $(cat "$WORK/slow.log")"
echo "ok: s3bd unmount waited for the final flush of 32 blocks at 300 ms a request"

# 2. The final flush fails: exit 1, the reason, and the log file has it.
"$S3BD" mount s3://bucket/fail "$mnt" --size 64M "${opts[@]}" --max-retry-time 2 --log-file "$WORK/fail.log" \
  2>"$WORK/mount.err" || fail "mount: $(cat "$WORK/mount.err")"
[[ $(stat -c %a "$WORK/fail.log") == 600 ]] || fail "log file mode $(stat -c %a "$WORK/fail.log")"
dd if="$WORK/data" of="$mnt/file" bs=1M count=8 conv=notrunc status=none
s3ctl "outage?seconds=600&mode=reset"
set +e
"$S3BD" unmount "$mnt" 2>"$WORK/unmount.err"
status=$?
set -e
s3ctl "outage?seconds=0"
((status == 1)) || fail "s3bd unmount of a failed flush exited $status: $(cat "$WORK/unmount.err")"
grep -qE "^s3bd: error: $mnt unmounted, but [1-9][0-9]* blocks could not be stored: " "$WORK/unmount.err" ||
  fail "unmount message: $(cat "$WORK/unmount.err")"
grep -q "could not be flushed to the store" "$WORK/fail.log" || fail "failure not in the log file: $(cat "$WORK/fail.log")"
echo "ok: a failed final flush: $(cat "$WORK/unmount.err")"

# 2b. The same with a directory store whose disk is full (a 4 MiB tmpfs
# under 12 MiB of dirty blocks): exit 1 with the reason, in the log file.
small=$WORK/small
mkdir -p "$small"
mount -t tmpfs -o size=4M tmpfs "$small"
"$S3BD" mount "$small" "$mnt" --size 64M --write-delay 60000 --log-file "$WORK/full.log" 2>"$WORK/mount.err" ||
  fail "mount of the small store: $(cat "$WORK/mount.err")"
dd if="$WORK/data" of="$mnt/file" bs=1M count=12 conv=notrunc status=none
set +e
"$S3BD" unmount "$mnt" -q 2>"$WORK/unmount.err"
status=$?
set -e
((status == 1)) || fail "s3bd unmount onto a full disk exited $status: $(cat "$WORK/unmount.err")"
grep -qE "^s3bd: error: $mnt unmounted, but [1-9][0-9]* blocks could not be stored: " "$WORK/unmount.err" ||
  fail "unmount message (full disk): $(cat "$WORK/unmount.err")"
grep -q "No space left on device" "$WORK/full.log" || fail "ENOSPC not in the log file: $(cat "$WORK/full.log")"
umount "$small"
echo "ok: a final flush onto a full disk: $(cat "$WORK/unmount.err")"

# 3. No syslog, no --log-file: said at mount, on the terminal.
if [[ ! -S /dev/log ]]; then
  "$S3BD" mount s3://bucket/nolog "$mnt" --size 16M "${opts[@]}" 2>"$WORK/mount.err" || fail "mount: $(cat "$WORK/mount.err")"
  grep -q "^s3bd: warning: syslog is unavailable" "$WORK/mount.err" || fail "no syslog warning: $(cat "$WORK/mount.err")"
  "$S3BD" unmount "$mnt" -q || fail "unmount of nolog"
fi
# Bad input: not a mount; usage.
if "$S3BD" unmount "$WORK" 2>"$WORK/err"; then fail "unmount of a non-mount succeeded"; fi
grep -q "^s3bd: error: .*does not look like an s3bd mount" "$WORK/err" || fail "non-mount: $(cat "$WORK/err")"
set +e
"$S3BD" unmount 2>/dev/null
status=$?
set -e
((status == 2)) || fail "unmount without MOUNTPOINT exited $status"
echo "PASS s3_unmount"
