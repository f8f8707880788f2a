#!/usr/bin/env bash
# The block map (include/s3bd/map/block_map.h) on the test S3 server, counted
# with the server's own request counters:
#  1. mkfs.ext4, with its default discard of the whole device, on a fresh
#     1 GiB volume makes no DELETE and no GET (the volume is known empty);
#  2. a remount of that volume surveys it in the background (the stats say
#     so); then a discard and a read of blocks never written make no request,
#     while a discard of a written block still DELETEs it;
#  3. a read-only mount beside the writer has no map (a writer may add
#     blocks behind its back): its reads of a hole go to the store.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT
command -v blkdiscard >/dev/null || fail "blkdiscard is missing (util-linux)"

# Lease renewals far away, so that the counters see only the workload.
export S3BD_TEST_LEASE=600,300
start_test_s3server
mnt=$WORK/mnt ro=$WORK/ro
mkdir -p "$mnt" "$ro"
store=s3://bucket/vol
opts=(--endpoint "$S3_ENDPOINT" --path-style --size 1G)
MiB=$((1024 * 1024))

# stats_json MNT: the mount's JSON stats.
stats_json() { cat "$1/.stats.json"; }
# map_key MNT KEY: one key of the map layer's stats.
map_key() { stats_json "$1" | jq -r ".layers[] | select(.layer == \"map\") | .$2"; }

# 1. mkfs on a fresh volume.
mount_bg "$store" "$mnt" "${opts[@]}"
[[ $(map_key "$mnt" survey) == done ]] || fail "a fresh volume is surveyed before the mount: $(map_key "$mnt" survey)"
s3ctl reset
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev"   # discards the whole device first
detach "$dev"
"$S3BD" sync "$mnt" -q
deletes=$(s3counter delete_object) multi=$(s3counter delete_objects) gets=$(s3counter get_object)
puts=$(s3counter put_object)
echo "mkfs.ext4 on a fresh 1 GiB volume: $puts PUT, $gets GET, $deletes DELETE, $multi DeleteObjects;" \
  "map: $(map_key "$mnt" zeros_saved) zeros and $(map_key "$mnt" reads_saved) reads saved"
((puts > 0)) || fail "mkfs stored nothing"
((deletes == 0 && multi == 0)) || fail "mkfs on a fresh volume made $deletes DELETEs and $multi DeleteObjects"
((gets == 0)) || fail "mkfs on a fresh volume made $gets GETs"
(($(map_key "$mnt" zeros_saved) >= 1000)) || fail "the map saved only $(map_key "$mnt" zeros_saved) zeros"
unmount_bg "$store" "$mnt"

# 2. A remount: the survey runs in the background; wait until it is done.
mount_bg "$store" "$mnt" "${opts[@]}"
deadline=$((SECONDS + 60))
until [[ $(map_key "$mnt" surveyed) == true ]]; do
  ((SECONDS < deadline)) || fail "the survey did not finish: $(map_key "$mnt" survey)"
  sleep 0.05
done
present=$(map_key "$mnt" known_present)
((present > 0)) || fail "the survey found no block"
echo "surveyed: $present blocks may hold data, $(map_key "$mnt" known_absent) known absent"
# A hole: a 64 MiB range of blocks the survey found without an object.
written=$(curl -sS --fail "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/" |
  grep -oE '<Key>vol/[0-9a-f]{8}</Key>' | grep -oE '[0-9a-f]{8}' | sort -u)
start=""
for ((b = 0; b + 64 <= 1024; b += 64)); do
  clash=0
  for k in $written; do
    n=$((16#$k))
    ((n >= b && n < b + 64)) && { clash=1; break; }
  done
  ((clash)) || { start=$b; break; }
done
[[ -n $start ]] || fail "no 64 MiB hole in the volume: $written"
first_written=$((16#$(head -1 <<<"$written")))
dev=$(attach "$mnt/file")
# udev probes a new loop device (reading block 0, which holds data): let it
# finish before counting.
udevadm settle 2>/dev/null || true
s3ctl reset
blkdiscard -f -o $((start * MiB)) -l $((64 * MiB)) "$dev"
dd if="$dev" of=/dev/null bs=1M skip=$((start + 3)) count=1 iflag=direct status=none
"$S3BD" sync "$mnt" -q
deletes=$(s3counter delete_object) gets=$(s3counter get_object)
echo "discard of 64 never-written blocks and a read of one: $deletes DELETE, $gets GET"
((deletes == 0)) || fail "a discard of never-written blocks made $deletes DELETEs after the survey"
((gets == 0)) || fail "a read of a never-written block made $gets GETs after the survey"
# The test can fail: a written block's discard is a DELETE.
blkdiscard -f -o $((first_written * MiB)) -l $MiB "$dev"
"$S3BD" sync "$mnt" -q
(($(s3counter delete_object) == 1)) || fail "the discard of written block $first_written made $(s3counter delete_object) DELETEs"
detach "$dev"

# 3. A read-only mount beside the writer: no map, so its read of a hole asks.
"$S3BD" mount "$store" "$ro" --endpoint "$S3_ENDPOINT" --path-style --read-only 2>>"$WORK/daemon.log" ||
  fail "read-only mount failed: $(tail -1 "$WORK/daemon.log")"
stats_json "$ro" | jq -e '[.layers[].layer] | index("map") == null' >/dev/null ||
  fail "a read-only mount has a map layer"
s3ctl reset
dd if="$ro/file" of=/dev/null bs=1M skip=$((start + 5)) count=1 iflag=direct status=none
(($(s3counter get_object) == 1)) || fail "the read-only mount's read of a hole made $(s3counter get_object) GETs"
fusermount3 -u "$ro"
unmount_bg "$store" "$mnt"
echo "PASS s3_block_map"
