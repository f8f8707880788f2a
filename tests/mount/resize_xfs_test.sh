#!/usr/bin/env bash
# XFS grown online from 1 GiB to 3 GiB while a writer runs (see
# resize_fs_common.sh): xfs_growfs with the writer still writing; checked
# with xfs_repair -n after a remount.
FS_MKFS="mkfs.xfs -q -f"
FS_CHECK="xfs_repair -n"
grow_fs() {
  xfs_growfs "$fs" >"$WORK/grow.out" 2>&1 || fail "xfs_growfs: $(cat "$WORK/grow.out")"
}
source "$(dirname "$0")/resize_fs_common.sh"
echo "PASS resize xfs"
