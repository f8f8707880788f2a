#!/usr/bin/env bash
# The codec on s3rver, a third-party fake S3 (its x-amz-meta-* handling):
#  1. --compress (zstd): ext4 with a text tree; the stats show zstd blocks
#     and fewer bytes stored than written; the AWS CLI sees
#     s3bd-encoding: zstd on the compressed objects;
#  2. a mount without --compress reads everything back (checksums, e2fsck)
#     and stores new blocks with no encoding;
#  3. --compress=deflate: more files, stored deflated; after a remount
#     every file of all three mounts reads back;
#  4. an encrypted volume (--encrypt): a marker written raw, read back
#     after a remount; it is in no object, and the objects say
#     s3bd-encoding: aes-256-gcm-v1.
source "$(dirname "$0")/s3_lib.sh"
source "$(dirname "$0")/codec_lib.sh"
require_fuse
require_s3rver

mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$mnt" "$fs" "$src"
start_s3rver bucket
opts=(--endpoint "$S3_ENDPOINT" --max-retry-time 5)
store=s3://bucket/vol

# encoding KEY: the s3bd-encoding of an object, as the AWS CLI sees it ("" if none).
encoding() {
  aws_s3 s3api head-object --bucket bucket --key "$1" --query 'Metadata."s3bd-encoding"' --output text |
    sed 's/^None$//'
}
# encodings PREFIX: "KEY ENCODING" for every block object, from s3rver's data directory.
encodings() {
  python3 - "$S3RVER_DATA/bucket/$1" <<'PY'
import glob, json, os, re, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*._S3rver_metadata.json"))):
    key = os.path.basename(f)[: -len("._S3rver_metadata.json")]
    if re.fullmatch(r"[0-9a-f]{8}", key):
        print(key, json.load(open(f)).get("x-amz-meta-s3bd-encoding", "-"))
PY
}
# ext4_checksums: attaches the disk, e2fsck -fn, mounts it read-only, prints the checksums, detaches.
ext4_checksums() {
  local dev
  dev=$(attach "$mnt/file")
  e2fsck -fn "$dev" >"$WORK/fsck.log" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck.log")"
  mount -o ro "$dev" "$fs"
  checksums "$fs"
  umount "$fs"
  detach "$dev"
}

# 1. --compress: ext4 with text.
mkdir -p "$src/one"
cp -r "$S3BD_SOURCE_DIR/src" "$src/one/src"
for i in 1 2 3 4; do make_text "$src/one/text$i" $((i * 300000)); done
start_fg "$store" "$mnt" --size 64M --block-size 256K "${opts[@]}" --compress
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev"
mount "$dev" "$fs"
cp -a "$src/." "$fs/"
umount "$fs"
detach "$dev"
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["compression"] == "zstd:3"' \
  'layer("codec")["encryption"] == "none"' 'layer("codec")["encoded"]["zstd"] > 10' \
  'layer("codec")["encoded"]["deflate"] == 0' \
  'layer("s3")["ops"]["write"]["bytes"] < layer("codec")["ops"]["write"]["bytes"]' \
  'layer("s3")["ops"]["write"]["bytes"] == layer("codec")["encoded"]["bytes_out"]' \
  'layer("codec")["compression_ratio"] > 2'
echo "ok: zstd: $(python3 -c 'import json,sys; l=[l for l in json.load(open(sys.argv[1]))["layers"] if l["layer"]=="codec"][0]; print(l["encoded"]["zstd"], "of", l["encoded"]["blocks"], "blocks, ratio", round(l["compression_ratio"], 1))' "$WORK/stats.json")"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
want=$(checksums "$src")
encodings vol/ >"$WORK/enc1"
grep -q " zstd$" "$WORK/enc1" || fail "no zstd object: $(cat "$WORK/enc1")"
grep -vE " (zstd|-)$" "$WORK/enc1" && fail "unexpected encodings"
zkey=vol/$(grep -m1 " zstd$" "$WORK/enc1" | cut -d' ' -f1)
[[ $(encoding "$zkey") == zstd ]] || fail "head-object $zkey: encoding '$(encoding "$zkey")'"
echo "ok: the AWS CLI sees s3bd-encoding: zstd on $zkey ($(grep -c " zstd$" "$WORK/enc1") zstd objects)"

