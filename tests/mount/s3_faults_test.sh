#!/usr/bin/env bash
# An ext4 workload on s3bd while the test S3 server fails 10% of requests
# with 503 SlowDown, resets 5% of connections and jitters its latency: it
# completes, the daemon exits 0, and everything verifies after a remount
# during which reads also see corrupted and truncated bodies (detected
# through the CRC-32C stored with each object, or the transfer's
# Content-Length, and retried: never returned).
# Replay with S3BD_FAULT_SEED=<seed printed below>.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

seed=${S3BD_FAULT_SEED:-$((RANDOM * 32768 + RANDOM))}
echo "test S3 server seed: $seed"
start_test_s3server --seed "$seed" --latency-ms 2 --jitter-ms 20 \
  --fault any.slowdown=0.10 --fault any.reset=0.05
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 120)

mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$mnt" "$fs"
make_tree "$src"
checksums "$src" >"$WORK/want"

start_fg s3://bucket/faulty "$mnt" --size 256M "${opts[@]}"
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev"
mount "$dev" "$fs"
cp -a "$src/." "$fs/"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS under faults"
injected=$(curl -sS "$S3_CONTROL/counters")
echo "server counters after the write phase: $injected"
grep -qE '"slowdown": *[1-9]' <<<"$injected" || fail "no SlowDown was injected"
grep -qE '"reset": *[1-9]' <<<"$injected" || fail "no reset was injected"

# Reads now also get corrupted and truncated bodies.
s3ctl config "get.corrupt=0.2&get.truncate=0.05"
start_fg s3://bucket/faulty "$mnt" "${opts[@]}"
dev=$(attach "$mnt/file")
e2fsck -fn "$dev" || fail "e2fsck found problems"
mount -o ro "$dev" "$fs"
checksums "$fs" >"$WORK/got"
diff "$WORK/want" "$WORK/got" || fail "data differs after the faulty run"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS on the read phase"
corrupted=$(s3counter corrupt)
[[ ${corrupted:-0} -gt 0 ]] || fail "no corrupted body was served"
echo "PASS s3_faults: $corrupted corrupted bodies served, none returned"
