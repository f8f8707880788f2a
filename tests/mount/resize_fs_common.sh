# Online growth of a filesystem on a mounted disk (`s3bd resize`), while a
# writer keeps writing files in it: the disk file grows from 1 GiB to 3 GiB
# under the running writer, `losetup -c` and the filesystem's own online
# grow (grow_fs) follow, df shows the new size and a file larger than the
# old disk fits; after unmount and remount (the size now comes from the
# store) every file written reads back with its checksum and the
# filesystem's checker (FS_CHECK) finds nothing. Sourced by
# resize_ext4_test.sh and resize_xfs_test.sh with FS_MKFS and FS_CHECK set
# and grow_fs defined (grows the filesystem on $dev mounted on $fs; may
# call stop_writer first).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$store" "$mnt" "$fs" "$src"
opts=(--block-size 1M)

start_fg "$store" "$mnt" --size 1G "${opts[@]}"
dev=$(attach "$mnt/file")
$FS_MKFS "$dev" >/dev/null
mount "$dev" "$fs"

# The writer: files of 2 MiB, each fsync'd, named in $WORK/written once
# complete; until $WORK/stop exists (at most 150 files: 300 MiB).
writer() {
  local i=0
  while [[ ! -e $WORK/stop ]] && ((i < 150)); do
    head -c $((2 * 1024 * 1024)) /dev/urandom >"$src/f$i"
    dd if="$src/f$i" of="$fs/f$i" bs=1M conv=fsync status=none
    echo "f$i" >>"$WORK/written"
    i=$((i + 1))
  done
}
: >"$WORK/written"
writer &
writer_pid=$!

# wait_written N: until the writer has completed N files (or failed).
wait_written() {
  local deadline=$((SECONDS + 120))
  until (($(wc -l <"$WORK/written") >= $1)); do
    kill -0 "$writer_pid" 2>/dev/null || fail "the writer stopped after $(wc -l <"$WORK/written") files"
    ((SECONDS < deadline)) || fail "the writer wrote only $(wc -l <"$WORK/written") files"
    sleep 0.05
  done
}
wait_written 3

# A file larger than the whole old disk does not fit before.
fallocate -l 1500M "$fs/big" 2>/dev/null && fail "1500M fitted in a 1 GiB filesystem"
rm -f "$fs/big"

"$S3BD" resize "$mnt" --size 3G >"$WORK/resize.out" || fail "s3bd resize failed: $(tail -3 "$WORK/daemon.log")"
grep -q "resized from 1 GiB to 3 GiB" "$WORK/resize.out" || fail "resize printed: $(cat "$WORK/resize.out")"
before=$(wc -l <"$WORK/written")
# At once, as the README says (the loop driver reads the size the kernel
# holds for the file, which the command refreshed).
losetup -c "$dev"
[[ $(blockdev --getsize64 "$dev") == $((3 << 30)) ]] || fail "loop device is $(blockdev --getsize64 "$dev") bytes"
[[ $(stat -c %s "$mnt/file") == $((3 << 30)) ]] || fail "disk file is $(stat -c %s "$mnt/file") bytes"
# The writer kept going across the resize of the disk.
wait_written $((before + 3))
# stop_writer: it finishes its file and stops.
stop_writer() {
  [[ -e $WORK/stop ]] && return 0
  touch "$WORK/stop"
  wait "$writer_pid" || fail "the writer failed"
}
grow_fs  # the caller's: online where it can, with the writer still running
size=$(df -B1 --output=size "$fs" | tail -1)
((size > 2 << 30)) || fail "df shows $size bytes after the grow"
echo "filesystem is $size bytes after the grow"
fallocate -l 1500M "$fs/big" || fail "1500M does not fit after the grow"
rm "$fs/big"
stop_writer
n=$(wc -l <"$WORK/written")
echo "the writer wrote $n files, $before of them before the disk grew"
(cd "$src" && sha256sum $(cat "$WORK/written")) >"$WORK/want"
(cd "$fs" && sha256sum -c --quiet "$WORK/want") || fail "checksums differ before the unmount"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after unmount"
"$S3BD" info "$store" >"$WORK/info.out"
grep -qE "^size +3 GiB " "$WORK/info.out" || fail "info says: $(cat "$WORK/info.out")"

# Remount without --size: the store says 3 GiB.
start_fg "$store" "$mnt"
[[ $(stat -c %s "$mnt/file") == $((3 << 30)) ]] || fail "remounted disk file is $(stat -c %s "$mnt/file") bytes"
dev=$(attach "$mnt/file")
$FS_CHECK "$dev" >"$WORK/check.out" 2>&1 || fail "$FS_CHECK found problems: $(tail -20 "$WORK/check.out")"
mount "$dev" "$fs"
(cd "$fs" && sha256sum -c --quiet "$WORK/want") || fail "checksums differ after the remount"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after the last unmount"
true
