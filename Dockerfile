# syntax=docker/dockerfile:1
#
# Traffic Tacos container image: one binary, `tacos-container`, whose mode is TACOS_MODE
# (or its first argument):
#   lambda  (default) plays the Lambda function named by TACOS_FUNCTION or the image CMD (_HANDLER)
#   http    serves every route of the contract on 0.0.0.0:$PORT (default 8080)
#   worker  drains the payment follow-up SQS queue (TACOS_FOLLOWUP_QUEUE_URL)
#   seed    creates the administrator and the demo events, then exits
#
# Two images from this file (docs/deploy.md):
#   docker build -t traffic-tacos:lambda .                   # Lambda base image (the last stage)
#   docker build --target server -t traffic-tacos:server .   # minimal non-root image for Kubernetes
# Build for Lambda's arm64 with `--platform linux/arm64` (buildx), as template.yaml does.

ARG RUST_VERSION=1.95.0

# ---- build ---------------------------------------------------------------------------------------
# Amazon Linux 2023, the OS of the Lambda base image, so the binary links against the same glibc.
FROM public.ecr.aws/amazonlinux/amazonlinux:2023 AS build
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:$PATH \
    CARGO_TERM_COLOR=never
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# curl-minimal ships with the base image; gcc/cmake build the C parts of the TLS stack (aws-lc).
# Build tools only, never shipped: their versions are whatever this AL2023 release has (DL3041).
# hadolint ignore=DL3041
RUN dnf install -y --setopt=install_weak_deps=False gcc gcc-c++ make cmake tar gzip \
    && dnf clean all \
    && curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
       | sh -s -- -y --no-modify-path --profile minimal --default-toolchain "${RUST_VERSION}" \
    && rustc --version
WORKDIR /src
COPY . .
# Cache mounts keep the registry and the build directory between builds; the binaries are copied
# out of the cached target directory so that later stages can see them: the server's without the
# Lambda runtime glue, the Lambda variant's with it (feature `lambda`; only the last crates rebuild).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tacos-container \
    && install -D -m 0755 target/release/tacos-container /out/server/tacos-container \
    && cargo build --release --locked -p tacos-container --features lambda \
    && install -D -m 0755 target/release/tacos-container /out/lambda/tacos-container

# ---- server: Kubernetes (http / worker / seed modes) ------------------------------------------------
# distroless/cc: glibc, libgcc and CA certificates, no shell; runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot AS server
COPY --from=build /out/server/tacos-container /usr/local/bin/tacos-container
ENV TACOS_MODE=http \
    PORT=8080
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/tacos-container"]

# ---- lambda (default): any function, chosen by the image CMD --------------------------------------
# The base image's entry point exports the CMD as _HANDLER and runs ${LAMBDA_RUNTIME_DIR}/bootstrap
# (under the runtime interface emulator when started outside Lambda, for local tests).
FROM public.ecr.aws/lambda/provided:al2023 AS lambda
COPY --from=build /out/lambda/tacos-container ${LAMBDA_RUNTIME_DIR}/bootstrap
ENV TACOS_MODE=lambda
# The function to play; override per function (ImageConfig.Command in a Lambda definition).
CMD ["ops"]
