#!/usr/bin/env bash
# The benchmark's smoke run: scripts/bench.sh --quick runs every workload on
# s3bd and s3backer against the test S3 server, verifies the data (W2 and W6
# read back what W1 wrote, W1r what it rewrote, W5's files match their
# checksums) and writes its JSON. Fails if any workload fails. Of the codec
# workloads it runs W2-enc (and so W1-enc): an encrypted volume written,
# listed and read back. N1, N2 and N6 go through s3bd nbd (nbdcopy).
source "$(dirname "$0")/lib.sh"
require_fuse

src=${S3BD_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
out=$WORK/results
export S3BD
[[ -n ${S3BD_BUILD_DIR:-} ]] && export S3BD_BUILD_DIR

bash "$src/scripts/bench.sh" --quick --workloads all,W2-enc --out "$out" || fail "scripts/bench.sh --quick failed"

json=$(find "$out" -maxdepth 1 -name 'bench-*-quick.json' | sed -n 1p)
[[ -n $json ]] || fail "no JSON result in $out"
jq -e '.failures == []' "$json" >/dev/null || fail "failures recorded: $(jq -c .failures "$json")"
jq -e '.settings.quick and .settings.latency_ms == 20 and .machine.cores > 0' "$json" >/dev/null ||
  fail "settings missing from $json"

# Every workload produced a number for every daemon that ran, and the
# ceilings were measured.
daemons=(s3backer)
"$S3BD" mount --help 2>&1 | grep -q -- '--endpoint' && daemons+=(s3bd)
for d in "${daemons[@]}" memfuse; do
  for w in W1 W2 W3 W4 W5a W5b W6; do
    jq -e --arg d "$d" --arg w "$w" '.results[$d][$w].value > 0' "$json" >/dev/null ||
      fail "$d $w has no result"
  done
done
for d in "${daemons[@]}"; do
  # W1r (no ceiling run): cold reads completed while the writer ran.
  jq -e --arg d "$d" '.results[$d].W1r.reads > 0 and .results[$d].W1r.value > 0 and .results[$d].W1r.write_mib_s > 0' \
    "$json" >/dev/null || fail "$d W1r has no result"
  jq -e --arg d "$d" '.results[$d].W1.cpu_s >= 0 and .results[$d].W1.rss_kib > 0 and .results[$d].W1.exit == 0' \
    "$json" >/dev/null || fail "$d: CPU, RSS or exit status missing"
done
for d in "${daemons[@]}"; do
  # The encrypted volume: written, its objects listed, read back.
  jq -e --arg d "$d" '.results[$d]["W1-enc"].value > 0 and .results[$d]["W2-enc"].value > 0
      and .results[$d]["W1-enc"].stored_bytes > 0 and .results[$d].W1.stored_bytes > 0' "$json" >/dev/null ||
    fail "$d W1-enc/W2-enc has no result or no bytes stored"
done
jq -e '[.codec_table[] | select(.workload == "W1-enc")][0] | .s3bd_option == "--encrypt" and .unit == "MiB/s"' \
  "$json" >/dev/null || fail "W1-enc row missing from the codec table"
jq -e '[.table[] | select(.workload == "W1r")][0] | .lower_is_better and .ceiling == 60' "$json" >/dev/null ||
  fail "W1r row or its target missing from the table"
if [[ " ${daemons[*]} " == *" s3bd "* ]]; then
  # The NBD front end (s3bd only): N1 wrote, N2 and N6 read back and verified.
  for w in N1 N2 N6; do
    jq -e --arg w "$w" '.results.s3bd[$w].value > 0 and .results.s3bd[$w].exit == 0' "$json" >/dev/null ||
      fail "s3bd $w (over NBD) has no result"
  done
fi
jq -e '.results.server.put_mib_s > 0 and .results.server.get_mib_s > 0' "$json" >/dev/null ||
  fail "server ceiling missing"
echo "PASS: $(jq -r '[.table[] | select(.workload == "W1")][0] | "W1 s3bd \(.s3bd) s3backer \(.s3backer) \(.unit)"' "$json")"
