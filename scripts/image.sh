#!/usr/bin/env bash
# Packs a static registry-stack binary built on the host into a container
# image with Containerfile.prebuilt: no base image is pulled, so it works
# with no public registry in reach. `make image` runs it on `make build`'s
# binary; the image end-to-end test runs it too.
#
#   scripts/image.sh BINARY [TAG]      (TAG: localhost/registry-stack:dev)
#
# podman (with --format docker, which keeps HEALTHCHECK) or, without
# podman, docker. CONTAINERS_CONF and CONTAINERS_STORAGE_CONF, when set,
# choose podman's configuration and storage as usual.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: scripts/image.sh BINARY [TAG]" >&2
	exit 2
fi
bin=$1
tag=${2:-localhost/registry-stack:dev}
certs=/etc/ssl/certs/ca-certificates.crt

if [ ! -x "$bin" ]; then
	echo "image: $bin is not an executable file; build it with make build" >&2
	exit 1
fi
# An empty image has no C library: a cgo binary would not start in it.
if ! go version -m "$bin" 2>/dev/null | grep -q 'CGO_ENABLED=0'; then
	echo "image: $bin is not a static Go binary (want build setting CGO_ENABLED=0); build it with make build" >&2
	exit 1
fi
if [ ! -r "$certs" ]; then
	echo "image: no $certs on this host for the registry-stack to trust; install ca-certificates" >&2
	exit 1
fi

if command -v podman >/dev/null 2>&1; then
	engine=(podman build --format docker)
elif command -v docker >/dev/null 2>&1; then
	engine=(docker build)
else
	echo "image: neither podman nor docker is installed" >&2
	exit 1
fi

# The build context holds exactly what the Containerfile copies.
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$root/Containerfile.prebuilt" "$ctx/Containerfile"
cp "$bin" "$ctx/registry-stack"
cp "$certs" "$ctx/ca-certificates.crt"
mkdir "$ctx/data"

"${engine[@]}" -f "$ctx/Containerfile" -t "$tag" "$ctx"
echo "image: built $tag"
