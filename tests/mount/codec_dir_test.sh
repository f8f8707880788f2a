#!/usr/bin/env bash
# --compress --encrypt on a directory store:
#  1. text with a marker and random data, written raw, read back after a
#     remount; the marker is in no file of the store; every block file is
#     a sealed object with a trailer (s3bd-encoding aes-256-gcm-v1), so none
#     is a bare block; the text blocks are compressed inside (small files);
#  2. an encrypted volume with no passphrase source and no terminal: refused;
#  3. a mount without --compress still reads everything and stores new
#     blocks uncompressed (still encrypted);
#  4. one flipped byte in the middle of a block file: reading that block
#     fails with EIO and the log names it; every other block reads fine;
#     `s3bd verify` reports that block, and only it, as corrupt.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/codec_lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt
mkdir -p "$store" "$mnt"
make_pass "$WORK/pass" "correct horse battery staple"
bs=65536
make_text "$WORK/text" $((8 * bs))
head -c $((8 * bs)) /dev/urandom >"$WORK/random"
cat "$WORK/text" "$WORK/random" >"$WORK/data" # blocks 0-7 text, 8-15 random

# 1. Write, check the stats, remount and read back.
start_fg "$store" "$mnt" --size 16M --block-size 64K --compress --encrypt --passphrase-file "$WORK/pass"
dd if="$WORK/data" of="$mnt/file" bs=64K oflag=direct conv=notrunc,fsync status=none
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["compression"] == "zstd:3"' \
  'layer("codec")["encryption"] == "aes-256-gcm-v1"' \
  'layer("codec")["encoded"]["zstd"] >= 8' 'layer("codec")["encoded"]["raw"] >= 8' \
  'layer("codec")["compression_ratio"] > 1' \
  'layer("directory")["ops"]["write"]["bytes"] < layer("codec")["ops"]["write"]["bytes"]'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
grep -q "^s3bd-volume 2$" "$store/s3bd-volume" || fail "not a format 2 volume: $(cat "$store/s3bd-volume")"
grep -q "^encryption aes-256-gcm$" "$store/s3bd-volume" || fail "no encryption line: $(cat "$store/s3bd-volume")"
grep -rqF -- "$MARKER" "$store" && fail "the plaintext marker is in the store: $(grep -rlF -- "$MARKER" "$store")"
grep -rqF -- "quick brown fox" "$store" && fail "plaintext text is in the store"
blocks=$(count_blocks "$store")
((blocks == 16)) || fail "$blocks block files, expected 16"
for ((b = 0; b < 16; b++)); do
  f=$store/$(printf '%08x' "$b")
  size=$(stat -c %s "$f")
  ((size != bs)) || fail "block file $f is a bare block"
  [[ $(tail -c 8 "$f") == s3bdobj1 ]] || fail "block file $f has no trailer"
  grep -qaF "s3bd-encoding:aes-256-gcm-v1" "$f" || fail "block file $f: not aes-256-gcm-v1: $(tail -c 80 "$f" | od -c)"
  if ((b < 8)); then
    ((size < bs / 4)) || fail "text block $b takes $size bytes: not compressed"
  else
    ((size > bs)) || fail "random block $b takes $size bytes"
  fi
done
echo "ok: 16 sealed block files, text compressed, no plaintext in the store"

# 2. No passphrase source and no terminal (setsid: no controlling tty).
must_fail 1 "^s3bd: error: no passphrase: use --passphrase-file FILE or S3BD_PASSPHRASE_FILE" \
  setsid -w "$S3BD" mount "$store" "$mnt" -f
findmnt -rn "$mnt" >/dev/null && fail "mounted without a passphrase"
echo "ok: no passphrase and no terminal refused"

# 3. Without --compress (the passphrase from the environment this time).
S3BD_PASSPHRASE_FILE=$WORK/pass start_fg "$store" "$mnt"
cmp <(dd if="$mnt/file" bs=64K count=16 iflag=direct status=none) "$WORK/data" ||
  fail "data differs after remount"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["compression"] == "none"' \
  'layer("codec")["encryption"] == "aes-256-gcm-v1"' 'layer("codec")["decoded"]["blocks"] >= 16' \
  'layer("codec")["auth_failures"] == 0' 'layer("codec")["corrupt"] == 0'
dd if="$WORK/text" of="$mnt/file" bs=64K seek=16 count=4 oflag=direct conv=notrunc,fsync status=none
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["encoded"]["blocks"] >= 4' \
  'layer("codec")["encoded"]["zstd"] == 0' 'layer("codec")["encoded"]["deflate"] == 0' \
  'layer("codec")["encoded"]["raw"] == layer("codec")["encoded"]["blocks"]'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
for ((b = 16; b < 20; b++)); do
  f=$store/$(printf '%08x' "$b")
  size=$(stat -c %s "$f")
  ((size > bs)) || fail "block $b written without --compress takes $size bytes"
  grep -qaF "s3bd-encoding:aes-256-gcm-v1" "$f" || fail "block file $f is not encrypted"
done
grep -rqF -- "$MARKER" "$store" && fail "the plaintext marker is in the store"
head -c $((4 * bs)) "$WORK/text" >>"$WORK/data" # blocks 16-19
echo "ok: without --compress, old blocks read and new ones are stored encrypted, uncompressed"

# 4. Tampering: one byte in the middle of block 3's file.
python3 - "$store/00000003" <<'PY'
import sys
path = sys.argv[1]
b = bytearray(open(path, "rb").read())
b[len(b) // 2] ^= 0x01
open(path, "wb").write(b)
PY
: >"$WORK/daemon.log"
start_fg "$store" "$mnt" --passphrase-file "$WORK/pass"
set +e
dd if="$mnt/file" of="$WORK/got3" bs=64K skip=3 count=1 iflag=direct status=none 2>"$WORK/dd.err"
status=$?
set -e
((status != 0)) || fail "reading the tampered block succeeded"
grep -q "Input/output error" "$WORK/dd.err" || fail "not EIO: $(cat "$WORK/dd.err")"
for ((b = 0; b < 20; b++)); do
  ((b == 3)) && continue
  cmp <(dd if="$mnt/file" bs=64K skip="$b" count=1 iflag=direct status=none) \
    <(dd if="$WORK/data" bs=64K skip="$b" count=1 status=none) || fail "block $b differs"
done
grep -q "error: read of block 00000003: authentication failed" "$WORK/daemon.log" ||
  fail "the log does not name the tampered block: $(cat "$WORK/daemon.log")"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["auth_failures"] >= 1'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
set +e
"$S3BD" verify "$store" --passphrase-file "$WORK/pass" >"$WORK/verify.out" 2>&1 </dev/null
status=$?
set -e
((status == 1)) || fail "verify of the tampered volume exited $status: $(cat "$WORK/verify.out")"
grep -qE "^00000003: corrupt: authentication failed" "$WORK/verify.out" ||
  fail "verify did not report block 3 as corrupt: $(cat "$WORK/verify.out")"
[[ $(grep -cE "^[0-9a-f]{8}: " "$WORK/verify.out") == 1 ]] || fail "verify: $(cat "$WORK/verify.out")"
echo "ok: the tampered block gives EIO and is named in the log and by verify; the others read fine"
echo "PASS codec_dir"
