#!/usr/bin/env bash
# --config FILE end to end: a mount described wholly by its file, the
# command line overriding it, -o from both, the mount(8) form naming the
# file (config=), `s3bd nbd` from a file, and refusals that name the line
# before anything is mounted or created.
source "$(dirname "$0")/lib.sh"
require_fuse
source "$(dirname "$0")/nbd_lib.sh"
require_nbd_tools

STORE=$WORK/store MNT=$WORK/mnt
mkdir -p "$MNT" "$STORE"
CONF=$WORK/vol.conf
cat >"$CONF" <<CONF
# the whole mount
store = $STORE
mountpoint = $MNT
size = 48M
block_size = 64K
cache-size = 4M    ; '_' or '-', and an inline comment
file-name = disk
o = allow_other
CONF
chmod 0600 "$CONF"

# 1. Everything from the file: a detaching mount, its disk file named and
# sized by the file, its FUSE option in effect.
"$S3BD" mount --config "$CONF" 2>>"$WORK/daemon.log" || fail "mount --config: $(tail -1 "$WORK/daemon.log")"
[[ $(stat -c %s "$MNT/disk") == $((48 << 20)) ]] || fail "disk size $(stat -c %s "$MNT/disk")"
findmnt -rn -o OPTIONS "$MNT" | grep -q allow_other || fail "o = allow_other not passed: $(findmnt -rn "$MNT")"
head -c 1M /dev/urandom >"$WORK/data"
dd if="$WORK/data" of="$MNT/disk" bs=64K conv=notrunc,fsync status=none
"$S3BD" unmount -q "$MNT" || fail "unmount"
"$S3BD" info "$STORE" --json >"$WORK/info.json" || fail "info"
check_json "$WORK/info.json" 's["block_size"] == 64 << 10' 's["size"] == 48 << 20'

# 2. The command line wins: another file name and read-only, the rest
# (size, store, mount point) from the file; the data written above reads back.
"$S3BD" mount --config "$CONF" --file-name other --read-only 2>>"$WORK/daemon.log" || fail "override mount"
[[ -e $MNT/other && ! -e $MNT/disk ]] || fail "--file-name did not win: $(ls "$MNT")"
cmp -n $((1 << 20)) "$WORK/data" "$MNT/other" || fail "data read back differs"
findmnt -rn -o OPTIONS "$MNT" | grep -q '^ro' || fail "--read-only did not win: $(findmnt -rn "$MNT")"
"$S3BD" unmount -q "$MNT" || fail "unmount 2"

# 3. mount(8)'s form, as mount.fuse3 runs it for an fstab line with
# config=: STORE and MOUNTPOINT on the command line, the rest from the file.
"$S3BD" "$STORE" "$MNT" -o "config=$CONF,file_name=viafstab,dev,suid" 2>>"$WORK/daemon.log" ||
  fail "mount helper form with config=: $(tail -1 "$WORK/daemon.log")"
[[ -e $MNT/viafstab ]] || fail "helper form: $(ls "$MNT")"
"$S3BD" unmount -q "$MNT" || fail "unmount 3"

# 4. -o before STORE is one FUSE option, not a list swallowing STORE.
"$S3BD" mount -o allow_other "$STORE" "$MNT" 2>>"$WORK/daemon.log" || fail "-o before STORE: $(tail -1 "$WORK/daemon.log")"
"$S3BD" unmount -q "$MNT" || fail "unmount 4"

# 5. Refusals: exit 2, one line naming FILE:LINE, nothing mounted, no store.
refused_conf() {  # WANT TEXT [args...]
  local want=$1 text=$2 st
  shift 2
  printf '%s\n' "$text" >"$WORK/bad.conf"
  chmod 0600 "$WORK/bad.conf"
  set +e
  "$S3BD" mount --config "$WORK/bad.conf" "$@" >"$WORK/out" 2>"$WORK/err"
  st=$?
  set -e
  [[ $st == 2 ]] || fail "'$text': exit $st, not 2: $(cat "$WORK/err")"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "'$text': not one line: $(cat "$WORK/err")"
  grep -qF -- "$want" "$WORK/err" || fail "'$text': '$(cat "$WORK/err")' lacks '$want'"
  findmnt -rn "$MNT" >/dev/null && fail "'$text' mounted"
  [[ ! -e $WORK/new-store ]] || fail "'$text' created the store"
}
refused_conf "bad.conf:3: unknown key 'cache-sise'" "$(printf 'store = %s\nmountpoint = %s\ncache_sise = 1M' "$WORK/new-store" "$MNT")"
refused_conf "bad.conf:2: 'size' given twice" "$(printf 'size = 1G\nsize = 2G')" "$WORK/new-store" "$MNT"
refused_conf "bad.conf:1: [mount]: sections are not used" "[mount]" "$WORK/new-store" "$MNT"
refused_conf "bad.conf:1: 'read-only' is a flag" "read_only = perhaps" "$WORK/new-store" "$MNT"
refused_conf "give STORE and MOUNTPOINT on the command line, or none" "store = $WORK/new-store" "$MNT"
chmod 0666 "$CONF"
set +e
"$S3BD" mount --config "$CONF" 2>"$WORK/err"
st=$?
set -e
[[ $st == 2 ]] && grep -q "writable by group or others" "$WORK/err" || fail "a world-writable file was read: $st $(cat "$WORK/err")"
chmod 0600 "$CONF"

# 6. s3bd nbd from a file: the store and the socket.
SOCK=$WORK/nbd.sock
cat >"$WORK/nbd.conf" <<CONF
store = $STORE
socket = $SOCK
read-only = true
CONF
chmod 0600 "$WORK/nbd.conf"
"$S3BD" nbd --config "$WORK/nbd.conf" -f 2>>"$WORK/nbd.log" &
NBD_PID=$!
wait_nbd_ready "$(nbd_uri "$SOCK")"
[[ $(nbdinfo --size "$(nbd_uri "$SOCK")") == $((48 << 20)) ]] || fail "nbd size"
nbdcopy "$(nbd_uri "$SOCK")" "$WORK/copy" || fail "nbdcopy"
cmp -n $((1 << 20)) "$WORK/data" "$WORK/copy" || fail "nbd data differs"
kill -TERM "$NBD_PID"
wait "$NBD_PID" || fail "s3bd nbd exit status $?"
echo "PASS config_file"
