#!/usr/bin/env bash
# Bad input for S3 stores: wrong credentials, a nonexistent bucket, an
# unreachable endpoint, malformed URLs, a credentials file with loose
# permissions, missing credentials, bad option values. Each must exit with the
# expected status (2 for an error in the command line's own content, 1 for
# one that depends on the store, the credentials or the system) and one line
# on stderr that names the problem, leave no mount, and write nothing to the
# bucket (s3rver's data directory is compared).
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

mnt=$WORK/mnt
mkdir -p "$mnt"
start_s3rver bucket
ep=(--endpoint "$S3_ENDPOINT")

# An existing 64M volume, to check geometry errors too.
mount_bg s3://bucket/existing "$mnt" "${ep[@]}" --size 64M
head -c 3M /dev/urandom | dd of="$mnt/file" bs=1M iflag=fullblock conv=notrunc status=none
unmount_bg s3://bucket/existing "$mnt"

cases=0
RUN=(env)  # a prefix for the s3bd command line (environment changes)
# expect_error STATUS PATTERN -- ARGS...: s3bd ARGS must exit with STATUS
# and exactly one line on stderr matching PATTERN, change nothing in the
# bucket, leave no mount.
expect_error() {
  local want=$1 pattern=$2
  shift 3
  local before after status
  before=$(s3_snapshot)
  set +e
  "${RUN[@]}" "$S3BD" "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
  set -e
  after=$(s3_snapshot)
  [[ $status != 0 ]] || fail "s3bd $* succeeded"
  if [[ -n ${OUTAGE_WARNING:-} ]]; then
    # A server that cannot be reached is announced first, while retrying.
    head -1 "$WORK/err" | grep -qE "^s3bd: warning: requests to .* are failing: " ||
      fail "s3bd $*: no outage warning first: $(cat "$WORK/err")"
    sed -i 1d "$WORK/err"
  fi
  [[ $status == "$want" ]] || fail "s3bd $*: exit status $status, expected $want: $(cat "$WORK/err")"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "s3bd $*: expected one line of error, got: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "s3bd $*: error does not match '$pattern': $(cat "$WORK/err")"
  [[ $before == "$after" ]] || fail "s3bd $*: the bucket changed"
  findmnt -rn "$mnt" >/dev/null && fail "s3bd $*: left a mount behind"
  grep -qF "$AWS_SECRET_ACCESS_KEY" "$WORK/err" && fail "s3bd $*: the secret appears in the error"
  cases=$((cases + 1))
  echo "ok: s3bd $* -> $status $(cat "$WORK/err")"
}

new=s3://bucket/new
# Credentials.
AWS_ACCESS_KEY_ID=WRONGKEY expect_error 1 \
  "^s3bd: error: access denied to s3://bucket/new: check the credentials \(HTTP 403 InvalidAccessKeyId\)$" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G
AWS_ACCESS_KEY_ID=WRONGKEY expect_error 1 "access denied to s3://bucket/new: check the credentials" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G -f
AWS_SECRET_ACCESS_KEY=wrong-secret expect_error 1 "access denied .*SignatureDoesNotMatch" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --auth-version 2
printf 'S3RVER:S3RVER\n' >"$WORK/creds"
chmod 644 "$WORK/creds"
expect_error 1 "$WORK/creds: credentials file must not be accessible by group or others" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/creds"
chmod 600 "$WORK/creds"
expect_error 1 "no entry for access key OTHER" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/creds" --access-key-id OTHER
expect_error 1 "credentials: $WORK/missing: No such file" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/missing"
# No credentials anywhere; the instance metadata endpoint is a closed local port.
RUN=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_EC2_METADATA_DISABLED
  AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(closed_port)")
expect_error 1 "no credentials for s3://bucket/new: .*no instance metadata service at http://127.0.0.1" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G
RUN=(env)
AWS_PROFILE=nosuch expect_error 1 "profile 'nosuch' not found" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --profile nosuch

# The bucket and the endpoint.
expect_error 1 "^s3bd: error: bucket nosuchbucket does not exist$" -- mount s3://nosuchbucket/x "$mnt" "${ep[@]}" --size 1G
closed=http://127.0.0.1:$(closed_port)
OUTAGE_WARNING=1 expect_error 1 "^s3bd: error: endpoint unreachable: $closed \(.*\) \(gave up after [0-9]+ attempts" -- \
  mount "$new" "$mnt" --endpoint "$closed" --size 1G --max-retry-time 1
expect_error 1 "disagrees with the store's size 64 MiB" -- mount s3://bucket/existing "$mnt" "${ep[@]}" --size 128M

