# Helpers for the s3backer compatibility tests (sourced after lib.sh and the
# server's library, which set S3_ENDPOINT and the credentials): Debian's
# s3backer (1.5.4) in the foreground on a prefix of "bucket", and the round
# trip that both servers run.
S3BACKER=/usr/bin/s3backer

require_s3backer() {
  [[ -x $S3BACKER ]] || fail "s3backer is not installed (scripts/install-deps.sh installs Debian's package)"
}

# start_s3backer PREFIX MNT [options...]: s3backer -f on s3://bucket/PREFIX/,
# waits until its file is there. Sets S3BACKER_PID.
start_s3backer() {
  local prefix=$1 mnt=$2
  shift 2
  "$S3BACKER" --baseURL="$S3_ENDPOINT/" --accessId="$AWS_ACCESS_KEY_ID" --accessKey="$AWS_SECRET_ACCESS_KEY" \
    --prefix="$prefix/" --timeout=10 --maxRetryPause=5000 "$@" -f bucket "$mnt" >>"$WORK/s3backer.log" 2>&1 &
  S3BACKER_PID=$!
  local deadline=$((SECONDS + 30))
  until [[ -e $mnt/file ]] && findmnt -rn "$mnt" >/dev/null; do
    kill -0 "$S3BACKER_PID" 2>/dev/null || fail "s3backer exited before mounting: $(tail -5 "$WORK/s3backer.log")"
    ((SECONDS < deadline)) || fail "s3backer did not mount $mnt"
    sleep 0.05
  done
}

# stop_s3backer MNT: unmounts and waits for s3backer to flush and exit 0.
stop_s3backer() {
  unmount_when_released "$1"
  local status=0
  wait "$S3BACKER_PID" || status=$?
  ((status == 0)) || fail "s3backer exited $status: $(tail -5 "$WORK/s3backer.log")"
}

# s3backer_refused PATTERN PREFIX MNT [options...]: s3backer must refuse to
# mount, saying PATTERN.
s3backer_refused() {
  local want=$1 prefix=$2 mnt=$3 status=0
  shift 3
  "$S3BACKER" --baseURL="$S3_ENDPOINT/" --accessId="$AWS_ACCESS_KEY_ID" --accessKey="$AWS_SECRET_ACCESS_KEY" \
    --prefix="$prefix/" "$@" -f bucket "$mnt" >"$WORK/s3backer-refused.log" 2>&1 || status=$?
  ((status != 0)) || fail "s3backer mounted $prefix, expected a refusal"
  grep -qE -- "$want" "$WORK/s3backer-refused.log" || fail "s3backer said: $(cat "$WORK/s3backer-refused.log")"
  findmnt -rn "$mnt" >/dev/null && fail "the refused s3backer is mounted"
  return 0
}

# fsck_and_sums FILE: attaches the disk file, e2fsck -fn, mounts it
# read-only, prints the checksums of everything, detaches.
fsck_and_sums() {
  local dev
  dev=$(attach "$1")
  e2fsck -fn "$dev" >"$WORK/fsck.log" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck.log")"
  mount -o ro "$dev" "$FS"
  checksums "$FS"
  umount "$FS"
  detach "$dev"
}

# add_tree FILE DIR: mounts the disk file's ext4 and copies DIR into it.
add_tree() {
  local dev
  dev=$(attach "$1")
  mount "$dev" "$FS"
  cp -a "$2" "$FS/"
  umount "$FS"
  detach "$dev"
}

