# Shared helpers for the mount tests (sourced, not run).
# Environment from ctest: S3BD (the binary), S3BD_SOURCE_DIR, S3BD_BUILD_DIR.
set -euo pipefail

S3BD=${S3BD:-$(dirname "${BASH_SOURCE[0]}")/../../build/src/s3bd}

# Skip (exit 77) only where FUSE cannot work at all.
require_fuse() {
  if [[ ! -c /dev/fuse ]]; then
    echo "SKIP: /dev/fuse is missing"
    exit 77
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "FAIL: mount tests need root (loop devices, mount)" >&2
    exit 1
  fi
}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# A scratch directory, cleaned up (with every mount and loop device in it) on exit.
WORK=$(mktemp -d /tmp/s3bd-mount-test.XXXXXX)
LOOPS=()
cleanup() {
  set +e
  for m in $(findmnt -rn -o TARGET | grep "^$WORK" | sort -r); do umount -l "$m" 2>/dev/null; done
  for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null; done
  for m in $(findmnt -rn -o TARGET | grep "^$WORK" | sort -r); do fusermount3 -uz "$m" 2>/dev/null; done
  pkill -f -- "$WORK" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_fg STORE MNT [options...]: runs the daemon in the foreground as a
# child of this shell (so its exit status can be collected) and waits until
# the mount is live. Sets DAEMON_PID.
start_fg() {
  local store=$1 mnt=$2
  shift 2
  "$S3BD" mount "$store" "$mnt" -f "$@" 2>>"$WORK/daemon.log" &
  DAEMON_PID=$!
  local deadline=$((SECONDS + 20))
  until findmnt -rn "$mnt" >/dev/null; do
    kill -0 "$DAEMON_PID" 2>/dev/null || fail "daemon exited before mounting: $(cat "$WORK/daemon.log")"
    ((SECONDS < deadline)) || fail "mount on $mnt did not appear"
    sleep 0.05
  done
}

# unmount_when_released MNT: fusermount3 -u, again while it says the mount is
# busy: a process that closed the disk file a moment ago (dd) still holds
# the mount until the kernel's asynchronous release of the file is answered,
# which under load can come after fusermount3 looks (no process holds a
# file there then). Any other failure, or busy for 20 s, fails the test.
unmount_when_released() {
  local deadline=$((SECONDS + 20))
  until fusermount3 -u "$1" 2>"$WORK/fusermount.err"; do
    grep -q "Device or resource busy" "$WORK/fusermount.err" || fail "fusermount3 -u $1: $(cat "$WORK/fusermount.err")"
    ((SECONDS < deadline)) || fail "$1 still busy after 20 s: $(cat "$WORK/fusermount.err")"
    sleep 0.05
  done
}

# stop_fg MNT: unmounts and returns the daemon's exit status in DAEMON_STATUS.
stop_fg() {
  unmount_when_released "$1"
  set +e
  wait "$DAEMON_PID"
  DAEMON_STATUS=$?
  set -e
}

# mount_bg STORE MNT [options...]: the default, detaching mount; it returns
# only once the disk file is usable.
mount_bg() {
  "$S3BD" mount "$@" 2>>"$WORK/daemon.log" || fail "s3bd mount $* failed: $(tail -1 "$WORK/daemon.log")"
}

# unmount_bg STORE MNT: unmounts and waits until the detached daemon has
# flushed and exited (it is found by its command line).
unmount_bg() {
  local store=$1 mnt=$2
  unmount_when_released "$mnt"
  local deadline=$((SECONDS + 60))
  while pgrep -f -- "mount $store $mnt" >/dev/null; do
    ((SECONDS < deadline)) || fail "daemon did not exit after unmount"
    sleep 0.05
  done
}

# attach FILE: attaches a loop device with direct I/O, checks that direct I/O
# is really on, and prints the device.
attach() {
  local dev
  dev=$(losetup --direct-io=on --show -f "$1")
  LOOPS+=("$dev")
  [[ $(cat "/sys/block/$(basename "$dev")/loop/dio") == 1 ]] || fail "direct I/O is off on $dev"
  echo "$dev"
}

detach() {
  losetup -d "$1"
}

# Number of block files in a directory store.
count_blocks() {
  find "$1" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{8,16}$' | wc -l
}

# make_tree DIR: a deterministic tree of files of many sizes.
make_tree() {
  local dir=$1 i
  mkdir -p "$dir/a/b/c" "$dir/d"
  for i in $(seq 1 60); do
    head -c $((i * 7919 % 300000 + 1)) /dev/urandom >"$dir/a/file$i"
  done
  head -c $((24 * 1024 * 1024)) /dev/urandom >"$dir/a/b/c/big"
  cp -r "$S3BD_SOURCE_DIR/src" "$dir/d/src"
  : >"$dir/d/empty"
}

checksums() {
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
}

# refused PATTERN STORE MNT [options...]: `s3bd mount STORE MNT -f ...` must
# exit 1 with a message matching PATTERN and leave nothing mounted on MNT.
refused() {
  local want=$1
  shift
  set +e
  "$S3BD" mount "$@" -f 2>"$WORK/refused.err"
  local status=$?
  set -e
  ((status == 1)) || fail "mount $* exited $status, expected 1: $(cat "$WORK/refused.err")"
  grep -qE -- "$want" "$WORK/refused.err" || fail "unexpected message: $(cat "$WORK/refused.err")"
  findmnt -rn "$2" >/dev/null && fail "the refused mount is mounted"
  return 0
}

# check_json FILE EXPR...: each Python expression over `s` (the parsed
# object) and `layer(name)` (a stats layer by name) must be true.
check_json() {
  local file=$1
  shift
  python3 - "$file" "$@" <<'PY' || fail "JSON: $(cat "$file")"
import json, sys
s = json.load(open(sys.argv[1]))
def layer(name):
    return next(l for l in s["layers"] if l["layer"] == name)
for expr in sys.argv[2:]:
    if not eval(expr):
        print("false: " + expr, file=sys.stderr)
        sys.exit(1)
PY
}
