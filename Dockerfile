# syntax=docker/dockerfile:1
# esia-gate image: built with cmake (Pingora's zlib-ng), OpenSSL headers and
# the GOST engine; run as a non-root user on slim Debian with the engine.
#
#   docker build -t esia-gate .
#   docker run -d --name esia-gate -p 8080:8080 -p 127.0.0.1:9090:9090 \
#     -v /etc/esia-gate:/etc/esia-gate:ro -v esia-gate-data:/var/lib/esia-gate \
#     esia-gate
#
# In a container the admin listener must listen on 0.0.0.0 to be scraped,
# so the configuration needs `[admin] token_file` (see docs/operations.md).
# The health check asks http://127.0.0.1:9090/healthz: keep the admin port
# 9090 or override HEALTHCHECK.

FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev libengine-gost-openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
# The development stack's manifest completes the workspace; only the
# gateway's binary is built, so no emulator code reaches the image.
COPY dev ./dev
COPY policies ./policies
# The registry and the target directory are cache mounts: a change in src/
# does not download or rebuild the dependencies.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p esia-gate --bin esia-gate \
 && install -m 0755 target/release/esia-gate /usr/local/bin/esia-gate

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssl libengine-gost-openssl curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 esia-gate \
 && useradd --system --uid 10001 --gid esia-gate --home-dir /var/lib/esia-gate \
      --shell /usr/sbin/nologin esia-gate \
 && install -d -o esia-gate -g esia-gate -m 0750 /var/lib/esia-gate /var/log/esia-gate /run/esia-gate
COPY --from=build /usr/local/bin/esia-gate /usr/local/bin/esia-gate
COPY config/gateway.example.toml /usr/local/share/doc/esia-gate/gateway.example.toml
COPY config/esia-gate-upgrade /usr/local/lib/esia-gate/esia-gate-upgrade
COPY docs /usr/local/share/doc/esia-gate/
COPY dashboards /usr/local/share/esia-gate/dashboards/
COPY policies /usr/local/share/esia-gate/policies/
# The GOST engine is found by the gateway itself; this checks it is there.
RUN openssl engine -t gost >/dev/null \
 && esia-gate --version
USER 10001:10001
WORKDIR /var/lib/esia-gate
# Embedded store, audit log, upgrade socket (see the configuration).
VOLUME ["/var/lib/esia-gate"]
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:9090/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["esia-gate"]
CMD ["run", "--config", "/etc/esia-gate/gateway.toml"]
