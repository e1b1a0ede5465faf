#!/usr/bin/env bash
# Fetches, starts and stops a throwaway Keycloak (start-dev, docker protocol
# enabled) for development, tests and demos of registry-stack.
#
#   scripts/keycloak.sh fetch
#   scripts/keycloak.sh start [--port N] [--env-file PATH] [--features LIST]
#                             [--timeout SECONDS]
#   scripts/keycloak.sh stop  --env-file PATH | --pid PID
#   scripts/keycloak.sh pause  --env-file PATH   (stop, keep data)
#   scripts/keycloak.sh resume --env-file PATH   (start again, same port and data)
#
# Environment:
#   KEYCLOAK_VERSION        distribution version (default 26.7.3)
#   XDG_CACHE_HOME          the distribution lives in
#                           ${XDG_CACHE_HOME:-$HOME/.cache}/registry-stack/keycloak
#   KEYCLOAK_PORT           HTTP port (default: a free port)
#   KEYCLOAK_FEATURES       value for --features (default docker; empty = none)
#   KEYCLOAK_START_TIMEOUT  seconds to wait for readiness (default 600: a loaded 2-core machine has needed 295)
#   KC_BOOTSTRAP_ADMIN_USERNAME / KC_BOOTSTRAP_ADMIN_PASSWORD (default admin/admin)
#   JAVA_HOME               Java 17+ to run Keycloak with (default: java on PATH)
#
# Realms, clients and users are created with `registry-stack bootstrap`
# (see scripts/demo.sh); the realm export in configs/keycloak/ is for
# configs/compose.yaml, which imports it.
#
# Each instance runs from its own copy of the distribution (its own data and
# build state) under <cache>/keycloak/instances/, so parallel runs don't
# collide; `stop` removes that copy.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"
# The one Keycloak version pin: configs/compose.yaml runs the same tag
# (scripts/check.sh lint fails when they differ).
KEYCLOAK_VERSION="${KEYCLOAK_VERSION:-26.7.3}"
CACHE_DIR="$CACHE_ROOT/keycloak"
DIST_ZIP="$CACHE_DIR/keycloak-quarkus-dist-$KEYCLOAK_VERSION.zip"
DIST_DIR="$CACHE_DIR/keycloak-$KEYCLOAK_VERSION"

log() { echo "keycloak.sh: $*" >&2; }
die() {
	echo "keycloak.sh: error: $*" >&2
	exit 1
}
usage() {
	# The header comment (up to the first non-comment line) is the help text.
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
	exit "${1:-2}"
}

# java_major prints the major version of the given java binary (8 for 1.8).
java_major() {
	local v
	v="$("$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}')"
	v="${v#1.}"
	echo "${v%%.*}"
}

