# Helpers for mount tests against our own fault-injecting test S3 server
# (tests/s3server; sourced after lib.sh). Sets S3_ENDPOINT and S3_CONTROL.
S3SERVER=${S3BD_BUILD_DIR:?}/tests/s3server/s3bd_test_s3server

# start_test_s3server [flags...]: starts the server on a free loopback port
# with one bucket, "bucket", and waits until it answers.
start_test_s3server() {
  [[ -x $S3SERVER ]] || fail "test S3 server not built: $S3SERVER"
  "$S3SERVER" --port 0 --port-file "$WORK/s3server.port" --bucket bucket --quiet "$@" \
    >"$WORK/s3server.log" 2>&1 &
  S3SERVER_PID=$!
  local deadline=$((SECONDS + 30))
  until [[ -s $WORK/s3server.port ]] &&
    curl -sf "http://127.0.0.1:$(cat "$WORK/s3server.port")/_control/health" >/dev/null; do
    kill -0 "$S3SERVER_PID" 2>/dev/null || fail "test S3 server exited: $(cat "$WORK/s3server.log")"
    ((SECONDS < deadline)) || fail "test S3 server did not start"
    sleep 0.05
  done
  S3_ENDPOINT=http://127.0.0.1:$(cat "$WORK/s3server.port")
  S3_CONTROL=$S3_ENDPOINT/_control
  export AWS_ACCESS_KEY_ID=TESTKEY AWS_SECRET_ACCESS_KEY=TESTSECRET AWS_REGION=us-east-1
  export AWS_EC2_METADATA_DISABLED=true
}

# s3ctl PATH [BODY]: POST to a control endpoint.
s3ctl() { curl -sS --fail -X POST -d "${2:-}" "$S3_CONTROL/$1" >/dev/null; }
# s3counter NAME: one number from the counters JSON (first match).
s3counter() { curl -sS --fail "$S3_CONTROL/counters" | grep -oE "\"$1\": *[0-9]+" | head -1 | grep -oE '[0-9]+$'; }

stop_test_s3server() {
  [[ -n ${S3SERVER_PID:-} ]] || return 0
  kill "$S3SERVER_PID" 2>/dev/null || true
  wait "$S3SERVER_PID" 2>/dev/null || true
  S3SERVER_PID=
}
