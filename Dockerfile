# Latchkey as a container image: the static binary on distroless (no shell,
# no package manager), running as an unprivileged user, data in /data.
#
#   docker build --build-arg VERSION=$(git describe --tags --always) -t latchkey .
#   docker run -p 3000:3000 -v latchkey-data:/data latchkey serve --dev
#
# Configure it with LATCHKEY_* variables (every flag has one; see
# docs/production.md), e.g. LATCHKEY_ISSUER, LATCHKEY_DATABASE_URL_FILE,
# LATCHKEY_MASTER_KEY_FILE=/run/secrets/master-key. deploy/compose.yaml runs
# two nodes on PostgreSQL and Redis behind nginx.
#
# GO_IMAGE and BASE_IMAGE may name a mirror of the same images.
ARG GO_IMAGE=golang:1.26
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot

# The build runs on the builder's own platform and cross-compiles, so that a
# multi-platform build (docker buildx --platform linux/amd64,linux/arm64)
# needs no emulation.
FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS
ARG TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
      -ldflags "-s -w -X github.com/latchkey/latchkey/internal/buildinfo.version=${VERSION}" \
      -o /out/latchkey ./cmd/latchkey
# /data, for the volume, owned by the runtime user below (COPY --chown).
RUN mkdir -p -m 0700 /out/rootfs/data

FROM ${BASE_IMAGE}
ARG VERSION=dev
LABEL org.opencontainers.image.title="Latchkey" \
      org.opencontainers.image.description="Self-hosted passwordless login server that speaks Auth0's Authentication API" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /out/latchkey /latchkey
COPY --from=build --chown=65532:65532 /out/rootfs/ /
COPY LICENSE /usr/share/doc/latchkey/LICENSE
# nonroot in distroless; numeric so that runAsNonRoot can check it.
USER 65532:65532
ENV LATCHKEY_ADDR=0.0.0.0:3000 \
    LATCHKEY_OPS_ADDR=0.0.0.0:9464 \
    LATCHKEY_DATA_DIR=/data
VOLUME ["/data"]
# 3000: the Authentication and Management APIs and the login page.
# 9464: the ops listener (/health/live, /health/ready, /metrics): publish it
# only to your monitoring network, never to the internet.
EXPOSE 3000 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/latchkey", "healthcheck"]
ENTRYPOINT ["/latchkey"]
CMD ["serve"]
