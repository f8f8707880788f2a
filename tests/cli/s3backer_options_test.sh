#!/usr/bin/env bash
# s3backer's option spellings are refused with a one-line hint naming
# s3bd's option (exit 2, before anything is opened or mounted); s3bd's own
# options and arguments after "--" are not mistaken for them.
set -euo pipefail
S3BD=${S3BD:?}
fail() { echo "FAIL: $*" >&2; exit 1; }
WORK=$(mktemp -d /tmp/s3bd-cli-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# expect_hint "ARGS..." HINT
expect_hint() {
  local args=$1 want=$2 st
  set +e
  # shellcheck disable=SC2086
  "$S3BD" $args >"$WORK/out" 2>"$WORK/err"
  st=$?
  set -e
  [[ $st == 2 ]] || fail "$args: exit status $st, not 2"
  [[ $(wc -l <"$WORK/err") == 1 ]] || fail "$args: not one line: $(cat "$WORK/err")"
  grep -qF -- "$want" "$WORK/err" || fail "$args: '$(cat "$WORK/err")' does not name $want"
  [[ ! -s $WORK/out ]] || fail "$args: printed on stdout"
}
expect_hint "mount $WORK/store $WORK/mnt --blockSize=1M" "s3bd: error: --blockSize is s3backer's option; in s3bd use --block-size"
expect_hint "mount $WORK/store $WORK/mnt --blockCacheSize 100" "--cache-size (a size"
expect_hint "mount s3://b/v $WORK/mnt --accessFile /x" "--credentials-file"
expect_hint "mount s3://b/v $WORK/mnt --baseURL http://h/" "--endpoint"
expect_hint "mount s3://b/v $WORK/mnt --prefix=p/" "STORE: s3://BUCKET/PREFIX"
expect_hint "mount $WORK/store $WORK/mnt --readOnly" "--read-only"
expect_hint "mount s3://b/v $WORK/mnt --listBlocks" "--list-blocks"
expect_hint "mount s3://b/v $WORK/mnt --maxUploadSpeed=1000000" "--max-upload-speed (bytes per second, not bits)"
expect_hint "nbd $WORK/store --socket $WORK/s --passwordFile p" "--passphrase-file"
expect_hint "--reset-mounted-flag s3://b/v" "s3bd unlock STORE"
[[ ! -e $WORK/store ]] || fail "a refused command created the store"

# s3bd's own spellings are still CLI11's to judge, and after "--" nothing
# is an option.
set +e
"$S3BD" mount "$WORK/store" "$WORK/mnt" --block-size 1M --bogus 2>"$WORK/err"
st=$?
set -e
[[ $st == 2 ]] || fail "--bogus: exit status $st"
grep -q "s3backer" "$WORK/err" && fail "--bogus taken for s3backer's: $(cat "$WORK/err")"
set +e
"$S3BD" info -- --blockSize 2>"$WORK/err"
set -e
grep -q "s3backer" "$WORK/err" && fail "an argument after -- taken for an option: $(cat "$WORK/err")"
echo "PASS s3backer_options"
