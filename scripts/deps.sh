#!/usr/bin/env bash
# Installs what the tests, the demo and scripts/bench.sh need on a fresh
# Debian machine: Chromium, skopeo, podman with runc, unzip, curl, Maven (which brings a Java
# runtime for Keycloak), Node.js, awk, iproute2 and time (apt), then the Go modules,
# staticcheck, oras, cosign and crane (GOPATH/bin). Safe to run again: it skips what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v skopeo >/dev/null 2>&1 || need+=(skopeo)
command -v podman >/dev/null 2>&1 || need+=(podman)
# podman runs the image's containers with runc: crun, which podman pulls in
# by default, refuses hosts with cgroups v1 and v2 mixed.
command -v runc >/dev/null 2>&1 || need+=(runc)
command -v unzip >/dev/null 2>&1 || need+=(unzip)
command -v curl >/dev/null 2>&1 || need+=(curl)
# The CA certificates scripts/image.sh puts into the image.
[ -r /etc/ssl/certs/ca-certificates.crt ] || need+=(ca-certificates)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v awk >/dev/null 2>&1 || need+=(mawk)
# ip (network namespaces) for the air-gapped test.
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# GNU time (peak RSS) for scripts/bench.sh airgap.
[ -x /usr/bin/time ] || need+=(time)
if ((${#need[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing ${need[*]}; install them (sudo apt-get install ${need[*]}) or run as root" >&2
		exit 1
	fi
	echo "deps: apt-get install ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go mod download
staticcheck_bin >/dev/null
# The oras CLI for the client tests (cross-repository copies, artifacts).
oras_version=v1.3.6
if ! command -v oras >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/oras" ]; then
	echo "deps: go install oras $oras_version"
	go install "oras.land/oras/cmd/oras@$oras_version"
fi
# The cosign CLI for the signing tests (OCI 1.1 referrers, offline). From
# source: 575 s (239 modules downloaded and built) on 2 shared, busy cores.
cosign_version=v2.6.5
if ! command -v cosign >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/cosign" ]; then
	echo "deps: go install cosign $cosign_version (builds for several minutes)"
	go install "github.com/sigstore/cosign/v2/cmd/cosign@$cosign_version"
fi
# The crane CLI for the bundle round-trip tests (crane validate).
crane_version=v0.22.1
if ! command -v crane >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/crane" ]; then
	echo "deps: go install crane $crane_version"
	go install "github.com/google/go-containerregistry/cmd/crane@$crane_version"
fi
