# A real filesystem on the disk file through a direct-I/O loop device:
# make it, copy a tree, unmount everything, remount, compare checksums and
# run the filesystem's own checker. Sourced by ext4_test.sh and xfs_test.sh
# with FS_MKFS, FS_CHECK and VOLUME_SIZE set.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$store" "$mnt" "$fs"
make_tree "$src"
checksums "$src" >"$WORK/want"

start_fg "$store" "$mnt" --size "$VOLUME_SIZE"
dev=$(attach "$mnt/file")
$FS_MKFS "$dev" >/dev/null
mount "$dev" "$fs"
cp -a "$src/." "$fs/"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after unmount"
blocks=$(count_blocks "$store")
echo "store holds $blocks block files"

start_fg "$store" "$mnt"
dev=$(attach "$mnt/file")
$FS_CHECK "$dev" || fail "$FS_CHECK found problems"
mount "$dev" "$fs"
checksums "$fs" >"$WORK/got"
diff "$WORK/want" "$WORK/got" || fail "checksums differ after remount"
umount "$fs"
detach "$dev"
# SIGTERM also flushes and exits 0.
kill -TERM "$DAEMON_PID"
set +e
wait "$DAEMON_PID"
DAEMON_STATUS=$?
set -e
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after SIGTERM"
findmnt -rn "$mnt" >/dev/null && fail "still mounted after SIGTERM"
true
