# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Source it, don't run it:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It defines variables and functions only; it changes no shell option and
# no directory. The scripts are formatted with shfmt's defaults (tabs) and
# checked with `shellcheck -x scripts/*.sh`.

# CACHE_ROOT holds what the scripts download or build once (Keycloak, the
# conformance suite): the XDG cache directory, ~/.cache/registry-stack by
# default.
# shellcheck disable=SC2034 # used by the scripts that source this file
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/registry-stack"

# STATICCHECK_VERSION is the staticcheck that lint runs with.
STATICCHECK_VERSION=v0.8.2

now_ms() { date +%s%3N; }

# elapsed START_MS prints the time since START_MS (from now_ms) as "12.3s".
elapsed() {
	local d=$(($(now_ms) - $1))
	printf '%d.%ds' $((d / 1000)) $(((d % 1000) / 100))
}

# port_in_use PORT succeeds when something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# free_port prints a TCP port nobody listens on at 127.0.0.1 (20000-39999).
# It can still be taken before the caller binds it; a server that can listen
# on port 0 and report its address avoids that race altogether.
free_port() {
	local p
	for _ in $(seq 1 100); do
		p=$((20000 + RANDOM % 20000))
		if ! port_in_use "$p"; then
			echo "$p"
			return 0
		fi
	done
	echo "free_port: no free TCP port found on 127.0.0.1" >&2
	return 1
}

# wait_for SECONDS INTERVAL CMD... runs CMD every INTERVAL seconds until it
# exits 0 (ready: returns 0) or with 2 or more (gave up: returns that
# status), or until SECONDS have passed (returns 1). CMD exits 1 for "not
# yet".
wait_for() {
	local deadline=$((SECONDS + $1)) interval=$2 rc
	shift 2
	while :; do
		rc=0
		"$@" || rc=$?
		((rc != 1)) && return "$rc"
		((SECONDS < deadline)) || return 1
		sleep "$interval"
	done
}

# url_ready URL [PID] exits 0 when URL answers 2xx, 2 when process PID (if
# given) is gone, else 1. HTTP_STATUS holds the last status ("000": no answer).
url_ready() {
	HTTP_STATUS=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "$1" 2>/dev/null) || true
	[[ $HTTP_STATUS == 2?? ]] && return 0
	[[ -n ${2:-} ]] && ! kill -0 "$2" 2>/dev/null && return 2
	return 1
}

# wait_url URL [SECONDS [INTERVAL [PID]]] waits until URL answers 2xx
# (default: 30 s, polled every 0.1 s). Returns 0 when ready, 1 on timeout,
# 2 when process PID exited first; HTTP_STATUS holds the last status.
wait_url() {
	HTTP_STATUS=
	wait_for "${2:-30}" "${3:-0.1}" url_ready "$1" "${4:-}"
}

# staticcheck_bin prints the staticcheck to run: the one on PATH, else the
# one `go install` puts in $(go env GOBIN) or $(go env GOPATH)/bin,
# installed there (no root needed) if missing.
staticcheck_bin() {
	local bin dir
	if bin=$(command -v staticcheck); then
		echo "$bin"
		return 0
	fi
	dir=$(go env GOBIN)
	[[ -n $dir ]] || dir="$(go env GOPATH)/bin"
	bin=$dir/staticcheck
	if [[ ! -x $bin ]]; then
		echo "go install staticcheck $STATICCHECK_VERSION into $dir" >&2
		go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" >&2 || return 1
	fi
	echo "$bin"
}
