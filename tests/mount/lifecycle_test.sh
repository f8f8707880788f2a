#!/usr/bin/env bash
# Daemon life cycle: SIGINT, SIGTERM and umount each flush and exit 0 with
# the data kept; 1 MiB requests reach the daemon whole; read-only mounts.
source "$(dirname "$0")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt
mkdir -p "$store" "$mnt"
head -c 4M /dev/urandom >"$WORK/data"

start_fg "$store" "$mnt" --size 32M
dd if="$WORK/data" of="$mnt/file" bs=1M oflag=direct conv=notrunc status=none
dd if="$mnt/file" of=/dev/null bs=1M count=4 iflag=direct status=none
grep -q "largest write request 1048576 bytes" "$mnt/stats" || fail "1 MiB writes were split: $(grep largest "$mnt/stats")"
grep -q "largest read request  1048576 bytes" "$mnt/stats" || fail "1 MiB reads were split: $(grep largest "$mnt/stats")"
# `s3bd stats` and `s3bd sync` talk to the running daemon.
"$S3BD" stats "$mnt" | grep -q '^\[cache\]' || fail "s3bd stats shows no cache section"
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
grep -qE 'dirty blocks +0 ' "$mnt/stats" || fail "dirty blocks left after s3bd sync: $(grep dirty "$mnt/stats")"
if "$S3BD" sync "$WORK" 2>"$WORK/err"; then fail "s3bd sync on a non-mount succeeded"; fi
grep -q "does not look like an s3bd mount" "$WORK/err" || fail "sync on a non-mount: $(cat "$WORK/err")"
kill -INT "$DAEMON_PID"
set +e; wait "$DAEMON_PID"; status=$?; set -e
[[ $status == 0 ]] || fail "exit status $status after SIGINT"
findmnt -rn "$mnt" >/dev/null && fail "still mounted after SIGINT"

start_fg "$store" "$mnt"
cmp -n 4194304 "$mnt/file" "$WORK/data" || fail "data lost across SIGINT"
dd if=/dev/zero of="$mnt/file" bs=1M count=1 seek=8 conv=notrunc status=none
umount "$mnt"
set +e; wait "$DAEMON_PID"; status=$?; set -e
[[ $status == 0 ]] || fail "exit status $status after umount"

# Read-only: writes and opening for write fail, reads work, nothing changes.
before=$(ls -l --time-style=+%s.%N "$store" | md5sum)
start_fg "$store" "$mnt" --read-only
cmp -n 4194304 "$mnt/file" "$WORK/data" || fail "read-only mount reads wrong data"
if dd if=/dev/zero of="$mnt/file" bs=4096 count=1 conv=notrunc status=none 2>"$WORK/err"; then
  fail "write on a read-only mount succeeded"
fi
grep -q "Read-only file system" "$WORK/err" || fail "read-only write: $(cat "$WORK/err")"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "read-only exit status $DAEMON_STATUS"
[[ $(ls -l --time-style=+%s.%N "$store" | md5sum) == "$before" ]] || fail "read-only mount changed the store"

# Custom names and mode.
start_fg "$store" "$mnt" --file-name disk.img --stats-file info --file-mode 0640
[[ $(ls "$mnt" | tr '\n' ' ') == "disk.img info " ]] || fail "names: $(ls "$mnt")"
[[ $(stat -c %a "$mnt/disk.img") == 640 ]] || fail "mode: $(stat -c %a "$mnt/disk.img")"
stop_fg "$mnt"
echo "PASS lifecycle (normal)"

# When data cannot be flushed, the daemon says so in its exit status.
S3BD_INJECT_FAULTS=flush=1 start_fg "$store" "$mnt"
if dd if=/dev/urandom of="$mnt/file" bs=4096 count=1 conv=notrunc,fsync status=none 2>"$WORK/err"; then
  fail "fsync succeeded although every flush fails"
fi
grep -q "Input/output error" "$WORK/err" || fail "fsync error: $(cat "$WORK/err")"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 1 ]] || fail "exit status $DAEMON_STATUS after a failed final flush (want 1)"
grep -q "could not be flushed" "$WORK/daemon.log" || fail "no log line about the failed flush"
echo "PASS lifecycle (flush failure)"
