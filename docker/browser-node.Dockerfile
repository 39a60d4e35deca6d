# syntax=docker/dockerfile:1
# The browser node image: Chromium, Xvfb and x11vnc under the `browser-node serve`
# supervisor, plus websockify and socat for the sidecars of k8s/base/browser-node.yaml.
# Build from the repository root:
#   docker build -f docker/browser-node.Dockerfile -t browser-stream/browser-node .
# (No Docker engine exists on the development machines, so this file is not built in CI.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p browser-node --bin browser-node \
    && cp target/release/browser-node /usr/local/bin/browser-node

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        ca-certificates chromium xvfb x11vnc xauth websockify socat \
        fonts-liberation fonts-noto-color-emoji \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/browser-node /usr/local/bin/browser-node
# Chromium writes its profile and caches under HOME; the pod mounts /tmp as an emptyDir.
ENV HOME=/tmp CHROMIUM=/usr/bin/chromium
USER 65532:65532
WORKDIR /tmp
ENTRYPOINT ["/usr/local/bin/browser-node"]
CMD ["serve"]
