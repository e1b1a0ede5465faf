# syntax=docker/dockerfile:1
# registry-stack: one static binary on an empty base image.
#   docker build -t registry-stack .
#   docker run -p 5000:5000 registry-stack serve --auth none --listen :5000

FROM golang:1.26-bookworm AS build
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
VOLUME /data
EXPOSE 5000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/registry-stack", "probe"]
ENTRYPOINT ["/registry-stack"]
CMD ["serve"]
