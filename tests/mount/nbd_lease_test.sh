#!/usr/bin/env bash
# One read-write daemon per volume, be it a FUSE mount or an NBD server: the
# lease names an NBD server "nbd:unix:PATH", and a mount or a second server
# is refused while it serves (not kept waiting as for a daemon that is
# unmounting); a read-only server may serve beside it; once it stopped, a
# mount takes the volume, and an NBD server is refused while that mount
# holds it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
trap 'cleanup; stop_test_s3server' EXIT
require_fuse
require_nbd_tools
start_test_s3server

sock=$WORK/nbd.sock mnt=$WORK/mnt
mkdir -p "$mnt"
s3=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 5)
start_nbd s3://bucket/l "$sock" --size 16M "${s3[@]}"
host=$(hostname)

refused "s3://bucket/l is mounted read-write by $host \(pid $NBD_PID\)" s3://bucket/l "$mnt" "${s3[@]}"
nbd_refused 1 "s3://bucket/l is mounted read-write by $host \(pid $NBD_PID\)" s3://bucket/l \
  --socket "$WORK/second.sock" "${s3[@]}"
[[ ! -e $WORK/second.sock ]] || fail "the refused server left a socket"

# Read-only beside it: served, with a warning.
"$S3BD" nbd s3://bucket/l --socket "$WORK/ro.sock" --read-only -f "${s3[@]}" 2>"$WORK/ro.log" &
ro_pid=$!
deadline=$((SECONDS + 30))
until nbdinfo --size "$(nbd_uri "$WORK/ro.sock")" >/dev/null 2>&1; do
  kill -0 "$ro_pid" 2>/dev/null || fail "the read-only server exited: $(cat "$WORK/ro.log")"
  ((SECONDS < deadline)) || fail "the read-only server did not serve"
  sleep 0.05
done
grep -q "is mounted read-write by" "$WORK/ro.log" || fail "no warning beside a writer: $(cat "$WORK/ro.log")"
kill -TERM "$ro_pid"
wait "$ro_pid" || fail "the read-only server exited with an error"

stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS"
start_fg s3://bucket/l "$mnt" "${s3[@]}"
nbd_refused 1 "s3://bucket/l is mounted read-write by $host \(pid $DAEMON_PID\) since .*" s3://bucket/l \
  --socket "$sock" "${s3[@]}"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "mount exited $DAEMON_STATUS"
echo "PASS nbd_lease"
