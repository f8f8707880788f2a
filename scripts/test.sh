#!/usr/bin/env bash
# The whole test suite: installs dependencies (Debian packages, and s3rver
# from npm), builds, runs every test (unit, real FUSE mounts with ext4 and XFS
# on loop devices, S3 volumes on s3rver), builds the Debian package and
# tries it installed, then builds and
# runs the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
# under ThreadSanitizer for the concurrent layers, and the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# s3rver, the third-party fake S3 server of the S3 mount tests, at the exact
# versions of tests/s3rver/package-lock.json.
npm ci --prefix tests/s3rver --no-audit --no-fund --loglevel=error
scripts/build.sh build
(cd build && ctest --output-on-failure --timeout 900)

# The Debian package, built as the Dockerfile builds it, installed on this
# machine and tried from its installed files.
bash tests/package/package_test.sh "$(scripts/package.sh build)"

scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DS3BD_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
   ctest -L unit --output-on-failure --timeout 900)

# The concurrent layers (block cache and its cache file, block map, volume, stores) again under
# ThreadSanitizer. (The HTTP tests use an uninstrumented library, so they
# stay out of this run.)
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DS3BD_TSAN=ON >/dev/null
cmake --build build-tsan -j "$(nproc)" --target s3bd_unit_tests
(cd build-tsan && TSAN_OPTIONS=halt_on_error=1 \
   ctest -L unit -R 'BlockCache|CacheFile|VolumeModel|ReadAhead|StoreConformance|CodecStore|^Volume\.|FaultStore|^BlockMap\.' \
   --output-on-failure --timeout 900)

# The fuzz targets (tests/fuzz), 30 s each, with clang and libFuzzer.
scripts/fuzz.sh 30
