#!/usr/bin/env bash
# ext4 over NBD, as in a container without the nbd kernel module: nbdfuse
# turns the export into a file (with its default 4 connections: the server's
# multi-conn), a loop device makes it a disk, mkfs.ext4, a tree of files,
# unmount everything, e2fsck -fn, serve again, compare checksums.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
require_fuse
require_nbd_tools
command -v nbdfuse >/dev/null || fail "nbdfuse is missing (scripts/install-deps.sh installs libnbd-bin)"

store=$WORK/store sock=$WORK/nbd.sock fmnt=$WORK/fmnt fs=$WORK/fs src=$WORK/src
mkdir -p "$store" "$fmnt" "$fs"
make_tree "$src"
checksums "$src" >"$WORK/want"

# nbdfuse_start: the export as $fmnt/disk; waits for nbdfuse's pid file.
nbdfuse_start() {
  rm -f "$WORK/nbdfuse.pid"
  nbdfuse -P "$WORK/nbdfuse.pid" "$fmnt/disk" "$(nbd_uri "$sock")" 2>>"$WORK/nbdfuse.log" &
  NBDFUSE_PID=$!
  local deadline=$((SECONDS + 30))
  until [[ -s $WORK/nbdfuse.pid ]]; do
    kill -0 "$NBDFUSE_PID" 2>/dev/null || fail "nbdfuse exited: $(cat "$WORK/nbdfuse.log")"
    ((SECONDS < deadline)) || fail "nbdfuse did not start"
    sleep 0.05
  done
}
nbdfuse_stop() {
  unmount_when_released "$fmnt"
  wait "$NBDFUSE_PID" || fail "nbdfuse exited with an error: $(cat "$WORK/nbdfuse.log")"
}
loop_attach() {
  local dev
  dev=$(losetup --show -f "$1")
  LOOPS+=("$dev")
  echo "$dev"
}

start_nbd "$store" "$sock" --size 512M --cache-size 64M
nbdfuse_start
[[ $(stat -c %s "$fmnt/disk") == $((512 << 20)) ]] || fail "nbdfuse's file is $(stat -c %s "$fmnt/disk") bytes"
dev=$(loop_attach "$fmnt/disk")
mkfs.ext4 -q -F "$dev" >/dev/null
mount "$dev" "$fs"
cp -a "$src/." "$fs/"
umount "$fs"
e2fsck -fn "$dev" || fail "e2fsck found problems before the restart"
losetup -d "$dev"
nbdfuse_stop
stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS: $(tail -5 "$WORK/nbd.log")"
echo "store holds $(count_blocks "$store") block files"

start_nbd "$store" "$sock"
nbdfuse_start
dev=$(loop_attach "$fmnt/disk")
e2fsck -fn "$dev" || fail "e2fsck found problems after the restart"
mount "$dev" "$fs"
checksums "$fs" >"$WORK/got"
diff "$WORK/want" "$WORK/got" || fail "checksums differ after the restart"
umount "$fs"
losetup -d "$dev"
nbdfuse_stop
stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS after the second run"
echo "PASS nbd_ext4"
