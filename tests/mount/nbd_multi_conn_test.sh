#!/usr/bin/env bash
# Several NBD connections at once on one server: two clients that write
# disjoint halves while both are connected (each waits until the other has
# connected), two nbdcopy reads at once, and the multi-conn promise: a
# write acknowledged on one connection is read on another, and a flush on
# one connection covers it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
require_nbd_tools

store=$WORK/store sock=$WORK/nbd.sock
mkdir -p "$store"
start_nbd "$store" "$sock" --size 64M --block-size 64K --stats-json "$WORK/stats.json"
uri=$(nbd_uri "$sock")
[[ $(nbdinfo --can multi-conn "$uri"; echo $?) == 0 ]] || fail "the server does not offer multi-conn"

head -c $((64 << 20)) /dev/urandom >"$WORK/want.img"
cat >"$WORK/half.py" <<'PY'
import os, time
me, other, image, uri = (os.environ[k] for k in ("ME", "OTHER", "IMAGE", "URI"))
half = int(os.environ["HALF"])
h = nbd.NBD()
h.connect_uri(uri)
open(me, "w").close()
deadline = time.monotonic() + 30
while not os.path.exists(other):  # both connections are open from here on
    assert time.monotonic() < deadline, "the other client never connected"
    time.sleep(0.01)
data = open(image, "rb").read()
size = h.get_size()
start = half * size // 2
chunk = 1 << 20
for off in range(start, start + size // 2, chunk):
    h.pwrite(data[off:off + chunk], off)
h.flush()
h.shutdown()
PY
ME=$WORK/ready0 OTHER=$WORK/ready1 HALF=0 IMAGE=$WORK/want.img URI=$uri nbdsh -n -c "exec(open('$WORK/half.py').read())" &
p0=$!
ME=$WORK/ready1 OTHER=$WORK/ready0 HALF=1 IMAGE=$WORK/want.img URI=$uri nbdsh -n -c "exec(open('$WORK/half.py').read())" &
p1=$!
wait "$p0" || fail "the first writer failed"
wait "$p1" || fail "the second writer failed"
echo "ok: two writers at once"

nbdcopy "$uri" "$WORK/out0.img" &
c0=$!
nbdcopy "$uri" "$WORK/out1.img" &
c1=$!
wait "$c0" || fail "the first nbdcopy failed"
wait "$c1" || fail "the second nbdcopy failed"
cmp "$WORK/want.img" "$WORK/out0.img" || fail "the first copy differs"
cmp "$WORK/want.img" "$WORK/out1.img" || fail "the second copy differs"
echo "ok: two nbdcopy reads at once"

nbdsh -c "
import os
a = h
a.connect_uri('$uri')
b = nbd.NBD()
b.connect_uri('$uri')
assert a.can_multi_conn() and b.can_multi_conn()
for i in range(32):
    data = os.urandom(5000)
    off = i * 70001
    a.pwrite(data, off)
    assert b.pread(len(data), off) == data, i
    b.flush()
b.shutdown()
" || fail "multi-conn: a write on one connection is not seen on the other"

stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS"
check_json "$WORK/stats.json" 's["nbd"]["connections"] >= 6' 's["nbd"]["active_connections"] == 0'
echo "PASS nbd_multi_conn"
