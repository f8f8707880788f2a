#!/usr/bin/env bash
# s3backer's volumes on our test S3 server, both ways (s3backer_lib.sh's
# round trip): Debian's s3backer 1.5.4 makes ext4 volumes plain, with
# --compress and with --encrypt --passwordFile; s3bd mounts each (e2fsck,
# checksums), adds files in s3backer's format, and s3backer mounts them
# again and sees everything. The mount token is honoured both ways. Then a
# wrong password, and --compress=zstd, are refused at mount.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
source "$(dirname "$0")/codec_lib.sh"
source "$(dirname "$0")/s3backer_lib.sh"
require_fuse
require_s3backer
trap 'cleanup; stop_test_s3server' EXIT

start_test_s3server
FS=$WORK/fs
mkdir -p "$FS" "$WORK/mnt-refused"
make_pass "$WORK/pass" "s3backer test password"
make_pass "$WORK/wrong" "not the password"

s3backer_round_trip plain
s3backer_round_trip deflate --compress -- --compress=deflate
s3backer_round_trip encrypted --encrypt --passwordFile="$WORK/pass" -- --passphrase-file "$WORK/pass"

echo "== refusals"
refused "wrong password for the s3backer volume s3://bucket/encrypted \(the HMAC of block 00000000 does not match\)" \
  s3://bucket/encrypted "$WORK/mnt-refused" --endpoint "$S3_ENDPOINT" --passphrase-file "$WORK/wrong"
refused "s3://bucket/deflate is an s3backer volume, whose blocks s3backer 1.5 compresses only with deflate" \
  s3://bucket/deflate "$WORK/mnt-refused" --endpoint "$S3_ENDPOINT" --compress
refused "the s3backer volume is not encrypted" \
  s3://bucket/plain "$WORK/mnt-refused" --endpoint "$S3_ENDPOINT" --passphrase-file "$WORK/pass"
for p in plain deflate encrypted; do
  curl -sf -o /dev/null "$S3_ENDPOINT/bucket/$p/s3bd-volume" && fail "s3bd wrote $p/s3bd-volume"
  curl -sf -o /dev/null "$S3_ENDPOINT/bucket/$p/s3backer-mounted" && fail "$p/s3backer-mounted left behind"
done
echo "PASS"
