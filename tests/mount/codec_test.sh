#!/usr/bin/env bash
# An encrypted, compressed volume on the test S3 server (--encrypt
# --compress): ext4 on a direct-I/O loop device, a tree with a plaintext
# marker, compressible and random files; after unmounting everything and
# remounting with the passphrase file the checksums match and e2fsck -fn is
# clean. No object holds the marker; every block object says
# x-amz-meta-s3bd-encoding: aes-256-gcm-v1. Passphrases:
#  - a wrong one: one line, exit 1, and no PUT or DELETE reached the server;
#  - a passphrase file readable by others: exit 2;
#  - `s3bd passwd` while mounted: the mount keeps working; afterwards the new
#    passphrase mounts and the old one is refused; info --json: 1 key slot;
#  - `s3bd passwd --add`: 2 key slots, both passphrases mount; passwd with
#    a wrong passphrase: refused, nothing written;
#  - `s3bd verify --passphrase-file` exits 0;
#  - --encrypt on an existing unencrypted volume: refused, exit 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
source "$(dirname "$0")/codec_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT
start_test_s3server
opts=(--endpoint "$S3_ENDPOINT" --path-style)
store=s3://bucket/vol
mnt=$WORK/mnt fs=$WORK/fs src=$WORK/src
mkdir -p "$mnt" "$fs"
make_pass "$WORK/pass1" "first passphrase"
make_pass "$WORK/pass2" "second passphrase"
make_pass "$WORK/pass3" "third passphrase"

# The tree: make_tree's random files and sources, plus text with the marker.
make_tree "$src"
mkdir -p "$src/text"
make_text "$src/text/marked.txt" $((3 << 20))
for i in 1 2 3; do make_text "$src/text/log$i" $((i * 200000)); done
checksums "$src" >"$WORK/want"

start_fg "$store" "$mnt" --size 256M --block-size 1M "${opts[@]}" --encrypt --compress --passphrase-file "$WORK/pass1"
dev=$(attach "$mnt/file")
mkfs.ext4 -q -F "$dev"
mount "$dev" "$fs"
cp -a "$src/." "$fs/"
sync -f "$fs"
umount "$fs"
detach "$dev"
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
stats_json "$mnt"
check_json "$WORK/stats.json" 'layer("codec")["encryption"] == "aes-256-gcm-v1"' \
  'layer("codec")["compression"] == "zstd:3"' 'layer("codec")["encoded"]["zstd"] > 0' \
  'layer("codec")["encoded"]["raw"] > 0' \
  'layer("s3")["ops"]["write"]["bytes"] < layer("codec")["ops"]["write"]["bytes"]'
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"

# The bucket: no marker in any object; every block object is encrypted.
curl -sS --fail "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/" | grep -oE '<Key>[^<]*</Key>' |
  sed -E 's/<\/?Key>//g' >"$WORK/keys"
grep -q '<IsTruncated>true' <(curl -sS "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/") && fail "listing truncated"
grep -qx "vol/s3bd-volume" "$WORK/keys" || fail "no metadata object: $(cat "$WORK/keys")"
curl -sS --fail "$S3_ENDPOINT/bucket/vol/s3bd-volume" >"$WORK/volume"
grep -q "^s3bd-volume 2$" "$WORK/volume" || fail "not format 2: $(cat "$WORK/volume")"
grep -q "^encryption aes-256-gcm$" "$WORK/volume" || fail "no encryption line: $(cat "$WORK/volume")"
[[ $(grep -c "^keyslot " "$WORK/volume") == 1 ]] || fail "not one key slot: $(cat "$WORK/volume")"
nblocks=0
while read -r key; do
  curl -sS --fail -D "$WORK/headers" -o "$WORK/object" "$S3_ENDPOINT/bucket/$key"
  grep -qF -- "$MARKER" "$WORK/object" && fail "object $key holds the plaintext marker"
  grep -qF -- "quick brown fox" "$WORK/object" && fail "object $key holds plaintext"
  [[ $key =~ ^vol/[0-9a-f]{8}$ ]] || continue
  nblocks=$((nblocks + 1))
  grep -qix "x-amz-meta-s3bd-encoding: aes-256-gcm-v1"$'\r' "$WORK/headers" ||
    fail "object $key is not aes-256-gcm-v1: $(cat "$WORK/headers")"
done <"$WORK/keys"
((nblocks > 30)) || fail "only $nblocks block objects"
echo "ok: $nblocks block objects, all aes-256-gcm-v1, none holds the marker"

# A wrong passphrase: one line, exit 1, nothing written.
counts() { echo "$(s3counter put_object) $(s3counter delete_object) $(s3counter delete_objects)"; }
before=$(counts)
refused "^s3bd: error: wrong passphrase for $store$" "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass2"
[[ $(wc -l <"$WORK/refused.err") == 1 ]] || fail "more than one line: $(cat "$WORK/refused.err")"
[[ $(counts) == "$before" ]] || fail "a refused mount wrote (put delete delete-many: $before -> $(counts))"
chmod 644 "$WORK/pass2"
must_fail 2 "^s3bd: error: passphrase file $WORK/pass2 is accessible by group or others \(mode 0644\)" \
  "$S3BD" mount "$store" "$mnt" -f "${opts[@]}" --passphrase-file "$WORK/pass2"
