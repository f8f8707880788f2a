#!/usr/bin/env bash
# Damaged objects on s3backer volumes (the test S3 server): for each
# encoding s3backer 1.5.4 writes, blocks are replaced behind its back with a
# truncated object, a wrong HMAC, a moved object, a deflate stream that
# inflates to the wrong size; a read of each fails with EIO and one clear
# log line, never with data, the daemon keeps serving the good blocks, and
# a wrong password is refused at mount.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
source "$(dirname "$0")/codec_lib.sh"
source "$(dirname "$0")/s3backer_lib.sh"
require_fuse
require_s3backer
trap 'cleanup; stop_test_s3server' EXIT

start_test_s3server
mnt=$WORK/mnt
mkdir -p "$mnt"
make_pass "$WORK/pass" "s3backer test password"
make_pass "$WORK/wrong" "not the password"
head -c $((8 * 4096)) /dev/urandom >"$WORK/data"

# object KEY: GET into $WORK/obj, headers into $WORK/obj.h.
object() { curl -sSf -D "$WORK/obj.h" -o "$WORK/obj" "$S3_ENDPOINT/bucket/$1"; }
header() { grep -i "^$1:" "$WORK/obj.h" | sed 's/^[^:]*: *//' | tr -d '\r'; }
# put KEY FILE [HEADER...]: PUT FILE as KEY with these headers only.
put() {
  local key=$1 file=$2 args=() h
  shift 2
  for h in "$@"; do args+=(-H "$h"); done
  curl -sSf -X PUT "${args[@]}" --data-binary "@$file" "$S3_ENDPOINT/bucket/$key" >/dev/null
}
# read_fails BLOCK PATTERN: reading BLOCK through s3bd fails with EIO, and
# the daemon's log says PATTERN about it.
read_fails() {
  local block=$1 pattern=$2
  if dd if="$mnt/file" of="$WORK/got" bs=4096 skip="$block" count=1 iflag=direct 2>"$WORK/dd.err"; then
    fail "block $block read: $(od -An -tx1 -N16 "$WORK/got")"
  fi
  grep -q "Input/output error" "$WORK/dd.err" || fail "dd: $(cat "$WORK/dd.err")"
  grep -qE "read of block $(printf '%08x' "$block"): $pattern" "$WORK/daemon.log" ||
    fail "no log line for block $block: $(tail -5 "$WORK/daemon.log")"
}
reads_ok() {
  dd if="$mnt/file" of="$WORK/got" bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null || fail "block $1 unreadable"
  cmp -s "$WORK/got" <(dd if="$WORK/data" bs=4096 skip="$1" count=1 2>/dev/null) || fail "block $1 differs"
}

# make_volume PREFIX [s3backer options]: blocks 0-7 of $WORK/data.
make_volume() {
  local prefix=$1
  shift
  start_s3backer "$prefix" "$mnt" --size=1M --blockSize=4k "$@"
  dd if="$WORK/data" of="$mnt/file" bs=4096 conv=notrunc,fsync 2>/dev/null
  stop_s3backer "$mnt"
}

echo "== plain"
make_volume plain
object plain/00000003 && head -c 4000 "$WORK/obj" >"$WORK/cut" && put plain/00000003 "$WORK/cut"
object plain/00000004 && put plain/00000004 "$WORK/obj" "Content-Encoding: gzip"
start_fg s3://bucket/plain "$mnt" --endpoint "$S3_ENDPOINT" --cache-size 0
read_fails 3 "raw object of 4000 bytes, not the block size 4096"
read_fails 4 "unknown Content-Encoding 'gzip'"
reads_ok 2
stop_fg "$mnt"

echo "== deflate"
make_volume deflate --compress
object deflate/00000003 && head -c 100 "$WORK/obj" >"$WORK/cut" && put deflate/00000003 "$WORK/cut" "Content-Encoding: deflate"
python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(b"x" * 2048))' >"$WORK/half"
python3 -c 'import sys, zlib; sys.stdout.buffer.write(zlib.compress(b"x" * 8192))' >"$WORK/double"
put deflate/00000004 "$WORK/half" "Content-Encoding: deflate"
put deflate/00000005 "$WORK/double" "Content-Encoding: deflate"
start_fg s3://bucket/deflate "$mnt" --endpoint "$S3_ENDPOINT" --cache-size 0
read_fails 3 "deflate body holds more than the block size 4096 or is truncated|bad deflate stream"
read_fails 4 "deflate body holds 2048 bytes, not the block size 4096"
read_fails 5 "deflate body holds more than the block size 4096"
reads_ok 2
stop_fg "$mnt"

echo "== encrypted"
make_volume encrypted --encrypt --passwordFile="$WORK/pass"
enc="Content-Encoding: deflate, encrypt-AES-128-CBC"
object encrypted/00000003 && hmac3=$(header x-amz-meta-s3backer-hmac)
head -c 32 "$WORK/obj" >"$WORK/cut" && put encrypted/00000003 "$WORK/cut" "$enc" "x-amz-meta-s3backer-hmac: $hmac3"
object encrypted/00000005 && cp "$WORK/obj" "$WORK/five" && hmac5=$(header x-amz-meta-s3backer-hmac)
object encrypted/00000004 && put encrypted/00000004 "$WORK/obj" "$enc" "x-amz-meta-s3backer-hmac: $hmac5"
put encrypted/00000006 "$WORK/five" "$enc" "x-amz-meta-s3backer-hmac: $hmac5"  # block 5, moved
put encrypted/00000007 "$WORK/five" "Content-Encoding: deflate"  # not encrypted
refused "wrong password for the s3backer volume s3://bucket/encrypted \(the HMAC of block 00000000 does not match\)" \
  s3://bucket/encrypted "$mnt" --endpoint "$S3_ENDPOINT" --passphrase-file "$WORK/wrong"
refused "no passphrase: use --passphrase-file FILE or S3BD_PASSPHRASE_FILE \(no terminal to ask on\)" \
  s3://bucket/encrypted "$mnt" --endpoint "$S3_ENDPOINT"
start_fg s3://bucket/encrypted "$mnt" --endpoint "$S3_ENDPOINT" --cache-size 0 --passphrase-file "$WORK/pass"
for b in 3 4 6; do read_fails $b "HMAC mismatch \(wrong password, or a moved, edited or damaged object\)"; done
read_fails 7 "not encrypted, on an encrypted s3backer volume"
reads_ok 2
reads_ok 5
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "s3bd exit status $DAEMON_STATUS"
echo "PASS"
