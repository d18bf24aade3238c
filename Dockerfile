# Multi-stage build: cmake for Pingora's zlib-ng, OpenSSL headers and the GOST
# engine for the signer; the runtime is slim Debian with the engine, non-root.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev libengine-gost-openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin esia-gate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssl libengine-gost-openssl curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/esia-gate esia-gate
COPY --from=build /src/target/release/esia-gate /usr/local/bin/esia-gate
COPY config/gateway.example.toml /etc/esia-gate/gateway.example.toml
USER esia-gate
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:9090/healthz || exit 1
ENTRYPOINT ["esia-gate"]
CMD ["run", "--config", "/etc/esia-gate/gateway.toml"]
