#!/usr/bin/env bash
# Bad input: each case must exit nonzero with a one-line error that names the
# problem, and leave the store exactly as it was.
source "$(dirname "$0")/lib.sh"
require_fuse

mnt=$WORK/mnt empty=$WORK/empty existing=$WORK/existing
mkdir -p "$mnt" "$empty" "$existing"
mount_bg "$existing" "$mnt" --size 64M
head -c 3M /dev/urandom | dd of="$mnt/file" conv=notrunc status=none
unmount_bg "$existing" "$mnt"

snapshot() { (cd "$1" && find . -printf '%P %s %T@ %m\n' | sort && cat s3bd-volume 2>/dev/null || true); }

# expect_error PATTERN STORE_DIR -- ARGS...: runs s3bd ARGS, which must fail
# with exactly one line on stderr matching PATTERN and not touch STORE_DIR.
cases=0
expect_error() {
  local pattern=$1 dir=$2
  shift 3
  local before after status
  before=$(snapshot "$dir")
  set +e
  "$S3BD" "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
  set -e
  after=$(snapshot "$dir")
  [[ $status != 0 ]] || fail "s3bd $* succeeded"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "s3bd $*: expected one line of error, got: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "s3bd $*: error does not match '$pattern': $(cat "$WORK/err")"
  [[ $before == "$after" ]] || fail "s3bd $*: the store changed"
  findmnt -rn "${CHECK_MNT:-$mnt}" >/dev/null && fail "s3bd $*: left a mount behind"
  cases=$((cases + 1))
  echo "ok: s3bd $* -> $(cat "$WORK/err")"
}

expect_error "give its size with --size" "$empty" -- mount "$empty" "$mnt"
expect_error "give its size with --size" "$empty" -- mount "$empty" "$mnt" -f
for bad in 0 abc 3X 1.5G -5 99999999999999999999; do
  expect_error "invalid --size '$bad'" "$empty" -- mount "$empty" "$mnt" --size="$bad"
done
for bad in 0 3000 2K 128M 1Q; do
  expect_error "invalid (--)?block.size" "$empty" -- mount "$empty" "$mnt" --size 1G --block-size="$bad"
done
expect_error "not a whole number" "$empty" -- mount "$empty" "$mnt" --size 1000K
expect_error "disagrees with the store's size 64 MiB" "$existing" -- mount "$existing" "$mnt" --size 128M
expect_error "disagrees with the store's block size" "$existing" -- mount "$existing" "$mnt" --block-size 64K
expect_error "cannot shrink" "$existing" -- mount "$existing" "$mnt" --size 2M --force
expect_error "mount point $WORK/nowhere: No such file or directory" "$empty" -- mount "$empty" "$WORK/nowhere" --size 1G
expect_error "store directory $WORK/missing does not exist" "$empty" -- mount "$WORK/missing" "$mnt" --size 1G
touch "$WORK/plain"
expect_error "store $WORK/plain is not a directory" "$empty" -- mount "$WORK/plain" "$mnt" --size 1G
expect_error "unknown scheme 'http'" "$empty" -- mount "http://example/x" "$mnt" --size 1G
expect_error "use file:///absolute/path" "$empty" -- mount "file://relative" "$mnt" --size 1G
expect_error "--bogus" "$empty" -- mount "$empty" "$mnt" --size 1G --bogus
expect_error "invalid --file-mode" "$empty" -- mount "$empty" "$mnt" --size 1G --file-mode 999
expect_error "must differ" "$empty" -- mount "$empty" "$mnt" --size 1G --file-name x --stats-file x
expect_error "unknown log level" "$empty" -- mount "$empty" "$mnt" --size 1G --log-level loud
expect_error "subcommand|required" "$empty" -- 
# Cache options.
expect_error "--max-dirty must not exceed --cache-size" "$empty" -- mount "$empty" "$mnt" --size 1G --cache-size 16M --max-dirty 32M
expect_error "--durable-cache needs --cache-file" "$empty" -- mount "$empty" "$mnt" --size 1G --durable-cache
expect_error "--write-delay-max must not be less than --write-delay" "$empty" -- mount "$empty" "$mnt" --size 1G --write-delay 300 --write-delay-max 200
expect_error "--threads" "$empty" -- mount "$empty" "$mnt" --size 1G --threads 0

# An unwritable store: a read-only bind mount of a directory.
ro=$WORK/ro
mkdir -p "$ro"
mount --bind "$empty" "$ro"
mount -o remount,ro,bind "$ro"
expect_error "store directory $ro is not writable" "$empty" -- mount "$ro" "$mnt" --size 1G
umount "$ro"

# A store already in use by another mount.
mnt2=$WORK/mnt2
mkdir -p "$mnt2"
mount_bg "$existing" "$mnt"
CHECK_MNT=$mnt2 expect_error "in use by another s3bd mount" "$existing" -- mount "$existing" "$mnt2"
unmount_bg "$existing" "$mnt"

# The empty store was never written to.
[[ -z $(ls -A "$empty") ]] || fail "the empty store is no longer empty: $(ls -A "$empty")"
echo "PASS bad_input ($cases cases)"
