#!/usr/bin/env bash
# The quick checks a developer runs before pushing: no root, no Keycloak, no
# browser, nothing installed system-wide (staticcheck goes to GOPATH/bin).
#
#   scripts/check.sh        (make check) lint, the Go unit tests (-short) and
#                           the UI's node tests when node is installed
#   scripts/check.sh lint   gofmt, go vet, staticcheck (also a step of test.sh)
#   scripts/check.sh race   the Go tests of ./internal/... with the race
#                           detector (make race)
#
# The tests that need Keycloak or Chromium skip here: CI and the KEYCLOAK_*
# variables are unset (CI=true would make those tests fail instead of skip),
# and the browser tests (cmd/registry-stack/ui_e2e_test.go, all named TestUI*)
# are left out, since they drive Chromium whenever it is installed.
# `make test` runs all of them.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

unset CI KEYCLOAK_URL KEYCLOAK_ADMIN_USER KEYCLOAK_ADMIN_PASSWORD

failures=()
step() { # step NAME CMD...: runs one check, reports it, keeps going
	local name=$1 t0 rc=0
	shift
	t0=$(now_ms)
	echo "== $name"
	"$@" || rc=$?
	if ((rc == 0)); then
		echo "-- $name: ok ($(elapsed "$t0"))"
	else
		echo "-- $name: FAILED ($(elapsed "$t0"))"
		failures+=("$name")
	fi
}

gofmt_check() {
	local unformatted
	unformatted=$(gofmt -l cmd internal web)
	[[ -z $unformatted ]] && return 0
	echo "gofmt needed (gofmt -w these):"
	echo "$unformatted"
	return 1
}

staticcheck_run() {
	local bin
	bin=$(staticcheck_bin) || return 1
	"$bin" ./...
}

node_tests() {
	if ! command -v node >/dev/null 2>&1; then
		echo "node not found: UI unit tests not run (make test installs it)"
		return 0
	fi
	node --test --test-reporter=dot web/
}

# keycloak_pin_check: scripts/keycloak.sh and configs/compose.yaml run the
# same Keycloak version.
keycloak_pin_check() {
	local script compose
	script=$(sed -nE 's/^KEYCLOAK_VERSION="\$\{KEYCLOAK_VERSION:-([^}]+)\}"$/\1/p' scripts/keycloak.sh)
	compose=$(sed -nE 's#^ *image: *[^ ]*/keycloak/keycloak:([^ ]+) *$#\1#p' configs/compose.yaml)
	if [[ -z $script || $script != "$compose" ]]; then
		echo "Keycloak version: ${script:-?} in scripts/keycloak.sh, ${compose:-?} in configs/compose.yaml; pin the same one"
		return 1
	fi
}

lint() {
	step "gofmt" gofmt_check
	step "keycloak version pin" keycloak_pin_check
	step "go vet" go vet ./...
	step "staticcheck" staticcheck_run
}

case ${1:-all} in
all)
	lint
	step "go unit tests (-short, no Keycloak, no browser)" go test -short -skip '^TestUI' ./...
	step "ui unit tests (node --test)" node_tests
	;;
lint) lint ;;
race) step "go tests -race ./internal/..." go test -race ./internal/... ;;
*)
	echo "usage: $0 [lint | race]" >&2
	exit 2
	;;
esac

if ((${#failures[@]})); then
	echo "FAILED: ${failures[*]}"
	exit 1
fi
echo "all checks passed"
