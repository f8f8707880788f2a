#!/usr/bin/env bash
# `s3bd resize` on a raw disk file over a directory store: bad sizes are
# refused with one line (exit 2) and so is a path that is not an s3bd mount
# (exit 1); a shrink that would cut off data is refused (exit 1, size and
# data unchanged), also when the data was just written and is still only in
# the cache; a shrink of an empty tail works, so does one once the data
# there was punched out; a grown disk's new blocks read as zeros and keep
# what is written to them across a remount; a read-only mount refuses (the
# CLI, and the daemon itself through the ioctl).
source "$(dirname "$0")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt
mkdir -p "$store" "$mnt"
M=$((1024 * 1024))

# expect_status N PATTERN CMD...: CMD exits N with a message matching PATTERN.
expect_status() {
  local want=$1 pattern=$2
  shift 2
  set +e
  "$@" >"$WORK/out" 2>"$WORK/err"
  local status=$?
  set -e
  ((status == want)) || fail "$* exited $status, expected $want: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "$*: unexpected message: $(cat "$WORK/err")"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "$*: more than one line: $(cat "$WORK/err")"
}
size_is() { [[ $(stat -c %s "$mnt/file") == "$1" ]] || fail "disk file is $(stat -c %s "$mnt/file") bytes, not $1"; }
# put OFFSET_MIB NAME [CONV]: 1 MiB of random data at OFFSET_MIB, kept in
# $WORK/NAME; dd's conv=notrunc,CONV (default fsync).
put() {
  head -c $M /dev/urandom >"$WORK/$2"
  dd if="$WORK/$2" of="$mnt/file" bs=1M seek="$1" conv=notrunc,${3:-fsync} status=none
}
# same OFFSET_MIB NAME: the disk holds $WORK/NAME at OFFSET_MIB.
same() {
  cmp <(dd if="$mnt/file" bs=1M skip="$1" count=1 status=none) "$WORK/$2" || fail "data at $1 MiB differs"
}

start_fg "$store" "$mnt" --size 64M --block-size 1M --write-delay 60000
put 40 a notrunc  # no fsync: dirty in the cache (--write-delay 60 s)

expect_status 2 "not a whole number of blocks" "$S3BD" resize "$mnt" --size 65000K
expect_status 2 "size" "$S3BD" resize "$mnt" --size lots
expect_status 1 "does not look like an s3bd mount" "$S3BD" resize "$WORK" --size 1G
expect_status 1 "No such file" "$S3BD" resize "$WORK/nowhere" --size 1G
# Block 40 holds data (written, not yet uploaded: the resize flushes first).
expect_status 1 "cannot shrink .* to 32 MiB: blocks at or past the new end hold data" \
  "$S3BD" resize "$mnt" --size 32M
grep -q "block 00000028 at or past the new end holds data" "$WORK/daemon.log" || fail "the daemon did not name block 28"
size_is $((64 * M))
same 40 a
expect_status 1 "cannot shrink" "$S3BD" resize "$mnt" --size 40M
# An empty tail goes.
"$S3BD" resize "$mnt" --size 41M >"$WORK/out" || fail "shrink to 41M failed: $(tail -2 "$WORK/daemon.log")"
grep -q "resized from 64 MiB to 41 MiB" "$WORK/out" || fail "resize printed: $(cat "$WORK/out")"
size_is $((41 * M))
same 40 a
# Reads past the new end find nothing; writes there fail.
[[ $(dd if="$mnt/file" bs=1M skip=41 count=1 status=none | wc -c) == 0 ]] || fail "read past the end returned data"
dd if=/dev/zero of="$mnt/file" bs=1M seek=41 count=1 conv=notrunc status=none 2>/dev/null && fail "a write past the end succeeded"

# Grow: the new blocks read as zeros and take data.
"$S3BD" resize "$mnt" --size 128M -q >"$WORK/out" || fail "grow failed"
[[ ! -s $WORK/out ]] || fail "-q printed: $(cat "$WORK/out")"
size_is $((128 * M))
cmp <(dd if="$mnt/file" bs=1M skip=41 count=87 status=none) <(head -c $((87 * M)) /dev/zero) ||
  fail "the new blocks do not read as zeros"
put 100 b
expect_status 1 "cannot shrink" "$S3BD" resize "$mnt" --size 64M
fallocate -p -o $((100 * M)) -l $M "$mnt/file"
"$S3BD" resize "$mnt" --size 100M -q || fail "shrink to 100M, once block 100 was punched out, failed"
size_is $((100 * M))
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
"$S3BD" info "$store" | grep -qE "^size +100 MiB " || fail "info: $("$S3BD" info "$store")"
[[ $(count_blocks "$store") == 1 ]] || fail "the store holds $(count_blocks "$store") blocks, expected 1"

# Read-only: refused by the CLI, and by the daemon through the ioctl itself.
start_fg "$store" "$mnt" --read-only
size_is $((100 * M))
same 40 a
expect_status 1 "mounted read-only" "$S3BD" resize "$mnt" --size 128M
python3 - "$mnt/file" <<'PY' || fail "the daemon did not refuse the resize ioctl of a read-only mount with EROFS"
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
try:
    fcntl.ioctl(fd, 0x4008535A, struct.pack("Q", 128 << 20))
except OSError as e:
    sys.exit(0 if e.errno == errno.EROFS else 1)
sys.exit(1)
PY
size_is $((100 * M))
stop_fg "$mnt"

# The daemon checks the size too (a client other than s3bd resize).
start_fg "$store" "$mnt"
python3 - "$mnt/file" <<'PY' || fail "the daemon took a size that is not a whole number of blocks"
import errno, fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for size, want in (((128 << 20) + 512, errno.EINVAL), (0, errno.EINVAL), (32 << 20, errno.ENOTEMPTY)):
    try:
        fcntl.ioctl(fd, 0x4008535A, struct.pack("Q", size))
        sys.exit(1)
    except OSError as e:
        if e.errno != want:
            print(size, e, file=sys.stderr)
            sys.exit(1)
PY
size_is $((100 * M))
same 40 a
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
echo "PASS resize refused"
