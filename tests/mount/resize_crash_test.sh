#!/usr/bin/env bash
# SIGKILL of the daemon during or just after `s3bd resize` (a directory
# store, then S3 when s3rver is installed): the volume always mounts again,
# at the old or the new size, `s3bd info` says the same size as the
# remounted disk file, a resize whose command returned 0 is kept, and the
# data written before reads back. Grows and shrinks (of an empty tail)
# alternate; every other kill comes right after the command returned (the
# new size must stay), the others at a random moment while it runs.
#
# S3BD_CRASH_ITERATIONS sets the number of kills per store (default 6).
source "$(dirname "$0")/s3_lib.sh"
require_fuse

ITERATIONS=${S3BD_CRASH_ITERATIONS:-6}
RANDOM=${S3BD_CRASH_SEED:-$$}
echo "resize crash test: $ITERATIONS kills per store, seed $RANDOM"
mnt=$WORK/mnt
mkdir -p "$mnt"
M=$((1024 * 1024))

kill_daemon() {
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  fusermount3 -uz "$mnt" 2>/dev/null || true
  local deadline=$((SECONDS + 20))
  while findmnt -rn "$mnt" >/dev/null; do
    ((SECONDS < deadline)) || fail "dead mount on $mnt did not go away"
    sleep 0.05
  done
}

info_size() {
  "$S3BD" info "$store" "${opts[@]}" --json -q | python3 -c 'import json,sys; print(json.load(sys.stdin)["size"])'
}

# run_store STORE OPTIONS...: the kills against one store.
run_store() {
  store=$1
  shift
  opts=("$@")
  head -c $M /dev/urandom >"$WORK/marker"
  start_fg "$store" "$mnt" --size 16M --block-size 1M "${opts[@]}"
  dd if="$WORK/marker" of="$mnt/file" bs=1M seek=3 conv=notrunc,fsync status=none
  local size=$((16 * M)) i
  for ((i = 0; i < ITERATIONS; i++)); do
    # Grow when small, shrink (an empty tail) when grown.
    local target=$((size == 16 * M ? 48 * M : 16 * M))
    "$S3BD" resize "$mnt" --size "$target" -q 2>"$WORK/resize.err" &
    local resize_pid=$! resize_status=0
    if ((i % 2 == 0)); then
      # Just after: the command returned, the daemon dies at once.
      wait "$resize_pid" || fail "resize to $target failed: $(cat "$WORK/resize.err")"
      kill_daemon
    else
      # During (or before, or after): a random moment 0 to 90 ms from now
      # (the only use of sleep here).
      sleep "0.0$((RANDOM % 10))"
      kill_daemon
      wait "$resize_pid" || resize_status=$?
    fi
    local now
    now=$(info_size) || fail "s3bd info failed after the kill"
    [[ $now == "$size" || $now == "$target" ]] || fail "after a kill the store says $now bytes, neither $size nor $target"
    ((resize_status != 0)) || [[ $now == "$target" ]] || fail "resize to $target returned 0, but the store says $now"
    echo "kill $i: resize to $target exited $resize_status; the volume is $now bytes"
    start_fg "$store" "$mnt" "${opts[@]}"
    [[ $(stat -c %s "$mnt/file") == "$now" ]] || fail "the remounted disk file is $(stat -c %s "$mnt/file") bytes, info says $now"
    cmp <(dd if="$mnt/file" bs=1M skip=3 count=1 status=none) "$WORK/marker" || fail "the marker changed after kill $i"
    if ((now > 16 * M)); then
      cmp <(dd if="$mnt/file" bs=1M skip=16 count=32 status=none) <(head -c $((32 * M)) /dev/zero) ||
        fail "the grown blocks do not read as zeros after kill $i"
    fi
    size=$now
  done
  stop_fg "$mnt"
  [[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
}

mkdir -p "$WORK/store"
run_store "$WORK/store"
if [[ -x $S3RVER_BIN ]]; then
  require_s3rver
  start_s3rver bucket
  run_store "s3://bucket/vol/" --endpoint "$S3_ENDPOINT"
else
  echo "s3rver is not installed (npm ci --prefix tests/s3rver): the S3 part is not run"
fi
echo "PASS resize crash"
