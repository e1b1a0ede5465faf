# make run     full local demo: Keycloak + registry-stack in keycloak mode
# make check   quick checks, no root, no Keycloak, no browser: gofmt, go vet,
#              staticcheck, the Go unit tests, the UI's node tests
# make race    the Go tests of ./internal/... with the race detector
# make fuzz    every Go fuzz target for FUZZTIME each (default 7s), one
#              after the other: make fuzz FUZZTIME=5m
# make test    every test, exactly what CI runs (installs what it needs as
#              root, starts its own Keycloak)
# make build   the static binary ./registry-stack
# make image   the container image localhost/registry-stack:dev from that
#              binary (podman, or docker), no base image pulled:
#              make image IMAGE=registry.example/registry-stack:1.2.3
# make sbom     the release build (as the Dockerfile builds it) in dist/,
#               and its CycloneDX SBOM dist/registry-stack.cdx.json, read
#               from that binary's own build info: make sbom VERSION=1.2.3
.PHONY: run check race fuzz test build image sbom

VERSION ?= dev
IMAGE ?= localhost/registry-stack:dev

run:
	scripts/demo.sh

check:
	scripts/check.sh

race:
	scripts/check.sh race

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

test:
	scripts/test.sh

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o registry-stack ./cmd/registry-stack

image: build
	scripts/image.sh registry-stack $(IMAGE)

# The SBOM describes the file that ships, so the target builds it with the
# Dockerfile's flags and asks that binary, not go.mod.
sbom:
	mkdir -p dist
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o dist/registry-stack ./cmd/registry-stack
	dist/registry-stack version --cyclonedx > dist/registry-stack.cdx.json.tmp
	mv dist/registry-stack.cdx.json.tmp dist/registry-stack.cdx.json
