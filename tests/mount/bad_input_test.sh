#!/usr/bin/env bash
# Bad input: each case must exit with the expected status (2 for an error in
# the command line's own content, 1 for one that depends on the store or the
# system) and a one-line error that names the problem, and leave the store
# exactly as it was.
source "$(dirname "$0")/lib.sh"
require_fuse

mnt=$WORK/mnt empty=$WORK/empty existing=$WORK/existing
mkdir -p "$mnt" "$empty" "$existing"
mount_bg "$existing" "$mnt" --size 64M
head -c 3M /dev/urandom | dd of="$mnt/file" conv=notrunc status=none
unmount_bg "$existing" "$mnt"

snapshot() { (cd "$1" && find . -printf '%P %s %T@ %m\n' | sort && cat s3bd-volume 2>/dev/null || true); }

# expect_error STATUS PATTERN STORE_DIR -- ARGS...: runs s3bd ARGS, which
# must exit with STATUS and exactly one line on stderr matching PATTERN, and
# not touch STORE_DIR.
cases=0
expect_error() {
  local want=$1 pattern=$2 dir=$3
  shift 4
  local before after status
  before=$(snapshot "$dir")
  set +e
  "$S3BD" "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
  set -e
  after=$(snapshot "$dir")
  [[ $status != 0 ]] || fail "s3bd $* succeeded"
  [[ $status == "$want" ]] || fail "s3bd $*: exit status $status, expected $want: $(cat "$WORK/err")"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "s3bd $*: expected one line of error, got: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "s3bd $*: error does not match '$pattern': $(cat "$WORK/err")"
  [[ $before == "$after" ]] || fail "s3bd $*: the store changed"
  findmnt -rn "${CHECK_MNT:-$mnt}" >/dev/null && fail "s3bd $*: left a mount behind"
  cases=$((cases + 1))
  echo "ok: s3bd $* -> $status $(cat "$WORK/err")"
}

expect_error 1 "give its size with --size" "$empty" -- mount "$empty" "$mnt"
expect_error 1 "give its size with --size" "$empty" -- mount "$empty" "$mnt" -f
for bad in 0 abc 3X 1.5G -5 99999999999999999999; do
  expect_error 2 "invalid --size '$bad'" "$empty" -- mount "$empty" "$mnt" --size="$bad"
done
for bad in 0 3000 2K 128M 1Q; do
  expect_error 2 "invalid (--)?block.size" "$empty" -- mount "$empty" "$mnt" --size 1G --block-size="$bad"
done
expect_error 2 "not a whole number" "$empty" -- mount "$empty" "$mnt" --size 1000K
expect_error 2 "size 1 B is not a whole number of 1 MiB blocks" "$empty" -- mount "$empty" "$mnt" --size 1
# Sizes beyond the largest volume, 8 EiB - 1 block (off_t is signed 64-bit);
# 2^63 = 8192P = the largest 4K-block volume plus one block.
too_large="too large: at most 8 EiB - 1 byte \(9223372036854775807\)"
for bad in 8192P 16383P 16384P 9223372036854775808 18446744073709551615; do
  expect_error 2 "invalid --size '$bad': $too_large" "$empty" -- mount "$empty" "$mnt" --size "$bad"
done
expect_error 2 "invalid --size '9223372036854775808': $too_large" "$empty" -- \
  mount "$empty" "$mnt" --size 9223372036854775808 --block-size 4K
expect_error 2 "size 9223372036854775807 B is not a whole number of 4 KiB blocks" "$empty" -- \
  mount "$empty" "$mnt" --size 9223372036854775807 --block-size 4K
expect_error 1 "size 9223372036854775807 B is not a whole number of 1 MiB blocks" "$existing" -- \
  mount "$existing" "$mnt" --size 9223372036854775807 --force
