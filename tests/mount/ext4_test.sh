#!/usr/bin/env bash
# ext4 on a loop device over the disk file; checked with e2fsck -fn.
FS_MKFS="mkfs.ext4 -q -F"
FS_CHECK="e2fsck -fn"
VOLUME_SIZE=256M
source "$(dirname "$0")/fs_common.sh"
echo "PASS ext4"
