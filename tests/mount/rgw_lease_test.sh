#!/usr/bin/env bash
# The read-write lease on a real Ceph RADOS Gateway (Debian 12's radosgw,
# Ceph 16.2), which answers If-Match with the quoted ETag with 412 and
# honours only the bare ETag (s3bd probes for the spelling at mount):
#  1. a read-write mount takes the lease and renews it (the lease object's
#     ETag changes) without being fenced;
#  2. a second read-write mount is refused, naming the holder; a read-only
#     mount alongside works;
#  3. ext4 on a loop device over the disk file, and raw data written with dd,
#     survive a clean unmount and remount (e2fsck clean, checksums, cmp);
#  4. a clean unmount leaves no lease object and an immediate mount succeeds.
source "$(dirname "$0")/s3_lib.sh"
source "$(dirname "$0")/rgw_lib.sh"
require_fuse
trap 'cleanup; stop_rgw' EXIT
start_rgw bucket
# Lease times for the test: expires after 4 s, renewed every second.
export S3BD_TEST_LEASE=4,1
host=$(hostname)
m1=$WORK/m1 m2=$WORK/m2
mkdir -p "$m1" "$m2"
opts=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 10)

lease_etag() { aws_s3 s3api head-object --bucket bucket --key vol/s3bd-lease --query ETag --output text 2>/dev/null; }
lease_code() {
  if aws_s3 s3api head-object --bucket bucket --key vol/s3bd-lease >/dev/null 2>"$WORK/head.err"; then
    echo 200
  elif grep -q "Not Found\|404" "$WORK/head.err"; then
    echo 404
  else
    echo "error: $(cat "$WORK/head.err")"
  fi
}

# 1. The lease is taken and renewed.
start_fg s3://bucket/vol "$m1" "${opts[@]}" --size 64M --cache-size 8M
pid1=$DAEMON_PID
# The probe must find RGW's conditions enforced (with the bare ETag), not
# fall back to best-effort exclusion.
grep -q "ignores conditional writes" "$WORK/daemon.log" &&
  fail "s3bd found RGW's conditional writes not enforced: $(grep "ignores conditional" "$WORK/daemon.log")"
first=$(lease_etag) || fail "no lease object while mounted"
[[ -n $first ]] || fail "no lease ETag"
deadline=$((SECONDS + 30))
renewals=0
etag=$first
while ((renewals < 2)); do
  ((SECONDS < deadline)) || fail "the lease was not renewed on RGW ($renewals renewals): $(tail -5 "$WORK/daemon.log")"
  kill -0 "$pid1" 2>/dev/null || fail "the daemon exited: $(tail -5 "$WORK/daemon.log")"
  now=$(lease_etag) || fail "the lease object vanished"
  if [[ $now != "$etag" ]]; then
    renewals=$((renewals + 1))
    etag=$now
  fi
  sleep 0.2
done
grep -E "FENCED|could not renew" "$WORK/daemon.log" && fail "renewal trouble on RGW: $(tail -5 "$WORK/daemon.log")"
echo "ok: the lease was taken and renewed on RGW (ETag $first -> $etag)"

# 2. A second read-write mount is refused; a read-only one is allowed.
refused "is mounted read-write by $host \(pid $pid1\)" s3://bucket/vol "$m2" "${opts[@]}"
echo "ok: second read-write mount refused: $(cat "$WORK/refused.err")"
"$S3BD" mount s3://bucket/vol "$m2" -f --read-only "${opts[@]}" 2>"$WORK/ro.log" &
ro_pid=$!
deadline=$((SECONDS + 20))
until findmnt -rn "$m2" >/dev/null; do
  kill -0 "$ro_pid" 2>/dev/null || fail "read-only mount failed: $(cat "$WORK/ro.log")"
  ((SECONDS < deadline)) || fail "read-only mount did not appear"
  sleep 0.05
done
grep -q "is mounted read-write by $host (pid $pid1)" "$WORK/ro.log" ||
  fail "read-only mount did not say a writer holds the volume: $(cat "$WORK/ro.log")"
cmp -n 4096 "$m1/file" "$m2/file" || fail "the read-only mount reads something else"
fusermount3 -u "$m2"
wait "$ro_pid" || fail "read-only mount exited $?"
echo "ok: read-only mount alongside allowed"

# 3. ext4 and raw data survive a clean unmount and remount.
dev=$(attach "$m1/file")
mkfs.ext4 -q -F -E nodiscard -b 4096 "$dev" 48M
mkdir -p "$WORK/fs" "$WORK/src"
mount "$dev" "$WORK/fs"
for i in $(seq 1 20); do head -c $((i * 37813 % 400000 + 1)) /dev/urandom >"$WORK/src/f$i"; done
head -c 4M /dev/urandom >"$WORK/src/big"
cp -r "$WORK/src" "$WORK/fs/"
sync
checksums "$WORK/fs/src" >"$WORK/sums.before"
umount "$WORK/fs"
detach "$dev"
# Raw data past the filesystem.
head -c 2M /dev/urandom >"$WORK/raw"
dd if="$WORK/raw" of="$m1/file" bs=64K seek=$((56 * 16)) conv=notrunc,fsync status=none
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS: $(tail -5 "$WORK/daemon.log")"
echo "ok: ext4 written and unmounted cleanly"

# 4. No lease left; the next mount succeeds at once and reads it all back.
code=$(lease_code)
[[ $code == 404 ]] || fail "a clean unmount left the lease ($code)"
start_fg s3://bucket/vol "$m1" "${opts[@]}" --cache-size 0
cmp -n $((2 * 1024 * 1024)) "$WORK/raw" <(dd if="$m1/file" bs=64K skip=$((56 * 16)) count=32 status=none) ||
  fail "raw data not read back after remount"
dev=$(attach "$m1/file")
e2fsck -fn "$dev" >"$WORK/fsck.out" 2>&1 || fail "e2fsck: $(cat "$WORK/fsck.out")"
mount -o ro "$dev" "$WORK/fs"
checksums "$WORK/fs/src" >"$WORK/sums.after"
cmp "$WORK/sums.before" "$WORK/sums.after" || fail "checksums differ after remount"
umount "$WORK/fs"
detach "$dev"
stop_fg "$m1"
((DAEMON_STATUS == 0)) || fail "unmount exited $DAEMON_STATUS"
code=$(lease_code)
[[ $code == 404 ]] || fail "the second clean unmount left the lease ($code)"
echo "ok: no lease after a clean unmount; the next mount read back ext4 (e2fsck clean) and the raw data"
echo "PASS rgw_lease"
