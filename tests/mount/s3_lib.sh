# Shared helpers for the S3 mount tests (sourced, not run): a private s3rver
# (a third-party fake S3 server from npm, pinned by tests/s3rver's lock file
# and installed by scripts/test.sh) on a free loopback port, and the AWS CLI
# pointed at it. s3rver checks access key ids (and SigV2 signatures) against
# its built-in account S3RVER/S3RVER; it does not check SigV4 signatures.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

S3RVER_BIN=${S3BD_SOURCE_DIR:-$(dirname "${BASH_SOURCE[0]}")/../..}/tests/s3rver/node_modules/.bin/s3rver
# Debian's awscli; a version manager's shim earlier in PATH may not work.
AWS=/usr/bin/aws
[[ -x $AWS ]] || AWS=$(command -v aws || true)

# The environment of every s3bd and aws command: s3rver's account, and no
# access to the user's AWS files or to any instance metadata service.
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=""
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE
export HOME=$WORK/home
mkdir -p "$HOME"

require_s3rver() {
  [[ -x $S3RVER_BIN ]] || fail "s3rver is not installed: run npm ci --prefix tests/s3rver (scripts/test.sh does)"
  command -v node >/dev/null || fail "node is missing (scripts/install-deps.sh installs nodejs)"
  [[ -n $AWS ]] || fail "the AWS CLI is missing (scripts/install-deps.sh installs awscli)"
}

# start_s3rver BUCKET...: starts s3rver with these buckets on a free port and
# waits (with a deadline) until it listens. Sets S3_ENDPOINT and S3RVER_DATA.
start_s3rver() {
  S3RVER_DATA=$WORK/s3rver-data
  mkdir -p "$S3RVER_DATA"
  local args=() b
  for b in "$@"; do args+=(--configure-bucket "$b"); done
  "$S3RVER_BIN" -d "$S3RVER_DATA" -a 127.0.0.1 -p 0 "${args[@]}" >"$WORK/s3rver.log" 2>&1 &
  S3RVER_PID=$!
  local deadline=$((SECONDS + 30)) port=""
  until port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$WORK/s3rver.log" | grep -oE '[0-9]+$'); do
    kill -0 "$S3RVER_PID" 2>/dev/null || fail "s3rver exited: $(cat "$WORK/s3rver.log")"
    ((SECONDS < deadline)) || fail "s3rver did not start listening"
    sleep 0.05
  done
  S3_ENDPOINT=http://127.0.0.1:$port
  echo "s3rver $S3RVER_PID listening at $S3_ENDPOINT"
}

stop_s3rver() {
  [[ -n ${S3RVER_PID:-} ]] || return 0
  kill "$S3RVER_PID" 2>/dev/null || true
  wait "$S3RVER_PID" 2>/dev/null || true
  S3RVER_PID=
}

# Unmount everything first (lib.sh's cleanup), then stop the server.
s3_cleanup() {
  cleanup
  stop_s3rver
}
trap s3_cleanup EXIT

aws_s3() { "$AWS" --endpoint-url "$S3_ENDPOINT" "$@"; }

# s3_keys BUCKET PREFIX: the keys under PREFIX, one per line, sorted.
s3_keys() {
  aws_s3 s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[].[Key]' --output text |
    grep -v '^None$' | LC_ALL=C sort || true
}

# s3_block_count BUCKET PREFIX: the number of block objects under PREFIX.
s3_block_count() {
  s3_keys "$1" "$2" | grep -cE "^$(printf '%s' "$2" | sed 's/[][\.*^$+?(){}|/]/\\&/g')[0-9a-f]{8,16}$" || true
}

# A free loopback port with nothing listening.
closed_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# s3rver's data directory as text, to check that a command wrote nothing.
s3_snapshot() {
  (cd "$S3RVER_DATA" && find . -type f -printf '%P %s %T@\n' | LC_ALL=C sort)
}
