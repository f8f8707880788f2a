#!/usr/bin/env bash
# ext4 grown from 1 GiB to 3 GiB while a writer runs (see
# resize_fs_common.sh); checked with e2fsck -fn after a remount. The disk
# always grows online under the writer; resize2fs grows the filesystem
# online where the kernel lets it (that needs CAP_SYS_RESOURCE, which some
# containers drop), else right after, unmounted.
FS_MKFS="mkfs.ext4 -q -F"
FS_CHECK="e2fsck -fn"
grow_fs() {
  # CAP_SYS_RESOURCE is capability 24.
  if (((0x$(awk '/^CapEff:/{print $2}' /proc/self/status) >> 24) & 1)); then
    resize2fs "$dev" >"$WORK/grow.out" 2>&1 || fail "online resize2fs: $(cat "$WORK/grow.out")"
    echo "ext4 grown online"
  else
    stop_writer
    umount "$fs"
    e2fsck -fp "$dev" >"$WORK/grow.out" 2>&1 || fail "e2fsck -fp before resize2fs: $(cat "$WORK/grow.out")"
    resize2fs "$dev" >>"$WORK/grow.out" 2>&1 || fail "resize2fs: $(cat "$WORK/grow.out")"
    mount "$dev" "$fs"
    echo "ext4 grown unmounted (no CAP_SYS_RESOURCE here for an online resize2fs)"
  fi
}
source "$(dirname "$0")/resize_fs_common.sh"
echo "PASS resize ext4"
