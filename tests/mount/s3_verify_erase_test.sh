#!/usr/bin/env bash
# `s3bd verify STORE` and `s3bd erase STORE` on the test S3 server and on a
# directory store: verify of a good volume (also while mounted) exits 0;
# objects corrupted on purpose are each reported by name and verify exits 1;
# erase is refused without --yes on a non-terminal and on a mounted
# directory store, empties the store with --yes (keeping what is not
# s3bd's) and a new volume can be created; bad input for both.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
trap 'cleanup; stop_test_s3server' EXIT

mnt=$WORK/mnt store=$WORK/store
mkdir -p "$mnt" "$store"
start_test_s3server --deny-access-key BADKEY
opts=(--endpoint "$S3_ENDPOINT" --path-style)
head -c 5M /dev/urandom >"$WORK/data"

# run STATUS CMD...: runs s3bd, output in $WORK/out and $WORK/err, and checks the exit status.
run() {
  local status=$1
  shift
  set +e
  "$S3BD" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null
  local got=$?
  set -e
  ((got == status)) || fail "s3bd $* exited $got, expected $status: $(cat "$WORK/out" "$WORK/err")"
}
# reported NAME KIND: verify's output names the object with this problem.
reported() { grep -qE "^$1: $2: " "$WORK/out" || fail "verify did not report $1 as $2: $(cat "$WORK/out")"; }
keys() { curl -sS --fail "$S3_ENDPOINT/bucket?list-type=2&prefix=vol/" | grep -oE '<Key>[^<]*</Key>' || true; }

