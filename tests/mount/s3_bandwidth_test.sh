#!/usr/bin/env bash
# --max-upload-speed and --max-download-speed on the test S3 server: a
# 10 s transfer each way moves bytes at the limit, within 10 % (the rate is
# measured here: bytes over the transfer's own time, divided by the limit;
# the machine's speed does not enter, the limit is far below it). And the
# limits show in the stats.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT
start_test_s3server
mnt=$WORK/mnt
mkdir -p "$mnt"
limit=$((4 * 1024 * 1024)) mib=40
opts=(--endpoint "$S3_ENDPOINT" --path-style --cache-size 64M --write-delay 0)

# within_10pct BYTES SECONDS WHAT
within_10pct() {
  python3 - "$@" <<'PY' || fail "$3: rate outside 10 % of the limit"
import sys
b, s, what = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
limit = float(sys.argv[4])
r = b / s / limit
print(f"{what}: {b / s / 2**20:.2f} MiB/s over {s:.2f} s, {r:.3f} of the limit")
sys.exit(0 if 0.9 <= r <= 1.1 else 1)
PY
}

now() { date +%s.%N; }

start_fg s3://bucket/vol "$mnt" "${opts[@]}" --size 128M --max-upload-speed 4M
head -c $((mib << 20)) /dev/urandom >"$WORK/data"
t0=$(now)
dd if="$WORK/data" of="$mnt/file" bs=1M oflag=direct conv=fsync,notrunc status=none
t1=$(now)
python3 - "$mnt/.stats.json" <<'PY' || fail "the upload limit is not in the stats"
import json, sys
s = json.load(open(sys.argv[1]))
s3 = next(l for l in s["layers"] if l["layer"] == "s3")
u = s3["upload_limit"]
assert u["limit_bytes_per_s"] == 4 << 20, u
assert u["bytes"] >= 40 << 20, u
assert u["waits"] > 0, u
assert "download_limit" not in s3, s3
PY
grep -q "upload limit .*4 MiB/s" "$mnt/stats" || fail "no upload limit line in the stats file"
stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
within_10pct $((mib << 20)) "$(python3 -c "print($t1 - $t0)")" "upload" "$limit"

# Download: a fresh mount reads it back (cold, with read-ahead) at the limit.
start_fg s3://bucket/vol "$mnt" "${opts[@]}" --max-download-speed 4M
t0=$(now)
dd if="$mnt/file" of="$WORK/back" bs=1M iflag=direct count=$mib status=none
t1=$(now)
cmp "$WORK/data" "$WORK/back" || fail "data read back differs"
stop_fg "$mnt"
within_10pct $((mib << 20)) "$(python3 -c "print($t1 - $t0)")" "download" "$limit"

# Bad values are refused before anything starts.
for bad in 0 -1 4X; do
  set +e
  "$S3BD" mount s3://bucket/vol "$mnt" -f "${opts[@]}" --max-download-speed "$bad" 2>"$WORK/err"
  st=$?
  set -e
  [[ $st == 2 ]] || fail "--max-download-speed $bad: exit status $st"
  grep -q "max-download-speed" "$WORK/err" || fail "--max-download-speed $bad: $(cat "$WORK/err")"
done
set +e
"$S3BD" mount s3://bucket/vol "$mnt" -f "${opts[@]}" --read-only --max-upload-speed 1M 2>"$WORK/err"
st=$?
set -e
[[ $st == 2 ]] || fail "--max-upload-speed with --read-only: exit status $st"
echo "PASS s3_bandwidth"
