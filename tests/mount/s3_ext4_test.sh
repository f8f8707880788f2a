#!/usr/bin/env bash
# ext4 on an S3 volume served by s3rver, under a prefix with spaces and
# UTF-8: mkfs on a direct-I/O loop device, copy a tree, unmount, remount
# (with --list-blocks: the block map surveyed before the mount), verify checksums and e2fsck -fn. The AWS CLI sees
# exactly one object per non-zero block under the s3backer key names, with
# the block's bytes; all-zero blocks have no object. Then the volume is
# mounted again as a public read-only disk (--anonymous --read-only).
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

bucket=bucket prefix="disk one/ünïcødé ~=&/"
store="s3://$bucket/$prefix"
mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$mnt" "$fs"
start_s3rver "$bucket"
opts=(--endpoint "$S3_ENDPOINT" --block-size 256K)

mount_bg "$store" "$mnt" --size 128M "${opts[@]}"
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev"
mount "$dev" "$fs"
make_tree "$src"
cp -a "$src/." "$fs/"
expected=$(checksums "$src")
umount "$fs"
detach "$dev"
grep -q "connection reuse" "$mnt/stats" || fail "no S3 stats in $mnt/stats"
unmount_bg "$store" "$mnt"

# The objects, seen by the AWS CLI: the metadata object and block keys only.
keys=$(s3_keys "$bucket" "$prefix")
grep -qxF "${prefix}s3bd-volume" <<<"$keys" || fail "no metadata object among: $keys"
others=$(grep -vxF "${prefix}s3bd-volume" <<<"$keys" | grep -vE "/[0-9a-f]{8}$" || true)
[[ -z $others ]] || fail "unexpected keys: $others"
blocks=$(s3_block_count "$bucket" "$prefix")
echo "$blocks block objects of 512"
((blocks > 20 && blocks < 512)) || fail "$blocks block objects"

# Remount with the block map, check the file system and the data.
mount_bg "$store" "$mnt" "${opts[@]}" --list-blocks
dev=$(attach "$mnt/file")
e2fsck -fn "$dev" >"$WORK/fsck.log" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck.log")"
mount -o ro "$dev" "$fs"
[[ $(checksums "$fs") == "$expected" ]] || fail "checksums differ after remount"
umount "$fs"

# Zero blocks have no object; every non-zero block's object holds its bytes.
read_block() { dd if="$mnt/file" of="$WORK/block" bs=256K skip="$1" count=1 iflag=direct status=none; }
is_zero_block() { [[ $(tr -d '\0' <"$WORK/block" | wc -c) == 0 ]]; }
nonzero=0
for ((b = 0; b < 512; b++)); do
  key=$prefix$(printf '%08x' "$b")
  read_block "$b"
  if is_zero_block; then
    grep -qxF "$key" <<<"$keys" && fail "all-zero block $b has an object"
  else
    nonzero=$((nonzero + 1))
    grep -qxF "$key" <<<"$keys" || fail "non-zero block $b has no object"
    if ((nonzero <= 3)); then
      aws_s3 s3 cp "s3://$bucket/$key" "$WORK/object" --quiet
      cmp -s "$WORK/block" "$WORK/object" || fail "object $key differs from block $b"
    fi
  fi
done
((nonzero == blocks)) || fail "$nonzero non-zero blocks but $blocks objects"
grep -qE "^  survey +done" "$mnt/stats" || fail "no block map stats: $(cat "$mnt/stats")"
detach "$dev"
unmount_bg "$store" "$mnt"

# A public read-only disk: unsigned requests.
mount_bg "$store" "$mnt" --endpoint "$S3_ENDPOINT" --anonymous --read-only
dev=$(losetup --show -r -f "$mnt/file")
LOOPS+=("$dev")
mount -o ro,noload "$dev" "$fs"
[[ $(checksums "$fs") == "$expected" ]] || fail "checksums differ on the anonymous read-only mount"
umount "$fs"
detach "$dev"
unmount_bg "$store" "$mnt"
echo "PASS s3_ext4 ($blocks block objects)"
