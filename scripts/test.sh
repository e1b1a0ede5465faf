#!/usr/bin/env bash
# Runs every registry-stack test, the way CI does: installs what the tests
# need, starts one real Keycloak for the whole run, then lint, Go tests
# (unit, end to end with real clients and a real browser), the UI's node
# tests and the OCI conformance suite in both auth modes.
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
gopath=$(go env GOPATH)
export PATH="$PATH:$gopath/bin"

step() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - start))"; }
failures=()
record() { # record NAME CMD...: run a step, remember failure, keep going
  local name=$1; shift
  step "$name"
  if "$@"; then echo "-- $name: ok"; else echo "-- $name: FAILED"; failures+=("$name"); fi
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

lint() {
  local unformatted
  unformatted=$(gofmt -l cmd internal web 2>/dev/null || true)
  if [ -n "$unformatted" ]; then echo "gofmt needed:"; echo "$unformatted"; return 1; fi
  go vet ./... && staticcheck ./...
}
record "lint (gofmt, go vet, staticcheck)" lint
ui_tests() { # the full report goes to artifacts; the summary and any failure to the console
  local rc=0
  node --test --test-reporter=spec web/ >"$artifacts/node-test.log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then grep -E -A8 "✖" "$artifacts/node-test.log" | head -80; fi
  grep -E "^ℹ (tests|pass|fail)" "$artifacts/node-test.log" || true
  return "$rc"
}
record "ui unit tests (node --test)" ui_tests
go_tests() {
  go test -count=1 -timeout 20m ./... 2>&1 | tee "$artifacts/go-test.log"
  return "${PIPESTATUS[0]}"
}
record "go tests" go_tests
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
