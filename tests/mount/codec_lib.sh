# Helpers for the codec mount tests (--compress, --encrypt; sourced after
# lib.sh): passphrase files, a marker that must never reach the store in
# the clear, checks over the JSON stats and over commands that must fail.

# Argon2id at its cheapest: the default costs ~0.5 s and 256 MiB per try.
export S3BD_TEST_KDF=1,65536,1
unset S3BD_PASSPHRASE_FILE

# A string found nowhere but in the data the tests write.
MARKER="s3bd-codec-test-plaintext-marker-5f1c9e27"

# make_pass FILE TEXT: a passphrase file, mode 0600.
make_pass() {
  (umask 077 && printf '%s\n' "$2" >"$1")
  chmod 600 "$1"
}

# make_text FILE BYTES: compressible text, the marker on every line.
make_text() {
  python3 - "$1" "$2" "$MARKER" <<'PY'
import sys
path, size, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3]
out, i = [], 0
while sum(map(len, out)) < size:
    out.append(f"{marker} line {i:08d}: the quick brown fox jumps over the lazy dog\n")
    i += 1
open(path, "w").write("".join(out)[:size])
PY
}


# stats_json MNT: copies the mount's JSON stats to $WORK/stats.json.
stats_json() { cat "$1/.stats.json" >"$WORK/stats.json"; }

# must_fail STATUS PATTERN COMMAND...: COMMAND must exit STATUS with a line
# on stderr matching PATTERN (kept in $WORK/must_fail.err).
must_fail() {
  local want=$1 pattern=$2 status
  shift 2
  set +e
  "$@" >"$WORK/must_fail.out" 2>"$WORK/must_fail.err" </dev/null
  status=$?
  set -e
  ((status == want)) || fail "$* exited $status, expected $want: $(cat "$WORK/must_fail.err")"
  grep -qE -- "$pattern" "$WORK/must_fail.err" || fail "$*: unexpected message: $(cat "$WORK/must_fail.err")"
  return 0
}