# 2. Without --compress: everything reads; new blocks have no encoding.
start_fg "$store" "$mnt" "${opts[@]}"
[[ $(ext4_checksums) == "$want" ]] || fail "checksums differ on the mount without --compress"
dd if="$WORK/src/one/text4" of="$mnt/file" bs=256K seek=200 count=4 oflag=direct conv=notrunc,fsync status=none
"$S3BD" sync "$mnt" -q
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["compression"] == "none"' \
  'layer("codec")["encoded"]["blocks"] == layer("codec")["encoded"]["raw"] >= 4' \
  'layer("codec")["decoded"]["blocks"] > 10'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
[[ -z $(encoding vol/000000c8) ]] || fail "block 200 written without --compress: encoding '$(encoding vol/000000c8)'"
echo "ok: without --compress everything reads back; new blocks are stored bare"

# 3. --compress=deflate: more files.
mkdir -p "$src/two"
for i in 1 2 3; do make_text "$src/two/more$i" $((i * 250000)); done
start_fg "$store" "$mnt" "${opts[@]}" --compress=deflate
dev=$(attach "$mnt/file")
mount "$dev" "$fs"
cp -a "$src/two" "$fs/"
umount "$fs"
detach "$dev"
"$S3BD" sync "$mnt" -q
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["compression"].startswith("deflate:")' \
  'layer("codec")["encoded"]["deflate"] > 0' 'layer("codec")["encoded"]["zstd"] == 0'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
encodings vol/ >"$WORK/enc3"
grep -q " deflate$" "$WORK/enc3" || fail "no deflate object: $(cat "$WORK/enc3")"
grep -q " zstd$" "$WORK/enc3" || fail "no zstd object left: $(cat "$WORK/enc3")"
dkey=vol/$(grep -m1 " deflate$" "$WORK/enc3" | cut -d' ' -f1)
[[ $(encoding "$dkey") == deflate ]] || fail "head-object $dkey: encoding '$(encoding "$dkey")'"
want=$(checksums "$src")
start_fg "$store" "$mnt" "${opts[@]}"
[[ $(ext4_checksums) == "$want" ]] || fail "checksums differ after the deflate mount"
cmp <(dd if="$mnt/file" bs=256K skip=200 count=4 iflag=direct status=none) <(head -c 1M "$WORK/src/one/text4") ||
  fail "the bare blocks differ"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
echo "ok: zstd, deflate and bare objects all read back ($(grep -c " deflate$" "$WORK/enc3") deflate objects)"

# 4. An encrypted volume.
estore=s3://bucket/enc
make_pass "$WORK/pass" "s3rver passphrase"
make_text "$WORK/text" $((1 << 20))
head -c 1M /dev/urandom >"$WORK/random"
cat "$WORK/text" "$WORK/random" >"$WORK/data"
start_fg "$estore" "$mnt" --size 16M --block-size 256K "${opts[@]}" --encrypt --compress --passphrase-file "$WORK/pass"
dd if="$WORK/data" of="$mnt/file" bs=256K oflag=direct conv=notrunc,fsync status=none
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
start_fg "$estore" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass"
cmp <(dd if="$mnt/file" bs=256K count=8 iflag=direct status=none) "$WORK/data" || fail "encrypted data differs after remount"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
mkdir -p "$WORK/objects"
aws_s3 s3 cp --recursive --quiet s3://bucket/enc/ "$WORK/objects/"
[[ $(count_blocks "$WORK/objects") == 8 ]] || fail "$(count_blocks "$WORK/objects") block objects, expected 8"
grep -rqF -- "$MARKER" "$WORK/objects" && fail "the marker is in $(grep -rlF -- "$MARKER" "$WORK/objects")"
encodings enc/ >"$WORK/enc4"
[[ $(grep -c " aes-256-gcm-v1$" "$WORK/enc4") == 8 ]] || fail "encodings of the encrypted volume: $(cat "$WORK/enc4")"
[[ $(encoding enc/00000000) == aes-256-gcm-v1 ]] || fail "head-object enc/00000000: '$(encoding enc/00000000)'"
echo "ok: encrypted volume on s3rver: read back, no marker in any object, all aes-256-gcm-v1"
echo "PASS s3_codec_s3rver"
