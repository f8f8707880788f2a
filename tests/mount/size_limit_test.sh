#!/usr/bin/env bash
# The largest volume, 8 EiB minus one block (off_t is signed 64-bit), works
# for real: the disk file has that size, a loop device attaches to it, the
# last block is written and read back through it, and the block's name in
# the store (13 hex digits) maps back to it at the next mount. One block
# more is refused, also as a resize, and leaves the volume as it was.
source "$(dirname "$0")/lib.sh"
require_fuse

mnt=$WORK/mnt
mkdir -p "$mnt"
for bs in 4096 1048576; do
  store=$WORK/store-$bs
  mkdir -p "$store"
  largest=$(((1 << 63) - bs))  # bash arithmetic is signed 64-bit: 2^63 wraps, minus bs is exact
  last_block=$(printf '%08x' $((largest / bs - 1)))
  mount_bg "$store" "$mnt" --size "$largest" --block-size "$bs"
  [[ $(stat -c %s "$mnt/file") == "$largest" ]] || fail "disk file size $(stat -c %s "$mnt/file"), expected $largest"
  dev=$(attach "$mnt/file")
  [[ $(blockdev --getsize64 "$dev") == "$largest" ]] || fail "$dev has $(blockdev --getsize64 "$dev") bytes"
  head -c "$bs" /dev/urandom >"$WORK/data"
  dd if="$WORK/data" of="$dev" bs="$bs" seek=$((largest / bs - 1)) oflag=direct status=none
  dd if="$dev" of="$WORK/back" bs="$bs" skip=$((largest / bs - 1)) count=1 iflag=direct status=none
  cmp "$WORK/data" "$WORK/back" || fail "the last block of $dev reads back different"
  detach "$dev"
  unmount_bg "$store" "$mnt"
  [[ -f $store/$last_block ]] || fail "no block file $last_block in the store: $(ls "$store")"

  # One block more is 2^63 = 8192P: refused as a resize (exit 2), and the
  # volume is left as it was.
  meta=$(cat "$store/s3bd-volume")
  set +e
  "$S3BD" mount "$store" "$mnt" --size 8192P --force 2>"$WORK/err"
  status=$?
  set -e
  [[ $status == 2 ]] || fail "s3bd mount --size 8192P --force: exit status $status: $(cat "$WORK/err")"
  grep -q "too large: at most 8 EiB - 1 byte" "$WORK/err" || fail "s3bd mount --size 8192P: $(cat "$WORK/err")"
  findmnt -rn "$mnt" >/dev/null && fail "s3bd mount --size 8192P --force left a mount"
  [[ $(cat "$store/s3bd-volume") == "$meta" ]] || fail "the volume metadata changed: $(cat "$store/s3bd-volume")"

  # The next mount reads the geometry from the store and finds the block.
  mount_bg "$store" "$mnt"
  [[ $(stat -c %s "$mnt/file") == "$largest" ]] || fail "after remount: size $(stat -c %s "$mnt/file")"
  dd if="$mnt/file" of="$WORK/back" bs="$bs" skip=$((largest / bs - 1)) count=1 status=none
  cmp "$WORK/data" "$WORK/back" || fail "the last block changed across a remount"
  unmount_bg "$store" "$mnt"
  echo "ok: a volume of $largest bytes in $bs-byte blocks (last block $last_block)"
done
echo "PASS size_limit"