expect_error 1 "disagrees with the store's size 64 MiB" "$existing" -- mount "$existing" "$mnt" --size 128M
expect_error 1 "disagrees with the store's block size" "$existing" -- mount "$existing" "$mnt" --block-size 64K
expect_error 1 "cannot shrink" "$existing" -- mount "$existing" "$mnt" --size 2M --force
expect_error 1 "mount point $WORK/nowhere: No such file or directory" "$empty" -- mount "$empty" "$WORK/nowhere" --size 1G
expect_error 1 "store directory $WORK/missing does not exist" "$empty" -- mount "$WORK/missing" "$mnt" --size 1G
touch "$WORK/plain"
expect_error 1 "store $WORK/plain is not a directory" "$empty" -- mount "$WORK/plain" "$mnt" --size 1G
expect_error 2 "unknown scheme 'http'" "$empty" -- mount "http://example/x" "$mnt" --size 1G
expect_error 2 "use file:///absolute/path" "$empty" -- mount "file://relative" "$mnt" --size 1G
expect_error 2 "--bogus \(see s3bd mount --help\)$" "$empty" -- mount "$empty" "$mnt" --size 1G --bogus
expect_error 2 "MOUNTPOINT is required \(see s3bd mount --help\)$" "$empty" -- mount "$empty"
expect_error 2 "MOUNTPOINT is required \(see s3bd sync --help\)$" "$empty" -- sync
expect_error 2 "invalid --file-mode" "$empty" -- mount "$empty" "$mnt" --size 1G --file-mode 999
expect_error 2 "must differ" "$empty" -- mount "$empty" "$mnt" --size 1G --file-name x --stats-file x
expect_error 2 "unknown log level" "$empty" -- mount "$empty" "$mnt" --size 1G --log-level loud
expect_error 2 "^s3bd: error: a command is required: mount, nbd, sync, stats, resize, unmount, info, verify, erase, unlock or passwd \(see s3bd --help\)$" "$empty" --
expect_error 2 "^s3bd: error: unknown command 'foo' \(see s3bd --help\)$" "$empty" -- foo
expect_error 2 "^s3bd: error: unknown option '--bogus' \(see s3bd --help\)$" "$empty" -- --bogus
# Cache options.
expect_error 2 "--max-dirty must not exceed --cache-size" "$empty" -- mount "$empty" "$mnt" --size 1G --cache-size 16M --max-dirty 32M
expect_error 2 "--durable-cache needs --cache-file" "$empty" -- mount "$empty" "$mnt" --size 1G --durable-cache
expect_error 2 "--write-delay-max must not be less than --write-delay" "$empty" -- mount "$empty" "$mnt" --size 1G --write-delay 300 --write-delay-max 200
expect_error 2 "--threads" "$empty" -- mount "$empty" "$mnt" --size 1G --threads 0
# A cache of fewer than 4 blocks, or more than this machine's memory.
expect_error 2 "^s3bd: error: --cache-size 1 KiB is too small: the cache needs at least 4 blocks" "$empty" -- \
  mount "$empty" "$mnt" --size 1G --cache-size 1K
expect_error 2 "^s3bd: error: --cache-size 2 MiB is too small for 1 MiB blocks: the cache needs at least 4 blocks \(4 MiB\)" \
  "$empty" -- mount "$empty" "$mnt" --size 1G --cache-size 2M
expect_error 2 "^s3bd: error: --cache-size 128 KiB is too small for 64 KiB blocks" "$empty" -- \
  mount "$empty" "$mnt" --size 1G --block-size 64K --cache-size 128K
expect_error 1 "^s3bd: error: --cache-size 2 MiB is too small for 1 MiB blocks \(the store's block size\)" \
  "$existing" -- mount "$existing" "$mnt" --cache-size 2M
mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
big=1T big_text="1 TiB"
((mem_kib < 1 << 30)) || big=$((mem_kib * 2))K big_text="$((mem_kib * 2)) KiB"
expect_error 2 "^s3bd: error: --cache-size $big_text is more than this machine's memory \([0-9.]+ GiB\)" "$empty" -- \
  mount "$empty" "$mnt" --size 1G --cache-size "$big"

# An unwritable store: a read-only bind mount of a directory.
ro=$WORK/ro
mkdir -p "$ro"
mount --bind "$empty" "$ro"
mount -o remount,ro,bind "$ro"
expect_error 1 "store directory $ro is not writable" "$empty" -- mount "$ro" "$mnt" --size 1G
umount "$ro"

# A store already in use by another mount.
mnt2=$WORK/mnt2
mkdir -p "$mnt2"
mount_bg "$existing" "$mnt"
CHECK_MNT=$mnt2 expect_error 1 "^s3bd: error: $existing is mounted read-write by $(hostname) \\(pid [0-9]+\\) since .*; mount it --read-only, or unmount it there$" "$existing" -- mount "$existing" "$mnt2"
unmount_bg "$existing" "$mnt"

# A mount point that already holds an s3bd mount: refused, and no second
# entry for it appears in /proc/mounts.
mount_bg "$existing" "$mnt"
for fg in "" -f; do
  CHECK_MNT=$mnt2 expect_error 1 "^s3bd: error: mount point $mnt is already a mount point \(fuse.s3bd s3bd\); unmount it first$" \
    "$empty" -- mount "$empty" "$mnt" --size 1G $fg
  [[ $(awk -v m="$mnt" '$2 == m' /proc/mounts | wc -l) == 1 ]] || fail "two mounts on $mnt: $(grep "$mnt" /proc/mounts)"
done
unmount_bg "$existing" "$mnt"

# The empty store was never written to.
[[ -z $(ls -A "$empty") ]] || fail "the empty store is no longer empty: $(ls -A "$empty")"
echo "PASS bad_input ($cases cases)"
