#!/usr/bin/env bash
# `s3bd info STORE` (directory store and test S3 server): geometry, volume
# id, checksums; --count the stored blocks and bytes; --json parsed by
# python3; bad input: not a volume, a nonexistent bucket, wrong credentials.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

mnt=$WORK/mnt store=$WORK/store
mkdir -p "$mnt" "$store"
start_test_s3server --deny-access-key BADKEY
opts=(--endpoint "$S3_ENDPOINT" --path-style)
head -c 5M /dev/urandom >"$WORK/data"

# A volume with 5 blocks of data on each kind of store.
for s in "$store" s3://bucket/vol; do
  o=()
  [[ $s == s3://* ]] && o=("${opts[@]}")
  start_fg "$s" "$mnt" --size 64M "${o[@]}"
  dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc status=none
  stop_fg "$mnt"
  ((DAEMON_STATUS == 0)) || fail "mount of $s exited $DAEMON_STATUS"
  "$S3BD" info "$s" "${o[@]}" >"$WORK/info.txt" || fail "s3bd info $s failed"
  grep -qE '^size +64 MiB \(67108864 bytes, 64 blocks of 1 MiB\)$' "$WORK/info.txt" || fail "info: $(cat "$WORK/info.txt")"
  grep -qE '^volume id +[0-9a-f]{32}$' "$WORK/info.txt" || fail "no volume id: $(cat "$WORK/info.txt")"
  "$S3BD" info "$s" "${o[@]}" --count --json >"$WORK/info.json" || fail "s3bd info --count --json $s failed"
  crc=False
  [[ $s == s3://* ]] && crc=True
  python3 - "$WORK/info.json" "$crc" <<'PY' || fail "info --json of $s: $(cat "$WORK/info.json")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["size"] == 64 << 20 and j["block_size"] == 1 << 20 and j["num_blocks"] == 64, j
assert len(j["volume_id"]) == 32, j
assert j["checksum_crc32c"] == (sys.argv[2] == "True"), j
assert j["stored_blocks"] == 5 and j["stored_bytes"] == 5 << 20, j
PY
  "$S3BD" info "$s" "${o[@]}" --count | grep -qE '^stored +5 blocks, 5242880 bytes' || fail "info --count of $s"
  echo "ok: info of $s: $(tr '\n' ';' <"$WORK/info.txt")"
done

# The lease: none after a clean unmount; while mounted read-write, info
# names the holder and erase is refused.
"$S3BD" info s3://bucket/vol "${opts[@]}" | grep -qE '^mounted +not mounted read-write \(no lease\)$' ||
  fail "info after unmount: $("$S3BD" info s3://bucket/vol "${opts[@]}")"
"$S3BD" info s3://bucket/vol "${opts[@]}" --json | python3 -c 'import json,sys; j=json.load(sys.stdin); assert j["lease"] is None, j'
start_fg s3://bucket/vol "$mnt" "${opts[@]}"
"$S3BD" info s3://bucket/vol "${opts[@]}" >"$WORK/info.txt"
grep -qE "^mounted +read-write by $(hostname) \(pid $DAEMON_PID\), mounted since .*; renewed, expires " "$WORK/info.txt" ||
  fail "info while mounted: $(cat "$WORK/info.txt")"
"$S3BD" info s3://bucket/vol "${opts[@]}" --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
l = j["lease"]
assert l["renewed"] is True and l["pid"] == int(sys.argv[1]) and l["state"] == "live" and l["mountpoint"] == sys.argv[2], l
' "$DAEMON_PID" "$mnt" || fail "info --json while mounted"
set +e
"$S3BD" erase s3://bucket/vol "${opts[@]}" --yes >/dev/null 2>"$WORK/err"
st=$?
set -e
((st == 1)) && grep -qE "^s3bd: error: s3://bucket/vol is mounted read-write by $(hostname) \(pid $DAEMON_PID\)" "$WORK/err" ||
  fail "erase of a mounted volume: exit $st: $(cat "$WORK/err")"
stop_fg "$mnt"
echo "ok: info names the lease holder; erase refuses a mounted volume"

# Bad input, each one line and exit 1 (2 for usage).
expect() {
  local status=$1 pattern=$2
  shift 2
  set +e
  "$S3BD" info "$@" >/dev/null 2>"$WORK/err"
  local got=$?
  set -e
  ((got == status)) || fail "info $* exited $got, expected $status: $(cat "$WORK/err")"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "info $*: expected one line: $(cat "$WORK/err")"
  grep -qE "^s3bd: error: $pattern" "$WORK/err" || fail "info $*: $(cat "$WORK/err")"
}
mkdir -p "$WORK/empty"
expect 1 ".* holds no s3bd volume" "$WORK/empty"
expect 1 ".* holds no s3bd volume" s3://bucket/none "${opts[@]}"
expect 1 "" s3://nosuchbucket/vol "${opts[@]}" --max-retry-time 1
grep -qi "bucket" "$WORK/err" || fail "nonexistent bucket: $(cat "$WORK/err")"
AWS_ACCESS_KEY_ID=BADKEY expect 1 "" s3://bucket/vol "${opts[@]}" --max-retry-time 1
grep -qiE "denied|access|credentials" "$WORK/err" || fail "wrong credentials: $(cat "$WORK/err")"
expect 2 "" "s3://Bad_Bucket"
expect 2 ".*apply only to s3:// stores" "$store" --endpoint "$S3_ENDPOINT"
# A crashed mount's lease (its process is gone) is shown as no longer
# renewed, and erase takes it with the rest.
start_fg s3://bucket/vol "$mnt" "${opts[@]}"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
fusermount3 -uz "$mnt"
"$S3BD" info s3://bucket/vol "${opts[@]}" | grep -qE "^mounted +read-write by .*; no longer renewed \(s3bd unlock removes it\)$" ||
  fail "info after a crash: $("$S3BD" info s3://bucket/vol "${opts[@]}")"
"$S3BD" erase s3://bucket/vol "${opts[@]}" --yes >"$WORK/out" || fail "erase after a crash failed"
[[ -z $(curl -sf "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/" | grep -o "<Key>[^<]*</Key>") ]] ||
  fail "objects left after erase: $(curl -sf "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/")"
echo "ok: a crashed mount's lease is shown as dead and erased with the volume"
echo "PASS s3_info"
