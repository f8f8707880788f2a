# Helpers for the NBD server tests (sourced after lib.sh): `s3bd nbd` in
# the foreground as a child of the test's shell, and libnbd's tools
# (nbdinfo, nbdcopy, nbdsh, nbdfuse: scripts/install-deps.sh installs
# libnbd-bin and python3-libnbd).

# nbdsh is `python3 -m nbd`: a python3 ahead of Debian's in PATH (a version
# manager's) lacks the module, so Debian's is used where it has it.
if [[ -x /usr/bin/python3 ]] && /usr/bin/python3 -c 'import nbd' 2>/dev/null; then
  nbdsh() { /usr/bin/python3 -m nbd "$@"; }
fi

require_nbd_tools() {
  local t
  for t in nbdinfo nbdcopy; do
    command -v "$t" >/dev/null || fail "$t is missing (scripts/install-deps.sh installs libnbd-bin)"
  done
  nbdsh -n -c pass || fail "nbdsh does not work (scripts/install-deps.sh installs python3-libnbd)"
}

# nbd_uri SOCKET [NAME]: the URI of an export on a Unix socket.
nbd_uri() { echo "nbd+unix:///${2:-}?socket=$1"; }

# start_nbd STORE SOCKET [options...]: `s3bd nbd STORE --socket SOCKET -f`
# in the background; returns once a client gets through the handshake
# (polled, with a deadline). Sets NBD_PID. The log goes to $WORK/nbd.log.
start_nbd() {
  local store=$1 sock=$2
  shift 2
  "$S3BD" nbd "$store" --socket "$sock" -f "$@" 2>>"$WORK/nbd.log" &
  NBD_PID=$!
  wait_nbd_ready "$(nbd_uri "$sock" "${NBD_EXPORT:-}")"
}

# wait_nbd_ready URI: polls until nbdinfo can connect (the daemon must be
# NBD_PID).
wait_nbd_ready() {
  local deadline=$((SECONDS + 30))
  until nbdinfo --size "$1" >/dev/null 2>&1; do
    kill -0 "$NBD_PID" 2>/dev/null || fail "s3bd nbd exited before serving: $(tail -5 "$WORK/nbd.log")"
    ((SECONDS < deadline)) || fail "s3bd nbd did not serve $1: $(tail -5 "$WORK/nbd.log")"
    sleep 0.05
  done
}

# stop_nbd [SIGNAL]: stops the daemon (SIGTERM by default) and returns its
# exit status in NBD_STATUS.
stop_nbd() {
  kill -"${1:-TERM}" "$NBD_PID"
  set +e
  wait "$NBD_PID"
  NBD_STATUS=$?
  set -e
}

# kill_nbd: SIGKILL, as a crash.
kill_nbd() {
  kill -KILL "$NBD_PID"
  wait "$NBD_PID" 2>/dev/null || true
}

# nbd_refused STATUS PATTERN ARGS...: `s3bd nbd ARGS -f` must exit STATUS
# with a one-line message matching PATTERN.
nbd_refused() {
  local want_status=$1 want=$2
  shift 2
  set +e
  timeout 60 "$S3BD" nbd "$@" -f 2>"$WORK/refused.err"
  local status=$?
  set -e
  ((status == want_status)) || fail "s3bd nbd $* exited $status, expected $want_status: $(cat "$WORK/refused.err")"
  grep -qE -- "$want" "$WORK/refused.err" || fail "s3bd nbd $*: unexpected message: $(cat "$WORK/refused.err")"
  [[ $(grep -c . "$WORK/refused.err") == 1 ]] || fail "s3bd nbd $*: not one line: $(cat "$WORK/refused.err")"
}
