#!/usr/bin/env bash
# fstrim on ext4 over an S3 volume deletes the freed blocks' objects (discard
# reaches the S3 store as Zero, which sends DELETE); checked with the AWS CLI.
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

bucket=trim prefix=vol/
store="s3://$bucket/${prefix%/}"
mnt=$WORK/mnt fs=$WORK/fs
mkdir -p "$mnt" "$fs"
start_s3rver "$bucket"

mount_bg "$store" "$mnt" --endpoint "$S3_ENDPOINT" --size 128M --block-size 256K
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F -E nodiscard "$dev"
mount "$dev" "$fs"
head -c $((40 * 1024 * 1024)) /dev/urandom >"$fs/big"
sync
before=$(s3_block_count "$bucket" "$prefix")
rm "$fs/big"
sync
fstrim -v "$fs"
# Discards are writes of zeros to the cache: s3bd sync waits until they
# are stored (the blocks deleted).
"$S3BD" sync "$mnt" -q
after=$(s3_block_count "$bucket" "$prefix")
echo "block objects: $before before fstrim, $after after"
((before - after >= 150)) || fail "fstrim deleted only $((before - after)) objects"
grep -qE "DELETE=[1-9]" "$mnt/stats" || fail "no DELETE requests in the stats"
umount "$fs"
e2fsck -fn "$dev" >/dev/null || fail "e2fsck after fstrim"
detach "$dev"
unmount_bg "$store" "$mnt"
echo "PASS s3_fstrim"
