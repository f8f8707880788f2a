#!/usr/bin/env bash
# Under systemd (stderr is the journal: $JOURNAL_STREAM names its device
# and inode) every line the foreground daemon writes starts with its syslog
# priority "<N>", errors before logging starts included; with stderr
# elsewhere (JOURNAL_STREAM left from a parent, naming another file) lines
# stay plain.
source "$(dirname "$0")/lib.sh"
require_fuse
STORE=$WORK/store MNT=$WORK/mnt
mkdir -p "$STORE" "$MNT"
LOG=$WORK/daemon.log  # start_fg's
: >"$LOG"
journal_of() { stat -c '%d:%i' "$1"; }

# 1. A mount in the foreground, as the unit runs it, at --log-level debug.
JOURNAL_STREAM=$(journal_of "$LOG") start_fg "$STORE" "$MNT" --size 16M --log-level debug
stop_fg "$MNT"
((DAEMON_STATUS == 0)) || fail "daemon exit status $DAEMON_STATUS"
[[ -s $LOG ]] || fail "nothing logged"
grep -q '^<6>s3bd: info: ' "$LOG" || fail "no info line with <6>: $(cat "$LOG")"
grep -q '^<7>s3bd: debug: ' "$LOG" || fail "no debug line with <7>: $(cat "$LOG")"
if grep -vqE '^<[0-7]>s3bd: ' "$LOG"; then fail "a line without its priority: $(grep -vE '^<[0-7]>' "$LOG" | head -3)"; fi

# 2. An error before logging starts: <3>.
: >"$LOG"
set +e
JOURNAL_STREAM=$(journal_of "$LOG") "$S3BD" mount "$STORE" "$MNT" -f --cache-size bogus 2>>"$LOG"
st=$?
set -e
((st == 2)) || fail "bad option: exit $st"
grep -q '^<3>s3bd: error: ' "$LOG" || fail "usage error without <3>: $(cat "$LOG")"

# 3. JOURNAL_STREAM naming another file: stderr is not the journal.
: >"$LOG"
: >"$WORK/other"
set +e
JOURNAL_STREAM=$(journal_of "$WORK/other") "$S3BD" mount "$STORE" "$MNT" -f --cache-size bogus 2>>"$LOG"
set -e
grep -q '^s3bd: error: ' "$LOG" || fail "a prefix though stderr is not the journal: $(cat "$LOG")"
echo "PASS journal_priority"
