#!/usr/bin/env bash
# NBD FLUSH means durable, as fsync does on the FUSE disk file: data written
# and flushed with nbdsh survives a SIGKILL of the server right after the
# flush returned. A directory store, the test S3 server, and a
# --durable-cache cache file (with the S3 server out of reach during the
# writes, so only the cache file's journal can hold them). And the exit
# status: 1 when the final flush fails.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/nbd_lib.sh"
source "$(dirname "$0")/test_s3server_lib.sh"
trap 'cleanup; stop_test_s3server' EXIT
require_nbd_tools

sock=$WORK/nbd.sock

# write_flush URI SEED: writes 40 random pieces (some unaligned, some whole
# blocks) with nbdsh, flushes, and records what was written in
# $WORK/want.SEED (offset and hex data per line).
write_flush() {
  nbdsh -u "$1" -c "
import os, random
rng = random.Random($2)
size = h.get_size()
with open('$WORK/want.$2', 'w') as want:
    for i in range(40):
        n = rng.choice([1, 777, 4096, 65536, 200000])
        off = rng.randrange(0, size - n)
        if n == 65536:
            off -= off % 65536
        data = rng.randbytes(n)
        h.pwrite(data, off)
        want.write('%d %s\n' % (off, data.hex()))
h.flush()
" || fail "nbdsh write and flush failed"
}

# check URI SEED: the pieces read back as written (later pieces win).
check() {
  nbdsh -u "$1" -c "
lines = [l.split() for l in open('$WORK/want.$2')]
image = {}
for off, hexdata in lines:
    data = bytes.fromhex(hexdata)
    for i, b in enumerate(data):
        image[int(off) + i] = b
# Read each piece's range and compare with the model byte by byte.
for off, hexdata in lines:
    off, n = int(off), len(hexdata) // 2
    got = h.pread(n, off)
    want = bytes(image[off + i] for i in range(n))
    assert got == want, 'piece at %d differs' % off
" || fail "data flushed before the SIGKILL is not intact"
}

# ---- a directory store ------------------------------------------------------
store=$WORK/store
mkdir -p "$store"
start_nbd "$store" "$sock" --size 64M --block-size 64K
write_flush "$(nbd_uri "$sock")" 1
kill_nbd
rm -f "$sock"  # a killed server leaves its socket behind (a new one would replace it anyway)
start_nbd "$store" "$sock"
check "$(nbd_uri "$sock")" 1
stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS"
echo "ok: directory store"

# ---- S3 ---------------------------------------------------------------------
start_test_s3server
s3=(--endpoint "$S3_ENDPOINT" --path-style --max-retry-time 5)
start_nbd s3://bucket/v "$sock" --size 64M --block-size 64K "${s3[@]}"
write_flush "$(nbd_uri "$sock")" 2
kill_nbd
# The stale socket is replaced; the lease of the dead server (same host,
# its process gone) is taken over.
start_nbd s3://bucket/v "$sock" "${s3[@]}"
check "$(nbd_uri "$sock")" 2
stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS"
grep -q "taking over the lease" "$WORK/nbd.log" || fail "the dead server's lease was not taken over"
echo "ok: S3"

# ---- --durable-cache: the flush is the cache file's journal ----------------
cache=(--cache-file "$WORK/cache" --cache-size 32M --durable-cache)
start_nbd s3://bucket/d "$sock" --size 64M --block-size 64K "${s3[@]}" "${cache[@]}"
s3ctl "outage?seconds=600"
write_flush "$(nbd_uri "$sock")" 3
kill_nbd
s3ctl "outage?seconds=0"
start_nbd s3://bucket/d "$sock" "${s3[@]}" "${cache[@]}"
check "$(nbd_uri "$sock")" 3
stop_nbd
((NBD_STATUS == 0)) || fail "s3bd nbd exited $NBD_STATUS after the final flush"
# Now the store itself holds it: served without the cache file.
start_nbd s3://bucket/d "$sock" "${s3[@]}"
check "$(nbd_uri "$sock")" 3
stop_nbd
echo "ok: durable cache"

# ---- the exit status contract: a final flush that fails is exit 1 ----------
start_nbd s3://bucket/f "$sock" --size 16M --block-size 64K --endpoint "$S3_ENDPOINT" --path-style \
  --max-retry-time 1 --stats-json "$WORK/f.json"
s3ctl "outage?seconds=600"
nbdsh -u "$(nbd_uri "$sock")" -c 'h.pwrite(b"x" * 65536, 0)' || fail "a write into the cache failed"
stop_nbd
((NBD_STATUS == 1)) || fail "s3bd nbd exited $NBD_STATUS after a failed final flush, expected 1"
grep -q "NBD server on unix:$sock stopped, but data could not be flushed to the store" "$WORK/nbd.log" ||
  fail "no message about the failed flush: $(tail -5 "$WORK/nbd.log")"
status_file=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["daemon"]["status_file"])' "$WORK/f.json")
check_json "$status_file" 's["state"] == "done"' 's["status"] == 1' 's["not_stored"] >= 1'
rm -f "$status_file"
s3ctl "outage?seconds=0"
echo "ok: a failed final flush"
echo "PASS nbd_flush"
