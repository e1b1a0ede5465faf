#!/usr/bin/env bash
# Measures registry-stack's figures side by side with the standalone
# distribution registry v3.1.2 (same filesystem storage, same machine, same
# run): cold build time, binary size, start to /readyz, idle RSS, and push /
# pull MB/s of a 256 MiB blob. With KEYCLOAK_URL, KEYCLOAK_ADMIN_USER and
# KEYCLOAK_ADMIN_PASSWORD set (scripts/keycloak.sh start --env-file), also
# the token endpoint's latency through the stack vs straight to Keycloak.
# Then the read load: 64 connections for 20 s of manifest GETs and blob
# HEADs in every auth mode (keycloak and oidc given a Keycloak), with the
# errors, p99 and RSS growth against their targets (0, 50 ms, 16 MiB).
#
#   scripts/bench.sh         # everything
#   scripts/bench.sh load    # the read load only
#   scripts/bench.sh airgap  # export of a 1 GiB, 10-layer image vs skopeo copy
#
# Needs go and curl (scripts/deps.sh installs curl) and awk (in every
# Debian base system).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
work=$(mktemp -d)
# The stacks here stop when the script is done with them: no drain.
export REGISTRY_STACK_HTTP_DRAIN_DELAY=0s
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
# div A B FORMAT prints A / B with the printf FORMAT (e.g. %.1f).
div() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { printf f, a / b }'; }
mib() { div "$(stat -c %s "$1")" 1048576 %.1f; }
# The start-up times are polled every 10 ms.
wait_ready() { wait_url "$1" 30 0.01 "$2"; }

what=${1:-all}
case $what in all | load | airgap) ;; *)
	echo "usage: scripts/bench.sh [all|load|airgap]" >&2
	exit 2
	;;
esac

# load_mode LABEL USER PASSWORD REPO SERVE-ARGS...: starts the stack, pushes
# one image, measures the read load and the RSS it costs, stops the stack.
load_failures=0
load_mode() {
	local label=$1 user=$2 password=$3 repo=$4 port pid before after out
	shift 4
	port=$(free_port)
	"$work/registry-stack" serve --listen "127.0.0.1:$port" --public-url "http://127.0.0.1:$port" \
		--data-dir "$work/load-$label" --log-level error "$@" &
	pid=$!
	wait_ready "http://127.0.0.1:$port/readyz" $pid
	# A short warm-up run, so that RSS growth is the load's, not the
	# first requests' (caches, pools).
	LOAD_BENCH_PASSWORD=$password "$work/load-bench" -url "http://127.0.0.1:$port" -repo "$repo" -user "$user" \
		-conns 64 -duration 2s -label "$label warm-up" >/dev/null
	before=$(rss_kib $pid)
	out=$(LOAD_BENCH_PASSWORD=$password "$work/load-bench" -url "http://127.0.0.1:$port" -repo "$repo" -user "$user" \
		-conns 64 -duration 20s -label "$label")
	after=$(rss_kib $pid)
	kill $pid
	wait $pid 2>/dev/null || true
	echo "$out"
	echo "$label: RSS $((before / 1024)) MiB before, $((after / 1024)) MiB after: growth $(div $((after - before)) 1024 %.1f) MiB"
	local errors p99
	errors=$(sed -n 's/.*, \([0-9]*\) errors,.*/\1/p' <<<"$out" | head -1)
	p99=$(sed -n 's/.* p99 \([0-9.]*\) ms.*/\1/p' <<<"$out" | head -1)
	if [ "$errors" != 0 ] || awk -v p="$p99" 'BEGIN { exit !(p >= 50) }' || [ $((after - before)) -ge $((16 * 1024)) ]; then
		echo "$label: MISSED a target (0 errors, p99 under 50 ms, RSS growth under 16 MiB)"
		load_failures=$((load_failures + 1))
	else
		echo "$label: targets met (0 errors, p99 under 50 ms, RSS growth under 16 MiB)"
	fi
}

load() {
	echo "== read load: 64 connections for 20 s, manifest GET and blob HEAD"
	go build -o "$work/load-bench" ./cmd/load-bench
	[ -x "$work/registry-stack" ] || go build -o "$work/registry-stack" ./cmd/registry-stack
	load_mode none "" "" bench/load --auth none
	if [ -z "${KEYCLOAK_URL:-}" ]; then
		echo "(KEYCLOAK_URL unset: keycloak and oidc modes not measured)"
	else
		local realm=load-$RANDOM password=load-$RANDOM-$RANDOM admin=(--keycloak-url "$KEYCLOAK_URL" --admin-user "$KEYCLOAK_ADMIN_USER" --admin-password "$KEYCLOAK_ADMIN_PASSWORD")
		"$work/registry-stack" bootstrap "${admin[@]}" --realm "$realm" --service registry --user bench --password "$password" >/dev/null 2>&1
		load_mode keycloak bench "$password" team/load --auth keycloak \
			--keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm" --keycloak-service registry
		"$work/registry-stack" bootstrap "${admin[@]}" --realm "$realm-oidc" --demo >/dev/null 2>&1
		load_mode oidc alice alice-password team-a/load --config configs/policy-demo.yaml \
			--keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm-oidc"
	fi
	return $((load_failures > 0))
}

