# Builds s3bd on Debian 12 and runs it. FUSE in a container needs the device
# and the right to mount:
#   docker build -t s3bd .
#   docker run --rm -it --device /dev/fuse --cap-add SYS_ADMIN \
#     -v /srv/disk-store:/store s3bd mount /store /mnt --size 10G -f
FROM debian:12 AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN scripts/install-deps.sh
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DS3BD_BUILD_TESTS=OFF \
 && cmake --build /build -j "$(nproc)" \
 && cmake --install /build --prefix /usr/local

FROM debian:12
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends fuse3 libfuse3-3 libcurl4 libssl3 zlib1g \
      libspdlog1.10 libfmt9 libpugixml1v5 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/s3bd /usr/local/bin/s3bd
COPY --from=build /usr/local/share/man/man8/s3bd.8 /usr/local/share/man/man8/s3bd.8
ENTRYPOINT ["/usr/local/bin/s3bd"]
CMD ["--help"]
