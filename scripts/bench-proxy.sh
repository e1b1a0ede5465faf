#!/usr/bin/env bash
# Measures a pull-through cache: the time of a first pull of a ~100 MiB
# image (4 layers of 25 MiB) through a cache that has nothing yet (it
# fetches from its upstream while it serves) against a second pull of the
# same image (served from the cache's storage), and a pull straight from
# the upstream for reference. Upstream and cache are registry-stack in
# auth mode none on loopback; each run starts a fresh cache. Best of RUNS
# (default 3) runs.
#
#   scripts/bench-proxy.sh [RUNS]
#
# Needs go, curl and the oras CLI (scripts/deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
runs=${1:-3}
work=$(mktemp -d)
export REGISTRY_STACK_HTTP_DRAIN_DELAY=0s
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
oras=$(command -v oras || echo "$(go env GOPATH)/bin/oras")

go build -o "$work/registry-stack" ./cmd/registry-stack
up_port=$(free_port)
"$work/registry-stack" serve --auth none --listen "127.0.0.1:$up_port" --data-dir "$work/upstream" 2>"$work/upstream.log" &
wait_url "http://127.0.0.1:$up_port/readyz" 30 0.1 $!
mkdir -p "$work/image"
for l in a b c d; do head -c $((25 << 20)) /dev/urandom >"$work/image/$l.bin"; done
(cd "$work/image" && "$oras" push --plain-http --no-tty "127.0.0.1:$up_port/lab/big:v1" a.bin b.bin c.bin d.bin >/dev/null)

# pull_ms HOST:PORT prints how long pulling lab/big:v1 from it took, in ms.
pull_ms() {
	rm -rf "$work/out"
	local start
	start=$(now_ms)
	"$oras" pull --plain-http --no-tty -o "$work/out" "$1/lab/big:v1" >/dev/null
	echo $(($(now_ms) - start))
	cmp -s "$work/out/a.bin" "$work/image/a.bin" || { echo "bench-proxy: pulled content differs" >&2; exit 1; }
}
best() { sort -n | head -1; }

direct=() first=() second=()
for i in $(seq 1 "$runs"); do
	direct+=("$(pull_ms "127.0.0.1:$up_port")")
	port=$(free_port)
	rm -rf "$work/cache"
	"$work/registry-stack" serve --auth none --listen "127.0.0.1:$port" --data-dir "$work/cache" \
		--proxy-remote-url "http://127.0.0.1:$up_port" 2>"$work/cache.log" &
	pid=$!
	wait_url "http://127.0.0.1:$port/readyz" 30 0.1 "$pid"
	first+=("$(pull_ms "127.0.0.1:$port")")
	second+=("$(pull_ms "127.0.0.1:$port")")
	kill "$pid"
	wait "$pid" 2>/dev/null || true
done
printf 'pull of a 100 MiB image (4 x 25 MiB layers), best of %d, ms:\n' "$runs"
printf '  straight from the upstream        %6d\n' "$(printf '%s\n' "${direct[@]}" | best)"
printf '  first pull through the cache      %6d\n' "$(printf '%s\n' "${first[@]}" | best)"
printf '  second pull (from the cache)      %6d\n' "$(printf '%s\n' "${second[@]}" | best)"
printf '  all runs: direct %s; first %s; second %s\n' "${direct[*]}" "${first[*]}" "${second[*]}"
