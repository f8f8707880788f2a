#!/usr/bin/env bash
# `s3bd nbd` with libnbd's tools: what nbdinfo sees (size, block sizes,
# flags), 256 MiB of random data through nbdcopy in and out, TCP on
# loopback, export names, errors for requests past the end, a read-only
# server, --stats-json, the status file and the socket's life; and the
# refusals of bad command lines.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
require_nbd_tools

store=$WORK/store sock=$WORK/nbd.sock
mkdir -p "$store"

# ---- bad command lines: one line, exit 2, nothing created ----------------
nbd_refused 2 "needs --socket PATH or --listen HOST:PORT" "$store" --size 16M
nbd_refused 2 "--socket and --listen exclude each other" "$store" --size 16M --socket "$sock" --listen 127.0.0.1:10809
nbd_refused 2 "--listen 0.0.0.0:10809: 0.0.0.0 is not a loopback address; add --allow-remote" "$store" --size 16M \
  --listen 0.0.0.0:10809
nbd_refused 2 "--listen 10.1.2.3:10809: 10.1.2.3 is not a loopback address; add --allow-remote" "$store" --size 16M \
  --listen 10.1.2.3:10809
nbd_refused 2 "^s3bd: error: --listen nosuch.invalid:10809: cannot resolve nosuch.invalid: [^;]*$" "$store" --size 16M \
  --listen nosuch.invalid:10809 --allow-remote
nbd_refused 2 "invalid --listen '127.0.0.1': expected HOST:PORT" "$store" --size 16M --listen 127.0.0.1
nbd_refused 2 "invalid --listen '127.0.0.1:0': the port" "$store" --size 16M --listen 127.0.0.1:0
nbd_refused 2 "--allow-remote applies only to --listen" "$store" --size 16M --socket "$sock" --allow-remote
nbd_refused 2 "--file-name|unknown option|following argument" "$store" --size 16M --socket "$sock" --file-name x
nbd_refused 1 "the directory $WORK/nodir does not exist" "$store" --size 16M --socket "$WORK/nodir/s"
touch "$WORK/plain"
nbd_refused 1 "the path exists and is not a socket" "$store" --size 16M --socket "$WORK/plain"
[[ -z $(ls -A "$store") ]] || fail "a refused server wrote to the store: $(ls -A "$store")"

# ---- nbdinfo ----------------------------------------------------------------
start_nbd "$store" "$sock" --size 256M --block-size 64K --stats-json "$WORK/stats.json"
[[ $(stat -c %a "$sock") == 600 ]] || fail "socket mode is $(stat -c %a "$sock"), not 600"
uri=$(nbd_uri "$sock")
nbdinfo --json "$uri" >"$WORK/info.json"
python3 - "$WORK/info.json" <<'PY' || fail "nbdinfo: $(cat "$WORK/info.json")"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["export-size"] == 256 << 20, e
assert e["block_size_minimum"] == 1, e
assert e["block_size_preferred"] == 64 << 10, e
assert e["block_size_maximum"] == 32 << 20, e
assert e["is_read_only"] is False, e
for k in ("can_flush", "can_fua", "can_trim", "can_zero", "can_multi_conn", "can_df"):
    assert e[k] is True, (k, e)
PY
echo "ok: nbdinfo"

# ---- 256 MiB in and out -----------------------------------------------------
head -c $((256 << 20)) /dev/urandom >"$WORK/in.img"
nbdcopy "$WORK/in.img" "$uri" || fail "nbdcopy in failed"
nbdcopy "$uri" "$WORK/out.img" || fail "nbdcopy out failed"
cmp "$WORK/in.img" "$WORK/out.img" || fail "nbdcopy out differs from what went in"
rm -f "$WORK/out.img"
echo "ok: nbdcopy 256 MiB in and out"

# ---- requests past the end fail on the server's side --------------------------
# Strict mode off, so that libnbd sends them instead of refusing them itself.
nbdsh -c "
h.set_strict_mode(0)
h.connect_uri('$uri')
size = h.get_size()
for what, call in (('read', lambda: h.pread(10, size - 5)),
                   ('write', lambda: h.pwrite(b'x' * 10, size - 5)),
                   ('zero', lambda: h.zero(4096, size)),
                   ('trim', lambda: h.trim(8192, size - 4096))):
    try:
        call()
    except nbd.Error as e:
        # e.errno is the error's name
        want = 'EINVAL' if what in ('read', 'trim') else 'ENOSPC'
        assert e.errno == want, (what, e.errno, e.string)
    else:
        raise AssertionError(what + ' past the end succeeded')
