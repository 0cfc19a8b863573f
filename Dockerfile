# syntax=docker/dockerfile:1
# The three images the Helm charts run, built from this workspace:
#
#   docker build --target quartermaster -t ghcr.io/quartermaster/quartermaster:0.1.0 .
#   docker build --target quartermaster-operator -t ghcr.io/quartermaster/quartermaster-operator:0.1.0 .
#   docker build --target quartermaster-gateway -t ghcr.io/quartermaster/quartermaster-gateway:0.1.0 .
#
# Each runs its binary as its entrypoint (the charts pass only arguments),
# as UID 65532 on distroless (glibc, CA certificates, nothing else). The
# binaries need only libc, libm and libgcc_s; migrations, the plan catalog
# and the CRDs are compiled in. tests/charts checks the charts against this
# file.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# One build for the three binaries; the caches survive between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p quartermaster -p operator -p gateway \
    && mkdir -p /out \
    && cp target/release/quartermaster target/release/quartermaster-operator \
        target/release/quartermaster-gateway /out/

FROM gcr.io/distroless/cc-debian12:nonroot AS quartermaster
COPY --from=build /out/quartermaster /usr/local/bin/quartermaster
USER 65532:65532
EXPOSE 8080 9464
ENTRYPOINT ["/usr/local/bin/quartermaster"]
CMD ["serve"]

FROM gcr.io/distroless/cc-debian12:nonroot AS quartermaster-operator
COPY --from=build /out/quartermaster-operator /usr/local/bin/quartermaster-operator
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/quartermaster-operator"]
CMD ["run"]

FROM gcr.io/distroless/cc-debian12:nonroot AS quartermaster-gateway
COPY --from=build /out/quartermaster-gateway /usr/local/bin/quartermaster-gateway
USER 65532:65532
# The OpenAI API, then metrics and /healthz.
EXPOSE 8080 9090
ENTRYPOINT ["/usr/local/bin/quartermaster-gateway"]
