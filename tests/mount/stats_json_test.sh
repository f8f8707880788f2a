#!/usr/bin/env bash
# `s3bd stats --json`: one JSON object (python3's json module parses it)
# whose counters move with traffic; the text stats keep their lines; `s3bd
# sync` reads the dirty count from the JSON form.
source "$(dirname "$0")/lib.sh"
require_fuse

store=$WORK/store mnt=$WORK/mnt
mkdir -p "$store" "$mnt"
start_fg "$store" "$mnt" --size 32M

"$S3BD" stats "$mnt" --json >"$WORK/before.json" || fail "s3bd stats --json failed"
check_json "$WORK/before.json" 's["version"] == 1' 's["volume"]["size"] == 32 << 20' \
  's["volume"]["block_size"] == 1 << 20' 's["daemon"]["pid"] == '"$DAEMON_PID" \
  '[l["layer"] for l in s["layers"]] == ["fence-writes", "cache", "fence-uploads", "map", "codec", "directory"]' \
  'layer("cache")["ops"]["write"]["ops"] == 0' 'layer("map")["surveyed"] is True' \
  'layer("map")["known_absent"] == 32' 'layer("map")["unknown"] == 0'
head -c 4M /dev/urandom >"$WORK/data"
dd if="$WORK/data" of="$mnt/file" bs=1M oflag=direct conv=notrunc status=none
"$S3BD" sync "$mnt" -q || fail "s3bd sync failed"
"$S3BD" stats "$mnt" --json >"$WORK/after.json"
check_json "$WORK/after.json" 'layer("cache")["ops"]["write"]["ops"] == 4' \
  'layer("cache")["ops"]["write"]["bytes"] == 4 << 20' 'layer("cache")["dirty_blocks"] == 0' \
  'layer("cache")["uploads_ok"] >= 4' 'layer("directory")["ops"]["write"]["ops"] >= 4' \
  's["fuse"]["largest_write_request"] == 1 << 20' 'layer("map")["known_present"] == 4'
# The text is rendered from the same tree.
grep -qE 'dirty blocks +0 ' "$mnt/stats" || fail "text stats: $(cat "$mnt/stats")"
"$S3BD" stats "$mnt" | grep -q '^\[cache\]' || fail "s3bd stats shows no cache section"
grep -qE '^  blocks +4 may hold data, 28 known absent, 0 unknown$' "$mnt/stats" || fail "text stats: $(cat "$mnt/stats")"
[[ $(ls "$mnt" | tr '\n' ' ') == "file stats " ]] || fail "ls shows $(ls "$mnt")"
# Bad input.
if "$S3BD" stats "$WORK" --json 2>"$WORK/err"; then fail "stats --json on a non-mount succeeded"; fi
grep -q "^s3bd: error: .*does not look like an s3bd mount" "$WORK/err" || fail "non-mount: $(cat "$WORK/err")"
stop_fg "$mnt"
((DAEMON_STATUS == 0)) || fail "exit status $DAEMON_STATUS"
echo "PASS stats_json"
