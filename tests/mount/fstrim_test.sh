#!/usr/bin/env bash
# Deleting files and running fstrim on a loop-mounted ext4 removes block
# files from the store (discard reaches the daemon as fallocate PUNCH_HOLE).
source "$(dirname "$0")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt fs=$WORK/fs
mkdir -p "$store" "$mnt" "$fs"
mount_bg "$store" "$mnt" --size 256M
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F -E nodiscard "$dev"
mount "$dev" "$fs"
head -c $((96 * 1024 * 1024)) /dev/urandom >"$fs/big"
sync
before=$(count_blocks "$store")
rm "$fs/big"
sync  # ext4 frees the blocks when the journal commits
fstrim -v "$fs"
# Discards are writes of zeros to the cache: s3bd sync waits until they
# are stored (the blocks deleted).
"$S3BD" sync "$mnt" -q
after=$(count_blocks "$store")
echo "block files: $before before fstrim, $after after"
((before - after >= 90)) || fail "fstrim freed only $((before - after)) block files"
# ZERO_RANGE through fallocate on the raw file (used by loop for write-zeroes).
umount "$fs"
detach "$dev"
fallocate --zero-range -o 0 -l 8M "$mnt/file"
[[ $(head -c 8M "$mnt/file" | tr -d '\0' | wc -c) == 0 ]] || fail "zero-range left data"
punched=$(count_blocks "$store")
((punched <= after)) || fail "zero-range added block files"
fallocate -l 1G "$mnt/file" 2>/dev/null && fail "fallocate past the end succeeded"
unmount_bg "$store" "$mnt"
echo "PASS fstrim"
