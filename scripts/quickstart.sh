#!/usr/bin/env bash
# Quick start: installs dependencies, builds s3bd, creates a 1 GiB disk on a
# local directory store, formats it ext4 through a loop device, mounts it,
# writes and reads a file, and shows the stats file.
#
#   scripts/quickstart.sh        set everything up (as root)
#   scripts/quickstart.sh stop   unmount everything and stop the daemon
#
# Everything lives under $S3BD_QUICKSTART_DIR (default /var/tmp/s3bd-quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
base=${S3BD_QUICKSTART_DIR:-/var/tmp/s3bd-quickstart}
store=$base/store mnt=$base/mnt fs=$base/fs

stop() {
  local dev
  if findmnt -rn "$fs" >/dev/null; then umount "$fs" && echo "unmounted $fs"; fi
  for dev in $(losetup -j "$mnt/file" -O NAME -n 2>/dev/null); do
    losetup -d "$dev" && echo "detached $dev"
  done
  if findmnt -rn "$mnt" >/dev/null; then
    fusermount3 -u "$mnt"
    # The daemon flushes everything to the store before it exits.
    while pgrep -f -- "s3bd mount $store $mnt" >/dev/null; do sleep 0.1; done
    echo "unmounted $mnt; the daemon has flushed and exited"
  fi
  echo "the disk's blocks stay in $store (delete it to start over)"
}

if [[ ${1:-} == stop ]]; then
  stop
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "quickstart: run as root (it uses a loop device and mount)" >&2
  exit 1
fi
if findmnt -rn "$mnt" >/dev/null; then
  echo "quickstart: already running; stop it with: scripts/quickstart.sh stop" >&2
  exit 1
fi

scripts/install-deps.sh
scripts/build.sh build
s3bd=$top/build/src/s3bd

mkdir -p "$store" "$mnt" "$fs"
echo "== mounting a 1 GiB disk stored in $store"
if [[ -e $store/s3bd-volume ]]; then
  "$s3bd" mount "$store" "$mnt"
else
  "$s3bd" mount "$store" "$mnt" --size 1G
fi
ls -l "$mnt"

dev=$(losetup --direct-io=on --show -f "$mnt/file")
echo "== loop device $dev"
if ! blkid "$dev" >/dev/null 2>&1; then
  echo "== formatting ext4"
  mkfs.ext4 -q "$dev"
fi
mount "$dev" "$fs"
echo "== filesystem mounted on $fs"

echo "hello from s3bd, $(date)" >"$fs/hello.txt"
sync
echo "== wrote and read back: $(cat "$fs/hello.txt")"
df -h "$fs" | tail -1
echo "== block files in the store: $(find "$store" -maxdepth 1 -regextype posix-extended -regex '.*/[0-9a-f]{8,}' | wc -l)"
echo "== stats ($mnt/stats):"
cat "$mnt/stats"
echo
echo "Your filesystem is mounted on $fs. Stop everything with: scripts/quickstart.sh stop"
