#!/usr/bin/env bash
# Crash test of the cache file (--cache-file, with and without
# --durable-cache): the daemon is killed with SIGKILL at random moments.
#
# Raw disk, with the disk tier (--cache-file-size 8 times --cache-size): a
# random-write workload (s3bd_crash_workload) on the disk file;
# after each restart with the same cache file, everything covered by a
# completed fsync reads back exactly, and what was written after the last
# completed fsync holds its old or its new data. At the end, after
# `s3bd sync` (and one more SIGKILL, so nothing else gets uploaded), a fresh
# mount without the cache file must read exactly the model's data: the
# store holds it.
#
# ext4 on top: files written and fsync'd while the daemon is killed; after
# each restart the journal replays, e2fsck -fn finds nothing, and every
# file whose fsync completed reads back right.
#
# S3BD_CRASH_ITERATIONS sets the number of kills per part (default 4; the
# long run uses 10).
source "$(dirname "$0")/lib.sh"
require_fuse

WORKLOAD=${S3BD_BUILD_DIR:?}/tests/crash/s3bd_crash_workload
[[ -x $WORKLOAD ]] || fail "workload tool not built: $WORKLOAD"
ITERATIONS=${S3BD_CRASH_ITERATIONS:-4}
RANDOM=${S3BD_CRASH_SEED:-$$}
echo "crash test: $ITERATIONS kills per part, seed $RANDOM"

store=$WORK/store mnt=$WORK/mnt cache=$WORK/cache model=$WORK/model pending=$WORK/pending
mkdir -p "$store" "$mnt"

# A random moment 0.3 to 2.3 s from now (choosing the kill moment is the
# only use of sleep here).
random_delay() { printf '%d.%03d' $((RANDOM % 2)) $((300 + RANDOM % 1000)); }

# Kills the daemon with SIGKILL and cleans up its dead mount.
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

# Waits for a background process that may fail, up to a deadline.
wait_quiet() {
  local pid=$1 what=$2 deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$what did not stop"
    sleep 0.05
  done
  wait "$pid" 2>/dev/null || true
}

# Waits for a background process, failing after a deadline.
wait_for() {
  local pid=$1 what=$2 deadline=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "$what did not stop"
    sleep 0.05
  done
  wait "$pid" || fail "$what failed (status $?)"
}

mount_args() {
  local i=$1
  local args=(--cache-size 8M --cache-file "$cache" --write-delay $((RANDOM % 200)) --threads 8)
  ((i % 2 == 1)) && args+=(--durable-cache)
  # The raw disk part with the disk tier: a file 8 times the memory.
  [[ ${2:-} == tier ]] && args+=(--cache-file-size 64M)
  echo "${args[@]}"
}

# ---------------------------------------------------------------- raw disk
truncate -s 64M "$model"
: >"$pending"
# Small blocks: a 64 MiB disk has 1024 of them; the memory holds 128, the
# file all 1024.
start_fg "$store" "$mnt" --size 64M --block-size 64K $(mount_args 0 tier)
for ((i = 1; i <= ITERATIONS; i++)); do
  "$WORKLOAD" run "$mnt/file" "$model" "$pending" "$i$RANDOM" >"$WORK/run.log" 2>&1 &
  wl=$!
  sleep "$(random_delay)"
  kill_daemon
  wait_for "$wl" "the workload"
  echo "kill $i: $(cat "$WORK/run.log")"
  grep -q "fsyncs" "$WORK/run.log" || fail "the workload ended before the kill: $(cat "$WORK/run.log")"
  # Restart with the same cache file: its unsaved blocks come back first.
  start_fg "$store" "$mnt" $(mount_args "$i" tier)
  mode=$( ((i % 2 == 0)) && echo "--durable-cache" || echo "fsync to the store")
  "$WORKLOAD" check "$mnt/file" "$model" "$pending" || fail "data lost after kill $i (before it: $mode)"
  : >"$pending"
done
grep -qE "[1-9][0-9]* unsaved blocks to upload" "$WORK/daemon.log" || fail "no kill left unsaved blocks to recover"

# The end: a clean run, s3bd sync (which waits for the store also with
# --durable-cache), one more kill, and the store alone must hold the model.
stop_fg "$mnt"
start_fg "$store" "$mnt" --cache-size 8M --cache-file "$cache" --durable-cache --write-delay 100
"$WORKLOAD" run "$mnt/file" "$model" "$pending" "9$RANDOM" 40 >/dev/null
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
kill_daemon
# The killed mount's lease names its cache file: a mount without it is
# refused until the lease is removed (the cache file is deliberately left out).
"$S3BD" mount "$store" "$mnt" -f --cache-size 0 2>"$WORK/refused.err" && fail "a mount without the cache file was not refused"
grep -q "not unmounted cleanly" "$WORK/refused.err" || fail "unexpected refusal: $(cat "$WORK/refused.err")"
"$S3BD" unlock "$store" >/dev/null || fail "s3bd unlock failed"
start_fg "$store" "$mnt" --cache-size 0
"$WORKLOAD" check "$mnt/file" "$model" "$pending" || fail "after s3bd sync, the store does not hold the model's data"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "exit status $DAEMON_STATUS"
echo "PASS crash (raw disk)"

# ---------------------------------------------------------------- ext4
store=$WORK/store-ext4 cache=$WORK/cache-ext4 fs=$WORK/fs done=$WORK/done
mkdir -p "$store" "$fs"
: >"$done"
start_fg "$store" "$mnt" --size 256M $(mount_args 0)
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev" >/dev/null

# Files written and fsync'd; a file is listed in $done (outside the disk)
# only after its fsync returned. A scratch file is rewritten all along.
fs_workload() {
  local n=$1 i=0 f
  mkdir -p "$fs/w$n"
  while :; do
    i=$((i + 1))
    f=w$n/f$i
    head -c $(((RANDOM % 64 + 1) * 4096 + RANDOM)) /dev/urandom >"$fs/$f.tmp" || return 0
    mv "$fs/$f.tmp" "$fs/$f" || return 0
    sync "$fs/$f" "$fs/w$n" 2>/dev/null || return 0
    echo "$(sha256sum <"$fs/$f" | cut -d' ' -f1) $f" >>"$done"
    dd if=/dev/urandom of="$fs/scratch" bs=64K count=4 conv=notrunc status=none 2>/dev/null || return 0
  done
}

check_files() {
  local sum f bad=0
  while read -r sum f; do
    [[ $(sha256sum <"$fs/$f" | cut -d' ' -f1) == "$sum" ]] || { echo "lost: $f" >&2; bad=1; }
  done <"$done"
  return $bad
}

mount "$dev" "$fs"
for ((i = 1; i <= ITERATIONS; i++)); do
  fs_workload "$i" &
  wl=$!
  sleep "$(random_delay)"
  kill_daemon
  wait_quiet "$wl" "the file workload"
  # The filesystem and the loop device over the dead mount go first.
  umount -l "$fs" || true
  losetup -d "$dev" || true
  start_fg "$store" "$mnt" $(mount_args "$i")
  dev=$(attach "$mnt/file")
  mount "$dev" "$fs" # replays the journal
  umount "$fs"
  e2fsck -fn "$dev" >"$WORK/fsck.log" 2>&1 || fail "e2fsck after kill $i: $(cat "$WORK/fsck.log")"
  mount "$dev" "$fs"
  check_files || fail "a file whose fsync completed is lost after kill $i"
  echo "kill $i: ext4 clean, $(wc -l <"$done") synced files intact"
done
umount "$fs"
detach "$dev"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "exit status $DAEMON_STATUS"
echo "PASS crash (ext4)"
