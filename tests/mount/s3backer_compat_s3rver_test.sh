#!/usr/bin/env bash
# s3backer's volumes on s3rver, a third-party fake S3 (its own handling of
# Content-Encoding and x-amz-meta-*): the round trip of s3backer_lib.sh for
# plain, --compress and --encrypt volumes, and a --blockHashPrefix one.
source "$(dirname "$0")/s3_lib.sh"
source "$(dirname "$0")/codec_lib.sh"
source "$(dirname "$0")/s3backer_lib.sh"
require_fuse
require_s3rver
require_s3backer

start_s3rver bucket
FS=$WORK/fs
mkdir -p "$FS" "$WORK/mnt-refused"
make_pass "$WORK/pass" "s3backer test password"

s3backer_round_trip plain
s3backer_round_trip deflate --compress=9 -- --compress=deflate:1
s3backer_round_trip encrypted --encrypt --passwordFile="$WORK/pass" -- --passphrase-file "$WORK/pass"
s3backer_round_trip hashed --blockHashPrefix -- --hash-prefix
s3_keys bucket hashed/ | grep -qE '^hashed/[0-9a-f]{8}-[0-9a-f]{8}$' || fail "no hash-prefixed block keys"
[[ -z $(s3_keys bucket "" | grep -E 's3bd-(volume|lease)|s3backer-mounted')  ]] || fail "metadata left behind: $(s3_keys bucket "")"
echo "PASS"