# s3backer_round_trip PREFIX [s3backer options...] -- [s3bd options...]:
#  1. s3backer makes ext4 on a new 64 MiB volume and fills it with a tree;
#  2. s3bd recognises the volume (s3bd info), mounts it: e2fsck clean,
#     every checksum as written; while it is mounted s3backer refuses the
#     volume (its mount token); s3bd adds a second tree;
#  3. s3backer mounts it again: e2fsck clean, every file of both trees;
#     while it is mounted s3bd refuses the volume read-write, and mounts it
#     read-only with a warning;
#  4. s3bd never wrote an s3bd-volume object.
s3backer_round_trip() {
  local prefix=$1 sb=() sd=()
  shift
  while (($#)) && [[ $1 != -- ]]; do sb+=("$1"); shift; done
  (($#)) && shift
  sd=("$@")
  local mnt=$WORK/mnt-$prefix src1=$WORK/src1-$prefix src2=$WORK/src2-$prefix
  mkdir -p "$mnt" "$src1" "$src2/two"
  make_tree "$src1/one"
  cp -r "$S3BD_SOURCE_DIR/tests/unit" "$src2/two/unit"
  head -c 3000000 /dev/urandom >"$src2/two/random"

  echo "== $prefix: s3backer ${sb[*]} makes the volume"
  start_s3backer "$prefix" "$mnt" --size=64M --blockSize=64k "${sb[@]}"
  local dev
  dev=$(attach "$mnt/file")
  mkfs.ext4 -q -F "$dev"
  mount "$dev" "$FS"
  cp -a "$src1/one" "$FS/"
  umount "$FS"
  detach "$dev"
  stop_s3backer "$mnt"
  checksums "$src1" >"$WORK/want-$prefix"
  (($(wc -l <"$WORK/want-$prefix") > 60)) || fail "the tree is too small"

  echo "== $prefix: s3bd reads it"
  local info_opts=() o
  for o in "${sd[@]}"; do [[ $o != --hash-prefix ]] || info_opts+=("$o"); done
  "$S3BD" info "s3://bucket/$prefix" --endpoint "$S3_ENDPOINT" "${info_opts[@]}" >"$WORK/info.out" 2>&1 ||
    fail "s3bd info: $(cat "$WORK/info.out")"
  grep -q "^format      s3backer" "$WORK/info.out" || fail "s3bd info: $(cat "$WORK/info.out")"
  grep -q "64 MiB (67108864 bytes, 1024 blocks of 64 KiB)" "$WORK/info.out" || fail "s3bd info: $(cat "$WORK/info.out")"
  start_fg "s3://bucket/$prefix" "$mnt" --endpoint "$S3_ENDPOINT" "${sd[@]}"
  grep -q "an s3backer volume" "$WORK/daemon.log" || fail "no info line about the s3backer volume"
  fsck_and_sums "$mnt/file" >"$WORK/got-$prefix"
  diff "$WORK/want-$prefix" "$WORK/got-$prefix" >/dev/null || fail "$prefix: s3bd reads other files than s3backer wrote"
  s3backer_refused "s3backer: $S3_ENDPOINT/bucket/$prefix/ appears to be already mounted \(using mount token 0x[0-9a-f]{8}\)" "$prefix" "$WORK/mnt-refused" --size=64M --blockSize=64k "${sb[@]}"
  add_tree "$mnt/file" "$src2/two"
  fsck_and_sums "$mnt/file" >"$WORK/want2-$prefix"
  stop_fg "$mnt"
  [[ $DAEMON_STATUS == 0 ]] || fail "s3bd exit status $DAEMON_STATUS: $(tail -3 "$WORK/daemon.log")"

  echo "== $prefix: s3backer reads what s3bd wrote"
  start_s3backer "$prefix" "$mnt" "${sb[@]}"
  refused "^s3bd: error: s3://bucket/$prefix is mounted by s3backer \(mount token 0x[0-9a-f]{8} in $prefix/s3backer-mounted, set by [^ ]+ at [0-9]{8}T[0-9]{6}Z\); unmount it there, or, if that mount is gone, remove its mount token with .s3backer --reset-mounted-flag. \(or delete the object $prefix/s3backer-mounted\)$" \
    "s3://bucket/$prefix" "$WORK/mnt-refused" --endpoint "$S3_ENDPOINT" "${sd[@]}"
  local ro_opts=("${info_opts[@]}") i
  for ((i = 0; i < ${#sd[@]}; i++)); do [[ ${sd[i]} != --passphrase-file ]] || ro_opts+=("${sd[i]}" "${sd[i + 1]}"); done
  start_fg "s3://bucket/$prefix" "$WORK/mnt-refused" --endpoint "$S3_ENDPOINT" --read-only "${ro_opts[@]}"
  grep -q "s3://bucket/$prefix is mounted read-write by s3backer (mount token 0x[0-9a-f]*.*: this read-only mount may read blocks while they change" \
    "$WORK/daemon.log" || fail "no warning about s3backer's mount: $(tail -3 "$WORK/daemon.log")"
  stop_fg "$WORK/mnt-refused"
  fsck_and_sums "$mnt/file" >"$WORK/got2-$prefix"
  stop_s3backer "$mnt"
  diff "$WORK/want2-$prefix" "$WORK/got2-$prefix" >/dev/null || fail "$prefix: s3backer reads other files than s3bd wrote"
  grep -q ' \./two/random$' "$WORK/got2-$prefix" || fail "$prefix: the second tree is missing"
}
