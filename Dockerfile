# Builds s3bd on Debian 12 as its Debian package and installs that package
# in a slim image (apt resolves the runtime libraries from the package's
# dependencies). The build runs the scripts scripts/test.sh runs, so CI
# tests these steps. FUSE in a container needs the device and the right to
# mount:
#   docker build -t s3bd .
#   docker run --rm -it --device /dev/fuse --cap-add SYS_ADMIN \
#     -v /srv/disk-store:/store s3bd mount /store /mnt --size 10G -f
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN S3BD_DEPS=build scripts/install-deps.sh
COPY . .
RUN scripts/build.sh build -DS3BD_BUILD_TESTS=OFF >/dev/null \
 && cp "$(scripts/package.sh build)" /s3bd.deb

FROM debian:12
COPY --from=build /s3bd.deb /tmp/s3bd.deb
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends /tmp/s3bd.deb \
 && rm -rf /var/lib/apt/lists/* /tmp/s3bd.deb
ENTRYPOINT ["/usr/bin/s3bd"]
CMD ["--help"]
