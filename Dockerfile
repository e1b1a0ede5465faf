# syntax=docker/dockerfile:1
# registry-stack: one static binary on an empty base image, built from
# source in a Go container.
#   docker build -t registry-stack .
#   docker run -p 5000:5000 -v registry-data:/data registry-stack serve --auth none
# Without access to a public registry for the Go image, `make image` packs
# the binary `make build` made on the host with Containerfile.prebuilt.
# The final stage from FROM scratch on must stay identical to that file's
# (the test TestImageFilesMatch checks it).
# Base images are named in full: podman and buildah resolve no short names
# by default.

FROM docker.io/library/golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
      -o /out/registry-stack ./cmd/registry-stack \
 && mkdir -p /out/data

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/registry-stack /registry-stack
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
# In a container the loopback-only default would be unreachable.
ENV REGISTRY_STACK_LISTEN=:5000 \
    REGISTRY_STACK_DATA_DIR=/data
# A bind-mounted host directory keeps its owner: give it to 65532
# (install -d -o 65532 -g 65532 DIR), or use a named volume.
VOLUME /data
EXPOSE 5000
# Docker and podman --format docker keep HEALTHCHECK; the OCI image format
# has no place for it (podman's default drops it with a warning).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/registry-stack", "probe"]
ENTRYPOINT ["/registry-stack"]
CMD ["serve"]
