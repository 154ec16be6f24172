# Seer: self-hosted computer-vision inference on the CPU.
#   docker build -t seer .            (or: buildah bud --format docker -t seer .)
#   docker run -p 8080:8080 -v seer-data:/data seer
# Configuration is by SEER_* environment variables (see `seer serve --help` and deploy/README.md).

# ---- ffmpeg: a minimal shared FFmpeg from Debian's own source package ----
# Debian's shared libavcodec59 & co. pull in ~200 MB of libraries (libmfx, codec2, x265, svt-av1, aom,
# rsvg, jxl, ...), nearly all of them encoders or formats Seer never reads. This stage builds
# the same FFmpeg release (with Debian's patches) with only what VideoDecoder accepts: the demuxers
# of its whitelist, the video decoders those containers carry, their parsers, and swscale. The four
# libraries are shared: seer does not link them but dlopens them on the first video decode, so
# processes that never decode video never map them. Besides libc they need only zlib (already in
# Debian slim), dav1d (AV1, 1.6 MB) and libatomic. See deploy/README.md.
FROM debian:bookworm-slim AS ffmpeg
# deb-src twins of the image's own apt sources (one-line or deb822 format), for `apt-get source`.
RUN { [ ! -f /etc/apt/sources.list ] || sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/deb-src.list; } \
 && for f in /etc/apt/sources.list.d/*.sources; do [ ! -f "$f" ] || sed -i 's/^Types: deb$/Types: deb deb-src/' "$f"; done \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make nasm pkg-config dpkg-dev patch xz-utils zlib1g-dev libdav1d-dev
WORKDIR /usr/src
# --disable-autodetect also turns off threads: --enable-pthreads brings them back (frame threading).
# --disable-debug: no -g (make install strips the libraries anyway).
RUN apt-get source --only-source ffmpeg \
 && cd ffmpeg-*/ \
 && ./configure --prefix=/opt/ffmpeg \
      --enable-shared --disable-static --disable-debug \
      --disable-everything --disable-programs --disable-doc --disable-network --disable-autodetect \
      --disable-avdevice --disable-avfilter --disable-swresample --disable-postproc \
      --enable-pthreads --enable-zlib --enable-libdav1d \
      --enable-demuxer=mov,avi,matroska,mpegts,flv \
      --enable-decoder=h264,hevc,mpeg4,msmpeg4v1,msmpeg4v2,msmpeg4v3,h263,flv,mpeg1video,mpeg2video,mjpeg,vp8,vp9,libdav1d \
      --enable-parser=h264,hevc,mpeg4video,mpegvideo,mjpeg,vp8,vp9,av1,h263 \
 && make -j"$(nproc)" \
 && make install \
 && mkdir /opt/ffmpeg/runtime \
 && for f in /opt/ffmpeg/lib/lib*.so.*; do case "$f" in *.so.*.*) ;; *) cp -L "$f" /opt/ffmpeg/runtime/ ;; esac; done
# runtime/ holds each library once, under the soname seer dlopens (libavcodec.so.59, ...): the
# symlinks are resolved so that COPY does not copy a library three times.

# ---- build: the Swift toolchain, the C libraries' headers, FFmpeg's headers ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config libopenblas-dev libjpeg-dev libpng-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
# CFFmpeg is headers only, found on the default include path; the sonames seer loads come from
# these headers' major versions, so they match the libraries of the runtime stage.
COPY --from=ffmpeg /opt/ffmpeg/include /usr/local/include
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
 && if readelf -d /out/seer | grep -E 'NEEDED.*(libav|libsw)'; then echo 'seer must not link FFmpeg: it loads it on first use' >&2; exit 1; fi

# ---- runtime: Debian slim, the shared C libraries, the binary, the models ----
FROM debian:bookworm-slim
# seer loads only libopenblas.so.0: the package's reference-interface libblas.so.3 and
# liblapack.so.3 (7.7 MB) are never loaded, so they go. Of the libraries FFmpeg needs only dav1d
# (AV1) and libatomic are not in Debian slim already (zlib is).
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
# The four FFmpeg libraries, under exactly the sonames seer dlopens (read from the binary), with all
# their dependencies present: otherwise /anomaly would answer 503 video_decoding_unavailable.
COPY --from=ffmpeg /opt/ffmpeg/runtime/ /usr/local/lib/
RUN ldconfig \
 && sonames=$(grep -a -o -E 'lib(avformat|avcodec|swscale|avutil)\.so\.[0-9]+' /usr/local/bin/seer | sort -u) \
 && [ "$(echo "$sonames" | wc -l)" -eq 4 ] || { echo "seer names these FFmpeg sonames: $sonames" >&2; exit 1; } \
 && for soname in $sonames; do \
      ldconfig -p | grep -q -F "$soname " || { echo "the image lacks $soname" >&2; exit 1; }; \
      if ldd "/usr/local/lib/$soname" | grep 'not found'; then echo "$soname needs a missing library" >&2; exit 1; fi; \
    done
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
