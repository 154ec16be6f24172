# Seer: self-hosted computer-vision inference on the CPU.
#   docker build -t seer .            (or: buildah bud --format docker -t seer .)
#   docker run -p 8080:8080 -v seer-data:/data seer
# Configuration is by SEER_* environment variables (see `seer serve --help` and deploy/README.md).

# ---- build: the Swift toolchain and the C libraries' headers ----
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      pkg-config libopenblas-dev libjpeg-dev libpng-dev libsqlite3-dev \
      libavformat-dev libavcodec-dev libswscale-dev libavutil-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
# SwiftPM checks every target's folder, the test targets' too, so Tests/ (less its fixtures) comes along.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product seer \
 && install -D -m 0755 "$(swift build -c release --static-swift-stdlib --show-bin-path)/seer" /out/seer \
 && strip /out/seer

# ---- runtime: Debian slim, the shared C libraries, the binary, the models ----
FROM debian:bookworm-slim
# seer loads only libopenblas.so.0: the package's reference-interface libblas.so.3 and
# liblapack.so.3 (7.7 MB) are never loaded, so they go.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libopenblas0-pthread libjpeg62-turbo libpng16-16 libsqlite3-0 \
      libavformat59 libavcodec59 libswscale6 libavutil57 \
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