findmnt -rn "$mnt" >/dev/null && fail "mounted with a world-readable passphrase file"
chmod 600 "$WORK/pass2"
[[ $(counts) == "$before" ]] || fail "a refused mount wrote"
echo "ok: a wrong passphrase and a world-readable passphrase file refused, nothing written"

# Remount: the file system and the data.
start_fg "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass1"
dev=$(attach "$mnt/file")
e2fsck -fn "$dev" >"$WORK/fsck.log" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck.log")"
mount "$dev" "$fs"
checksums "$fs" >"$WORK/got"
diff "$WORK/want" "$WORK/got" >/dev/null || fail "checksums differ after remount"
echo "ok: checksums and e2fsck after remount"

# s3bd passwd while mounted; the mount keeps reading and writing.
"$S3BD" passwd "$store" "${opts[@]}" --passphrase-file "$WORK/pass1" --new-passphrase-file "$WORK/pass2" \
  >"$WORK/passwd.out" || fail "s3bd passwd failed"
grep -qx "$store: changed the passphrase of key slot 0" "$WORK/passwd.out" || fail "passwd: $(cat "$WORK/passwd.out")"
make_text "$fs/after-passwd" 100000
sync -f "$fs"
cmp "$fs/after-passwd" "$src/text/log1" -n 100000 || fail "written after passwd: differs"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount after passwd exited $DAEMON_STATUS"
"$S3BD" info "$store" "${opts[@]}" --json >"$WORK/info.json" || fail "s3bd info --json failed"
check_json "$WORK/info.json" 's["encryption"]["cipher"] == "aes-256-gcm"' \
  'len(s["encryption"]["key_slots"]) == 1' 's["encryption"]["key_slots"][0]["id"] == 0' \
  's["encryption"]["key_slots"][0]["kdf"] == "argon2id"'
refused "^s3bd: error: wrong passphrase for $store$" "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass1"
start_fg "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass2"
dev=$(attach "$mnt/file")
dd if="$mnt/file" of="$WORK/head" bs=1M count=16 iflag=direct status=none
mount -o ro "$dev" "$fs"
cmp "$fs/after-passwd" "$src/text/log1" -n 100000 || fail "the file written after passwd differs"
umount "$fs"
detach "$dev"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
echo "ok: passwd while mounted; the new passphrase mounts, the old one is refused"

# s3bd passwd --add: two slots, both passphrases work.
"$S3BD" passwd "$store" "${opts[@]}" --add --passphrase-file "$WORK/pass2" --new-passphrase-file "$WORK/pass3" \
  >"$WORK/passwd.out" || fail "s3bd passwd --add failed"
grep -qx "$store: added key slot 1" "$WORK/passwd.out" || fail "passwd --add: $(cat "$WORK/passwd.out")"
"$S3BD" info "$store" "${opts[@]}" --json >"$WORK/info.json" || fail "s3bd info --json failed"
check_json "$WORK/info.json" 'sorted(k["id"] for k in s["encryption"]["key_slots"]) == [0, 1]'
for p in pass2 pass3; do
  start_fg "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/$p"
  cmp <(dd if="$mnt/file" bs=1M count=16 iflag=direct status=none) "$WORK/head" || fail "mounted with $p: data differs"
  stop_fg "$mnt"
  ((DAEMON_STATUS == 0)) || fail "unmount of the mount with $p exited $DAEMON_STATUS"
done
refused "^s3bd: error: wrong passphrase for $store$" "$store" "$mnt" "${opts[@]}" --passphrase-file "$WORK/pass1"
before=$(counts)
must_fail 1 "^s3bd: error: wrong passphrase for $store$" \
  "$S3BD" passwd "$store" "${opts[@]}" --passphrase-file "$WORK/pass1" --new-passphrase-file "$WORK/pass1"
[[ $(counts) == "$before" ]] || fail "passwd with a wrong passphrase wrote"
echo "ok: passwd --add: 2 key slots, both passphrases mount; passwd with a wrong one is refused"

# verify decrypts every block.
"$S3BD" verify "$store" "${opts[@]}" --passphrase-file "$WORK/pass3" >"$WORK/verify.out" 2>&1 ||
  fail "verify exited $?: $(cat "$WORK/verify.out")"
grep -q '^all good$' "$WORK/verify.out" || fail "verify: $(cat "$WORK/verify.out")"
must_fail 1 "wrong passphrase for $store" "$S3BD" verify "$store" "${opts[@]}" --passphrase-file "$WORK/pass1"
echo "ok: verify with the passphrase: all good"

# --encrypt on an existing unencrypted volume.
start_fg s3://bucket/plain "$mnt" --size 16M "${opts[@]}"
stop_fg "$mnt"
before=$(counts)
refused "^s3bd: error: s3://bucket/plain is not encrypted: --encrypt applies when a volume is created$" \
  s3://bucket/plain "$mnt" "${opts[@]}" --encrypt --passphrase-file "$WORK/pass1"
[[ $(counts) == "$before" ]] || fail "the refused --encrypt wrote"
echo "ok: --encrypt on an unencrypted volume refused"
echo "PASS codec ($nblocks block objects)"
