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

start_stack() { # start_stack LOG ARGS...: starts the stack on a random port, waits for /readyz, sets STACK_URL
  local log=$1 addr=""; shift
  : >"$log" # exists before the background job opens it, for the polling below
  "$work/registry-stack" serve --listen 127.0.0.1:0 --data-dir "$(mktemp -d "$work/data-XXXX")" --log-format json "$@" >"$log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    addr=$(sed -nE 's/.*"msg":"registry-stack listening".*"addr":"([^"]+)".*/\1/p' "$log" | head -1) || addr=""
    if [ -n "$addr" ] && curl -fsS -o /dev/null "http://$addr/readyz" 2>/dev/null; then
      STACK_URL="http://$addr"
      return 0
    fi
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
# Authentication must not change what the registry can do.
if extra=$(comm -13 "$out/noauth/failed-groups.txt" "$out/keycloak/failed-groups.txt") && [ -n "$extra" ]; then
  echo "conformance: groups that fail only in keycloak mode: $extra" >&2
  status=1
fi
if grep -q -- "$password" "$out/keycloak-stack.log"; then
  echo "conformance: the stack logged the user's password" >&2
  status=1
fi
exit $status