# Malformed URLs: usage errors (exit 2).
expect_error 2 "invalid store URL 's3://': use s3://BUCKET" -- mount s3:// "$mnt" "${ep[@]}" --size 1G
expect_error 2 "bucket name 'Bucket' must be 3 to 63 lowercase" -- mount s3://Bucket/x "$mnt" "${ep[@]}" --size 1G
expect_error 2 "bucket name 'b' must be" -- mount s3://b "$mnt" "${ep[@]}" --size 1G
expect_error 2 "prefix must not start with '/'" -- mount s3://bucket//x "$mnt" "${ep[@]}" --size 1G
expect_error 2 "unknown scheme 's4'" -- mount s4://bucket/x "$mnt" --size 1G
# '.' and '..' segments: refused as usage errors (exit 2) before any request.
for url in s3://bucket/a/../../other/evil s3://bucket/../etc s3://bucket/./x; do
  expect_error 2 "^s3bd: error: invalid store URL '$(sed 's/[.]/[.]/g' <<<"$url")': the prefix must not contain '[.]' or '[.][.]' segments$" -- \
    mount "$url" "$mnt" "${ep[@]}" --size 1G
done
expect_error 2 "^s3bd: error: invalid store URL 's3://bucket/a//b': the prefix must not contain empty segments \('//'\)$" -- \
  mount s3://bucket/a//b "$mnt" "${ep[@]}" --size 1G
expect_error 2 "bucket name 'Bad_Bucket' must be" -- mount s3://Bad_Bucket/x "$mnt" "${ep[@]}" --size 1G

# Sizes: beyond the largest volume (8 EiB - 1 block), or not whole blocks.
for bad in 8192P 16383P 9223372036854775808 16384P; do
  expect_error 2 "invalid --size '$bad': too large: at most 8 EiB - 1 byte \(9223372036854775807\)" -- \
    mount "$new" "$mnt" "${ep[@]}" --size "$bad"
done
expect_error 2 "size 1 B is not a whole number of 1 MiB blocks" -- mount "$new" "$mnt" "${ep[@]}" --size 1
expect_error 2 "invalid block size 3000" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --block-size 3000
expect_error 2 "unknown log level 'loud'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --log-level loud
# The cache: fewer than 4 blocks (of the command line's or the store's block
# size), or more than this machine's memory.
expect_error 2 "--cache-size 1 KiB is too small" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --cache-size 1K
expect_error 2 "--cache-size 2 MiB is too small for 1 MiB blocks:" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --cache-size 2M
expect_error 1 "--cache-size 2 MiB is too small for 1 MiB blocks \(the store's block size\)" -- \
  mount s3://bucket/existing "$mnt" "${ep[@]}" --cache-size 2M
mem_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
big=1T big_text="1 TiB"
((mem_kib < 1 << 30)) || big=$((mem_kib * 2))K big_text="$((mem_kib * 2)) KiB"
expect_error 2 "--cache-size $big_text is more than this machine's memory \([0-9.]+ GiB\)" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --cache-size "$big"
# Parse errors point to the help of their command.
expect_error 2 "--bogus \(see s3bd mount --help\)$" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --bogus
expect_error 2 "^s3bd: error: unknown command 'foo' \(see s3bd --help\)$" -- foo "$new"

# Option values.
expect_error 2 "invalid --endpoint 'ftp://x'" -- mount "$new" "$mnt" --endpoint ftp://x --size 1G
expect_error 2 "invalid --endpoint 'http://'" -- mount "$new" "$mnt" --endpoint http:// --size 1G
expect_error 2 "invalid --endpoint" -- mount "$new" "$mnt" --endpoint http://host/path --size 1G
expect_error 2 "invalid --auth-version '3'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --auth-version 3
expect_error 2 "invalid --sse 'aes'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --sse aes
expect_error 2 "--sse-kms-key-id needs --sse aws:kms" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --sse-kms-key-id k
expect_error 2 "invalid --acl 'public'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --acl public
expect_error 2 "invalid --storage-class 'cold storage'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --storage-class "cold storage"
expect_error 2 "invalid --timeout '0'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --timeout 0
expect_error 2 "invalid --max-retry-time 'x'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --max-retry-time x
expect_error 2 "invalid --connections '0'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --connections 0
expect_error 2 "invalid --region" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --region "us east"
expect_error 2 "--path-style and --virtual-host exclude each other" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --path-style --virtual-host
expect_error 2 "--anonymous needs --read-only" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --anonymous
expect_error 1 "--ca-file $WORK/nope: No such file" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --ca-file "$WORK/nope"
expect_error 2 "apply only to s3:// stores" -- mount "$WORK" "$mnt" --size 1G --endpoint "$S3_ENDPOINT"

# Nothing was ever written under the new prefix.
[[ -z $(s3_keys bucket new/) ]] || fail "objects appeared under new/: $(s3_keys bucket new/)"
echo "PASS s3_bad_input ($cases cases)"
