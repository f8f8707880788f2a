#!/usr/bin/env bash
# Every credentials source works end to end against s3rver (which knows only
# the access key S3RVER and checks SigV2 signatures): an s3backer-style
# credentials file (with SigV2, so the secret really signs), a profile of
# ~/.aws/credentials chosen with --profile over wrong environment keys, and
# EC2 instance metadata (IMDSv2) from a fake service on a loopback port.
source "$(dirname "$0")/s3_lib.sh"
require_fuse
require_s3rver

mnt=$WORK/mnt
mkdir -p "$mnt"
start_s3rver creds
ep=(--endpoint "$S3_ENDPOINT" --size 16M --block-size 64K)

# write_one STORE [options]: mounts (the environment changed by RUN), writes
# one block, unmounts; the object must exist.
RUN=(env)
DENIED=0  # access-denied errors expected in the stats
write_one() {
  local store=$1
  shift
  "${RUN[@]}" "$S3BD" mount "$store" "$mnt" "$@" 2>>"$WORK/daemon.log" ||
    fail "s3bd mount $store $*: $(tail -1 "$WORK/daemon.log")"
  head -c 64K /dev/urandom | dd of="$mnt/file" bs=64K conv=notrunc status=none
  grep -qE "errors access-denied=$DENIED " "$mnt/stats" || fail "$store: errors in $(cat "$mnt/stats")"
  unmount_bg "$store" "$mnt"
  [[ $(s3_keys creds "${store#s3://creds/}/") == *"/00000000"* ]] || fail "$store: no block object"
  echo "ok: $store $*"
}

# 1. A credentials file, SigV2.
printf '# s3backer format\nOTHERKEY:other\nS3RVER:S3RVER\n' >"$WORK/creds"
chmod 600 "$WORK/creds"
# s3rver signs a path-style bucket request (the block map's listing) as
# "/creds", s3bd as "/creds/" (AWS's form, "/bucket/?delete"): the listing is
# refused, the mount says so and works without the block map. Two listings
# are refused: the look for an s3backer volume without block 0 (a store
# without s3bd-volume), then the block map's survey.
RUN=(env AWS_ACCESS_KEY_ID=WRONG)
DENIED=2
write_one s3://creds/file "${ep[@]}" --credentials-file "$WORK/creds" --access-key-id S3RVER --auth-version 2
grep -q "block map: the survey of the store failed" "$WORK/daemon.log" || fail "no warning about the failed survey"
DENIED=0

# 2. A profile chosen with --profile outranks the environment's keys.
mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n[disk]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n' \
  >"$HOME/.aws/credentials"
RUN=(env AWS_ACCESS_KEY_ID=WRONG)
write_one s3://creds/profile "${ep[@]}" --profile disk

# 3. Instance metadata (IMDSv2): a token, the role, then temporary credentials.
cat >"$WORK/imds.py" <<'PY'
import http.server, json, sys, datetime
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_PUT(self):
        if self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(200, b"imds-token-1")
        self.reply(403, b"")
    def do_GET(self):
        if self.headers.get("X-aws-ec2-metadata-token") != "imds-token-1":
            return self.reply(401, b"")
        if self.path == "/latest/meta-data/iam/security-credentials/":
            return self.reply(200, b"disk-role")
        if self.path == "/latest/meta-data/iam/security-credentials/disk-role":
            exp = (datetime.datetime.utcnow() + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
            return self.reply(200, json.dumps({"Code": "Success", "AccessKeyId": "S3RVER",
                "SecretAccessKey": "S3RVER", "Token": "session-token", "Expiration": exp}).encode())
        self.reply(404, b"")
    def log_message(self, *args):
        sys.stderr.write("imds: %s\n" % (args[0] % args[1:]))
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
PY
python3 "$WORK/imds.py" >"$WORK/imds.port" 2>"$WORK/imds.log" &
IMDS_PID=$!
deadline=$((SECONDS + 20))
until [[ -s $WORK/imds.port ]]; do
  ((SECONDS < deadline)) || fail "the fake instance metadata service did not start"
  sleep 0.05
done
rm -f "$HOME/.aws/credentials"
RUN=(env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_EC2_METADATA_DISABLED=false
  AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$(cat "$WORK/imds.port")")
write_one s3://creds/imds "${ep[@]}"
RUN=(env)
kill "$IMDS_PID"
wait "$IMDS_PID" 2>/dev/null || true
grep -q "GET /latest/meta-data/iam/security-credentials/disk-role" "$WORK/imds.log" ||
  fail "the instance metadata service was not asked: $(cat "$WORK/imds.log")"
echo "PASS s3_credentials"
