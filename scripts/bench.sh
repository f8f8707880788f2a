#!/usr/bin/env bash
# Side-by-side benchmark of s3bd and s3backer on the in-memory test S3 server
# (tests/s3server), with a fixed latency per request.
#
#   scripts/bench.sh [--quick] [--only s3bd|s3backer] [--workloads LIST] [--codec]
#                    [--latency MS] [--size SIZE] [--cache SIZE] [--warm SIZE]
#                    [--out DIR] [--rebuild]
#
#   --quick         CI smoke: 64 MiB volume, 5 s fio runs, a ~20 MB tree
#   --only D        run only daemon D (the ceilings always run)
#   --workloads L   run only the workloads in the comma-separated list L, e.g.
#                   W1,W1r (default: all; FUSE ceilings only for these).
#                   W2, W3, W6 and W1r read what W1 wrote, so W1 is added
#                   when one of them is listed. "all" stands for every
#                   plain workload; the codec workloads (below) are
#                   only run when listed or with --codec
#   --codec         add the codec workloads (W1-enc W2-enc W1-comp W2-comp
#                   W5-comp W5-comp-enc); without --workloads, run only
#                   them and their plain baselines W1, W2, W5
#   --latency MS    server latency per request (default 20)
#   --size SIZE     volume size, e.g. 1G, 512M (default 1G; 64M with --quick)
#   --cache SIZE    cache memory of each daemon (default 256M; 16M with --quick,
#                   so that the cache stays a quarter of the volume)
#   --warm SIZE     region W6 reads once cold and three times warm (default 3/4 of the cache)
#   --out DIR       where results go (default bench-results/ in the repository)
#   --rebuild       run scripts/build.sh even if the binaries exist
#
# Workloads, run for each daemon on its own bucket (block size 1 MiB):
#   W1  sequential write of the volume, dd bs=1M oflag=direct, timed until
#       fsync returned, the FUSE mount is gone and the daemon has exited
#   W2  cold sequential read (fresh mount), dd bs=1M iflag=direct; verified
#   W3  cold random 4 KiB reads, fio libaio direct iodepth 32: IOPS
#   W4  random 4 KiB writes over the first quarter (max 256 MiB), fixed
#       number of writes, then fsync + unmount + exit: writes/s to durable
#   W5  ext4 through a loop device (direct I/O): A = mkfs, mount, unpack a
#       tree, sync, unmount, detach, daemon exit; B = remount everything and
#       read every file back (verified against the tree's checksums)
#   W6  warm read: the same region read once cold, then three times warm,
#       dd iflag=direct; the median warm pass is reported. The region is 3/4 of the cache (at most a quarter
#       of the volume): read-ahead past its end must not evict its first
#       blocks, or an LRU cache exactly its size misses on every block of
#       the second pass (s3backer does, with 256 MiB in a 256-block cache).
#   W1r cold 4 KiB reads during write-back (run after W6, since it changes
#       the first half of W1's data): a fresh mount; fio reads 4 KiB at a time
#       (psync, direct, one read in flight) from the second half of the
#       volume, stored but not cached: rounds over all its blocks, each in a
#       new random order, at a random 4 KiB of the block, so no block is read
#       twice before all were read once (a replayed fio iolog). Once the
#       server has seen fio's first GET, dd bs=1M oflag=direct
#       conv=fsync,notrunc rewrites the first half with the second half of
#       the test data, so that write-back is busy uploading; fio is stopped
#       (SIGINT) when dd returns, and must have read at least once. Reports
#       the p99 of fio's completion latency in ms (also p50, the number of
#       reads, and the writer's MiB/s until fsync returned). Lower is better;
#       the target, shown as its ceiling, is 3 x the server latency. A second
#       fresh mount reads the first half back and compares it.
#   N1, N2, N6  W1, W2 and W6 through `s3bd nbd` (s3bd only) instead of
#       FUSE, with nbdcopy (its default: 4 connections, 16 requests in
#       flight each, 256 KiB requests) on a Unix socket: N1 copies the test
#       data in (--flush) and is timed until the server exited after its
#       final flush; N2 copies it out of a fresh server (verified); N6 fills
#       a volume of the W6 region's size, then copies it out of a fresh
#       server once cold and three times warm (median warm pass). The timed
#       reads go to nbdcopy's null: (a file destination is truncated and
#       regrown by nbdcopy, and first-touched memory is slow on some VMs);
#       an untimed copy into a file is then compared with the data. Compare
#       with the FUSE rows above them (dd, one 1 MiB request at a time).
#   W7  mkfs.ext4 with its default discard on a fresh W7_SIZE volume (1 TiB;
#       1 GiB with --quick): seconds and requests until the daemon exited
#   W8  disk tier: s3bd --cache-size 128M --cache-file F --cache-file-size 3G,
#       s3backer --blockCacheFile F with a 3 GiB (3072-block) cache; write
#       2 GiB (O_DIRECT, fsync), then read it back twice (O_DIRECT, verified).
#       Reports the second read's MiB/s; also the GETs of each read, the
#       daemon's peak RSS and dd's O_DIRECT read of the cache file itself
#       (the local disk's speed). --quick: 128 MiB, 16M memory, 192M file.
# Codec workloads: W1, W2 or W5 on a volume of its own (prefix disk-V or
# fs-V) with a codec; W2-V reads what W1-V wrote, and each adds its plain
# workload (W1-enc adds W1) so that the codec's cost shows as a ratio:
#   enc       s3bd --encrypt (AES-256-GCM; KDF made cheap by S3BD_TEST_KDF);
#             s3backer --encrypt, which implies its --compress (deflate)
#   comp      s3bd --compress (zstd:3); s3backer --compress (deflate, zlib's
#             default level)
#   comp-enc  s3bd --compress --encrypt; s3backer --encrypt
# Their table gives MiB/s, the bytes stored under the volume's prefix once
# written (a ListObjectsV2 of the server, every object summed) and
# codec/plain, the throughput relative to the same workload without codec.
# W1's and W2's data, and W5's file contents, are incompressible
# (AES-CTR keystream): only ext4's metadata and file tails compress.
# Ceilings: the server driven directly by s3bd_s3_loadgen (64 connections,
# same latency), and the same workloads on a trivial in-memory FUSE file
# (tests/bench/memfuse.cpp); W1r has none, its ceiling column is the target.
# CPU seconds and peak RSS of every daemon come from /usr/bin/time around the
# daemon, run in the foreground.
#
# Prints one table and writes it, with the settings, as JSON to
# OUT/bench-DATE.json (and the table to OUT/bench-DATE.txt). In the table's
# s3bd/s3b column > 1 means s3bd is better: for W1r, a latency, that column is
# s3backer/s3bd, and its % columns are the share of the target used (at most
# 100 % meets it). Exits nonzero if
# any workload failed (a daemon error, a nonzero daemon exit status, or data
# that does not verify).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
export LC_ALL=C

usage() { awk 'NR > 1 && /^# Workloads/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }

QUICK=0 ONLY="" WORKLOADS_ARG="" CODEC=0 LATENCY=20 SIZE_ARG="" CACHE_ARG="" WARM_ARG="" OUT=$TOP/bench-results REBUILD=0
while (($#)); do
  case $1 in
    --quick) QUICK=1 ;;
    --only) ONLY=${2:?--only needs s3bd or s3backer}; shift ;;
    --workloads) WORKLOADS_ARG=${2:?--workloads needs a list, e.g. W1,W1r}; shift ;;
    --codec) CODEC=1 ;;
    --latency) LATENCY=${2:?--latency needs milliseconds}; shift ;;
    --size) SIZE_ARG=${2:?--size needs a size}; shift ;;
    --cache) CACHE_ARG=${2:?--cache needs a size}; shift ;;
    --warm) WARM_ARG=${2:?--warm needs a size}; shift ;;
    --out) OUT=${2:?--out needs a directory}; shift ;;
    --rebuild) REBUILD=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "bench: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case $ONLY in "" | s3bd | s3backer) ;; *) echo "bench: --only takes s3bd or s3backer" >&2; exit 2 ;; esac
[[ $LATENCY =~ ^[0-9]+$ ]] || { echo "bench: --latency takes whole milliseconds" >&2; exit 2; }
# The workloads to run: " W1 W2 ... " (spaces around each, for matching).
ALL_WORKLOADS="W1 W2 W3 W4 W5 W6 W1r W7 W8 N1 N2 N6"
CODEC_WORKLOADS="W1-enc W2-enc W1-comp W2-comp W5-comp W5-comp-enc"
if [[ -z $WORKLOADS_ARG ]]; then
  if ((CODEC)); then WORKLOADS_ARG=W1,W2,W5; else WORKLOADS_ARG=all; fi
fi
((CODEC)) && WORKLOADS_ARG+=,${CODEC_WORKLOADS// /,}
WORKLOADS=" "
for w in ${WORKLOADS_ARG//,/ }; do
  [[ $w == all ]] && w=$ALL_WORKLOADS
  for x in $w; do
    [[ " $ALL_WORKLOADS $CODEC_WORKLOADS " == *" $x "* ]] ||
      { echo "bench: unknown workload '$x' (one of: all $ALL_WORKLOADS $CODEC_WORKLOADS)" >&2; exit 2; }
    [[ $WORKLOADS == *" $x "* ]] || WORKLOADS+="$x "
  done
done
selected() { [[ $WORKLOADS == *" $1 "* ]]; }
for w in W2-enc W2-comp; do   # these read what W1 with the same codec wrote
  if selected "$w" && ! selected "W1-${w#W2-}"; then WORKLOADS+="W1-${w#W2-} "; fi
done
for w in $CODEC_WORKLOADS; do   # a codec workload is compared with its plain one
  if selected "$w" && ! selected "${w%%-*}"; then WORKLOADS=" ${w%%-*}$WORKLOADS"; fi
done
if selected N2 && ! selected N1; then WORKLOADS=" N1$WORKLOADS"; fi   # N2 reads what N1 wrote
for w in W2 W3 W6 W1r; do   # these read W1's data
  if selected "$w" && ! selected W1; then WORKLOADS=" W1$WORKLOADS"; fi
done

# SIZE -> MiB (K/M/G/T binary suffixes; a whole number of MiB).
to_mib() {
  local s=$1 n unit
  [[ $s =~ ^([0-9]+)([KkMmGgTt]?)i?[Bb]?$ ]] || return 1
  n=${BASH_REMATCH[1]} unit=${BASH_REMATCH[2]^^}
  case $unit in
    K) ((n % 1024 == 0)) || return 1; echo $((n / 1024)) ;;
    "") ((n % 1048576 == 0)) || return 1; echo $((n / 1048576)) ;;
    M) echo "$n" ;;
    G) echo $((n * 1024)) ;;
    T) echo $((n * 1024 * 1024)) ;;
  esac
}

