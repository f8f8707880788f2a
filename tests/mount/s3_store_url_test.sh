#!/usr/bin/env bash
# Store URLs whose prefix holds '.' or '..' segments cannot reach another
# bucket: `s3bd mount s3://bucket/a/../../other/evil` is refused with a usage
# error (exit 2) before any request, and afterwards no object exists in any
# bucket of the test S3 server. A prefix with dots inside its names is a
# normal prefix and its objects land exactly under it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
require_fuse
start_test_s3server --bucket other

mnt=$WORK/mnt
mkdir -p "$mnt"
ep=(--endpoint "$S3_ENDPOINT")

# keys BUCKET: every key in the bucket, one per line, sorted (ListObjectsV2).
keys() {
  curl -sS --fail "$S3_ENDPOINT/$1?list-type=2" | grep -oE '<Key>[^<]*</Key>' | sed -E 's#</?Key>##g' | LC_ALL=C sort
}

# expect_refused URL: mounting URL (detached, so a wrongly accepted URL
# returns once mounted) exits 2 with one line naming the problem, leaves no
# mount, sends no request and creates no object in either bucket.
expect_refused() {
  local url=$1 status before after
  before=$(s3counter total)
  set +e
  "$S3BD" mount "$url" "$mnt" --size 16M "${ep[@]}" >"$WORK/out" 2>"$WORK/err"
  status=$?
  set -e
  after=$(s3counter total)
  [[ -z $(keys other) ]] || fail "$url: objects appeared in bucket other: $(keys other | tr '\n' ' ')"
  [[ -z $(keys bucket) ]] || fail "$url: objects appeared in bucket bucket: $(keys bucket | tr '\n' ' ')"
  [[ $(s3counter objects) == 0 ]] || fail "$url: the server holds $(s3counter objects) objects"
  # Refused before the store was opened: not one request.
  [[ $before == "$after" ]] || fail "$url: sent $((after - before)) requests (stderr: $(cat "$WORK/err"))"
  [[ $status == 2 ]] || fail "$url: exit status $status, expected 2 (stderr: $(cat "$WORK/err"))"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "$url: expected one line of error, got: $(cat "$WORK/err")"
  grep -qxF "s3bd: error: invalid store URL '$url': the prefix must not contain '.' or '..' segments" "$WORK/err" ||
    fail "$url: unexpected error: $(cat "$WORK/err")"
  findmnt -rn "$mnt" >/dev/null && fail "$url: left a mount behind"
  echo "ok: $url -> $(cat "$WORK/err")"
}

for url in s3://bucket/a/../../other/evil s3://bucket/../other/evil s3://bucket/../etc s3://bucket/./x \
  s3://bucket/a/./b s3://bucket/a/..; do
  expect_refused "$url"
done

# Dots inside segment names are ordinary key characters.
store=s3://bucket/a.b/..c
mount_bg "$store" "$mnt" --size 16M "${ep[@]}"
head -c 1M /dev/urandom | dd of="$mnt/file" bs=1M conv=notrunc status=none
unmount_bg "$store" "$mnt"
got=$(keys bucket | tr '\n' ' ')
[[ $got == "a.b/..c/00000000 a.b/..c/s3bd-volume " ]] || fail "keys in bucket: $got"
[[ -z $(keys other) ]] || fail "objects appeared in bucket other: $(keys other | tr '\n' ' ')"
stop_test_s3server
echo "PASS s3_store_url"
