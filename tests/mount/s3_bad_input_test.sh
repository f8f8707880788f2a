#!/usr/bin/env bash
# Bad input for S3 stores: wrong credentials, a nonexistent bucket, an
# unreachable endpoint, malformed URLs, a credentials file with loose
# permissions, missing credentials, bad option values. Each must exit nonzero
# with one line on stderr that names the problem, leave no mount, and write
# nothing to the bucket (s3rver's data directory is compared).
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
# expect_error PATTERN -- ARGS...: s3bd ARGS must fail with exactly one line
# on stderr matching PATTERN, change nothing in the bucket, leave no mount;
# with STATUS set, with that exit status.
expect_error() {
  local pattern=$1
  shift 2
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
  [[ -z ${STATUS:-} || $status == "$STATUS" ]] || fail "s3bd $*: exit status $status, expected $STATUS"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "s3bd $*: expected one line of error, got: $(cat "$WORK/err")"
  grep -qE -- "$pattern" "$WORK/err" || fail "s3bd $*: error does not match '$pattern': $(cat "$WORK/err")"
  [[ $before == "$after" ]] || fail "s3bd $*: the bucket changed"
  findmnt -rn "$mnt" >/dev/null && fail "s3bd $*: left a mount behind"
  grep -qF "$AWS_SECRET_ACCESS_KEY" "$WORK/err" && fail "s3bd $*: the secret appears in the error"
  cases=$((cases + 1))
  echo "ok: s3bd $* -> $(cat "$WORK/err")"
}

new=s3://bucket/new
# Credentials.
AWS_ACCESS_KEY_ID=WRONGKEY expect_error \
  "^s3bd: error: access denied to s3://bucket/new: check the credentials \(HTTP 403 InvalidAccessKeyId\)$" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G
AWS_ACCESS_KEY_ID=WRONGKEY expect_error "access denied to s3://bucket/new: check the credentials" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G -f
AWS_SECRET_ACCESS_KEY=wrong-secret expect_error "access denied .*SignatureDoesNotMatch" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --auth-version 2
printf 'S3RVER:S3RVER\n' >"$WORK/creds"
chmod 644 "$WORK/creds"
expect_error "$WORK/creds: credentials file must not be accessible by group or others" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/creds"
chmod 600 "$WORK/creds"
expect_error "no entry for access key OTHER" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/creds" --access-key-id OTHER
expect_error "credentials: $WORK/missing: No such file" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --credentials-file "$WORK/missing"
# No credentials anywhere; the instance metadata endpoint is a closed local port.
RUN=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_EC2_METADATA_DISABLED
  AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(closed_port)")
expect_error "no credentials for s3://bucket/new: .*no instance metadata service at http://127.0.0.1" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G
RUN=(env)
AWS_PROFILE=nosuch expect_error "profile 'nosuch' not found" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --profile nosuch

# The bucket and the endpoint.
expect_error "^s3bd: error: bucket nosuchbucket does not exist$" -- mount s3://nosuchbucket/x "$mnt" "${ep[@]}" --size 1G
closed=http://127.0.0.1:$(closed_port)
OUTAGE_WARNING=1 expect_error "^s3bd: error: endpoint unreachable: $closed \(.*\) \(gave up after [0-9]+ attempts" -- \
  mount "$new" "$mnt" --endpoint "$closed" --size 1G --max-retry-time 1
expect_error "disagrees with the store's size 64 MiB" -- mount s3://bucket/existing "$mnt" "${ep[@]}" --size 128M

# Malformed URLs: usage errors (exit 2).
STATUS=2 expect_error "invalid store URL 's3://': use s3://BUCKET" -- mount s3:// "$mnt" "${ep[@]}" --size 1G
STATUS=2 expect_error "bucket name 'Bucket' must be 3 to 63 lowercase" -- mount s3://Bucket/x "$mnt" "${ep[@]}" --size 1G
STATUS=2 expect_error "bucket name 'b' must be" -- mount s3://b "$mnt" "${ep[@]}" --size 1G
STATUS=2 expect_error "prefix must not start with '/'" -- mount s3://bucket//x "$mnt" "${ep[@]}" --size 1G
STATUS=2 expect_error "unknown scheme 's4'" -- mount s4://bucket/x "$mnt" --size 1G
# '.' and '..' segments: refused as usage errors (exit 2) before any request.
for url in s3://bucket/a/../../other/evil s3://bucket/../etc s3://bucket/./x; do
  STATUS=2 expect_error "^s3bd: error: invalid store URL '$(sed 's/[.]/[.]/g' <<<"$url")': the prefix must not contain '[.]' or '[.][.]' segments$" -- \
    mount "$url" "$mnt" "${ep[@]}" --size 1G
done
STATUS=2 expect_error "^s3bd: error: invalid store URL 's3://bucket/a//b': the prefix must not contain empty segments \('//'\)$" -- \
  mount s3://bucket/a//b "$mnt" "${ep[@]}" --size 1G

# Option values.
expect_error "invalid --endpoint 'ftp://x'" -- mount "$new" "$mnt" --endpoint ftp://x --size 1G
expect_error "invalid --endpoint 'http://'" -- mount "$new" "$mnt" --endpoint http:// --size 1G
expect_error "invalid --endpoint" -- mount "$new" "$mnt" --endpoint http://host/path --size 1G
expect_error "invalid --auth-version '3'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --auth-version 3
expect_error "invalid --sse 'aes'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --sse aes
expect_error "--sse-kms-key-id needs --sse aws:kms" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --sse-kms-key-id k
expect_error "invalid --acl 'public'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --acl public
expect_error "invalid --storage-class 'cold storage'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --storage-class "cold storage"
expect_error "invalid --timeout '0'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --timeout 0
expect_error "invalid --max-retry-time 'x'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --max-retry-time x
expect_error "invalid --connections '0'" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --connections 0
expect_error "invalid --region" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --region "us east"
expect_error "--path-style and --virtual-host exclude each other" -- \
  mount "$new" "$mnt" "${ep[@]}" --size 1G --path-style --virtual-host
expect_error "--anonymous needs --read-only" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --anonymous
expect_error "--ca-file $WORK/nope: No such file" -- mount "$new" "$mnt" "${ep[@]}" --size 1G --ca-file "$WORK/nope"
expect_error "apply only to s3:// stores" -- mount "$WORK" "$mnt" --size 1G --endpoint "$S3_ENDPOINT"

# Nothing was ever written under the new prefix.
[[ -z $(s3_keys bucket new/) ]] || fail "objects appeared under new/: $(s3_keys bucket new/)"
echo "PASS s3_bad_input ($cases cases)"
