#!/usr/bin/env bash
# `s3bd resize` of a volume in S3 (s3rver), raw disk file with a cache
# file: grown from 64 MiB to 256 MiB while dd keeps rewriting the first
# 32 MiB; the new blocks read as zeros and take data; a shrink that would
# cut off data is refused; once that data is punched out the shrink works,
# and no block object lies past the new end. `s3bd info` and a remount
# (the size from the store) agree, and the block map covers the new size.
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

bucket=bucket prefix=vol/
store="s3://$bucket/$prefix"
mnt=$WORK/mnt
mkdir -p "$mnt"
M=$((1024 * 1024))
start_s3rver "$bucket"
opts=(--endpoint "$S3_ENDPOINT" --block-size 1M --cache-file "$WORK/cache" --cache-size 64M)

start_fg "$store" "$mnt" --size 64M "${opts[@]}"
head -c $((32 * M)) /dev/urandom >"$WORK/front"
head -c $M /dev/urandom >"$WORK/b"

# The writer: rewrites the first 32 MiB, fsync'd, until $WORK/stop exists.
writer() {
  local rounds=0
  while [[ ! -e $WORK/stop ]]; do
    dd if="$WORK/front" of="$mnt/file" bs=1M conv=notrunc,fsync status=none || return 1
    rounds=$((rounds + 1))
    echo $rounds >"$WORK/rounds"
  done
}
echo 0 >"$WORK/rounds"
writer &
writer_pid=$!
# rounds_reach N: until the writer has completed N rounds.
rounds_reach() {
  local deadline=$((SECONDS + 120))
  until (($(cat "$WORK/rounds") >= $1)); do
    kill -0 "$writer_pid" 2>/dev/null || fail "the writer failed"
    ((SECONDS < deadline)) || fail "the writer is stuck at $(cat "$WORK/rounds") rounds"
    sleep 0.05
  done
}
rounds_reach 1
"$S3BD" resize "$mnt" --size 256M >"$WORK/out" || fail "grow failed: $(tail -3 "$WORK/daemon.log")"
grep -q "resized from 64 MiB to 256 MiB" "$WORK/out" || fail "resize printed: $(cat "$WORK/out")"
[[ $(stat -c %s "$mnt/file") == $((256 * M)) ]] || fail "disk file is $(stat -c %s "$mnt/file") bytes"
rounds_reach $(($(cat "$WORK/rounds") + 1))
touch "$WORK/stop"
wait "$writer_pid" || fail "the writer failed"
cmp <(head -c $((32 * M)) "$mnt/file") "$WORK/front" || fail "the first 32 MiB differ"
cmp <(dd if="$mnt/file" bs=1M skip=64 count=192 status=none) <(head -c $((192 * M)) /dev/zero) ||
  fail "the new blocks do not read as zeros"
dd if="$WORK/b" of="$mnt/file" bs=1M seek=200 conv=notrunc,fsync status=none
"$S3BD" resize "$mnt" --size 128M 2>"$WORK/err" && fail "a shrink over data at 200 MiB succeeded"
grep -q "cannot shrink" "$WORK/err" || fail "unexpected message: $(cat "$WORK/err")"
[[ $(stat -c %s "$mnt/file") == $((256 * M)) ]] || fail "a refused shrink changed the size"
cmp <(dd if="$mnt/file" bs=1M skip=200 count=1 status=none) "$WORK/b" || fail "block 200 changed"
s3_keys "$bucket" "$prefix" | grep -qx "${prefix}000000c8" || fail "no object for block 200"
fallocate -p -o $((200 * M)) -l $M "$mnt/file"
"$S3BD" resize "$mnt" --size 128M -q || fail "shrink of the emptied tail failed: $(tail -3 "$WORK/daemon.log")"
[[ $(stat -c %s "$mnt/file") == $((128 * M)) ]] || fail "disk file is $(stat -c %s "$mnt/file") bytes"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"

past=$(s3_keys "$bucket" "$prefix" | grep -E "/[0-9a-f]{8}$" | while read -r k; do
  ((16#${k##*/} >= 128)) && echo "$k"; done || true)
[[ -z $past ]] || fail "objects past the new end: $past"
"$S3BD" info "$store" --endpoint "$S3_ENDPOINT" >"$WORK/info"
grep -qE "^size +128 MiB " "$WORK/info" || fail "info: $(cat "$WORK/info")"

start_fg "$store" "$mnt" "${opts[@]}"
[[ $(stat -c %s "$mnt/file") == $((128 * M)) ]] || fail "remounted disk file is $(stat -c %s "$mnt/file") bytes"
cmp <(head -c $((32 * M)) "$mnt/file") "$WORK/front" || fail "the first 32 MiB differ after the remount"
# The map (saved in the cache file at the unmount, or surveyed where the
# server cannot vouch for it) covers exactly the 128 blocks.
deadline=$((SECONDS + 60))
until python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); m=[l for l in s["layers"] if l["layer"]=="map"][0]; sys.exit(0 if m["surveyed"] else 1)' "$mnt/.stats.json"; do
  ((SECONDS < deadline)) || fail "the block map was not complete after 60 s"
  sleep 0.05
done
check_json "$mnt/.stats.json" 'layer("map")["unknown"] == 0' \
  'layer("map")["known_present"] + layer("map")["known_absent"] == 128'
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
echo "PASS resize s3"