# pick_java exports JAVA_HOME for kc.sh: the caller's JAVA_HOME if it is
# Java 17+, else the java on PATH, else the newest JDK under /usr/lib/jvm.
pick_java() {
	local cand major
	if [[ -n "${JAVA_HOME:-}" ]]; then
		[[ -x "$JAVA_HOME/bin/java" ]] || die "JAVA_HOME=$JAVA_HOME has no bin/java"
		major="$(java_major "$JAVA_HOME/bin/java")"
		((major >= 17)) || die "JAVA_HOME=$JAVA_HOME is Java $major; Keycloak $KEYCLOAK_VERSION needs Java 17+"
		return
	fi
	if cand="$(command -v java)"; then
		major="$(java_major "$cand")"
		if ((major >= 17)); then
			JAVA_HOME="$(dirname "$(dirname "$(readlink -f "$cand")")")"
			export JAVA_HOME
			return
		fi
	fi
	local jdks
	mapfile -t jdks < <(printf '%s\n' /usr/lib/jvm/*/ | sort -rV)
	for cand in "${jdks[@]}"; do
		[[ -x "$cand/bin/java" ]] || continue
		major="$(java_major "$cand/bin/java")"
		if ((major >= 17)); then
			JAVA_HOME="${cand%/}"
			export JAVA_HOME
			return
		fi
	done
	die "no Java 17+ found (set JAVA_HOME); Keycloak $KEYCLOAK_VERSION needs Java 17+"
}

cmd_fetch() {
	local t0 out
	t0="$(now_ms)"
	mkdir -p "$CACHE_DIR"
	if [[ -f "$DIST_ZIP" ]]; then
		log "using cached $DIST_ZIP"
	else
		command -v mvn >/dev/null || die "mvn not found; it is needed to fetch org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip"
		log "fetching org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip into $CACHE_DIR"
		if ! out="$(mvn -q -B dependency:copy \
			"-Dartifact=org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip" \
			"-DoutputDirectory=$CACHE_DIR" 2>&1)"; then
			echo "$out" >&2
			die "mvn dependency:copy of org.keycloak:keycloak-quarkus-dist:$KEYCLOAK_VERSION:zip failed"
		fi
		[[ -f "$DIST_ZIP" ]] || die "mvn succeeded but $DIST_ZIP is missing"
	fi
	if [[ ! -x "$DIST_DIR/bin/kc.sh" ]]; then
		command -v unzip >/dev/null || die "unzip not found; it is needed to unpack $DIST_ZIP"
		# Unpack next to the target and rename, so an interrupted unzip never
		# leaves a half-populated distribution that later runs would trust.
		local tmp="$CACHE_DIR/.unpack.$$"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		unzip -q "$DIST_ZIP" -d "$tmp" || {
			rm -rf "$tmp"
			die "unzip of $DIST_ZIP failed"
		}
		[[ -x "$tmp/keycloak-$KEYCLOAK_VERSION/bin/kc.sh" ]] || {
			rm -rf "$tmp"
			die "$DIST_ZIP has no keycloak-$KEYCLOAK_VERSION/bin/kc.sh"
		}
		rm -rf "$DIST_DIR"
		mv "$tmp/keycloak-$KEYCLOAK_VERSION" "$DIST_DIR"
		rm -rf "$tmp"
	fi
	echo "keycloak.sh: fetch took $(elapsed "$t0") ($DIST_DIR)"
}

# launch runs kc.sh from an instance directory and waits until the realm
# endpoint answers; it sets LAUNCHED_PID. On failure it stops what it
# started and removes the instance unless KEEP_INSTANCE=true.
launch() {
	local inst="$1" port="$2" log_file="$3" timeout="$4"
	shift 4
	export KC_BOOTSTRAP_ADMIN_USERNAME="${KC_BOOTSTRAP_ADMIN_USERNAME:-admin}"
	export KC_BOOTSTRAP_ADMIN_PASSWORD="${KC_BOOTSTRAP_ADMIN_PASSWORD:-admin}"
	# Liquibase, which sets up Keycloak's database, would otherwise report
	# usage to its vendor (it looks up config.liquibase.com at first start).
	export JAVA_OPTS_APPEND="${JAVA_OPTS_APPEND:+$JAVA_OPTS_APPEND }-Dliquibase.analytics.enabled=false"
	log "starting Keycloak $KEYCLOAK_VERSION on 127.0.0.1:$port (java: $JAVA_HOME, log: $log_file)"
	nohup "$inst/bin/kc.sh" "$@" >>"$log_file" 2>&1 </dev/null &
	local pid=$!

	local url="http://127.0.0.1:$port/realms/master" rc=0
	wait_url "$url" "$timeout" 1 "$pid" || rc=$?
	if ((rc != 0)); then
		tail -n 60 "$log_file" >&2 || true
		((rc == 2)) || stop_pid "$pid"
		[[ "${KEEP_INSTANCE:-false}" == true ]] || rm -rf "$inst"
		((rc == 2)) && die "Keycloak exited during startup (pid $pid); see $log_file"
		die "Keycloak not ready at $url within ${timeout}s (last HTTP status: ${HTTP_STATUS:-none}); see $log_file"
	fi
	LAUNCHED_PID=$pid
}

cmd_start() {
	local port="${KEYCLOAK_PORT:-}" env_file=""
	local features="${KEYCLOAK_FEATURES-docker}" timeout="${KEYCLOAK_START_TIMEOUT:-600}"
	while (($#)); do
		case "$1" in
		--port)
			port="${2:?--port needs a value}"
			shift 2
			;;
		--env-file)
			env_file="${2:?--env-file needs a value}"
			shift 2
			;;
		--features)
			features="${2?--features needs a value}"
			shift 2
			;;
		--timeout)
			timeout="${2:?--timeout needs a value}"
			shift 2
			;;
		*)
			echo "keycloak.sh: unknown start option: $1" >&2
			usage
			;;
		esac
	done

	cmd_fetch
	pick_java
	[[ -n "$port" ]] || port="$(free_port)" || die "no free TCP port found on 127.0.0.1"
	port_in_use "$port" && die "port $port on 127.0.0.1 is already in use"

	local t0 inst log_file
	t0="$(now_ms)"
	inst="$CACHE_DIR/instances/$KEYCLOAK_VERSION-port$port"
	log_file="$CACHE_DIR/logs/keycloak-port$port.log"
	mkdir -p "$CACHE_DIR/instances" "$CACHE_DIR/logs"
	# A fresh copy per start: clean dev database and no shared build state
	# between instances with other features.
	rm -rf "$inst"
	cp -a "$DIST_DIR" "$inst"

	local args=(start-dev "--http-port=$port" --http-host=127.0.0.1)
	[[ -n "$features" ]] && args+=("--features=$features")

	: >"$log_file"
	launch "$inst" "$port" "$log_file" "$timeout" "${args[@]}"
	[[ -n "$env_file" ]] && write_env "$env_file" "$port" "$LAUNCHED_PID" "$inst" "$log_file" "$features"
	echo "keycloak.sh: start took $(elapsed "$t0") (url http://127.0.0.1:$port, pid $LAUNCHED_PID${env_file:+, env file $env_file})"
}

write_env() {
	local env_file="$1" port="$2" pid="$3" inst="$4" log_file="$5" features="$6"
	mkdir -p "$(dirname "$env_file")"
	# The file holds the admin password: keep it private.
	(
		umask 077
		{
			printf 'export KEYCLOAK_URL=%q\n' "http://127.0.0.1:$port"
			printf 'export KEYCLOAK_ADMIN_USER=%q\n' "$KC_BOOTSTRAP_ADMIN_USERNAME"
			printf 'export KEYCLOAK_ADMIN_PASSWORD=%q\n' "$KC_BOOTSTRAP_ADMIN_PASSWORD"
			printf 'export KEYCLOAK_PID=%q\n' "$pid"
			printf 'export KEYCLOAK_PORT=%q\n' "$port"
			printf 'export KEYCLOAK_INSTANCE_DIR=%q\n' "$inst"
			printf 'export KEYCLOAK_LOG=%q\n' "$log_file"
			printf 'export KEYCLOAK_FEATURES=%q\n' "$features"
		} >"$env_file"
	)
}

# cmd_pause stops the instance but keeps its data; cmd_resume starts it again
# on the same port with the same realms and keys. Tests use the pair to take
# Keycloak away and bring it back.
cmd_pause() {
	local env_file="${2:-}"
	[[ "${1:-}" == --env-file && -f "$env_file" ]] || die "pause needs --env-file PATH"
	local pid
	# shellcheck source=/dev/null
	pid="$(source "$env_file" && echo "$KEYCLOAK_PID")"
	stop_pid "$pid"
	echo "keycloak.sh: paused pid $pid"
}

cmd_resume() {
	local env_file="${2:-}"
	[[ "${1:-}" == --env-file && -f "$env_file" ]] || die "resume needs --env-file PATH"
	# shellcheck source=/dev/null
	source "$env_file"
	pick_java
	local t0 args
	t0="$(now_ms)"
	args=(start-dev "--http-port=$KEYCLOAK_PORT" --http-host=127.0.0.1)
	[[ -n "$KEYCLOAK_FEATURES" ]] && args+=("--features=$KEYCLOAK_FEATURES")
	KC_BOOTSTRAP_ADMIN_USERNAME=$KEYCLOAK_ADMIN_USER KC_BOOTSTRAP_ADMIN_PASSWORD=$KEYCLOAK_ADMIN_PASSWORD \
		KEEP_INSTANCE=true launch "$KEYCLOAK_INSTANCE_DIR" "$KEYCLOAK_PORT" "$KEYCLOAK_LOG" "${KEYCLOAK_START_TIMEOUT:-600}" "${args[@]}"
	write_env "$env_file" "$KEYCLOAK_PORT" "$LAUNCHED_PID" "$KEYCLOAK_INSTANCE_DIR" "$KEYCLOAK_LOG" "$KEYCLOAK_FEATURES"
	echo "keycloak.sh: resume took $(elapsed "$t0") (pid $LAUNCHED_PID)"
}

# stop_pid sends TERM (kc.sh forwards it to java) and escalates to KILL.
stop_pid() {
	local pid="$1"
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 60); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.5
	done
	log "pid $pid still running after 30s; sending KILL"
	pkill -KILL -P "$pid" 2>/dev/null || true
	kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
	local env_file="" pid="" inst=""
	while (($#)); do
		case "$1" in
		--env-file)
			env_file="${2:?--env-file needs a value}"
			shift 2
			;;
		--pid)
			pid="${2:?--pid needs a value}"
			shift 2
			;;
		*)
			echo "keycloak.sh: unknown stop option: $1" >&2
			usage
			;;
		esac
	done
	if [[ -n "$env_file" ]]; then
		[[ -f "$env_file" ]] || die "env file $env_file not found"
		# shellcheck disable=SC1090
		pid="$(source "$env_file" && echo "${KEYCLOAK_PID:-}")"
		# shellcheck disable=SC1090
		inst="$(source "$env_file" && echo "${KEYCLOAK_INSTANCE_DIR:-}")"
		[[ -n "$pid" ]] || die "env file $env_file has no KEYCLOAK_PID"
	fi
	[[ -n "$pid" ]] || die "stop needs --env-file PATH or --pid PID"
	[[ "$pid" =~ ^[0-9]+$ ]] || die "invalid pid: $pid"
	if [[ -z "$inst" && -r "/proc/$pid/cmdline" ]]; then
		# With only a pid, find the instance copy from the kc.sh path it runs.
		local arg
		while IFS= read -r -d '' arg; do
			if [[ "$arg" == */keycloak/instances/*/bin/kc.sh ]]; then
				inst="${arg%/bin/kc.sh}"
				break
			fi
		done <"/proc/$pid/cmdline"
	fi
	stop_pid "$pid"
	# Only delete what this script created: instance copies under the cache.
	if [[ -n "$inst" && "$inst" == */keycloak/instances/*-port[0-9]* && -d "$inst" ]]; then
		rm -rf "$inst"
	fi
	[[ -n "$env_file" ]] && rm -f "$env_file"
	echo "keycloak.sh: stopped pid $pid"
}

case "${1:-}" in
fetch)
	shift
	cmd_fetch "$@"
	;;
start)
	shift
	cmd_start "$@"
	;;
stop)
	shift
	cmd_stop "$@"
	;;
pause)
	shift
	cmd_pause "$@"
	;;
resume)
	shift
	cmd_resume "$@"
	;;
-h | --help | help) usage 0 ;;
*) usage ;;
esac
