#!/usr/bin/env bash
# Builds the Debian package of s3bd from the build directory $1 (default
# build, configured and built by scripts/build.sh if need be) and prints
# the path of the .deb. Install it with `apt-get install ./s3bd_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[[ -x $dir/src/s3bd ]] || scripts/build.sh "$dir" >&2
(cd "$dir" && cpack -G DEB >&2)
ls "$PWD/$dir"/s3bd_*_"$(dpkg --print-architecture)".deb
