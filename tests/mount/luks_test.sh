#!/usr/bin/env bash
# LUKS on the disk file, end to end, without device-mapper (which this
# machine and most containers lack): `cryptsetup luksFormat` writes a real
# LUKS1 header on the disk file, qemu-nbd opens it with its user-space LUKS
# driver, nbdfuse shows the decrypted device as a file, and ext4 lives on a
# loop device over that file. Write a tree, take everything down, bring it
# up again, compare checksums, e2fsck -fn; the store must hold no plaintext.
# (Where device-mapper exists, `cryptsetup open` on the loop device of the
# disk file replaces qemu-nbd and nbdfuse: README, "LUKS".)
source "$(dirname "$0")/lib.sh"
require_fuse
for tool in cryptsetup qemu-nbd nbdfuse; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh installs it)"
done

store=$WORK/store mnt=$WORK/mnt plain=$WORK/plain fs=$WORK/fs src=$WORK/src
sock=$WORK/nbd.sock pass=$WORK/passphrase
mkdir -p "$store" "$mnt" "$plain" "$fs"
make_tree "$src"
# A marker that must never reach the store in the clear.
marker=S3BD-LUKS-PLAINTEXT-MARKER
for i in $(seq 1 20000); do echo "$marker $i"; done >"$src/d/marker.txt"
checksums "$src" >"$WORK/want"
printf 'correct horse battery staple' >"$pass"
chmod 600 "$pass"

QEMU_PID="" NBDFUSE_PID=""
# luks_up: qemu-nbd serves the decrypted volume on $sock, nbdfuse shows it
# as $plain/nbd; sets LOOP to a loop device over that file.
luks_up() {
  rm -f "$sock"
  qemu-nbd --persistent --socket="$sock" --object "secret,id=sec0,file=$pass" \
    --image-opts "driver=luks,key-secret=sec0,file.driver=file,file.filename=$mnt/file" \
    2>>"$WORK/qemu-nbd.log" &
  QEMU_PID=$!
  local deadline=$((SECONDS + 20))
  until [[ -S $sock ]]; do
    kill -0 "$QEMU_PID" 2>/dev/null || fail "qemu-nbd exited: $(cat "$WORK/qemu-nbd.log")"
    ((SECONDS < deadline)) || fail "qemu-nbd did not create its socket"
    sleep 0.05
  done
  nbdfuse "$plain" --unix "$sock" 2>>"$WORK/nbdfuse.log" &
  NBDFUSE_PID=$!
  deadline=$((SECONDS + 20))
  until [[ -f $plain/nbd ]] && findmnt -rn "$plain" >/dev/null; do
    kill -0 "$NBDFUSE_PID" 2>/dev/null || fail "nbdfuse exited: $(cat "$WORK/nbdfuse.log")"
    ((SECONDS < deadline)) || fail "nbdfuse did not mount $plain"
    sleep 0.05
  done
  LOOP=$(losetup --show -f "$plain/nbd")
  LOOPS+=("$LOOP")
}

# luks_down: the reverse, each step waiting for the one before it to end,
# so that every write has reached the disk file before s3bd stops.
luks_down() {
  losetup -d "$LOOP"
  # losetup -d only marks the device for release; wait until it lets go.
  local deadline=$((SECONDS + 20))
  while losetup -j "$plain/nbd" 2>/dev/null | grep -q .; do
    ((SECONDS < deadline)) || fail "loop device over $plain/nbd was not released"
    sleep 0.05
  done
  unmount_when_released "$plain"
  wait "$NBDFUSE_PID" || fail "nbdfuse exited with $?"
  kill -TERM "$QEMU_PID"
  set +e
  wait "$QEMU_PID"
  local st=$?
  set -e
  # qemu-nbd exits 0 on SIGTERM (128+15 where the shell reports the signal).
  [[ $st == 0 || $st == 143 ]] || fail "qemu-nbd exit status $st: $(cat "$WORK/qemu-nbd.log")"
}

start_fg "$store" "$mnt" --size 256M
cryptsetup luksFormat --batch-mode --type luks1 --pbkdf-force-iterations 1000 \
  --key-file "$pass" "$mnt/file"
cryptsetup luksDump "$mnt/file" | grep -q "^Version:[[:space:]]*1" || fail "no LUKS1 header on the disk file"

luks_up
size=$(blockdev --getsize64 "$LOOP")
# The decrypted device is the disk less the LUKS header.
((size > 200 * 1024 * 1024 && size < 256 * 1024 * 1024)) || fail "decrypted device is $size bytes"
mkfs.ext4 -q -F "$LOOP" >/dev/null
mount "$LOOP" "$fs"
cp -a "$src/." "$fs/"
umount "$fs"
luks_down
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after unmount"

# Nothing of the filesystem in the clear: not the marker, not ext4's
# superblock magic at its place in the first block past the header.
blocks=$(count_blocks "$store")
((blocks > 20)) || fail "store holds only $blocks block files"
if grep -rlaF "$marker" "$store" >/dev/null; then fail "plaintext marker found in the store"; fi
grep -qaF "LUKS" "$store/00000000" || fail "block 0 does not hold the LUKS header"
echo "store holds $blocks block files, no plaintext marker"

# A wrong passphrase opens nothing.
printf 'wrong' >"$WORK/wrong"
start_fg "$store" "$mnt" --read-only
# (--fork: qemu-nbd returns 0 once it serves, nonzero if it cannot open.)
if qemu-nbd --read-only --fork --pid-file="$WORK/wrong.pid" --socket="$WORK/wrong.sock" \
  --object "secret,id=sec0,file=$WORK/wrong" \
  --image-opts "driver=luks,key-secret=sec0,file.driver=file,file.filename=$mnt/file" 2>"$WORK/wrong.log"; then
  kill "$(cat "$WORK/wrong.pid")"
  fail "the LUKS volume opened with a wrong passphrase"
fi
grep -qi "password\|keyslot" "$WORK/wrong.log" || fail "qemu-nbd failed for another reason: $(cat "$WORK/wrong.log")"
stop_fg "$mnt"

# Everything up again: the filesystem checks clean and holds the tree.
start_fg "$store" "$mnt"
luks_up
e2fsck -fn "$LOOP" || fail "e2fsck found problems"
mount "$LOOP" "$fs"
checksums "$fs" >"$WORK/got"
diff "$WORK/want" "$WORK/got" || fail "checksums differ after remounting everything"
umount "$fs"
luks_down
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS after the second unmount"
echo "PASS luks"
