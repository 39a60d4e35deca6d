# syntax=docker/dockerfile:1
# The verification service image. Build from the repository root:
#   docker build -f docker/verification.Dockerfile -t browser-stream/verification .
# (No Docker engine exists on the development machines, so this file is not built in CI;
# the Kubernetes manifests in k8s/ refer to the image it makes.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p verification --bin verification \
    && cp target/release/verification /usr/local/bin/verification

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/verification /usr/local/bin/verification
# Non-root; the SQLite default needs a writable directory, PostgreSQL (production) does not.
USER 65532:65532
WORKDIR /tmp
EXPOSE 50051
ENV VERIFICATION_LISTEN=0.0.0.0:50051
ENTRYPOINT ["/usr/local/bin/verification"]
CMD ["serve"]
