#!/usr/bin/env bash
# Raw unaligned I/O on the disk file, checked against a local reference file,
# across unmount and remount; the file's attributes and refusals.
source "$(dirname "$0")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt ref=$WORK/ref
mkdir -p "$store" "$mnt"
mount_bg "$store" "$mnt" --size 16M --block-size 64K
truncate -s 16M "$ref"

[[ $(stat -c %s "$mnt/file") == 16777216 ]] || fail "size is not 16 MiB"
[[ $(stat -c %a "$mnt/file") == 600 ]] || fail "mode is not 0600"
grep -q '^\[directory\]' "$mnt/stats" || fail "stats file lacks the directory section"

# Random unaligned writes of random lengths, the same to both files.
RANDOM=4242
for i in $(seq 1 150); do
  off=$(( (RANDOM * 32768 + RANDOM) % (16 * 1024 * 1024 - 300000) ))
  len=$(( RANDOM * 9 % 300000 + 1 ))
  head -c "$len" /dev/urandom >"$WORK/chunk"
  for f in "$mnt/file" "$ref"; do
    dd if="$WORK/chunk" of="$f" bs=64K seek="$off" oflag=seek_bytes conv=notrunc status=none
  done
done
# A zero write over data, and one unaligned 1 MiB write.
for f in "$mnt/file" "$ref"; do
  dd if=/dev/zero of="$f" bs=100000 count=3 seek=5000000 oflag=seek_bytes conv=notrunc status=none
done
cmp "$mnt/file" "$ref" || fail "content differs before remount"
# Direct reads that start and end inside 64 KiB blocks and span several: the
# reply is made of one piece of each block (the cache's own buffers).
for spec in "61440 200704" "4096 1048576" "131072 65536" "12288 4096"; do
  read -r off len <<<"$spec"
  cmp <(dd if="$mnt/file" bs="$len" count=1 skip="$off" iflag=direct,skip_bytes status=none) \
      <(dd if="$ref" bs="$len" count=1 skip="$off" iflag=skip_bytes status=none) ||
    fail "direct read of $len bytes at $off differs"
done
# Fixed inode numbers: the root 1, the disk file 2, the stats files 3 and 4.
[[ $(stat -c %i "$mnt" "$mnt/file" "$mnt/stats" "$mnt/.stats.json" | tr '\n' ' ') == "1 2 3 4 " ]] ||
  fail "inode numbers: $(stat -c '%n %i' "$mnt" "$mnt/file" "$mnt/stats" "$mnt/.stats.json")"

# The cache counts the partial-block operations it serves: 64 direct 4 KiB
# reads inside 64 KiB blocks are 64 reads of 4 KiB each and 64 lookups.
# cache_stat FIELD: from the [cache] section, "read" or "write" (ops and
# bytes) or "lookups" (hits + misses).
cache_stat() {
  awk -v f="$1" '/^\[/ { on = ($0 == "[cache]") } !on { next }
    f == "read" && $1 == "read" { print $2, $4 } f == "write" && $1 == "write" { print $2, $4 }
    f == "lookups" && $1 == "hits" { print $4 + $6 }' "$mnt/stats"
}
read -r reads0 read_bytes0 < <(cache_stat read)
lookups0=$(cache_stat lookups)
dd if="$mnt/file" of=/dev/null bs=4096 count=64 skip=100 iflag=direct status=none
read -r reads1 read_bytes1 < <(cache_stat read)
lookups1=$(cache_stat lookups)
[[ $((reads1 - reads0)) == 64 && $((read_bytes1 - read_bytes0)) == $((64 * 4096)) ]] ||
  fail "64 reads of 4 KiB counted as $((reads1 - reads0)) reads of $((read_bytes1 - read_bytes0)) bytes: $(cat "$mnt/stats")"
[[ $((lookups1 - lookups0)) == 64 ]] || fail "64 reads made $((lookups1 - lookups0)) lookups: $(cat "$mnt/stats")"
# Every read and every partial write is one lookup; whole-block writes are none.
read -r writes _ < <(cache_stat write)
((writes > 150 && reads1 <= lookups1 && lookups1 <= reads1 + writes)) ||
  fail "cache reads $reads1, writes $writes, hits + misses $lookups1 disagree: $(cat "$mnt/stats")"

# Writes at and past the end fail; reads at the end are empty.
if dd if=/dev/zero of="$mnt/file" bs=1 count=1 seek=16777216 conv=notrunc status=none 2>"$WORK/err"; then
  fail "a write past the end succeeded"
fi
grep -q "File too large" "$WORK/err" || fail "write past the end: $(cat "$WORK/err")"
[[ $(dd if="$mnt/file" bs=4096 skip=4096 status=none | wc -c) == 0 ]] || fail "read past the end returned data"
# Truncate, rename, create and unlink are refused.
truncate -s 1M "$mnt/file" 2>/dev/null && fail "truncate succeeded"
truncate -s 16M "$mnt/file" || fail "truncate to the same size failed"
mv "$mnt/file" "$mnt/other" 2>/dev/null && fail "rename succeeded"
touch "$mnt/new" 2>/dev/null && fail "creating a file succeeded"
rm -f "$mnt/file" 2>/dev/null && fail "unlink succeeded"
[[ -e "$mnt/file" ]] || fail "the disk file vanished"

unmount_bg "$store" "$mnt"

# Remount without --size: the geometry comes from the store.
mount_bg "$store" "$mnt"
[[ $(stat -c %s "$mnt/file") == 16777216 ]] || fail "size not remembered"
cmp "$mnt/file" "$ref" || fail "content differs after remount"
# Direct I/O reads through a loop device see the same bytes.
dev=$(attach "$mnt/file")
cmp "$dev" "$ref" || fail "loop device content differs"
detach "$dev"
unmount_bg "$store" "$mnt"
echo "PASS raw_io"