# airgap: one stack holds a 1 GiB image of 10 random layers; registry-stack
# export (to a directory, to a .tar) and skopeo copy docker:// oci: copy
# it in turns, three rounds on the same stack. The last round's bundles are
# then imported, in turns again, each into a fresh stack of its own:
# registry-stack import of the directory and of the .tar, skopeo copy oci:
# docker://, and a resumed import (the directory import SIGKILLed once
# half of the bytes are in the target's data directory, then run again).
# MB/s is the bundle's bytes over wall time, best round of each (the
# machine may be shared); peak RSS is the highest of the rounds, from
# /usr/bin/time -v. BENCH_AIRGAP_BYTES sets another image size.
airgap() {
	local size=${BENCH_AIRGAP_BYTES:-$((1 << 30))}
	echo "== air gap: export and import of a $(div "$size" 1048576 %.0f) MiB, 10-layer image, best of 3 rounds"
	command -v skopeo >/dev/null || {
		echo "skopeo missing (scripts/deps.sh installs it)" >&2
		return 1
	}
	[ -x /usr/bin/time ] || {
		echo "/usr/bin/time missing (scripts/deps.sh installs it: Debian package time)" >&2
		return 1
	}
	[ -x "$work/registry-stack" ] || go build -o "$work/registry-stack" ./cmd/registry-stack
	go build -o "$work/image-bench" ./cmd/image-bench
	local port pid ref round label source_digest
	port=$(free_port)
	"$work/registry-stack" serve --auth none --listen "127.0.0.1:$port" --data-dir "$work/airgap-data" --log-level warn &
	pid=$!
	wait_ready "http://127.0.0.1:$port/readyz" $pid
	ref=127.0.0.1:$port/bench/airgap:1.0
	"$work/image-bench" --ref "$ref" --layers 10 --size "$size"
	source_digest=$(airgap_digest "127.0.0.1:$port")
	declare -A best_ms peak_kib bundle_bytes
	# airgap_timed LABEL COMMAND...: runs it, keeps the best time and the
	# highest peak RSS of LABEL.
	airgap_timed() {
		local label=$1 t0 ms kib
		shift
		sync
		t0=$(now_ms)
		/usr/bin/time -v -o "$work/airgap.time" "$@" >"$work/airgap.log" 2>&1 || {
			cat "$work/airgap.log" "$work/airgap.time" >&2
			return 1
		}
		ms=$(($(now_ms) - t0))
		kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/airgap.time")
		echo "$label, round $round: $(div $ms 1000 %.1f) s, peak RSS $((kib / 1024)) MiB"
		if [ -z "${best_ms[$label]:-}" ] || [ "$ms" -lt "${best_ms[$label]}" ]; then
			best_ms[$label]=$ms
		fi
		if [ -z "${peak_kib[$label]:-}" ] || [ "$kib" -gt "${peak_kib[$label]}" ]; then
			peak_kib[$label]=$kib
		fi
	}
	# airgap_export LABEL OUT COMMAND...: runs it into OUT; the last round
	# keeps OUT for the imports.
	airgap_export() {
		local label=$1 out=$2
		shift 2
		airgap_timed "$label" "$@"
		bundle_bytes[$label]=$(du -sb "$out" | cut -f1)
		[ "$round" = 3 ] || rm -rf "$out"
	}
	for round in 1 2 3; do
		airgap_export "registry-stack export (directory)" "$work/export-dir" \
			"$work/registry-stack" export --output "$work/export-dir" "$ref"
		airgap_export "registry-stack export (.tar)" "$work/export.tar" \
			"$work/registry-stack" export --output "$work/export.tar" "$ref"
		airgap_export "skopeo copy docker:// oci:" "$work/skopeo-dir" \
			skopeo copy --src-tls-verify=false "docker://$ref" "oci:$work/skopeo-dir:bench/airgap:1.0"
	done
	kill $pid
	wait $pid 2>/dev/null || true
	rm -rf "$work/airgap-data"

	local port_b pid_b data_b=$work/import-data
	# airgap_target starts a fresh, empty stack on port_b; airgap_check
	# stops it after checking that it serves the source's manifest. Its log
	# goes to a file: the SIGKILLed imports make it log errors by design.
	airgap_target() {
		rm -rf "$data_b"
		"$work/registry-stack" serve --auth none --listen "127.0.0.1:$port_b" --data-dir "$data_b" --log-level warn \
			>"$work/import-stack.log" 2>&1 &
		pid_b=$!
		wait_ready "http://127.0.0.1:$port_b/readyz" "$pid_b"
	}
	airgap_check() {
		local got
		got=$(airgap_digest "127.0.0.1:$port_b")
		kill "$pid_b"
		wait "$pid_b" 2>/dev/null || true
		rm -rf "$data_b"
		[ "$got" = "$source_digest" ] || {
			cat "$work/import-stack.log" >&2
			echo "$1: the target serves bench/airgap:1.0 as ${got:-nothing}, the source as $source_digest" >&2
			return 1
		}
	}
	# airgap_import LABEL COMMAND...: runs it into a fresh stack.
	airgap_import() {
		airgap_target
		airgap_timed "$@"
		airgap_check "$1"
	}
	local half killed_ms in_bytes blob_bytes ipid t0 resume=() lines=()
	half=$((bundle_bytes["registry-stack export (directory)"] / 2))
	for round in 1 2 3; do
		port_b=$(free_port)
		airgap_import "registry-stack import (directory)" \
			"$work/registry-stack" import --to "127.0.0.1:$port_b" "$work/export-dir"
		port_b=$(free_port)
		airgap_import "registry-stack import (.tar)" \
			"$work/registry-stack" import --to "127.0.0.1:$port_b" "$work/export.tar"
		port_b=$(free_port)
		airgap_import "skopeo copy oci: docker://" \
			skopeo copy --dest-tls-verify=false --preserve-digests "oci:$work/skopeo-dir:bench/airgap:1.0" "docker://127.0.0.1:$port_b/bench/airgap:1.0"

		# The resume: SIGKILL once half of the bytes are in the target's
		# data directory (blobs and uploads under way), then the rerun.
		port_b=$(free_port)
		airgap_target
		t0=$(now_ms)
		"$work/registry-stack" import --to "127.0.0.1:$port_b" "$work/export-dir" >"$work/airgap-killed.log" 2>&1 &
		ipid=$!
		# du can miss an upload that is moved into place while it counts.
		while
			in_bytes=$({ du -sb "$data_b" 2>/dev/null || true; } | cut -f1)
			[ "${in_bytes:-0}" -lt "$half" ]
		do
			kill -0 $ipid 2>/dev/null || {
				cat "$work/airgap-killed.log" >&2
				echo "the import to be interrupted ended before half of the bytes were in" >&2
				return 1
			}
			sleep 0.05
		done
		kill -KILL $ipid
		killed_ms=$(($(now_ms) - t0))
		wait $ipid 2>/dev/null || true
		in_bytes=$({ du -sb "$data_b" 2>/dev/null || true; } | cut -f1)
		blob_bytes=$({ du -sb "$data_b/registry/docker/registry/v2/blobs" 2>/dev/null || echo 0; } | cut -f1)
		airgap_timed "registry-stack import, resumed (directory)" \
			"$work/registry-stack" import --to "127.0.0.1:$port_b" "$work/export-dir"
		airgap_check "registry-stack import, resumed (directory)"
		resume+=("round $round: SIGKILL after $(div "$killed_ms" 1000 %.1f) s with $(div "$in_bytes" 1e6 %.1f) MB in the data directory ($(div "$blob_bytes" 1e6 %.1f) MB of them in blobs); the rerun: $(sed -n 's/.*; blobs: //p' "$work/airgap.log")")
	done
	echo "resumed import, each round:"
	printf '  %s\n' "${resume[@]}"

	echo "bundle on disk (du -sb): directory $(du -sb "$work/export-dir" | cut -f1) bytes, .tar $(du -sb "$work/export.tar" | cut -f1) bytes, skopeo oci: directory $(du -sb "$work/skopeo-dir" | cut -f1) bytes"
	echo "result digest of every import (checked against the source): $source_digest"
	# Each line: the command, the bundle it reads or writes, best time, MB/s
	# of the bundle's bytes over that time, peak RSS of the highest round.
	lines=(
		"registry-stack export (directory)=registry-stack export (directory)"
		"registry-stack export (.tar)=registry-stack export (.tar)"
		"skopeo copy docker:// oci:=skopeo copy docker:// oci:"
		"registry-stack import (directory)=registry-stack export (directory)"
		"registry-stack import (.tar)=registry-stack export (.tar)"
		"skopeo copy oci: docker://=skopeo copy docker:// oci:"
		"registry-stack import, resumed (directory)=registry-stack export (directory)"
	)
	local line bundle
	for line in "${lines[@]}"; do
		label=${line%%=*} bundle=${bundle_bytes[${line#*=}]}
		if [[ $label == *resumed* ]]; then
			echo "$label: best $(div "${best_ms[$label]}" 1000 %.1f) s to finish the import (the whole import: best $(div "${best_ms["registry-stack import (directory)"]}" 1000 %.1f) s), peak RSS $((peak_kib[$label] / 1024)) MiB"
			continue
		fi
		echo "$label: $bundle bytes, best $(div "${best_ms[$label]}" 1000 %.1f) s: $(div "$bundle" $((best_ms[$label] * 1000)) %.1f) MB/s, peak RSS $((peak_kib[$label] / 1024)) MiB"
	done
	rm -rf "$work/export-dir" "$work/export.tar" "$work/skopeo-dir"
}

# airgap_digest HOST:PORT prints the digest the registry serves
# bench/airgap:1.0 under (empty when it has none).
airgap_digest() {
	curl -sfI -m 10 -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://$1/v2/bench/airgap/manifests/1.0" |
		tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" {print $2}'
}

if [ "$what" = load ]; then
	load
	exit
fi
if [ "$what" = airgap ]; then
	airgap
	exit
fi

echo "== build"
go build -o "$work/registry-bench" ./cmd/registry-bench
t0=$(now_ms)
GOCACHE="$work/gocache" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/registry-stack" ./cmd/registry-stack
echo "registry-stack cold build: $(div $(($(now_ms) - t0)) 1000 %.1f) s (empty GOCACHE, modules already downloaded)"
echo "registry-stack binary: $(mib "$work/registry-stack") MiB (stripped, static)"
(cd "$work" && mkdir -p distmod && cd distmod && go mod init bench >/dev/null 2>&1 &&
	go get github.com/distribution/distribution/v3/cmd/registry@v3.1.2 >/dev/null 2>&1 &&
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$work/registry" github.com/distribution/distribution/v3/cmd/registry)
echo "distribution registry binary: $(mib "$work/registry") MiB"

echo "== registry-stack"
port=$(free_port)
t0=$(now_ms)
"$work/registry-stack" serve --auth none --listen "127.0.0.1:$port" --data-dir "$work/rs-data" --log-level warn &
pid=$!
wait_ready "http://127.0.0.1:$port/readyz" $pid
echo "start to /readyz=200: $(($(now_ms) - t0)) ms"
sleep 2
echo "idle RSS: $(($(rss_kib $pid) / 1024)) MiB"
"$work/registry-bench" --url "http://127.0.0.1:$port" --label registry-stack
kill $pid
wait $pid 2>/dev/null || true

echo "== distribution registry v3.1.2 (standalone)"
port=$(free_port)
cat >"$work/config.yml" <<YAML
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage:
  filesystem: {rootdirectory: $work/dist-data}
  cache: {blobdescriptor: inmemory}
  delete: {enabled: true}
http: {addr: 127.0.0.1:$port}
YAML
t0=$(now_ms)
"$work/registry" serve "$work/config.yml" &
pid=$!
wait_ready "http://127.0.0.1:$port/v2/" $pid
echo "start to /v2/=200: $(($(now_ms) - t0)) ms"
sleep 2
echo "idle RSS: $(($(rss_kib $pid) / 1024)) MiB"
"$work/registry-bench" --url "http://127.0.0.1:$port" --label distribution
kill $pid
wait $pid 2>/dev/null || true

if [ -z "${KEYCLOAK_URL:-}" ]; then
	echo "(KEYCLOAK_URL unset: token latency not measured)"
	load
	exit
fi
echo "== token endpoint: through registry-stack vs straight to Keycloak"
go build -o "$work/token-bench" ./cmd/token-bench
realm=bench-$RANDOM
password=bench-$RANDOM-$RANDOM
"$work/registry-stack" bootstrap --keycloak-url "$KEYCLOAK_URL" --admin-user "$KEYCLOAK_ADMIN_USER" \
	--admin-password "$KEYCLOAK_ADMIN_PASSWORD" --realm "$realm" --service registry --user bench --password "$password" >/dev/null 2>&1
port=$(free_port)
"$work/registry-stack" serve --auth keycloak --listen "127.0.0.1:$port" --data-dir "$work/kc-data" --log-level warn \
	--keycloak-url "$KEYCLOAK_URL" --keycloak-realm "$realm" --keycloak-service registry &
pid=$!
wait_ready "http://127.0.0.1:$port/readyz" $pid
TOKEN_BENCH_PASSWORD=$password "$work/token-bench" -user bench -n 200 \
	-endpoint "stack=http://127.0.0.1:$port/auth/realms/$realm/protocol/docker-v2/auth" \
	-endpoint "keycloak=$KEYCLOAK_URL/realms/$realm/protocol/docker-v2/auth"
kill $pid
wait $pid 2>/dev/null || true

load