# Up to the end is fine, and the data is still there.
assert h.pread(5, size - 5) == open('$WORK/in.img', 'rb').read()[-5:]
" || fail "requests past the end"
echo "ok: requests past the end"

# A wrong export name: nbdinfo fails and says so.
if nbdinfo "$(nbd_uri "$sock" nosuch)" >"$WORK/wrong.out" 2>&1; then fail "nbdinfo of a wrong export name succeeded"; fi
grep -q "export: nosuch" "$WORK/wrong.out" || fail "wrong export name: $(cat "$WORK/wrong.out")"

# The stats: written while serving (poll until they show all of the above:
# rewritten every second).
deadline=$((SECONDS + 30))
until python3 -c "
import json, sys
s = json.load(open('$WORK/stats.json'))
n = s['nbd']
sys.exit(0 if n['requests']['write']['bytes'] >= 256 << 20 and n['errors_returned'] >= 4 else 1)" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "stats: $(cat "$WORK/stats.json")"
  sleep 0.1
done
check_json "$WORK/stats.json" 's["version"] == 1' 's["volume"]["size"] == 256 << 20' \
  's["nbd"]["connections"] >= 4' 's["nbd"]["requests"]["read"]["bytes"] >= 256 << 20' \
  's["nbd"]["errors_returned"] >= 4' "s[\"nbd\"][\"uri\"] == \"$uri\"" 'layer("cache")["layer"] == "cache"'

stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS: $(tail -5 "$WORK/nbd.log")"
[[ ! -e $sock ]] || fail "the socket was not removed at exit"
check_json "$WORK/stats.json" 'layer("cache")["dirty_blocks"] == 0' 's["nbd"]["active_connections"] == 0'
grep -q "NBD server on unix:$sock stopped; all data flushed to the store" "$WORK/nbd.log" ||
  fail "no final flush message: $(tail -5 "$WORK/nbd.log")"
echo "ok: stop"

# ---- TCP on loopback, an export name, read-only; the data is kept -----------
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$S3BD" nbd "$store" --listen "127.0.0.1:$port" --export-name vol1 --read-only -f 2>>"$WORK/nbd.log" &
NBD_PID=$!
wait_nbd_ready "nbd://127.0.0.1:$port/vol1"
nbdinfo --json "nbd://127.0.0.1:$port/vol1" >"$WORK/info.json"
python3 - "$WORK/info.json" <<'PY' || fail "nbdinfo over TCP: $(cat "$WORK/info.json")"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
assert e["export-name"] == "vol1" and e["export-size"] == 256 << 20 and e["is_read_only"] is True, e
PY
nbdinfo --size "nbd://127.0.0.1:$port" >/dev/null || fail "the name \"\" is not accepted beside --export-name"
nbdcopy "nbd://127.0.0.1:$port/vol1" "$WORK/out.img"
cmp "$WORK/in.img" "$WORK/out.img" || fail "data differs after a restart"
nbdsh -u "nbd://127.0.0.1:$port/vol1" -c "
try:
    h.pwrite(b'x', 0)
except nbd.Error as e:
    pass
else:
    raise AssertionError('a write to a read-only server succeeded')
" || fail "read-only"
stop_nbd INT
((NBD_STATUS == 0)) || fail "read-only s3bd nbd exited $NBD_STATUS"
echo "ok: TCP, export name, read-only"

# ---- detached (the default): returns once serving; SIGTERM; the status file -----
"$S3BD" nbd "$store" --socket "$sock" --stats-json "$WORK/stats2.json" --log-file "$WORK/detached.log" ||
  fail "s3bd nbd (detaching) failed"
nbdinfo --size "$uri" >/dev/null || fail "not serving once s3bd nbd returned"
status_file=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["daemon"]["status_file"])' "$WORK/stats2.json")
check_json "$status_file" 's["state"] == "serving"' "s[\"mountpoint\"] == \"nbd:unix:$sock\""
pid=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["pid"])' "$status_file")
kill -TERM "$pid"
deadline=$((SECONDS + 60))
until python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["state"] != "done")' "$status_file" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "the detached server did not finish: $(cat "$status_file")"
  sleep 0.1
done
check_json "$status_file" 's["status"] == 0' 's["not_stored"] == 0'
[[ ! -e $sock ]] || fail "the detached server left its socket"
grep -q "stopped; all data flushed to the store" "$WORK/detached.log" || fail "log file: $(cat "$WORK/detached.log")"
rm -f "$status_file"
echo "PASS nbd_basic"