if ((QUICK)); then
  SIZE_MIB=64 CACHE_MIB=16 FIO_SECS=5 CEIL_FIO_SECS=3 W4_OPS=1000 W4_MAX_SECS=60 LOADGEN_SECS=2
  TREE_FILES=300 TREE_BIG=2 TREE_BIG_MIB=4
else
  SIZE_MIB=1024 CACHE_MIB=256 FIO_SECS=30 CEIL_FIO_SECS=10 W4_OPS=20000 W4_MAX_SECS=180 LOADGEN_SECS=5
  TREE_FILES=3000 TREE_BIG=8 TREE_BIG_MIB=10
fi
W7_MIB=$( ((QUICK)) && echo 1024 || echo $((1024 * 1024)))
# W8, the disk tier: a cache of W8_CACHE_MIB in memory with a cache file of
# W8_FILE_MIB; W8_MIB are written and read back twice.
if ((QUICK)); then W8_MIB=128 W8_CACHE_MIB=16 W8_FILE_MIB=192; else W8_MIB=2048 W8_CACHE_MIB=128 W8_FILE_MIB=3072; fi
if [[ -n ${W7_SIZE:-} ]]; then
  W7_MIB=$(to_mib "$W7_SIZE") || { echo "bench: bad W7_SIZE '$W7_SIZE'" >&2; exit 2; }
fi
if [[ -n $SIZE_ARG ]]; then
  SIZE_MIB=$(to_mib "$SIZE_ARG") || { echo "bench: bad --size '$SIZE_ARG' (whole MiB, e.g. 512M, 1G)" >&2; exit 2; }
fi
if [[ -n $CACHE_ARG ]]; then
  CACHE_MIB=$(to_mib "$CACHE_ARG") || { echo "bench: bad --cache '$CACHE_ARG'" >&2; exit 2; }
fi
((SIZE_MIB >= 16)) || { echo "bench: --size must be at least 16M" >&2; exit 2; }
((CACHE_MIB >= 1)) || { echo "bench: --cache must be at least 1M" >&2; exit 2; }
BLOCK_MIB=1
# W4 writes to the first HOT_MIB of the volume, W6 reads its first WARM_MIB.
HOT_MIB=$((CACHE_MIB < SIZE_MIB / 4 ? CACHE_MIB : SIZE_MIB / 4))
WARM_MIB=$((CACHE_MIB * 3 / 4 < SIZE_MIB / 4 ? CACHE_MIB * 3 / 4 : SIZE_MIB / 4))
if [[ -n $WARM_ARG ]]; then
  WARM_MIB=$(to_mib "$WARM_ARG") || { echo "bench: bad --warm '$WARM_ARG'" >&2; exit 2; }
fi
((WARM_MIB >= 1 && WARM_MIB <= SIZE_MIB)) || { echo "bench: --warm must be within the volume" >&2; exit 2; }
LOADGEN_CONNS=64

if [[ $(id -u) -ne 0 ]]; then
  echo "bench: run as root (FUSE mounts, loop devices, mount)" >&2
  exit 1
fi
[[ -c /dev/fuse ]] || { echo "bench: /dev/fuse is missing" >&2; exit 1; }

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }

# ---------------------------------------------------------------- tools
# Debian packages the benchmark needs; installed only if missing.
BENCH_PACKAGES=(s3backer fio time e2fsprogs util-linux jq openssl curl fuse3 tar libnbd-bin)
missing=()
for p in "${BENCH_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD=${S3BD_BUILD_DIR:-$TOP/build}
S3BD=${S3BD:-$BUILD/src/s3bd}
SERVER=$BUILD/tests/s3server/s3bd_test_s3server
LOADGEN=$BUILD/tests/s3server/s3bd_s3_loadgen
MEMFUSE=$BUILD/tests/bench/s3bd_bench_memfuse
if ((REBUILD)) || [[ ! -x $S3BD || ! -x $SERVER || ! -x $LOADGEN || ! -x $MEMFUSE ]]; then
  log "building into $BUILD"
  scripts/install-deps.sh >/dev/null
  scripts/build.sh "$BUILD"
fi
for b in "$S3BD" "$SERVER" "$LOADGEN" "$MEMFUSE"; do
  [[ -x $b ]] || { echo "bench: $b is missing after the build" >&2; exit 1; }
done

# What this s3bd can do: S3 stores (--endpoint), a cache (--cache-size).
S3BD_HELP=$("$S3BD" mount --help 2>&1 || true)
S3BD_S3=0 S3BD_CACHE_ARGS=()
grep -q -- '--endpoint' <<<"$S3BD_HELP" && S3BD_S3=1
grep -q -- '--cache-size' <<<"$S3BD_HELP" && S3BD_CACHE_ARGS=(--cache-size "${CACHE_MIB}M")
# s3backer's cache in blocks, and more of its options (W8 changes both).
S3B_CACHE_BLOCKS=$((CACHE_MIB / BLOCK_MIB)) S3B_EXTRA=()

DAEMONS=()
if [[ -z $ONLY || $ONLY == s3bd ]]; then
  if ((S3BD_S3)); then
    DAEMONS+=(s3bd)
  else
    log "WARNING: this s3bd has no S3 support yet ('s3bd mount --help' lists no --endpoint); skipping s3bd"
  fi
