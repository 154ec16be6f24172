# Seer: self-hosted computer-vision inference on the CPU.
#   docker build -t seer .            (or: buildah bud --format docker -t seer .)
#   docker run -p 8080:8080 -v seer-data:/data seer
# Configuration is by SEER_* environment variables (see `seer serve --help` and deploy/README.md).

# ---- ffmpeg: a minimal static FFmpeg from Debian's own source package ----
# Debian's shared libavcodec59 & co. pull in ~200 MB of libraries (libmfx, codec2, x265, svt-av1, aom,
# rsvg, jxl, ...), nearly all of them encoders or formats Seer never reads. This stage builds
# the same FFmpeg release (with Debian's patches) with only what VideoDecoder accepts: the demuxers
# of its whitelist, the video decoders those containers carry, their parsers, and swscale. It is
# linked statically into `seer`, so the runtime stage installs no libav* package; only zlib (already
# in Debian slim), dav1d (AV1, 1.6 MB) and libatomic stay, as shared libraries. See deploy/README.md.
FROM debian:bookworm-slim AS ffmpeg
# deb-src twins of the image's own apt sources (one-line or deb822 format), for `apt-get source`.
RUN { [ ! -f /etc/apt/sources.list ] || sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/deb-src.list; } \
 && for f in /etc/apt/sources.list.d/*.sources; do [ ! -f "$f" ] || sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"; done \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make nasm pkg-config dpkg-dev patch xz-utils zlib1g-dev libdav1d-dev
WORKDIR /usr/src
# --disable-autodetect also turns off threads: --enable-pthreads brings them back (frame threading).
# --disable-debug: no -g (the binary is stripped anyway); --enable-pic: seer is a PIE.
RUN apt-get source --only-source ffmpeg \
 && cd ffmpeg-*/ \
 && ./configure --prefix=/opt/ffmpeg \
      --enable-static --disable-shared --enable-pic --disable-debug \
      --disable-everything --disable-programs --disable-doc --disable-network --disable-autodetect \
      --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc \
      --enable-pthreads --enable-zlib --enable-libdav1d \
      --enable-demuxer=mov,avi,matroska,mpegts,flv \
      --enable-decoder=h264,hevc,mpeg4,msmpeg4v1,msmpeg4v2,msmpeg4v3,h263,flv,mpeg1video,mpeg2video,mjpeg,vp8,vp9,libdav1d \
      --enable-parser=h264,hevc,mpeg4video,mpegvideo,mjpeg,vp8,vp9,av1,h263 \
 && make -j"$(nproc)" \
 && make install \
 && sed -i 's/ -pthread/ -lpthread/g' /opt/ffmpeg/lib/pkgconfig/*.pc
# With --disable-shared FFmpeg's .pc files already list the private libraries (-lz -ldav1d -lm
# -latomic) in Libs and the other libav* in Requires, which is what a static link needs and what
# SwiftPM's own pkg-config reader (plain --libs, no --static) sees. The sed only rewrites
# -pthread, a flag SwiftPM drops with a warning, into the -lpthread it means.

# ---- build: the Swift toolchain, the C libraries' headers, the static FFmpeg ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config libopenblas-dev libjpeg-dev libpng-dev libsqlite3-dev zlib1g-dev libdav1d-dev \
 && rm -rf /var/lib/apt/lists/*
# CFFmpeg's systemLibrary finds libavformat through pkg-config: here that is the static build above.
COPY --from=ffmpeg /opt/ffmpeg /opt/ffmpeg
ENV PKG_CONFIG_PATH=/opt/ffmpeg/lib/pkgconfig
WORKDIR /src
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
# SwiftPM checks every target's folder, the test targets' too, so Tests/ (less its fixtures) comes along.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product seer \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/seer" /out/seer \
 && strip /out/seer \
 && if ldd /out/seer | grep -E 'libav|libsw'; then echo 'seer must link FFmpeg statically' >&2; exit 1; fi

# ---- runtime: Debian slim, the shared C libraries, the binary, the models ----
FROM debian:bookworm-slim
# seer loads only libopenblas.so.0: the package's reference-interface libblas.so.3 and
# liblapack.so.3 (7.7 MB) are never loaded, so they go. FFmpeg is inside the binary; of its
# libraries only dav1d (AV1) and libatomic are not in Debian slim already (zlib is).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0-pthread libjpeg62-turbo libpng16-16 libsqlite3-0 libdav1d6 libatomic1 \
 && rm -rf /var/lib/apt/lists/* \
 && rm -f /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 /usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3 \
 && groupadd --gid 10001 seer \
 && useradd --uid 10001 --gid seer --home-dir /app --no-create-home --shell /usr/sbin/nologin seer \
 && mkdir -p /app /data \
 && chown seer:seer /data
COPY --from=build /out/seer /usr/local/bin/seer
# The models folder belongs to the service user so that POST /models can add versions (they live
# only in this container's /app/models unless a volume is mounted there; see deploy/README.md).
COPY --chown=seer:seer models /app/models
COPY openapi.yaml /app/openapi.yaml
WORKDIR /app
ENV SEER_HOST=0.0.0.0 \
    SEER_PORT=8080 \
    SEER_MODELS=/app/models \
    SEER_DATABASE=/data/seer.sqlite
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8080
# `seer healthcheck` GETs /readyz on 127.0.0.1:$SEER_PORT; no curl needed.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 CMD ["/usr/local/bin/seer", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/seer"]
CMD ["serve"]
