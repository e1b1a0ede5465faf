#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against registry-stack in
# both auth modes: no auth, and keycloak mode against the running Keycloak
# (KEYCLOAK_URL, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD, as written by
# scripts/keycloak.sh start --env-file). Any failure not listed in
# test/conformance/known-failures.txt fails the run, in either mode.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
# shellcheck disable=SC2317 # called by the trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
out=${TEST_ARTIFACTS_DIR:-$PWD/artifacts}/conformance
mkdir -p "$out"

go build -o "$work/registry-stack" ./cmd/registry-stack
scripts/conformance.sh build

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start_stack() { # start_stack LOG ARGS...: starts the stack, waits for /readyz, sets STACK_URL
  local log=$1 port; shift
  port=$(free_port)
  "$work/registry-stack" serve --listen "127.0.0.1:$port" --data-dir "$work/data-$port" --log-format json "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null && { STACK_URL="http://127.0.0.1:$port"; return 0; }
    sleep 0.1
  done
  echo "registry-stack did not become ready; log:" >&2
  cat "$log" >&2
  return 1
}

status=0
start_stack "$out/noauth-stack.log" --auth none
scripts/conformance.sh run --url "$STACK_URL" --label noauth --out "$out/noauth" || status=1

if [ -z "${KEYCLOAK_URL:-}" ]; then
  if [ "${CI:-}" = true ]; then echo "conformance: CI=true and no Keycloak (KEYCLOAK_URL unset)" >&2; exit 1; fi
  echo "conformance: KEYCLOAK_URL unset; skipping keycloak mode"
  exit $status
fi
realm=conformance-$RANDOM
user=conformance
password=conf-$RANDOM-$RANDOM
"$work/registry-stack" bootstrap --keycloak-url "$KEYCLOAK_URL" --admin-user "$KEYCLOAK_ADMIN_USER" \
  --admin-password "$KEYCLOAK_ADMIN_PASSWORD" --realm "$realm" --service registry \
  --user "$user" --password "$password" >/dev/null
start_stack "$out/keycloak-stack.log" --auth keycloak --keycloak-url "$KEYCLOAK_URL" \
  --keycloak-realm "$realm" --keycloak-service registry
scripts/conformance.sh run --url "$STACK_URL" --label keycloak --username "$user" --password "$password" --out "$out/keycloak" || status=1
if grep -q -- "$password" "$out/keycloak-stack.log"; then
  echo "conformance: the stack logged the user's password" >&2
  status=1
fi
exit $status
