#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz/*_fuzz.cpp) with clang, libFuzzer,
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, and runs
# each for SECONDS (default 30, what scripts/test.sh and CI spend). Fails if
# any target crashes, leaks, hits undefined behaviour or hangs; the input
# that did it is kept in build-fuzz/fuzz-artifacts/TARGET/ and the command to
# replay it is printed.
#
#   scripts/fuzz.sh          # 30 s per target
#   scripts/fuzz.sh 3600     # the long run: an hour per target, worth doing
#                            # after any change to a parser of stored bytes
#
# The corpus each run grows is kept in build-fuzz/fuzz-corpus/TARGET/, so
# runs add up; tests/fuzz/corpus/TARGET/ (if present) holds the seeds, read
# but never written. Inputs worth keeping for good (a crash once fixed) go
# there by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-30}
if ! [[ $seconds =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: scripts/fuzz.sh [SECONDS]  (a whole number of seconds per target, default 30)" >&2
  exit 2
fi
dir=build-fuzz

# Longest input per target: an encoded object is at most a 4 KiB block plus
# the codec's overhead; a key slot line is under 200 bytes (512 leaves room
# for the parser's own length limit to be exercised).
max_len_of() {
  case $1 in
    codec_object_fuzz) echo 4200 ;;
    s3backer_object_fuzz) echo 4400 ;;  # s3backer's deflate bound of a 4 KiB block, an AES block, a header
    key_slot_fuzz) echo 512 ;;
    *) echo 4096 ;;
  esac
}

targets=()
for src in tests/fuzz/*_fuzz.cpp; do
  [[ -e $src ]] || continue
  targets+=("$(basename "$src" .cpp)")
done
if ((${#targets[@]} == 0)); then
  echo "fuzz: no tests/fuzz/*_fuzz.cpp" >&2
  exit 1
fi

# Only the fuzz targets: the test suite is not configured (it needs nothing
# here) and the daemon is not built.
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DS3BD_FUZZ=ON \
  -DS3BD_BUILD_TESTS=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

failed=()
for t in "${targets[@]}"; do
  corpus=$dir/fuzz-corpus/$t
  artifacts=$dir/fuzz-artifacts/$t/
  mkdir -p "$corpus" "$artifacts"
  seeds=()
  [[ -d tests/fuzz/corpus/$t ]] && seeds=("tests/fuzz/corpus/$t")
  echo "fuzz: $t for ${seconds}s (corpus $corpus)"
  # -timeout: one input taking 25 s is a hang, a finding of its own.
  if ! "$dir/tests/fuzz/$t" -max_total_time="$seconds" -max_len="$(max_len_of "$t")" -timeout=25 \
       -print_final_stats=1 -artifact_prefix="$artifacts" "$corpus" "${seeds[@]}" \
       >"$dir/fuzz-$t.log" 2>&1; then
    failed+=("$t")
    tail -n 40 "$dir/fuzz-$t.log" >&2
    echo "fuzz: $t FAILED; log $dir/fuzz-$t.log; replay: $dir/tests/fuzz/$t $artifacts<file>" >&2
  else
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|stat::peak_rss_mb)' "$dir/fuzz-$t.log" |
      sed "s/^/fuzz: $t: /"
  fi
done
if ((${#failed[@]} > 0)); then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} target(s) ran ${seconds}s each without a finding"
