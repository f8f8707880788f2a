#!/usr/bin/env bash
# --metrics-listen and systemd's readiness protocol on a real mount:
#  - with NOTIFY_SOCKET set (a datagram socket of this test's own, as
#    systemd makes for Type=notify), the daemon sends READY=1 once the disk
#    file is usable and STOPPING=1 when it is asked to stop;
#  - /metrics is parsed by Prometheus' own text parser (python3
#    prometheus_client), and its counters move with the traffic;
#  - a bad or busy --metrics-listen is refused before anything is mounted.
source "$(dirname "$0")/lib.sh"
require_fuse
PY=/usr/bin/python3  # Debian's, with python3-prometheus-client
$PY -c "import prometheus_client.parser" 2>/dev/null || fail "python3-prometheus-client is missing"

store=$WORK/store mnt=$WORK/mnt
mkdir -p "$store" "$mnt"
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# The notify socket: every datagram received is appended to a file, one
# message per line (newlines inside a message become '|').
$PY - "$WORK/notify.sock" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        out.write(s.recv(4096).decode().replace("\n", "|") + "\n")
PY
LISTENER=$!
trap 'cleanup; kill $LISTENER 2>/dev/null' EXIT
deadline=$((SECONDS + 20))
until [[ -S $WORK/notify.sock ]]; do
  ((SECONDS < deadline)) || fail "notify listener did not start"
  sleep 0.05
done

NOTIFY_SOCKET=$WORK/notify.sock start_fg "$store" "$mnt" --size 64M --metrics-listen "127.0.0.1:$port"
deadline=$((SECONDS + 20))
until grep -q "READY=1" "$WORK/notify.log" 2>/dev/null; do
  ((SECONDS < deadline)) || fail "no READY=1 from the daemon"
  sleep 0.05
done
grep -q "READY=1|STATUS=.* mounted on $mnt" "$WORK/notify.log" || fail "READY without status: $(cat "$WORK/notify.log")"

# scrape NAME LABELS: the value of one sample, by Prometheus' parser.
scrape() {
  curl -sf "http://127.0.0.1:$port/metrics" | $PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
name, want = sys.argv[1], dict(kv.split("=") for kv in sys.argv[2:])
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in want.items()):
            print(int(s.value) if s.value == int(s.value) else s.value)
            sys.exit(0)
sys.exit("no sample " + name)' "$@"
}
before=$(scrape s3bd_layer_operations_total layer=cache op=write)
[[ $(scrape s3bd_volume_size_bytes) == $((64 << 20)) ]] || fail "s3bd_volume_size_bytes is wrong"
dd if=/dev/urandom of="$mnt/file" bs=1M count=8 oflag=direct conv=fsync status=none
after=$(scrape s3bd_layer_operations_total layer=cache op=write)
((after - before == 8)) || fail "cache writes went from $before to $after, not by 8"
bytes=$(scrape s3bd_layer_bytes_total layer=cache op=write)
((bytes >= 8 << 20)) || fail "cache write bytes $bytes"
# The whole page parses, and only /metrics answers.
curl -sf "http://127.0.0.1:$port/metrics" | $PY -c '
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(sys.stdin.read()))
assert len(fams) > 20, len(fams)
types = {f.name: f.type for f in fams}
assert types["s3bd_cache_hits"] == "counter", types.get("s3bd_cache_hits")
assert types["s3bd_cache_dirty_blocks"] == "gauge"
' || fail "the metrics page does not parse as expected"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")
[[ $code == 404 ]] || fail "/other answered $code"

# The port is taken now: a second daemon refuses to start.
mkdir -p "$WORK/mnt2" "$WORK/store2"
set +e
"$S3BD" mount "$WORK/store2" "$WORK/mnt2" -f --size 64M --metrics-listen "127.0.0.1:$port" 2>"$WORK/err"
st=$?
set -e
[[ $st == 1 ]] || fail "a busy --metrics-listen port: exit status $st"
grep -q "cannot listen on 127.0.0.1:$port" "$WORK/err" || fail "busy port message: $(cat "$WORK/err")"
findmnt -rn "$WORK/mnt2" >/dev/null && fail "mounted although the metrics port is busy"

stop_fg "$mnt"
[[ $DAEMON_STATUS == 0 ]] || fail "daemon exit status $DAEMON_STATUS"
grep -q "STOPPING=1" "$WORK/notify.log" || fail "no STOPPING=1: $(cat "$WORK/notify.log")"
curl -sf "http://127.0.0.1:$port/metrics" >/dev/null && fail "metrics still served after exit"

# Bad addresses are usage errors.
for bad in 0 70000 x :9100; do
  set +e
  "$S3BD" mount "$store" "$mnt" -f --metrics-listen "$bad" 2>"$WORK/err"
  st=$?
  set -e
  [[ $st == 2 ]] || fail "--metrics-listen $bad: exit status $st"
  grep -q "^s3bd: error: --metrics-listen" "$WORK/err" || fail "--metrics-listen $bad: $(cat "$WORK/err")"
done
echo "PASS metrics_notify"