fi
[[ -z $ONLY || $ONLY == s3backer ]] && DAEMONS+=(s3backer)
((${#DAEMONS[@]})) || { echo "bench: no daemon to run" >&2; exit 1; }

# ---------------------------------------------------------------- state
mkdir -p "$OUT" "$OUT/cache"
STAMP=$(date +%Y%m%d-%H%M%S)$( ((QUICK)) && echo -quick || true)
WORK=$(mktemp -d /tmp/s3bd-bench.XXXXXX)
SHM=$(mktemp -d /dev/shm/s3bd-bench.XXXXXX)   # data source and read copies, in RAM
mkdir -p "$WORK/logs" "$WORK/mnt/s3bd" "$WORK/mnt/s3backer" "$WORK/mnt/memfuse" "$WORK/fs"
RESULTS=$WORK/results.tsv   # daemon <TAB> dotted.key <TAB> value
FAILS=$WORK/failures        # one line per failed workload
PIDS=$WORK/pids             # every daemon (its /usr/bin/time wrapper) started
: >"$RESULTS"
: >"$FAILS"
: >"$PIDS"
SERVER_PID="" MEMFUSE_PID=""
# The passphrase of the encrypted volumes (both daemons want mode 0600).
PASSFILE=$WORK/passphrase
(umask 077 && echo "bench passphrase $STAMP" >"$PASSFILE")
# The codec of the running workload: "" (none), enc, comp or comp-enc.
VARIANT=""
FSMNT=$WORK/fs

# Children of a process (the daemon under /usr/bin/time).
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }
# A process this run started and that still runs: its command line names
# our work directory (every daemon gets a mount point inside it), so a
# recycled process id is never mistaken for one of ours.
ours() { [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF "$WORK/"; }

# Undo whatever a workload left behind: the ext4 mount, loop devices over our
# disk files, FUSE mounts, daemons. Safe to run at any time, twice.
reset_state() {
  local m dev pid deadline keep_memfuse=${1:-0}
  if findmnt -rn -M "$FSMNT" >/dev/null 2>&1; then
    umount "$FSMNT" 2>/dev/null || umount -l "$FSMNT" 2>/dev/null || true
  fi
  while read -r dev back; do
    [[ $back == "$WORK"/* ]] && losetup -d "$dev" 2>/dev/null
  done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null || true)
  for m in s3bd s3backer memfuse; do
    [[ $m == memfuse && $keep_memfuse == 1 ]] && continue
    if findmnt -rn -M "$WORK/mnt/$m" >/dev/null 2>&1; then
      umount "$WORK/mnt/$m" 2>/dev/null || umount -l "$WORK/mnt/$m" 2>/dev/null || true
    fi
  done
  # Daemons exit once unmounted (after flushing); give them time, then kill.
  while read -r pid; do
    [[ -n $pid ]] || continue
    [[ $keep_memfuse == 1 && $pid == "$MEMFUSE_PID" ]] && continue
    deadline=$((SECONDS + 60))
    while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
    if ours "$pid"; then
      log "stopping daemon $pid, which did not exit"
      for c in $(children "$pid"); do ours "$c" && kill -TERM "$c" 2>/dev/null; done
      deadline=$((SECONDS + 5))
      while ours "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
      for c in $(children "$pid"); do ours "$c" && kill -KILL "$c" 2>/dev/null; done
      if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
  done <"$PIDS"
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  reset_state 0
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null
    local deadline=$((SECONDS + 10))
    while kill -0 "$SERVER_PID" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.05; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  if [[ -d $WORK/logs ]]; then
    mkdir -p "$OUT/logs-$STAMP" && cp -r "$WORK/logs/." "$OUT/logs-$STAMP/" 2>/dev/null
  fi
  rm -rf "$SHM"
  # Only remove the work directory once nothing is mounted inside it.
  if ! findmnt -rn -o TARGET | grep -q "^$WORK"; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap '[[ $- == *e* ]] && echo "bench: failed at line $LINENO: $BASH_COMMAND" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- helpers
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; }
# get D KEY: the value recorded last; for the FUSE ceiling (memfuse, run
# several times) the best value.
get() {
  awk -F'\t' -v d="$1" -v k="$2" '
    $1 == d && $2 == k { if (d == "memfuse" && k ~ /value$/ && n++ && $3 + 0 <= v + 0) next; v = $3 }
    END { print v }' "$RESULTS"
}
# calc EXPR: floating point arithmetic (awk), printed with up to 6 significant digits.
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'; }
fail() { echo "FAIL: $*" >&2; return 1; }

# wait_until DEADLINE_S DESCRIPTION COMMAND...: polls COMMAND every 50 ms.
wait_until() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for $what"
    sleep 0.05
  done
}
is_mounted() { findmnt -rn -M "$1" >/dev/null 2>&1; }
not_mounted() { ! findmnt -rn -M "$1" >/dev/null 2>&1; }
not_running() { ! kill -0 "$1" 2>/dev/null; }

ctl() { curl -sS --fail -X POST -d '' "http://127.0.0.1:$PORT/_control/$1" >/dev/null; }
counters() { curl -sS --fail "http://127.0.0.1:$PORT/_control/counters"; }

bucket() { echo "bench-$1"; }
ENDPOINT=""  # set once the server runs

# codec_args D: daemon D's options for the codec VARIANT (words without
# spaces, for an unquoted expansion).
codec_args() {
  case $1:$VARIANT in
    *:) ;;
    s3bd:enc) echo --encrypt --passphrase-file "$PASSFILE" ;;
    s3bd:comp) echo --compress ;;
    s3bd:comp-enc) echo --compress --encrypt --passphrase-file "$PASSFILE" ;;
    s3backer:enc | s3backer:comp-enc) echo --encrypt --passwordFile="$PASSFILE" ;;
    s3backer:comp) echo --compress ;;
  esac
}
# codec_label D V: how the table names daemon D's options for codec V.
codec_label() {
  case $1:$2 in
    *:) echo - ;;
    s3bd:enc) echo "--encrypt" ;;
    s3bd:comp) echo "--compress (zstd:3)" ;;
    s3bd:comp-enc) echo "--compress --encrypt" ;;
    s3backer:enc | s3backer:comp-enc) echo "--encrypt (+deflate)" ;;
    s3backer:comp) echo "--compress (deflate)" ;;
  esac
}

# start_daemon D VOL [MIB]: mounts daemon D's volume VOL (a prefix in its bucket, of MIB MiB,
# default the volume size) on
# $WORK/mnt/D, in the foreground under /usr/bin/time, and waits for the disk
# file. The daemons, like the server, run in their own session (setsid, which
# execs, so $! is still their process id): a Ctrl-C stops the workload, and
# the cleanup then takes the filesystem, the loop device and the FUSE mount
# down in order while the server still answers. Sets DPID and DTIME. memfuse runs once for the whole benchmark (its
# data lives only as long as it does), so for it this only checks it is up.
start_daemon() {
  local d=$1 vol=$2${VARIANT:+-$VARIANT} mnt=$WORK/mnt/$1 mib=${3:-$SIZE_MIB}
  DTIME=$(mktemp "$WORK/time.XXXXXX")
  local dlog=$WORK/logs/$d.log
  echo "=== $(date +%T) mount $vol" >>"$dlog"
  case $d in
    memfuse)
      kill -0 "$MEMFUSE_PID" 2>/dev/null || fail "memfuse is not running"
      DPID=$MEMFUSE_PID
      return 0
      ;;
    s3bd)
      AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret S3BD_TEST_KDF=1,65536,1 \
        setsid /usr/bin/time -f '%e %U %S %M %x' -o "$DTIME" \
        "$S3BD" mount "s3://$(bucket s3bd)/$vol" "$mnt" -f \
        --endpoint "$ENDPOINT" --path-style \
        --size "${mib}M" --block-size "${BLOCK_MIB}M" "${S3BD_CACHE_ARGS[@]}" $(codec_args s3bd) \
        >>"$dlog" 2>&1 &
      ;;
    s3backer)
      setsid /usr/bin/time -f '%e %U %S %M %x' -o "$DTIME" \
        s3backer -f --quiet --accessId=bench --accessKey=bench-secret \
        --baseURL="$ENDPOINT/" --prefix="$vol/" \
        --blockSize="${BLOCK_MIB}m" --blockCacheSize="$S3B_CACHE_BLOCKS" "${S3B_EXTRA[@]}" \
        --md5CacheSize=0 --md5CacheTime=0 --minWriteDelay=0 \
        --size="${mib}M" $(codec_args s3backer) \
        "$(bucket s3backer)" "$mnt" >>"$dlog" 2>&1 &
      ;;
  esac
  DPID=$!
  echo "$DPID" >>"$PIDS"
  local deadline=$((SECONDS + 30))
  until is_mounted "$mnt" && [[ -e $mnt/file ]]; do
    kill -0 "$DPID" 2>/dev/null || fail "$d exited before mounting (see $dlog): $(tail -3 "$dlog")"
    if ((SECONDS >= deadline)); then
      # It holds no data yet: stop it now rather than at the cleanup.
      for c in $(children "$DPID"); do ours "$c" && kill -TERM "$c" 2>/dev/null; done
      fail "$d did not mount within 30 s (see $dlog)"
    fi
    sleep 0.05
  done
}

# stop_daemon D W: unmounts D, waits for the daemon to flush and exit, and
# records its exit status, CPU seconds and peak RSS under W.
stop_daemon() {
  local d=$1 w=$2 mnt=$WORK/mnt/$1
  [[ $d == memfuse ]] && return 0
  # Both daemons serve a stats file next to the disk file: keep it.
  cat "$mnt/stats" >"$WORK/logs/stats-$w-$d.txt" 2>/dev/null || true
  # s3bd's JSON stats: what its codec spent (CPU in the encoder and
  # decoder, summed over threads) and the PUT bodies it sent.
  local sj=$WORK/logs/stats-$w-$d.json
  if [[ $d == s3bd ]] && cat "$mnt/.stats.json" >"$sj" 2>/dev/null && jq -e . "$sj" >/dev/null 2>&1; then
    record "$d" "$w.codec_encode_s" "$(jq '[.layers[] | select(.layer == "codec") | .encoded.seconds][0] // 0' "$sj")"
    record "$d" "$w.codec_decode_s" "$(jq '[.layers[] | select(.layer == "codec") | .decoded.seconds][0] // 0' "$sj")"
    record "$d" "$w.s3_write_bytes" "$(jq '[.layers[] | select(.layer == "s3") | .ops.write.bytes][0] // 0' "$sj")"
  fi
  local deadline=$((SECONDS + 60))
  until not_mounted "$mnt" || umount "$mnt" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "cannot unmount $mnt"
    sleep 0.1
  done
  wait_until 900 "$d to flush and exit" not_running "$DPID"
  local st=0
  wait "$DPID" || st=$?
  local elapsed user sys rss code
  # (a line about a fatal signal may come first)
  read -r elapsed user sys rss code < <(tail -n 1 "$DTIME") || true
  record "$d" "$w.exit" "$st"
  record "$d" "$w.cpu_s" "$(calc "${user:-0} + ${sys:-0}")"
  record "$d" "$w.rss_kib" "${rss:-0}"
  ((st == 0)) || fail "$d exited with status $st after $w (see logs/$d.log)"
}

# Server counters around one workload (requests by kind, bytes).
counters_reset() { if [[ -n $PORT ]]; then ctl reset; fi; }
counters_record() {
  local d=$1 w=$2 c
  [[ -n $PORT ]] || return 0
  c=$(counters) || return 0
  record "$d" "$w.server_get" "$(jq '.requests.get_object' <<<"$c")"
  record "$d" "$w.server_put" "$(jq '.requests.put_object' <<<"$c")"
  record "$d" "$w.server_other" "$(jq '.requests.total - .requests.get_object - .requests.put_object' <<<"$c")"
  record "$d" "$w.server_bytes_in" "$(jq '.bytes_in' <<<"$c")"
  record "$d" "$w.server_bytes_out" "$(jq '.bytes_out' <<<"$c")"
}

mibps() { calc "$1 / 1048576 / $2"; }

# stored_record D W VOL: records under W the number and total size of the
# objects under daemon D's prefix VOL/ (ListObjectsV2, unsigned: the test
# server checks no signature), and keeps the listing (key, size) in
# logs/objects-W-D.txt.
stored_record() {
  local d=$1 w=$2 prefix=$3/ page token="" n=0 bytes=0 list=$WORK/logs/objects-$2-$1.txt
  [[ -n $PORT ]] || return 0
  : >"$list"
  while :; do
    page=$(curl -sS --fail -G "http://127.0.0.1:$PORT/$(bucket "$d")" --data-urlencode list-type=2 \
      --data-urlencode max-keys=1000 --data-urlencode "prefix=$prefix" \
      ${token:+--data-urlencode "continuation-token=$token"}) || fail "cannot list $(bucket "$d")/$prefix"
    sed 's:<Contents>:\n:g' <<<"$page" | sed -n 's:.*<Key>\([^<]*\)</Key>.*<Size>\([0-9]*\)</Size>.*:\1 \2:p' >>"$list"
    grep -q '<IsTruncated>true</IsTruncated>' <<<"$page" || break
    token=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' <<<"$page")
    [[ -n $token ]] || fail "listing $(bucket "$d")/$prefix: truncated without a continuation token"
  done
  read -r n bytes < <(awk '{ n++; s += $NF } END { printf "%d %.0f\n", n, s }' "$list")
  record "$d" "$w.stored_objects" "$n"
  record "$d" "$w.stored_bytes" "$bytes"
}

# dd with direct I/O; no output unless it fails.
ddq() { dd status=none bs=1M "$@"; }

# ---------------------------------------------------------------- the tree (W5)
# A deterministic tree: TREE_FILES files of log-uniform sizes 512 B..256 KiB
# in 60 directories, plus TREE_BIG files of TREE_BIG_MIB MiB, all of
# incompressible AES-CTR keystream. Built once and cached as a tarball with a
# checksum manifest.
TREE_NAME=tree-v1-${TREE_FILES}-${TREE_BIG}x${TREE_BIG_MIB}
TREE_TAR=$OUT/cache/$TREE_NAME.tar
TREE_SUMS=$OUT/cache/$TREE_NAME.md5
ensure_tree() {
  if [[ -s $TREE_TAR && -s $TREE_SUMS ]]; then return 0; fi
  log "generating the W5 tree ($TREE_NAME)"
  local tmp=$WORK/tree list=$WORK/tree.list total
  rm -rf "$tmp"
  mkdir -p "$tmp/big"
  awk -v n="$TREE_FILES" -v nb="$TREE_BIG" -v bm="$TREE_BIG_MIB" 'BEGIN {
    x = 20240601; lo = log(512); hi = log(262144)
    for (i = 0; i < n; i++) {
      x = (x * 16807) % 2147483647                  # Park-Miller, exact in doubles
      printf "d%02d/e%d/f%05d.dat %d\n", i % 10, int(i / 10) % 6, i, int(exp(lo + (x / 2147483647) * (hi - lo)))
    }
    for (i = 0; i < nb; i++) printf "big/b%02d.bin %d\n", i, bm * 1048576
  }' >"$list"
  awk '{ sub("/[^/]*$", "", $1); print $1 }' "$list" | sort -u | (cd "$tmp" && xargs mkdir -p)
  total=$(awk '{ s += $2 } END { print s }' "$list")
  # head -c reads exactly what it writes, so consecutive files take
  # consecutive slices of the keystream.
  openssl enc -aes-128-ctr -nosalt -K 5333424442656e636853333242442121 \
    -iv 00000000000000000000000000000000 -in <(head -c "$total" /dev/zero) |
    while read -r name size <&3; do head -c "$size" >"$tmp/$name"; done 3<"$list"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 \
    -cf "$TREE_TAR.tmp" -C "$tmp" .
  (cd "$tmp" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$TREE_SUMS.tmp"
  mv "$TREE_SUMS.tmp" "$TREE_SUMS"
  mv "$TREE_TAR.tmp" "$TREE_TAR"
  rm -rf "$tmp" "$list"
}

# ---------------------------------------------------------------- workloads
# Each workload runs in a subshell with errexit on; it records its results
# and returns nonzero on any failure.
SRC=$SHM/src.bin

# (With a codec VARIANT, W1, W2 and W5 record under W1-VARIANT etc.)
w1() {  # sequential write of the whole volume, until durable
  local d=$1 t0 tf k=W1${VARIANT:+-$VARIANT}
  start_daemon "$d" disk
  counters_reset
  t0=$EPOCHREALTIME
  ddq if="$SRC" of="$WORK/mnt/$d/file" count="$SIZE_MIB" oflag=direct conv=fsync,notrunc
  tf=$(since "$t0")
  stop_daemon "$d" "$k"
  local t
  t=$(since "$t0")
  counters_record "$d" "$k"
  record "$d" "$k.fsync_s" "$tf"
  record "$d" "$k.seconds" "$t"
  record "$d" "$k.bytes" $((SIZE_MIB * 1048576))
  record "$d" "$k.value" "$(mibps $((SIZE_MIB * 1048576)) "$t")"
  stored_record "$d" "$k" "disk${VARIANT:+-$VARIANT}"
}

w2() {  # cold sequential read of the whole volume; verified
  local d=$1 t0 t k=W2${VARIANT:+-$VARIANT}
  # The copy goes into a RAM file written beforehand (zeros) and overwritten
  # in place: on this VM, memory touched for the first time after other
  # programs freed it is slow to come back, and once made W2 depend on what
  # ran before it (s3bd: 280 MiB/s after s3backer's W1, 650 without).
  head -c $((SIZE_MIB * 1048576)) /dev/zero >"$SHM/read.bin"
  start_daemon "$d" disk
  counters_reset
  t0=$EPOCHREALTIME
  ddq if="$WORK/mnt/$d/file" of="$SHM/read.bin" iflag=direct conv=notrunc
  t=$(since "$t0")
  counters_record "$d" "$k"
  stop_daemon "$d" "$k"
  record "$d" "$k.seconds" "$t"
  record "$d" "$k.bytes" $((SIZE_MIB * 1048576))
  record "$d" "$k.value" "$(mibps $((SIZE_MIB * 1048576)) "$t")"
  cmp -s "$SRC" "$SHM/read.bin" || fail "$k $d: data read back differs from what W1${VARIANT:+-$VARIANT} wrote"
  rm -f "$SHM/read.bin"
}

fio_run() {  # fio_run OUTPUT.json fio-args...
  local out=$1
  shift
  fio --output-format=json --output="$out" --ioengine=libaio --direct=1 --iodepth=32 --bs=4k \
    --fallocate=none --randrepeat=1 --randseed=1234 --group_reporting "$@" >/dev/null
}

w3() {  # cold random 4 KiB reads: IOPS
  local d=$1 secs=$FIO_SECS j=$WORK/logs/fio-W3-$1.json
  [[ $d == memfuse ]] && secs=$CEIL_FIO_SECS
  start_daemon "$d" disk
  counters_reset
  fio_run "$j" --name=w3 --filename="$WORK/mnt/$d/file" --rw=randread --size="${SIZE_MIB}M" \
    --norandommap --time_based --runtime="$secs"
  counters_record "$d" W3
  stop_daemon "$d" W3
  record "$d" W3.value "$(jq '.jobs[0].read.iops' "$j")"
  record "$d" W3.bytes "$(jq '.jobs[0].read.io_bytes' "$j")"
  record "$d" W3.ios "$(jq '.jobs[0].read.total_ios' "$j")"
  record "$d" W3.errors "$(jq '.jobs[0].error' "$j")"
  record "$d" W3.lat_p99_ms "$(jq '(.jobs[0].read.clat_ns.percentile["99.000000"] // 0) / 1e6' "$j")"
  [[ $(jq '.jobs[0].error' "$j") == 0 ]] || fail "W3 $d: fio reported an error"
}

w4() {  # random 4 KiB writes over HOT_MIB, then fsync + unmount + exit
  local d=$1 t0 tf t ios j=$WORK/logs/fio-W4-$1.json
  start_daemon "$d" disk
  counters_reset
  t0=$EPOCHREALTIME
  fio_run "$j" --name=w4 --filename="$WORK/mnt/$d/file" --rw=randwrite --size="${HOT_MIB}M" \
    --io_size=$((W4_OPS * 4))k --end_fsync=1 --runtime="$W4_MAX_SECS"
  tf=$(since "$t0")
  stop_daemon "$d" W4
  t=$(since "$t0")
  counters_record "$d" W4
  ios=$(jq '.jobs[0].write.total_ios' "$j")
  record "$d" W4.fsync_s "$tf"
  record "$d" W4.seconds "$t"
  record "$d" W4.ios "$ios"
  record "$d" W4.bytes $((ios * 4096))
  record "$d" W4.value "$(calc "$ios / $t")"
  [[ $(jq '.jobs[0].error' "$j") == 0 ]] || fail "W4 $d: fio reported an error"
  ((ios > 0)) || fail "W4 $d: no writes completed"
}

w6() {  # warm read: the first WARM_MIB once cold, then three times warm
  local d=$1 t0 t i bytes=$((WARM_MIB * 1048576)) warm=()
  start_daemon "$d" disk
  counters_reset
  t0=$EPOCHREALTIME
  ddq if="$WORK/mnt/$d/file" of="$SHM/w6.bin" count="$WARM_MIB" iflag=direct
  t=$(since "$t0")
  counters_record "$d" W6.pass1
  record "$d" W6.pass1_mib_s "$(mibps "$bytes" "$t")"
  cmp -s -n "$bytes" "$SRC" "$SHM/w6.bin" || fail "W6 $d: first pass differs from W1's data"
  # The warm passes overwrite the same RAM file in place (conv=notrunc), so
  # they pay for no page allocation; each is verified, untimed.
  counters_reset
  for i in 2 3 4; do
    t0=$EPOCHREALTIME
    ddq if="$WORK/mnt/$d/file" of="$SHM/w6.bin" count="$WARM_MIB" iflag=direct conv=notrunc
    t=$(since "$t0")
    warm+=("$(mibps "$bytes" "$t")")
    record "$d" "W6.pass${i}_mib_s" "${warm[-1]}"
    cmp -s -n "$bytes" "$SRC" "$SHM/w6.bin" || fail "W6 $d: warm pass $i differs from W1's data"
  done
  # warm.server_get: objects the warm passes still fetched (0 = all cached)
  counters_record "$d" W6.warm
  stop_daemon "$d" W6
  record "$d" W6.bytes $((4 * bytes))
  record "$d" W6.value "$(printf '%s\n' "${warm[@]}" | sort -g | sed -n 2p)"
  rm -f "$SHM/w6.bin"
}

# ---- the NBD front end (s3bd only): N1, N2, N6 -------------------------
NBD_SOCK=$WORK/nbd.sock
NBD_URI="nbd+unix:///?socket=$NBD_SOCK"

# start_nbd VOL [MIB]: `s3bd nbd` on volume VOL of its bucket, in the
# foreground under /usr/bin/time (as start_daemon), until nbdinfo connects.
start_nbd() {
  local vol=$1 mib=${2:-$SIZE_MIB} dlog=$WORK/logs/s3bd.log
  DTIME=$(mktemp "$WORK/time.XXXXXX")
  echo "=== $(date +%T) nbd $vol" >>"$dlog"
  AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
    setsid /usr/bin/time -f '%e %U %S %M %x' -o "$DTIME" \
    "$S3BD" nbd "s3://$(bucket s3bd)/$vol" --socket "$NBD_SOCK" -f \
    --endpoint "$ENDPOINT" --path-style \
    --size "${mib}M" --block-size "${BLOCK_MIB}M" "${S3BD_CACHE_ARGS[@]}" >>"$dlog" 2>&1 &
  DPID=$!
  echo "$DPID" >>"$PIDS"
  nbd_up() { nbdinfo --size "$NBD_URI" >/dev/null 2>&1 || { kill -0 "$DPID" 2>/dev/null || fail "s3bd nbd exited (see $dlog)"; false; }; }
  wait_until 30 "s3bd nbd on $NBD_SOCK" nbd_up
}

# stop_nbd W: SIGTERM, waits for the final flush and the exit, records as
# stop_daemon does.
stop_nbd() {
  local w=$1 c st=0 elapsed user sys rss code
  for c in $(children "$DPID"); do ours "$c" && kill -TERM "$c"; done
  wait_until 900 "s3bd nbd to flush and exit" not_running "$DPID"
  wait "$DPID" || st=$?
  read -r elapsed user sys rss code < <(tail -n 1 "$DTIME") || true
  record s3bd "$w.exit" "$st"
  record s3bd "$w.cpu_s" "$(calc "${user:-0} + ${sys:-0}")"
  record s3bd "$w.rss_kib" "${rss:-0}"
  ((st == 0)) || fail "s3bd nbd exited with status $st after $w (see logs/s3bd.log)"
}

wN1() {  # W1 through NBD: nbdcopy in, until the server's final flush is done
  local d=$1 t0 tf t
  [[ $d == s3bd ]] || return 0
  start_nbd disk-nbd
  counters_reset
  t0=$EPOCHREALTIME
  nbdcopy --flush "$SRC" "$NBD_URI"
  tf=$(since "$t0")
  stop_nbd N1
  t=$(since "$t0")
  counters_record s3bd N1
  record s3bd N1.fsync_s "$tf"
  record s3bd N1.seconds "$t"
  record s3bd N1.bytes $((SIZE_MIB * 1048576))
  record s3bd N1.value "$(mibps $((SIZE_MIB * 1048576)) "$t")"
}

wN2() {  # W2 through NBD: nbdcopy out of a fresh server; verified
  local d=$1 t0 t
  [[ $d == s3bd ]] || return 0
  start_nbd disk-nbd
  counters_reset
  t0=$EPOCHREALTIME
  nbdcopy "$NBD_URI" null:
  t=$(since "$t0")
  counters_record s3bd N2
  nbdcopy "$NBD_URI" "$SHM/read.bin"  # untimed, to verify
  stop_nbd N2
  record s3bd N2.seconds "$t"
  record s3bd N2.bytes $((SIZE_MIB * 1048576))
  record s3bd N2.value "$(mibps $((SIZE_MIB * 1048576)) "$t")"
  cmp -s "$SRC" "$SHM/read.bin" || fail "N2: data read back differs from what N1 wrote"
  rm -f "$SHM/read.bin"
}

wN6() {  # W6 through NBD: a WARM_MIB volume, copied out once cold, three times warm
  local d=$1 t0 t i bytes=$((WARM_MIB * 1048576)) warm=()
  [[ $d == s3bd ]] || return 0
  head -c "$bytes" "$SRC" >"$SHM/warm-src.bin"
  start_nbd warm-nbd "$WARM_MIB"
  nbdcopy --flush "$SHM/warm-src.bin" "$NBD_URI"
  stop_nbd N6.fill
  start_nbd warm-nbd "$WARM_MIB"
  counters_reset
  t0=$EPOCHREALTIME
  nbdcopy "$NBD_URI" null:
  t=$(since "$t0")
  counters_record s3bd N6.pass1
  record s3bd N6.pass1_mib_s "$(mibps "$bytes" "$t")"
  counters_reset
  for i in 2 3 4; do
    t0=$EPOCHREALTIME
    nbdcopy "$NBD_URI" null:
    t=$(since "$t0")
    warm+=("$(mibps "$bytes" "$t")")
    record s3bd "N6.pass${i}_mib_s" "${warm[-1]}"
  done
  counters_record s3bd N6.warm
  nbdcopy "$NBD_URI" "$SHM/w6.bin"  # untimed, to verify
  cmp -s "$SHM/warm-src.bin" "$SHM/w6.bin" || fail "N6: the data read back differs from what was written"
  stop_nbd N6
  record s3bd N6.bytes $((4 * bytes))
  record s3bd N6.value "$(printf '%s\n' "${warm[@]}" | sort -g | sed -n 2p)"
  rm -f "$SHM/w6.bin" "$SHM/warm-src.bin"
}

# W1r writes the first W1R_MIB of the volume and reads the rest.
W1R_MIB=$((SIZE_MIB / 2))
W1R_TARGET_MS=$((3 * LATENCY))
W1R_ROUNDS=64   # rounds over the read half in fio's read log; fio stops long before

# w1r_iolog FILE: a fio iolog (version 2) of 4 KiB reads of FILE: W1R_ROUNDS
# rounds over the blocks after W1R_MIB, each round a new permutation
# (Fisher-Yates driven by Park-Miller, the same for every daemon), each read
# at a random 4 KiB of its block.
w1r_iolog() {
  awk -v f="$1" -v first=$((W1R_MIB / BLOCK_MIB)) -v n=$(((SIZE_MIB - W1R_MIB) / BLOCK_MIB)) \
    -v pages=$((BLOCK_MIB * 256)) -v bs=$((BLOCK_MIB * 1048576)) -v rounds="$W1R_ROUNDS" '
    function rnd(k) { x = (x * 16807) % 2147483647; return int(x / 2147483647 * k) }
    BEGIN {
      x = 20240607
      print "fio version 2 iolog"; print f " add"; print f " open"
      for (r = 0; r < rounds; r++) {
        for (i = 0; i < n; i++) b[i] = first + i
        for (i = n - 1; i > 0; i--) { k = rnd(i + 1); t = b[i]; b[i] = b[k]; b[k] = t }
        for (i = 0; i < n; i++) printf "%s read %d 4096\n", f, b[i] * bs + rnd(pages) * 4096
      }
      print f " close"
    }'
}
first_get_seen() {
  local c
  c=$(counters) || return 1
  (($(jq '.requests.get_object' <<<"$c") > 0))
}

w1r() {  # cold 4 KiB reads (fio, qd 1) of the second half while dd rewrites the first
  local d=$1 file=$WORK/mnt/$1/file raw=$WORK/w1r-fio.json j=$WORK/logs/fio-W1r-$1.json
  local log=$WORK/w1r.iolog bytes=$((W1R_MIB * 1048576)) fio_pid deadline t0 t st=0 early=0 reads
  w1r_iolog "$file" >"$log"
  start_daemon "$d" disk
  counters_reset
  fio --output-format=json --output="$raw" --name=w1r --filename="$file" --read_iolog="$log" \
    --replay_no_stall=1 --ioengine=psync --direct=1 --iodepth=1 >/dev/null 2>>"$WORK/logs/fio-W1r.err" &
  fio_pid=$!
  # The writer starts once fio's first read has reached the server, so that
  # fio's start-up does not shorten the overlap (quick runs write for well
  # under a second); polled often, so that few reads precede the writer.
  deadline=$((SECONDS + 30))
  until first_get_seen; do
    if ! ours "$fio_pid" || ((SECONDS >= deadline)); then
      if ours "$fio_pid"; then kill -INT "$fio_pid"; fi
      wait "$fio_pid" || true
      fail "W1r $d: fio made no read within 30 s (see logs/fio-W1r.err)"
    fi
    sleep 0.01
  done
  t0=$EPOCHREALTIME
  ddq if="$SRC" of="$file" skip="$W1R_MIB" count="$W1R_MIB" oflag=direct conv=fsync,notrunc || st=$?
  t=$(since "$t0")
  # fio exits on SIGINT (its status is then nonzero) after its read in
  # flight, and still writes its JSON, after a line about the signal.
  if ours "$fio_pid"; then kill -INT "$fio_pid" 2>/dev/null || early=1; else early=1; fi
  wait "$fio_pid" || true
  counters_record "$d" W1r
  stop_daemon "$d" W1r
  ((st == 0)) || fail "W1r $d: dd failed with status $st"
  ((early == 0)) || fail "W1r $d: fio ended before the writer (see $j and logs/fio-W1r.err)"
  sed -n '/^{/,$p' "$raw" >"$j" 2>/dev/null || true
  jq -e '.jobs[0].read' "$j" >/dev/null || fail "W1r $d: no fio JSON (see logs/fio-W1r.err)"
  reads=$(jq '.jobs[0].read.total_ios' "$j")
  record "$d" W1r.reads "$reads"
  record "$d" W1r.errors "$(jq '.jobs[0].error' "$j")"
  record "$d" W1r.read_s "$(jq '.jobs[0].read.runtime / 1000' "$j")"
  record "$d" W1r.p50_ms "$(jq '(.jobs[0].read.clat_ns.percentile["50.000000"] // 0) / 1e6' "$j")"
  record "$d" W1r.p99_ms "$(jq '(.jobs[0].read.clat_ns.percentile["99.000000"] // 0) / 1e6' "$j")"
  record "$d" W1r.max_ms "$(jq '.jobs[0].read.clat_ns.max / 1e6' "$j")"
  record "$d" W1r.write_s "$t"
  record "$d" W1r.write_mib_s "$(mibps "$bytes" "$t")"
  record "$d" W1r.bytes $((bytes + $(jq '.jobs[0].read.io_bytes' "$j")))
  [[ $(jq '.jobs[0].error' "$j") == 0 ]] || fail "W1r $d: fio reported an error"
  ((reads > 0)) || fail "W1r $d: no read completed while the writer ran"
  record "$d" W1r.value "$(get "$d" W1r.p99_ms)"

  # What was written is in the store: a fresh mount reads it back.
  start_daemon "$d" disk
  ddq if="$file" of="$SHM/w1r.bin" count="$W1R_MIB" iflag=direct
  stop_daemon "$d" W1r.verify
  record "$d" W1r.verify.bytes "$bytes"
  cmp -s -i "$bytes:0" -n "$bytes" "$SRC" "$SHM/w1r.bin" || fail "W1r $d: the first half read back differs from what was written"
  rm -f "$SHM/w1r.bin" "$raw" "$log"
}

attach_loop() {  # attach_loop FILE -> prints the loop device (direct I/O on)
  local dev
  dev=$(losetup --direct-io=on --show -f "$1")
  echo "$dev"
}

w5() {  # ext4: A = mkfs + unpack + sync + teardown; B = remount + read back
  local d=$1 t0 t dev tree_bytes vol=fs v=${VARIANT:+-$VARIANT}
  [[ $d == memfuse ]] && vol=disk
  tree_bytes=$TREE_BYTES
  start_daemon "$d" "$vol"
  counters_reset
  t0=$EPOCHREALTIME
  dev=$(attach_loop "$WORK/mnt/$d/file")
  record "$d" W5.loop_dio "$(cat "/sys/block/$(basename "$dev")/loop/dio")"
  mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$dev"
  mount "$dev" "$FSMNT"
  tar -xf "$TREE_TAR" -C "$FSMNT"
  sync
  umount "$FSMNT"
  losetup -d "$dev"
  if [[ $d != memfuse ]]; then
    # The loop device lets go of the file asynchronously.
    wait_until 30 "the loop device to release $d's file" \
      bash -c "! losetup -j '$WORK/mnt/$d/file' -n -O NAME | grep -q ."
  fi
  stop_daemon "$d" "W5a$v"
  t=$(since "$t0")
  counters_record "$d" "W5a$v"
  record "$d" "W5a$v.seconds" "$t"
  record "$d" "W5a$v.bytes" "$tree_bytes"
  record "$d" "W5a$v.value" "$(mibps "$tree_bytes" "$t")"
  [[ $d == memfuse ]] || stored_record "$d" "W5a$v" "$vol$v"

  start_daemon "$d" "$vol"
  counters_reset
  t0=$EPOCHREALTIME
  dev=$(attach_loop "$WORK/mnt/$d/file")
  mount -o ro "$dev" "$FSMNT"
  (cd "$FSMNT" && find . -type f -print0 | sort -z | xargs -0 md5sum) >"$WORK/sums"
  t=$(since "$t0")
  counters_record "$d" "W5b$v"
  umount "$FSMNT"
  losetup -d "$dev"
  if [[ $d != memfuse ]]; then
    wait_until 30 "the loop device to release $d's file" \
      bash -c "! losetup -j '$WORK/mnt/$d/file' -n -O NAME | grep -q ."
  fi
  stop_daemon "$d" "W5b$v"
  record "$d" "W5b$v.seconds" "$t"
  record "$d" "W5b$v.bytes" "$tree_bytes"
  record "$d" "W5b$v.value" "$(mibps "$tree_bytes" "$t")"
  cmp -s "$TREE_SUMS" "$WORK/sums" || fail "W5$v $d: the files read back do not match the tree ($(diff "$TREE_SUMS" "$WORK/sums" | grep -c '^>') differ)"
}

w7() {  # mkfs.ext4, default discard, on a fresh W7_MIB volume -> daemon exit
  local d=$1 t0 t dev
  start_daemon "$d" mkfs "$W7_MIB"
  counters_reset
  t0=$EPOCHREALTIME
  dev=$(attach_loop "$WORK/mnt/$d/file")
  mkfs.ext4 -q -F "$dev"
  losetup -d "$dev"
  wait_until 30 "the loop device to release $d's file" \
    bash -c "! losetup -j '$WORK/mnt/$d/file' -n -O NAME | grep -q ."
  stop_daemon "$d" W7
  t=$(since "$t0")
  counters_record "$d" W7
  record "$d" W7.seconds "$t"
  record "$d" W7.value "$t"
  record "$d" W7.requests "$(counters | jq '.requests.total')"
  record "$d" W7.deletes "$(counters | jq '.requests.delete_object + .requests.delete_objects')"
}

w8() {  # disk tier: write W8_MIB, read it back twice (O_DIRECT) -> RSS, GETs, MiB/s
  local d=$1 t0 t half=$((W8_MIB / 2)) cachefile=$WORK/tier-$1.cache
  ((half <= SIZE_MIB)) || fail "W8 needs a volume of at least $half MiB of test data"
  rm -f "$cachefile"
  if [[ $d == s3bd ]]; then
    S3BD_CACHE_ARGS=(--cache-size "${W8_CACHE_MIB}M" --cache-file "$cachefile" --cache-file-size "${W8_FILE_MIB}M")
  elif [[ $d == s3backer ]]; then
    # s3backer keeps its cached blocks' data in the file.
    S3B_CACHE_BLOCKS=$((W8_FILE_MIB / BLOCK_MIB)) S3B_EXTRA=(--blockCacheFile="$cachefile")
  fi
  start_daemon "$d" tier "$W8_MIB"
  local f=$WORK/mnt/$d/file
  counters_reset
  t0=$EPOCHREALTIME
  ddq if="$SRC" of="$f" count="$half" oflag=direct conv=notrunc
  ddq if="$SRC" of="$f" count="$half" seek="$half" oflag=direct conv=notrunc,fsync
  t=$(since "$t0")
  record "$d" W8.write_mib_s "$(mibps $((W8_MIB * 1048576)) "$t")"
  counters_record "$d" W8.write
  local pass
  for pass in 1 2; do
    counters_reset
    t0=$EPOCHREALTIME
    ddq if="$f" of="$SHM/w8.bin" count="$W8_MIB" iflag=direct
    t=$(since "$t0")
    record "$d" "W8.read${pass}_mib_s" "$(mibps $((W8_MIB * 1048576)) "$t")"
    counters_record "$d" "W8.read$pass"
    cmp -s -n $((half * 1048576)) "$SHM/w8.bin" "$SRC" || fail "W8 $d: read $pass differs (first half)"
    cmp -s -n $((half * 1048576)) <(tail -c +$((half * 1048576 + 1)) "$SHM/w8.bin") "$SRC" ||
      fail "W8 $d: read $pass differs (second half)"
    rm -f "$SHM/w8.bin"
  done
  stop_daemon "$d" W8
  record "$d" W8.value "$(get "$d" W8.read2_mib_s)"
  record "$d" W8.bytes $((3 * W8_MIB * 1048576))
  # The local disk's own speed for the same file (O_DIRECT: not the page cache).
  if [[ -f $cachefile ]]; then
    local bytes
    bytes=$(stat -c %s "$cachefile")
    t0=$EPOCHREALTIME
    dd if="$cachefile" of=/dev/null bs=1M iflag=direct status=none
    record "$d" W8.disk_mib_s "$(mibps "$bytes" "$(since "$t0")")"
  fi
  rm -f "$cachefile"
}

# run W D: runs workload W for daemon D in a subshell; on failure records it,
# tidies up and carries on. W may carry a codec: W1-enc runs w1 with
# VARIANT=enc.
run() {
  local w=$1 d=$2 st=0 t0=$EPOCHREALTIME base=${1%%-*} v="" stored
  [[ $w == *-* ]] && v=${w#*-}
  log "$w on $d${v:+ ($(codec_label "$d" "$v"))}"
  set +e
  (
    set -e
    VARIANT=$v
    "w${base#W}" "$d"
  ) 2>>"$WORK/logs/bench.err"
  st=$?
  set -e
  if ((st != 0)); then
    local why
    why=$(grep '^FAIL' "$WORK/logs/bench.err" | tail -1 || true)
    echo "$w $d: ${why:-exit status $st}" >>"$FAILS"
    log "$w on $d FAILED: ${why:-exit status $st} (log: $WORK/logs/bench.err)"
    reset_state 1
  else
    if [[ $base == W5 ]]; then
      stored=$(get "$d" "W5a${v:+-$v}.stored_bytes")
      log "$w on $d: A $(get "$d" "W5a${v:+-$v}.value") MiB/s, B $(get "$d" "W5b${v:+-$v}.value") MiB/s" \
        "${stored:+, $stored bytes stored }($(since "$t0") s)"
    elif [[ $w == W7 ]]; then
      log "$w on $d: $(get "$d" W7.seconds) s, $(get "$d" W7.requests) requests ($(get "$d" W7.deletes) DELETEs)"
    elif [[ $w == W8 ]]; then
      log "$w on $d: write $(get "$d" W8.write_mib_s), read $(get "$d" W8.read1_mib_s) then $(get "$d" W8.read2_mib_s) MiB/s" \
        "($(get "$d" W8.read2.server_get) GETs), peak RSS $(( $(get "$d" W8.rss_kib) / 1024 )) MiB"
    elif [[ $w == W1r ]]; then
      log "$w on $d: p99 $(get "$d" W1r.p99_ms) ms, p50 $(get "$d" W1r.p50_ms) ms, $(get "$d" W1r.reads) reads;" \
        "writer $(get "$d" W1r.write_mib_s) MiB/s ($(since "$t0") s)"
    elif [[ $base == W1 ]]; then
      stored=$(get "$d" "$w.stored_bytes")
      log "$w on $d: $(get "$d" "$w.value") MiB/s${stored:+, $stored bytes stored} ($(since "$t0") s)"
    else
      log "$w on $d: $(get "$d" "$w.value") ($(since "$t0") s)"
    fi
  fi
}

# ---------------------------------------------------------------- run
# How busy the machine is apart from us: CPU seconds of every process
# (/proc/stat) minus those of this benchmark's own process tree.
HZ=$(getconf CLK_TCK)
machine_busy_s() { awk -v hz="$HZ" '$1 == "cpu" { printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit }' /proc/stat; }
own_cpu_s() {  # reaped children (times, run by the main shell into $1) + the running server
  local srv=0
  if [[ -n $SERVER_PID && -r /proc/$SERVER_PID/stat ]]; then
    srv=$(awk -v hz="$HZ" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$SERVER_PID/stat")
  fi
  awk -v srv="$srv" 'function s(t,  m) { m = t; sub(/m.*/, "", m); sub(/^[0-9]+m/, "", t); sub(/s$/, "", t); return m * 60 + t }
    { tot += s($1) + s($2) } END { printf "%.2f", tot + srv }' "$1"
}
# Start from the same memory state every time: after builds the page cache
# fills RAM, and writing the read copies (in /dev/shm) then runs the kernel's
# reclaim, which once halved W2 for every daemon and the FUSE ceiling alike.
sync
echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || log "note: cannot drop the page cache"
echo 1 >/proc/sys/vm/compact_memory 2>/dev/null || true
BUSY0=$(machine_busy_s) T_START=$EPOCHREALTIME
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "settings: latency ${LATENCY} ms, volume ${SIZE_MIB} MiB, block ${BLOCK_MIB} MiB, cache ${CACHE_MIB} MiB, daemons: ${DAEMONS[*]}, workloads:$WORKLOADS; load $LOAD_BEFORE"
((S3BD_S3)) && [[ ${#S3BD_CACHE_ARGS[@]} -eq 0 ]] && log "note: this s3bd has no --cache-size; it runs without a block cache"

log "preparing ${SIZE_MIB} MiB of test data"
openssl enc -aes-128-ctr -nosalt -K 000102030405060708090a0b0c0d0e0f \
  -iv 0f0e0d0c0b0a09080706050403020100 -in <(head -c $((SIZE_MIB * 1048576)) /dev/zero) -out "$SRC"
ensure_tree
TREE_BYTES=$(tar -tvf "$TREE_TAR" | awk '$1 ~ /^-/ { s += $3 } END { print s }')

setsid "$SERVER" --port 0 --port-file "$WORK/port" --latency-ms "$LATENCY" --quiet \
  --bucket "$(bucket s3bd)" --bucket "$(bucket s3backer)" --bucket loadgen \
  >"$WORK/logs/server.log" 2>&1 &
SERVER_PID=$!
PORT=""
port_ready() { [[ -s $WORK/port ]] && curl -sf "http://127.0.0.1:$(cat "$WORK/port")/_control/health" >/dev/null; }
wait_until 20 "the test server" port_ready
PORT=$(cat "$WORK/port")
ENDPOINT=http://127.0.0.1:$PORT
log "test server on $ENDPOINT (pid $SERVER_PID)"

# Ceiling (a): the server itself.
loadgen() {
  "$LOADGEN" --port "$PORT" --bucket loadgen --connections "$LOADGEN_CONNS" --duration "$LOADGEN_SECS" "$@"
}
log "ceiling: server with $LOADGEN_CONNS connections, ${LATENCY} ms latency"
LG_PUT=$(loadgen --size 1m --op put)
LG_GET=$(loadgen --size 1m --op get)
LG_GET4K=$(loadgen --size 4k --op get)
ctl "reset?data=1"
record server put_mib_s "$(jq '.mib_per_s' <<<"$LG_PUT")"
record server get_mib_s "$(jq '.mib_per_s' <<<"$LG_GET")"
record server get4k_req_s "$(jq '.requests_per_s' <<<"$LG_GET4K")"
for j in "$LG_PUT" "$LG_GET" "$LG_GET4K"; do
  [[ $(jq '.errors' <<<"$j") == 0 ]] || log "WARNING: load generator errors: $j"
done
log "server: PUT $(get server put_mib_s) MiB/s, GET $(get server get_mib_s) MiB/s, 4 KiB GET $(get server get4k_req_s) req/s"

# Ceiling (b): FUSE itself, the same workloads on an in-memory file.
setsid /usr/bin/time -f '%e %U %S %M %x' -o "$WORK/time.memfuse" \
  "$MEMFUSE" --size "${SIZE_MIB}M" "$WORK/mnt/memfuse" >>"$WORK/logs/memfuse.log" 2>&1 &
MEMFUSE_PID=$!
echo "$MEMFUSE_PID" >>"$PIDS"
memfuse_up() { is_mounted "$WORK/mnt/memfuse" && [[ -e $WORK/mnt/memfuse/file ]]; }
wait_until 20 "the memfuse mount" memfuse_up
PORT_SAVED=$PORT PORT=""   # no server counters for memfuse
# Ceilings take the best of three runs (one for the time-based W3).
# (W1r has no FUSE ceiling: its ceiling is the target.)
for w in W1 W2 W3 W6 W4 W5 W1 W2 W6 W4 W5 W1 W2 W6 W4 W5; do
  if selected "$w"; then run "$w" memfuse; fi
done
PORT=$PORT_SAVED
umount "$WORK/mnt/memfuse"
wait_until 30 "memfuse to exit" not_running "$MEMFUSE_PID"
wait "$MEMFUSE_PID" || true

# The daemons, interleaved workload by workload so that changes in the
# machine's load hit both alike. W1r comes after W6: it changes the first
# half of W1's data, which W6 checks.
# A codec workload runs right after its plain one.
for w in W1 W1-enc W1-comp N1 W2 W2-enc W2-comp N2 W3 W6 N6 W1r W4 W5 W5-comp W5-comp-enc W7 W8; do
  selected "$w" || continue
  for d in "${DAEMONS[@]}"; do
    [[ $w == N* && $d != s3bd ]] && continue   # s3backer has no NBD front end
    run "$w" "$d"
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
WALL_S=$(since "$T_START")
times >"$WORK/times"
OTHER_CPU_S=$(calc "$(machine_busy_s) - $BUSY0 - $(own_cpu_s "$WORK/times")")
OTHER_CPU_S=$(awk -v v="$OTHER_CPU_S" 'BEGIN { print (v < 0 ? 0 : v) }')
OTHER_CPU_PCT=$(calc "100 * $OTHER_CPU_S / ($WALL_S * $(nproc))")

# ---------------------------------------------------------------- report
# Rows: key, label, unit, ceiling sources (memfuse workload key and/or server
# key), and for a lower-is-better row (a latency) its target instead: the
# ceiling column then shows the target, the ratio column s3backer/s3bd (so
# that > 1 still means s3bd is better), and the % columns the share of the
# target used.
ROWS=(
  "W1|W1 seq write ${SIZE_MIB} MiB -> durable|MiB/s|W1|put_mib_s"
  "W2|W2 cold seq read ${SIZE_MIB} MiB|MiB/s|W2|get_mib_s"
  "W3|W3 cold rand 4K read, qd32 ${FIO_SECS}s|IOPS|W3|get4k_req_s"
  "W4|W4 rand 4K write x$W4_OPS -> durable|writes/s|W4|"
  "W5a|W5a ext4 unpack -> durable|MiB/s|W5a|put_mib_s"
  "W5b|W5b ext4 remount + read all|MiB/s|W5b|get_mib_s"
  "W6|W6 warm read ${WARM_MIB} MiB (median)|MiB/s|W6|"
  "N1|N1 = W1 over NBD (nbdcopy)|MiB/s||put_mib_s"
  "N2|N2 = W2 over NBD (nbdcopy)|MiB/s||get_mib_s"
  "N6|N6 = W6 over NBD (nbdcopy, median)|MiB/s||"
  "W1r|W1r cold 4K read p99 during write-back|ms|||$W1R_TARGET_MS"
  "W7|W7 mkfs.ext4 fresh $((W7_MIB / 1024)) GiB -> durable|s|||-"
  "W8|W8 disk tier: 2nd read of ${W8_MIB} MiB|MiB/s|||"
)
# A cell: the value, or FAIL / "-" when the daemon did not run.
cell() {
  local d=$1 w=$2 v
  v=$(get "$d" "$w.value")
  if [[ -n $v ]]; then printf '%s' "$v"; elif grep -q "^${w%[ab]} $d:" "$FAILS"; then printf FAIL; else printf -- -; fi
}
isnum() { [[ $1 =~ ^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$ ]]; }  # (not "-")
fmt() { isnum "$1" && awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else if (v >= 10) printf "%.1f", v; else printf "%.2f", v }' || printf '%s' "$1"; }
pct() { isnum "$1" && isnum "$2" && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f%%", 100 * a / b; else printf "-" }' || printf -- -; }
ratio() { isnum "$1" && isnum "$2" && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }' || printf -- -; }

TABLE_JSON=$WORK/table.jsonl CODEC_JSON=$WORK/codec.jsonl
: >"$TABLE_JSON"
: >"$CODEC_JSON"
# The codec table: key|label|codec, a plain row before the codec rows of
# the same workload, for the workloads that have a codec row.
CODEC_ROWS=()
for spec in "W1 W1|W1 seq write ${SIZE_MIB} MiB|enc comp" "W2 W2|W2 cold seq read ${SIZE_MIB} MiB|enc comp" \
  "W5 W5a|W5a ext4 unpack|comp comp-enc" "W5 W5b|W5b ext4 read all|comp comp-enc"; do
  IFS='|' read -r wk label vs <<<"$spec"
  read -r w k <<<"$wk"
  any=0
  for v in $vs; do selected "$w-$v" && any=1; done
  ((any)) || continue
  CODEC_ROWS+=("$k|$label|")
  for v in $vs; do selected "$w-$v" && CODEC_ROWS+=("$k-$v|$label|$v"); done
done
mib() { isnum "$1" && calc "$1 / 1048576" || printf -- -; }
calc3() { isnum "$1" && awk -v v="$1" 'BEGIN { printf "%.3f", v }' || printf -- -; }
# codec_cell D KEY: like cell, for a key of the codec table (W5a-comp).
codec_cell() {
  local d=$1 k=$2 v w
  v=$(get "$d" "$k.value")
  w=${k/#W5[ab]/W5}
  if [[ -n $v ]]; then printf '%s' "$v"; elif grep -q "^$w $d:" "$FAILS"; then printf FAIL; else printf -- -; fi
}
TXT=$WORK/table.txt
{
  printf '%-38s %-8s %9s %9s %9s %14s %8s %8s\n' workload unit s3bd s3backer s3bd/s3b ceiling "s3bd%" "s3b%"
  for row in "${ROWS[@]}"; do
    IFS='|' read -r key label unit fkey skey target <<<"$row"
    a=$(cell s3bd "$key") b=$(cell s3backer "$key")
    fuse="" srv=""
    [[ -n $fkey ]] && fuse=$(get memfuse "$fkey.value")
    [[ -n $skey ]] && srv=$(get server "$skey")
    if [[ -n $target ]]; then
      ceil=$target src=target r=$(ratio "$b" "$a")
    else
      ceil=$fuse src=fuse r=$(ratio "$a" "$b")
      if isnum "$srv" && { ! isnum "$ceil" || awk -v s="$srv" -v f="$ceil" 'BEGIN { exit !(s < f) }'; }; then
        ceil=$srv src=s3
      fi
    fi
    isnum "$ceil" || { ceil=- src=""; }
    printf '%-38s %-8s %9s %9s %9s %14s %8s %8s\n' "$label" "$unit" "$(fmt "$a")" "$(fmt "$b")" \
      "$r" "$(fmt "$ceil")${src:+ ($src)}" "$(pct "$a" "$ceil")" "$(pct "$b" "$ceil")"
    jq -cn --arg k "$key" --arg l "$label" --arg u "$unit" --arg a "$a" --arg b "$b" \
      --arg c "$ceil" --arg s "$src" --arg f "$fuse" --arg v "$srv" --argjson lower "$([[ -n $target ]] && echo true || echo false)" '
      def num: tonumber? // .;
      {workload: $k, label: $l, unit: $u, lower_is_better: $lower, s3bd: ($a|num), s3backer: ($b|num),
       ceiling: ($c|num), ceiling_source: $s, fuse_ceiling: ($f|num), server_ceiling: ($v|num)}' >>"$TABLE_JSON"
  done
  # CPU seconds per GiB moved through the disk file, and peak RSS.
  for d in s3bd s3backer; do
    for part in W1 W2 all; do
      awk -F'\t' -v d="$d" -v part="$part" '
        $1 == d && $2 ~ /\.cpu_s$/ { w = $2; sub(/\.cpu_s$/, "", w); cpu[w] = $3 }
        $1 == d && $2 ~ /\.bytes$/ { w = $2; sub(/\.bytes$/, "", w); by[w] = $3 }
        END {
          c = 0; b = 0
          for (w in cpu) if ((part == "all" && w !~ /-/) || w == part) { c += cpu[w]; if (w in by) b += by[w] }
          if (b > 0) printf "%.3f\n", c / (b / 1073741824); else print "-"
        }' "$RESULTS" >"$WORK/cpu.$d.$part"
    done
    awk -F'\t' -v d="$d" '$1 == d && $2 ~ /\.rss_kib$/ && $3 > m { m = $3 } END { if (m) printf "%.1f\n", m / 1024; else print "-" }' \
      "$RESULTS" >"$WORK/rss.$d"
  done
  for part in W1 W2 all; do
    case $part in W1) label="CPU s per GiB, W1 seq write" ;; W2) label="CPU s per GiB, W2 seq read" ;; all) label="CPU s per GiB, all workloads" ;; esac
    a=$(cat "$WORK/cpu.s3bd.$part") b=$(cat "$WORK/cpu.s3backer.$part")
    printf '%-38s %-8s %9s %9s %9s %14s %8s %8s\n' "$label" "s/GiB" "$(fmt "$a")" "$(fmt "$b")" "$(ratio "$a" "$b")" - - -
    jq -cn --arg k "cpu_$part" --arg l "$label" --arg a "$a" --arg b "$b" '
      def num: tonumber? // .;
      {workload: $k, label: $l, unit: "s/GiB", s3bd: ($a|num), s3backer: ($b|num)}' >>"$TABLE_JSON"
  done
  a=$(cat "$WORK/rss.s3bd") b=$(cat "$WORK/rss.s3backer")
  printf '%-38s %-8s %9s %9s %9s %14s %8s %8s\n' "peak RSS (max over workloads)" MiB "$(fmt "$a")" "$(fmt "$b")" "$(ratio "$a" "$b")" - - -
  jq -cn --arg a "$a" --arg b "$b" 'def num: tonumber? // .;
    {workload: "peak_rss", label: "peak RSS (max over workloads)", unit: "MiB", s3bd: ($a|num), s3backer: ($b|num)}' >>"$TABLE_JSON"
  echo
  echo "ceilings: test server (loadgen, $LOADGEN_CONNS connections, ${LATENCY} ms): PUT $(fmt "$(get server put_mib_s)") MiB/s," \
    "GET $(fmt "$(get server get_mib_s)") MiB/s (1 MiB objects), GET $(fmt "$(get server get4k_req_s)") req/s (4 KiB)"
  echo "          FUSE (in-memory file, same workloads): W1 $(fmt "$(cell memfuse W1)"), W2 $(fmt "$(cell memfuse W2)") MiB/s," \
    "W3 $(fmt "$(cell memfuse W3)") IOPS, W4 $(fmt "$(cell memfuse W4)") writes/s, W5a $(fmt "$(cell memfuse W5a)")," \
    "W5b $(fmt "$(cell memfuse W5b)"), W6 $(fmt "$(cell memfuse W6)") MiB/s"
  echo "W6 warm passes, objects still fetched (0 = all from the cache): s3bd $(get s3bd W6.warm.server_get | sed 's/^$/-/')," \
    "s3backer $(get s3backer W6.warm.server_get | sed 's/^$/-/')"
  for d in s3bd s3backer; do
    if [[ -n $(get "$d" W7.requests) ]]; then
      echo "W7 $d: mkfs.ext4 on a fresh $((W7_MIB / 1024)) GiB volume: $(get "$d" W7.requests) requests" \
        "($(get "$d" W7.deletes) DELETEs, $(get "$d" W7.server_put) PUTs, $(get "$d" W7.server_get) GETs)" \
        "in $(fmt "$(get "$d" W7.seconds)") s"
    fi
  done
  for d in s3bd s3backer; do
    if [[ -n $(get "$d" W8.read2_mib_s) ]]; then
      echo "W8 $d: ${W8_CACHE_MIB} MiB memory, ${W8_FILE_MIB} MiB cache file: write $(fmt "$(get "$d" W8.write_mib_s)") MiB/s;" \
        "read $(fmt "$(get "$d" W8.read1_mib_s)") MiB/s ($(get "$d" W8.read1.server_get) GETs)," \
        "again $(fmt "$(get "$d" W8.read2_mib_s)") MiB/s ($(get "$d" W8.read2.server_get) GETs);" \
        "peak RSS $(fmt "$(calc "$(get "$d" W8.rss_kib) / 1024")") MiB; the same disk, dd O_DIRECT: $(fmt "$(get "$d" W8.disk_mib_s)") MiB/s"
    fi
  done
  for d in s3bd s3backer; do
    if [[ -n $(get "$d" W1r.reads) ]]; then
      echo "W1r $d: $(get "$d" W1r.reads) reads while the writer ran, p50 $(fmt "$(get "$d" W1r.p50_ms)") ms," \
        "p99 $(fmt "$(get "$d" W1r.p99_ms)") ms, max $(fmt "$(get "$d" W1r.max_ms)") ms;" \
        "writer $(fmt "$(get "$d" W1r.write_mib_s)") MiB/s over $W1R_MIB MiB"
    fi
  done
  echo "settings: latency ${LATENCY} ms/request, block ${BLOCK_MIB} MiB, cache ${CACHE_MIB} MiB each, volume ${SIZE_MIB} MiB," \
    "tree $((TREE_FILES + TREE_BIG)) files, $(calc "$TREE_BYTES / 1048576") MiB; $(nproc) cores;" \
    "run ${WALL_S%.*} s; other processes used $(fmt "$OTHER_CPU_PCT")% of the CPUs meanwhile"
  echo "ratio s3bd/s3b > 1: s3bd is faster (CPU and RSS rows: s3bd uses more); ceiling = the lower of FUSE and S3 server"
  echo "W1r (lower is better): ratio = s3backer/s3bd, so > 1 means s3bd is better; ceiling = the target, 3 x the server latency"
  if ((${#CODEC_ROWS[@]})); then
    echo
    printf '%-28s %-22s %-22s %8s %8s %8s %10s %10s %8s %8s\n' "codec workload (MiB/s)" "s3bd option" "s3backer option" \
      s3bd s3backer s3bd/s3b "s3bd MiB" "s3b MiB" "s3bd c/p" "s3b c/p"
    for row in "${CODEC_ROWS[@]}"; do
      IFS='|' read -r key label v <<<"$row"
      plain=${key%%-*}
      a=$(codec_cell s3bd "$key") b=$(codec_cell s3backer "$key")
      sa=$(get s3bd "$key.stored_bytes") sb=$(get s3backer "$key.stored_bytes")
      ca=- cb=-
      if [[ -n $v ]]; then ca=$(ratio "$a" "$(get s3bd "$plain.value")") cb=$(ratio "$b" "$(get s3backer "$plain.value")"); fi
      printf '%-28s %-22s %-22s %8s %8s %8s %10s %10s %8s %8s\n' "$label" "$(codec_label s3bd "$v")" "$(codec_label s3backer "$v")" \
        "$(fmt "$a")" "$(fmt "$b")" "$(ratio "$a" "$b")" "$(fmt "$(mib "$sa")")" "$(fmt "$(mib "$sb")")" "$ca" "$cb"
      jq -cn --arg k "$key" --arg l "$label" --arg v "$v" --arg oa "$(codec_label s3bd "$v")" --arg ob "$(codec_label s3backer "$v")" \
        --arg a "$a" --arg b "$b" --arg sa "$sa" --arg sb "$sb" --arg ca "$ca" --arg cb "$cb" '
        def num: tonumber? // .;
        {workload: $k, label: $l, codec: $v, s3bd_option: $oa, s3backer_option: $ob, unit: "MiB/s",
         s3bd: ($a|num), s3backer: ($b|num), s3bd_stored_bytes: ($sa|num), s3backer_stored_bytes: ($sb|num),
         s3bd_codec_over_plain: ($ca|num), s3backer_codec_over_plain: ($cb|num)}' >>"$CODEC_JSON"
    done
    echo "codec rows: a volume of its own per codec; MiB = bytes stored under its prefix once written (every object, listed);"
    echo "  c/p = MiB/s with the codec / MiB/s of the plain row above it (1 = no cost); s3backer --encrypt implies its --compress"
    # Where s3bd's time went (the codec's seconds add up over its threads).
    for row in "${CODEC_ROWS[@]}"; do
      k=${row%%|*}
      [[ -n $(get s3bd "$k.value") ]] || continue
      echo "  s3bd $k: codec $(calc3 "$(get s3bd "$k.codec_encode_s")") s encoding, $(calc3 "$(get s3bd "$k.codec_decode_s")") s decoding;" \
        "daemon CPU $(fmt "$(get s3bd "$k.cpu_s")") s; $(fmt "$(get s3bd "$k.seconds")") s wall"
    done
  fi
} >"$TXT"

FAILED=$(wc -l <"$FAILS")
# (sed reads to the end: head would make the writer die of SIGPIPE, which
# pipefail turns into an error)
S3BD_VERSION=$("$S3BD" --version 2>&1 | sed -n 1p)
S3BACKER_VERSION=$(s3backer --version 2>&1 | sed -n 1p)
JSON=$OUT/bench-$STAMP.json
jq -n \
  --slurpfile table "$TABLE_JSON" --slurpfile codec_table "$CODEC_JSON" \
  --rawfile results "$RESULTS" \
  --rawfile failures "$FAILS" \
  --arg date "$(date -Iseconds)" \
  --argjson quick "$QUICK" --argjson latency "$LATENCY" --argjson size_mib "$SIZE_MIB" \
  --argjson block_mib "$BLOCK_MIB" --argjson cache_mib "$CACHE_MIB" --argjson hot_mib "$HOT_MIB" --argjson warm_mib "$WARM_MIB" \
  --argjson fio_secs "$FIO_SECS" --argjson w4_ops "$W4_OPS" --argjson lg_conns "$LOADGEN_CONNS" \
  --argjson w1r_mib "$W1R_MIB" --argjson w1r_target "$W1R_TARGET_MS" --arg workloads "$WORKLOADS" \
  --argjson tree_files $((TREE_FILES + TREE_BIG)) \
  --arg s3bd_args "$(printf '%s ' --path-style --block-size "${BLOCK_MIB}M" "${S3BD_CACHE_ARGS[@]}")" \
  --arg s3backer_args "--blockSize=${BLOCK_MIB}m --blockCacheSize=$((CACHE_MIB / BLOCK_MIB)) --md5CacheSize=0 --md5CacheTime=0 --minWriteDelay=0" \
  --arg s3bd_v "$S3BD_VERSION" --arg s3backer_v "$S3BACKER_VERSION" \
  --arg fio_v "$(fio --version)" --arg kernel "$(uname -r)" \
  --arg fuse3_v "$(dpkg-query -W -f='${Version}' libfuse3-3 2>/dev/null || true)" \
  --arg git "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src include 2>/dev/null || echo +dirty)" \
  --argjson cores "$(nproc)" --arg cpu "$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)" \
  --argjson mem_kib "$(awk '/MemTotal/ { print $2 }' /proc/meminfo)" \
  --arg load_before "$LOAD_BEFORE" --arg load_after "$LOAD_AFTER" \
  --argjson wall_s "$WALL_S" --argjson other_cpu_s "$OTHER_CPU_S" --argjson other_cpu_pct "$OTHER_CPU_PCT" '
  def num: tonumber? // .;
  {
    date: $date,
    settings: {quick: ($quick == 1), latency_ms: $latency, volume_mib: $size_mib, block_mib: $block_mib,
               cache_mib: $cache_mib, w4_region_mib: $hot_mib, w6_region_mib: $warm_mib, fio_seconds: $fio_secs, w4_writes: $w4_ops,
               tree_files: $tree_files, loadgen_connections: $lg_conns,
               workloads: ($workloads | split(" ") | map(select(length > 0))),
               w1r_write_mib: $w1r_mib, w1r_read_mib: ($size_mib - $w1r_mib), w1r_target_p99_ms: $w1r_target,
               s3bd_options: $s3bd_args, s3backer_options: $s3backer_args},
    versions: {s3bd: $s3bd_v, s3bd_commit: $git, s3backer: $s3backer_v, fio: $fio_v, kernel: $kernel, libfuse3: $fuse3_v},
    machine: {cores: $cores, cpu: $cpu, mem_kib: $mem_kib, load_before: $load_before, load_after: $load_after,
               run_seconds: $wall_s, other_cpu_seconds: $other_cpu_s, other_cpu_percent: $other_cpu_pct},
    table: $table,
    codec_table: $codec_table,
    results: ($results | split("\n") | map(select(length > 0) | split("\t"))
              | reduce .[] as $r ({}; ([$r[0]] + ($r[1] | split("."))) as $p
                  | ($r[2] | num) as $v
                  | if $r[0] == "memfuse" and $p[-1] == "value" and ((getpath($p) // -1) > $v)
                    then . else setpath($p; $v) end)),
    failures: ($failures | split("\n") | map(select(length > 0)))
  }' >"$JSON"
cp "$TXT" "$OUT/bench-$STAMP.txt"

echo
cat "$TXT"
echo
echo "results: $JSON"
if ((FAILED)); then
  echo "FAILED workloads:"
  sed 's/^/  /' "$FAILS"
  exit 1
fi
