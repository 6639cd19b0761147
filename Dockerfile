# syntax=docker/dockerfile:1
# ferry as a Function Compute 3.0 custom container: `ferry serve` listening on
# $FC_SERVER_PORT (FC sets it; 9000 otherwise), with ferry.wasm beside it.
#
#   docker build -t ferry .
#   docker run --rm -p 9000:9000 -e FERRY_TOKEN=... ferry --listen 0.0.0.0:9000
#
# Outside Function Compute, `ferry serve` binds loopback unless it has a
# bearer token (FERRY_TOKEN or --token), hence the token above.

# --- build: the component (wasm32-wasip2) and the host, with the toolchain
# the workspace pins (rust-version 1.95).
FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferry-guest --target wasm32-wasip2 \
 && cargo build --release --locked -p ferry-host \
 && mkdir -p /out \
 && cp target/wasm32-wasip2/release/ferry_guest.wasm /out/ferry.wasm \
 && cp target/release/ferry /out/ferry
# Compile the component once now, so a cold start reads ferry.cwasm instead
# of compiling (the copy itself stops at once: there are no credentials).
# If the instance's CPU lacks a feature the build machine had, wasmtime
# refuses the cache and ferry compiles again at start.
RUN /out/ferry copy http://127.0.0.1:9/none oss://none/none --region cn-hangzhou \
      --component /out/ferry.wasm >/dev/null 2>&1; test -s /out/ferry.cwasm

# --- run: glibc and libgcc only, no shell, the image's unprivileged user
# (nonroot, 65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build --chown=65532:65532 /out/ /opt/ferry/
ENV PATH=/opt/ferry:/usr/local/bin:/usr/bin:/bin \
    FERRY_COMPONENT=/opt/ferry/ferry.wasm \
    FERRY_LOG=warn
USER 65532:65532
EXPOSE 9000
ENTRYPOINT ["ferry", "serve"]