for s in "$store" s3://bucket/vol; do
  o=()
  [[ $s == s3://* ]] && o=("${opts[@]}")
  start_fg "$s" "$mnt" --size 64M "${o[@]}"
  dd if="$WORK/data" of="$mnt/file" bs=1M conv=notrunc status=none
  "$S3BD" sync "$mnt" -q
  # Beside a read-write mount (the directory store's exclusive flock does not stop it).
  run 0 verify "$s" "${o[@]}"
  grep -q '^all good$' "$WORK/out" || fail "verify of mounted $s: $(cat "$WORK/out")"
  # 5 blocks, s3bd-volume and the mount's s3bd-lease.
  grep -qE "^$s: 7 objects, 5 blocks read \(5\.0 MiB\) in [0-9.]+ s: [0-9]+ objects/s, [0-9.]+ MiB/s$" "$WORK/out" ||
    fail "verify summary of $s: $(cat "$WORK/out")"
  echo "ok: verify of mounted $s: $(tail -2 "$WORK/out" | head -1)"
  # A mounted directory store cannot be erased.
  if [[ $s != s3://* ]]; then
    run 1 erase "$s" --yes
    grep -qE "^s3bd: error: .* is mounted read-write by .* \(pid $DAEMON_PID\) since .*; mount it --read-only, or unmount it there$" \
      "$WORK/err" || fail "erase of mounted: $(cat "$WORK/err")"
  fi
  stop_fg "$mnt"
  ((DAEMON_STATUS == 0)) || fail "mount of $s exited $DAEMON_STATUS"
  run 0 verify "$s" "${o[@]}" --json
  python3 - "$WORK/out" <<'PY' || fail "verify --json of $s: $(cat "$WORK/out")"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["good"] is True and j["problems"] == [], j
assert j["objects"] == 6 and j["blocks_read"] == 5 and j["bytes_read"] == 5 << 20, j
assert j["objects_per_second"] > 0 and j["mib_per_second"] > 0, j
PY
done

# Corruption on the test server: block 3 rewritten without its CRC-32C (a
# volume created by s3bd requires one), block 1 of the wrong size with a
# correct CRC-32C, a stray key and a block beyond the end (64 blocks).
head -c 1M /dev/urandom >"$WORK/block"
head -c 1000 /dev/urandom >"$WORK/short"
crc=$(python3 - "$WORK/short" <<'PY'
import sys
crc = 0xFFFFFFFF
for b in open(sys.argv[1], "rb").read():
    crc ^= b
    for _ in range(8):
        crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
print("%08x" % (crc ^ 0xFFFFFFFF))
PY
)
curl -sS --fail -X PUT --data-binary @"$WORK/block" "$S3_ENDPOINT/bucket/vol/00000003" >/dev/null
curl -sS --fail -X PUT --data-binary @"$WORK/short" -H "x-amz-meta-s3bd-crc32c: $crc" \
  "$S3_ENDPOINT/bucket/vol/00000001" >/dev/null
curl -sS --fail -X PUT --data-binary @"$WORK/block" "$S3_ENDPOINT/bucket/vol/junk" >/dev/null
curl -sS --fail -X PUT --data-binary @"$WORK/block" "$S3_ENDPOINT/bucket/vol/00000040" >/dev/null
run 1 verify s3://bucket/vol "${opts[@]}"
reported vol/00000003 corrupt
grep -q "^vol/00000003: corrupt: .*no x-amz-meta-s3bd-crc32c header" "$WORK/out" || fail "why 3: $(cat "$WORK/out")"
reported vol/00000001 corrupt
grep -q "^vol/00000001: corrupt: .*not the block size 1048576" "$WORK/out" || fail "why 1: $(cat "$WORK/out")"
reported vol/junk foreign
reported vol/00000040 outside
grep -q '^4 problem(s)$' "$WORK/out" || fail "verify of s3: $(cat "$WORK/out")"
echo "ok: verify reports: $(head -4 "$WORK/out" | tr '\n' ';')"

# The same on the directory store: a truncated block, a stray file, a block beyond the end.
truncate -s 100 "$store/00000002"
echo junk >"$store/junk"
cp "$WORK/block" "$store/00000040"
run 1 verify "$store" --json
python3 - "$WORK/out" <<'PY' || fail "verify --json of the damaged directory: $(cat "$WORK/out")"
import json, sys
j = json.load(open(sys.argv[1]))
got = {(p["name"], p["problem"]) for p in j["problems"]}
assert got == {("00000002", "corrupt"), ("junk", "foreign"), ("00000040", "outside")}, j
assert j["good"] is False, j
PY
echo "ok: verify of the damaged directory store"

# erase: refused without --yes when stdin is not a terminal, one line, exit 2.
for s in "$store" s3://bucket/vol; do
  o=()
  [[ $s == s3://* ]] && o=("${opts[@]}")
  run 2 erase "$s" "${o[@]}"
  [[ $(wc -l <"$WORK/err") == 1 ]] && grep -q "^s3bd: error: refusing to erase .* without --yes" "$WORK/err" ||
    fail "erase without --yes: $(cat "$WORK/err")"
  run 0 info "$s" "${o[@]}"
done

# With --yes the store is emptied of s3bd's objects; what is not s3bd's is kept.
run 0 erase "$store" --yes
grep -qE "^erased $store: 7 objects \(6 blocks, 1 metadata\) in [0-9.]+ s: [0-9]+ objects/s$" "$WORK/out" ||
  fail "erase of the directory store: $(cat "$WORK/out")"
grep -q "kept 1 object(s) that are not s3bd's, e.g. junk" "$WORK/out" || fail "erase kept: $(cat "$WORK/out")"
[[ $(ls -A "$store") == junk ]] || fail "left in the directory store: $(ls -A "$store")"
rm "$store/junk"
curl -sS --fail -X DELETE "$S3_ENDPOINT/bucket/vol/junk" >/dev/null
run 0 erase s3://bucket/vol "${opts[@]}" --yes
grep -qE "^erased s3://bucket/vol: 7 objects \(6 blocks, 1 metadata\) in [0-9.]+ s: [0-9]+ objects/s$" "$WORK/out" ||
  fail "erase of s3: $(cat "$WORK/out")"
echo "ok: $(cat "$WORK/out")"
[[ -z $(keys) ]] || fail "left under vol/: $(keys)"
for s in "$store" s3://bucket/vol; do
  o=()
  [[ $s == s3://* ]] && o=("${opts[@]}")
  run 1 verify "$s" "${o[@]}"
  grep -q "holds no s3bd volume" "$WORK/err" || fail "verify after erase: $(cat "$WORK/err")"
  start_fg "$s" "$mnt" --size 32M "${o[@]}"
  stop_fg "$mnt"
  ((DAEMON_STATUS == 0)) || fail "new mount of $s exited $DAEMON_STATUS"
  run 0 info "$s" "${o[@]}"
  grep -qE '^size +32 MiB' "$WORK/out" || fail "new volume: $(cat "$WORK/out")"
  run 0 verify "$s" "${o[@]}"
done
echo "ok: a new volume after erase"

# Bad input, each one line: not a volume, nonexistent bucket, wrong
# credentials (exit 1), malformed URL and options (exit 2).
expect() {
  local status=$1 pattern=$2
  shift 2
  run "$status" "$@"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "$*: expected one line: $(cat "$WORK/err")"
  grep -qiE "^s3bd: error: $pattern" "$WORK/err" || fail "$*: $(cat "$WORK/err")"
}
mkdir -p "$WORK/empty"
for cmd in verify "erase --yes"; do
  # shellcheck disable=SC2086
  set -- $cmd
  expect 1 ".* holds no s3bd volume" "$@" "$WORK/empty"
  expect 1 ".* holds no s3bd volume" "$@" s3://bucket/none "${opts[@]}"
  expect 1 ".*bucket" "$@" s3://nosuchbucket/vol "${opts[@]}" --max-retry-time 1
  AWS_ACCESS_KEY_ID=BADKEY expect 1 ".*(denied|access|credentials)" "$@" s3://bucket/vol "${opts[@]}" --max-retry-time 1
  expect 2 "invalid store URL" "$@" "s3://Bad_Bucket"
  expect 2 ".*apply only to s3:// stores" "$@" "$store" --endpoint "$S3_ENDPOINT"
  expect 2 "" "$@"
done
run 0 info s3://bucket/vol "${opts[@]}"  # the volume survived the bad erases
echo "PASS s3_verify_erase"
