# syntax=docker/dockerfile:1
# The gateway service image. Build from the repository root:
#   docker build -f docker/gateway.Dockerfile -t browser-stream/gateway .
# (No Docker engine exists on the development machines, so this file is not built in CI;
# the Kubernetes manifests in k8s/ refer to the image it makes.)

# The viewer page and its npm packages (noVNC), served by the gateway from /srv/web.
FROM node:22-bookworm-slim AS web
WORKDIR /web
COPY web/ ./
# A host's node_modules in the build context is replaced by a clean install from the lock.
RUN rm -rf node_modules && npm ci --omit=dev --no-audit --no-fund

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p gateway --bin gateway \
    && cp target/release/gateway /usr/local/bin/gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/gateway /usr/local/bin/gateway
COPY --from=web /web /srv/web
USER 65532:65532
EXPOSE 8080 8081
ENV GATEWAY_LISTEN=0.0.0.0:8080 \
    GATEWAY_GRPC_LISTEN=0.0.0.0:8081 \
    GATEWAY_WEB_ROOT=/srv/web
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
