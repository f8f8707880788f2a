#!/usr/bin/env bash
# The whole test suite: installs dependencies, builds, runs every test
# (unit, real FUSE mounts with ext4 and XFS on loop devices), then builds and
# runs the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh build
(cd build && ctest --output-on-failure --timeout 900)

scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DS3BD_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -L unit --output-on-failure --timeout 900)
