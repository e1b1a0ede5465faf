#!/usr/bin/env bash
# Runs every registry-stack test, the way CI does: installs what the tests
# need, starts one real Keycloak for the whole run, then lint, Go tests
# (unit, end to end with real clients and a real browser), every Go fuzz
# target for a bounded time, the UI's node tests and the OCI conformance
# suite in every auth mode.
#
# Artifacts (logs, screenshots, conformance reports) go to ./artifacts.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
artifacts=$root/artifacts
rm -rf "$artifacts"
mkdir -p "$artifacts"
export TEST_ARTIFACTS_DIR=$artifacts
# The Go tools deps.sh installs (oras, cosign) are found by the tests on PATH.
PATH="$PATH:$(go env GOPATH)/bin"
export PATH

step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }
failures=()
record() { # record NAME CMD...: run a step, remember failure, keep going
	local name=$1
	shift
	step "$name"
	if "$@"; then
		echo "-- $name: ok"
	else
		echo "-- $name: FAILED"
		failures+=("$name")
	fi
}

step "dependencies"
scripts/deps.sh

step "keycloak"
kc_env=$(mktemp)
scripts/keycloak.sh fetch
scripts/keycloak.sh start --env-file "$kc_env"
trap 'scripts/keycloak.sh stop --env-file "$kc_env" || true' EXIT
set -a
# shellcheck source=/dev/null
source "$kc_env"
set +a

# Network namespaces a killed earlier run left behind (its cleanups never ran).
if command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
	for ns in $(ip netns list 2>/dev/null | awk '/^rs-test-/ {print $1}'); do
		ip netns delete "$ns" || true
		rm -rf "/etc/netns/$ns"
	done
fi

record "lint (gofmt, go vet, staticcheck)" scripts/check.sh lint
ui_tests() { # the full report goes to artifacts; the summary and any failure to the console
	local rc=0
	node --test --test-reporter=spec web/ >"$artifacts/node-test.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then grep -E -A8 "✖" "$artifacts/node-test.log" | head -80; fi
	grep -E "^ℹ (tests|pass|fail)" "$artifacts/node-test.log" || true
	return "$rc"
}
record "ui unit tests (node --test)" ui_tests
go_test() { # go_test ARGS...: go test ARGS, to the console and appended to go-test.log
	go test "$@" 2>&1 | tee -a "$artifacts/go-test.log"
	return "${PIPESTATUS[0]}"
}
# ./internal/... (key refresh, token endpoint, server, stack: where the
# concurrency is) runs with the race detector; the rest, chiefly the end to
# end tests of cmd/registry-stack, without it. Measured on a 2-core machine
# shared with other jobs: the cmd/registry-stack tests that need no Keycloak
# took 81 s plain and 296 s with -race, so the whole package (315-464 s
# plain with Keycloak) would come near the 20-minute timeout raced, while
# ./internal/... with -race runs in 22-50 s once built. The price is a second
# build of distribution and its dependencies: from an empty build cache the
# race build of ./internal/... took 275 s, the plain one 303 s.
go_tests() {
	local rc=0 rest
	: >"$artifacts/go-test.log"
	go_test -race -count=1 -timeout 20m ./internal/... || rc=1
	rest=$(go list ./... | grep -v '/internal/')
	# shellcheck disable=SC2086 # one package per word
	# A hang guard only: the end to end tests start three Keycloaks of their own,
	# each allowed 600 s on a loaded machine.
	go_test -count=1 -timeout 40m $rest || rc=1
	return $rc
}
record "go tests (./internal/... with -race)" go_tests
# Every fuzz target for a bounded time: 16 targets at 7 s took 3 minutes
# with a warm build cache on a loaded 2-core machine. The executions per
# target go to artifacts/fuzz.txt and figures.txt.
record "go fuzz targets (${FUZZTIME:-7s} each)" scripts/fuzz.sh
record "oci conformance" scripts/conformance-stack.sh
record "no credentials in the stack's logs" scripts/check-logs.sh "$artifacts/stack-logs" "$artifacts/conformance"

step "done"
if [ -s "$artifacts/figures.txt" ]; then
	echo "figures measured during the run:"
	sed 's/^/  /' "$artifacts/figures.txt"
fi
total=$(($(date +%s) - start))
echo "total time: ${total}s"
if ((${#failures[@]})); then
	echo "FAILED: ${failures[*]}"
	exit 1
fi
echo "all test steps passed"
