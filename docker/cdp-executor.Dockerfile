# syntax=docker/dockerfile:1
# The cdp-executor service image. Build from the repository root:
#   docker build -f docker/cdp-executor.Dockerfile -t browser-stream/cdp-executor .
# (No Docker engine exists on the development machines, so this file is not built in CI;
# the Kubernetes manifests in k8s/ refer to the image it makes.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p cdp-executor --bin cdp-executor \
    && cp target/release/cdp-executor /usr/local/bin/cdp-executor

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/cdp-executor /usr/local/bin/cdp-executor
USER 65532:65532
EXPOSE 50052
ENV CDP_EXECUTOR_LISTEN=0.0.0.0:50052
ENTRYPOINT ["/usr/local/bin/cdp-executor"]
CMD ["serve"]
