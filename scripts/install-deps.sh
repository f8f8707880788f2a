#!/usr/bin/env bash
# Installs everything s3bd needs to build, test and benchmark, from Debian 12
# packages. Idempotent: installs only what is missing. Runs as root or via sudo.
set -euo pipefail

#
# S3BD_DEPS=build: only what building s3bd and its Debian package needs
# (the Dockerfile's build stage).
BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libfuse3-dev libcurl4-openssl-dev libssl-dev zlib1g-dev libzstd-dev libargon2-dev
  libcli11-dev libspdlog-dev libfmt-dev libpugixml-dev nlohmann-json3-dev
  libinih-dev  # --config FILE
  libcpp-httplib-dev  # --metrics-listen (and the HTTP tests' scripted servers)
  file dpkg-dev  # cpack -G DEB: finding the binary's library dependencies
)
PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  # tests
  googletest libgtest-dev libgmock-dev
  fuse3 util-linux e2fsprogs xfsprogs
  clang  # libFuzzer: the fuzz targets of tests/fuzz
  awscli  # the S3 mount tests inspect the bucket with the AWS CLI
  libnbd-bin python3-libnbd  # tests/mount/nbd_*: nbdinfo, nbdcopy, nbdfuse and nbdsh drive s3bd nbd
  s3backer  # tests/mount/s3backer_*: s3bd mounts s3backer's volumes and s3backer mounts them back (1.5.4)
  # tests/mount/rgw_*: a one-mon, one-OSD Ceph cluster with a RADOS Gateway
  # (about 60 MB to download, 240 MB installed)
  ceph-mon ceph-osd radosgw uuid-runtime
  # tests/mount/luks_test.sh: LUKS without device-mapper (cryptsetup writes
  # the header, qemu-nbd decrypts, nbdfuse shows the device as a file)
  cryptsetup-bin qemu-utils libnbd-bin
  python3-prometheus-client  # tests/mount/metrics_notify_test.sh parses /metrics with Prometheus' own parser
)
# The S3 mount tests run s3rver (npm, tests/s3rver). Debian's nodejs and npm
# only if no node/npm is installed already (e.g. from another source).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi
case ${S3BD_DEPS:-all} in
  all) ;;
  build) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  *) echo "install-deps: S3BD_DEPS is 'all' or 'build', not '$S3BD_DEPS'" >&2; exit 2 ;;
esac

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
