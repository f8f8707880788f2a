#!/usr/bin/env bash
# XFS on a loop device over the disk file; checked with xfs_repair -n.
FS_MKFS="mkfs.xfs -q -f"
FS_CHECK="xfs_repair -n"
VOLUME_SIZE=512M
source "$(dirname "$0")/fs_common.sh"
echo "PASS xfs"
