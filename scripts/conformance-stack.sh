#!/usr/bin/env bash
# Runs the OCI distribution-spec conformance suite against registry-stack in
# every auth mode: no auth, keycloak mode and oidc mode against the running Keycloak
# (KEYCLOAK_URL, KEYCLOAK_ADMIN_USER, KEYCLOAK_ADMIN_PASSWORD, as written by
# scripts/keycloak.sh start --env-file). Any failure not listed in
# test/conformance/known-failures.txt fails the run, in either mode.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
work=$(mktemp -d)
pids=()
# The stacks here stop when the script is done with them: no drain.
export REGISTRY_STACK_HTTP_DRAIN_DELAY=0s
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
out=${TEST_ARTIFACTS_DIR:-$PWD/artifacts}/conformance
mkdir -p "$out"

go build -o "$work/registry-stack" ./cmd/registry-stack
scripts/conformance.sh build

# stack_addr LOG PID sets STACK_ADDR once the stack logged the address it
# listens on (wait_for's contract: 0 found, 1 not yet, 2 the stack exited).
# shellcheck disable=SC2317 # called through wait_for
stack_addr() {
	STACK_ADDR=$(sed -nE 's/.*"msg":"registry-stack listening".*"addr":"([^"]+)".*/\1/p' "$1" | head -1) || STACK_ADDR=""
	[ -n "$STACK_ADDR" ] && return 0
	kill -0 "$2" 2>/dev/null || return 2
	return 1
}

# start_stack LOG ARGS... starts the stack, waits for /readyz and sets
# STACK_URL. It listens on port 0 and reports the port the kernel chose in
# its log, so no other process can take the port in between.
start_stack() {
	local log=$1 pid
	shift
	: >"$log" # exists before the background job opens it, for the polling below
	"$work/registry-stack" serve --listen 127.0.0.1:0 --data-dir "$(mktemp -d "$work/data-XXXX")" --log-format json "$@" >"$log" 2>&1 &
	pid=$!
	pids+=("$pid")
	if wait_for 30 0.1 stack_addr "$log" "$pid" && wait_url "http://$STACK_ADDR/readyz" 30 0.1 "$pid"; then
		STACK_URL="http://$STACK_ADDR"
		return 0
	fi
	echo "registry-stack did not become ready; log:" >&2
	cat "$log" >&2
	return 1
}

status=0
start_stack "$out/noauth-stack.log" --auth none
scripts/conformance.sh run --url "$STACK_URL" --label noauth --out "$out/noauth" || status=1

if [ -z "${KEYCLOAK_URL:-}" ]; then
	if [ "${CI:-}" = true ]; then
		echo "conformance: CI=true and no Keycloak (KEYCLOAK_URL unset)" >&2
		exit 1
	fi
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

# oidc mode: registry-stack issues the tokens; the policy lets the
# conformance user do everything (the suite pushes to repositories of its
# own choosing).
"$work/registry-stack" bootstrap --keycloak-url "$KEYCLOAK_URL" --admin-user "$KEYCLOAK_ADMIN_USER" \
	--admin-password "$KEYCLOAK_ADMIN_PASSWORD" --realm "$realm" --oidc-client registry-stack \
	--user "$user" --password "$password" >/dev/null
cat >"$work/oidc.yaml" <<YAML
auth: oidc
policy:
  admins: ["user:$user"]
YAML
start_stack "$out/oidc-stack.log" --config "$work/oidc.yaml" --keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm"
scripts/conformance.sh run --url "$STACK_URL" --label oidc --username "$user" --password "$password" --out "$out/oidc" || status=1
if extra=$(comm -13 "$out/noauth/failed-groups.txt" "$out/oidc/failed-groups.txt") && [ -n "$extra" ]; then
	echo "conformance: groups that fail only in oidc mode: $extra" >&2
	status=1
fi
for mode in keycloak oidc; do
	if grep -q -- "$password" "$out/$mode-stack.log"; then
		echo "conformance: the stack logged the user's password in $mode mode" >&2
		status=1
	fi
done
exit $status
