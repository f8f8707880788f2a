#!/usr/bin/env bash
# The block map saved in the cache file (include/s3bd/map/block_map.h,
# "Saved map") on the test S3 server, counted with the server's own request
# counters:
#  1. a clean unmount with --cache-file saves the map and leaves the lease as
#     a `released` record; the remount with the same cache file makes no
#     LIST request (the stats say the map came from the cache file), reads
#     back what was written (most of it from the store: the cache is small),
#     and its reads of never-written blocks make no GET;
#  2. after another mount, without that cache file, wrote blocks in between,
#     the saved map is not trusted: the survey lists the store, and the new
#     blocks read back correctly;
#  3. after a SIGKILL of a mount with the cache file, the next mount
#     surveys, and what the killed mount had stored reads back.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

# Lease renewals far away, so that the counters see only the workload.
export S3BD_TEST_LEASE=600,300
start_test_s3server
mnt=$WORK/mnt cache=$WORK/cache
mkdir -p "$mnt"
store=s3://bucket/vol
s3=(--endpoint "$S3_ENDPOINT" --path-style)
with_file=("${s3[@]}" --cache-size 1M --cache-file "$cache")
KiB=1024 MiB=$((1024 * 1024))

map_key() { jq -r ".layers[] | select(.layer == \"map\") | .$2" "$1/.stats.json"; }
lists() { echo $(($(s3counter list_objects_v2) + $(s3counter list_objects_v1))); }
lease_state() { curl -sS --fail "$S3_ENDPOINT/bucket/vol/s3bd-lease" | sed -n 's/^state //p'; }
# wait_surveyed MNT: until the map is complete (a background survey done).
wait_surveyed() {
  local deadline=$((SECONDS + 60))
  until [[ $(map_key "$1" surveyed) == true ]]; do
    ((SECONDS < deadline)) || fail "the survey did not finish: $(map_key "$1" survey)"
    sleep 0.05
  done
}
# same_as FILE OFFSET LENGTH: the disk file's bytes there equal FILE's.
same_as() {
  cmp -n "$3" "$1" <(dd if="$mnt/file" bs=64K skip=$(($2 / (64 * KiB))) count=$(($3 / (64 * KiB))) \
    iflag=direct status=none) || fail "the data at offset $2 differs from $1"
}

# 1. Write 4 MiB (64 blocks of 64 KiB, four times the cache), unmount
# cleanly, mount again with the same cache file.
head -c $((4 * MiB)) /dev/urandom >"$WORK/a"
mount_bg "$store" "$mnt" --size 64M --block-size 64K "${with_file[@]}"
dd if="$WORK/a" of="$mnt/file" bs=64K conv=notrunc,fsync status=none
unmount_bg "$store" "$mnt"
[[ $(lease_state) == released ]] || fail "a clean unmount with a cache file left the lease as '$(lease_state)'"
"$S3BD" info "$store" "${s3[@]}" | grep -qE '^mounted +not mounted read-write \(last: .*clean unmount' ||
  fail "info: $("$S3BD" info "$store" "${s3[@]}" | grep mounted)"
[[ $(stat -c %a "$cache") == 600 ]] || fail "cache file mode $(stat -c %a "$cache")"

s3ctl reset
mount_bg "$store" "$mnt" "${with_file[@]}"
[[ $(map_key "$mnt" source) == cache-file ]] || fail "the remount's map came from '$(map_key "$mnt" source)'"
[[ $(map_key "$mnt" surveyed) == true ]] || fail "a map loaded from the cache file is complete"
(($(map_key "$mnt" known_present) == 64)) || fail "$(map_key "$mnt" known_present) blocks known present, not 64"
same_as "$WORK/a" 0 $((4 * MiB))
(($(s3counter get_object) > 0)) || fail "the cache is too big for this test: nothing was read from the store"
n=$(lists)
((n == 0)) || fail "the remount with its cache file listed the store ($n LIST requests)"
s3ctl reset
dd if="$mnt/file" of=/dev/null bs=64K skip=512 count=16 iflag=direct status=none
gets=$(s3counter get_object)
((gets == 0)) || fail "reads of 16 never-written blocks made $gets GETs"
unmount_bg "$store" "$mnt"
echo "remount with the cache file: no LIST, 4 MiB read back, no GET for never-written blocks"

# 2. Another mount, without that cache file, writes 1 MiB at 40 MiB.
head -c $MiB /dev/urandom >"$WORK/b"
mount_bg "$store" "$mnt" "${s3[@]}"
dd if="$WORK/b" of="$mnt/file" bs=64K seek=640 conv=notrunc,fsync status=none
unmount_bg "$store" "$mnt"
s3ctl reset
mount_bg "$store" "$mnt" "${with_file[@]}"
[[ $(map_key "$mnt" source) != cache-file ]] || fail "the saved map was trusted after another mount wrote"
wait_surveyed "$mnt"
[[ $(map_key "$mnt" source) == survey ]] || fail "the map came from '$(map_key "$mnt" source)'"
(($(lists) > 0)) || fail "no LIST: the store was not surveyed"
same_as "$WORK/b" $((40 * MiB)) $MiB
same_as "$WORK/a" 0 $((4 * MiB))
unmount_bg "$store" "$mnt"
echo "after another mount wrote: surveyed, and its blocks read back"

# 3. A mount with the cache file (trusting it) is killed after a write that
# reached the store (fsync without --durable-cache means stored).
head -c $MiB /dev/urandom >"$WORK/c"
start_fg "$store" "$mnt" "${with_file[@]}"
[[ $(map_key "$mnt" source) == cache-file ]] || fail "after its own clean unmount the map was not trusted"
dd if="$WORK/c" of="$mnt/file" bs=64K seek=768 conv=notrunc,fsync status=none
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
fusermount3 -uz "$mnt"
s3ctl reset
mount_bg "$store" "$mnt" "${with_file[@]}"
[[ $(map_key "$mnt" source) != cache-file ]] || fail "the saved map was trusted after a SIGKILL"
wait_surveyed "$mnt"
(($(lists) > 0)) || fail "no LIST after the SIGKILL"
same_as "$WORK/c" $((48 * MiB)) $MiB
same_as "$WORK/b" $((40 * MiB)) $MiB
unmount_bg "$store" "$mnt"
echo "PASS s3_map_cache_file"
