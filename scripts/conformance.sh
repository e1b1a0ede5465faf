#!/usr/bin/env bash
# The OCI distribution-spec conformance suite, pinned, against one registry.
#
#   scripts/conformance.sh build
#       builds the suite once into
#       ${XDG_CACHE_HOME:-~/.cache}/registry-stack/conformance
#   scripts/conformance.sh run --url URL --label NAME --out DIR [--username U --password P]
#       runs it against URL and compares the failing groups with
#       test/conformance/known-failures.txt: any other failing group fails,
#       and so does a known failure that now passes (update the list).
#       DIR receives results.yaml, junit.xml, report.html, the console
#       output and failed-groups.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
version=v0.0.0-20260831232431-97274622c111
cache=$CACHE_ROOT/conformance
bin=$cache/conformance-$version
known=test/conformance/known-failures.txt

die() {
	echo "conformance.sh: $*" >&2
	exit 1
}

build() {
	[ -x "$bin" ] && return 0
	mkdir -p "$cache"
	local gobin
	gobin=$(mktemp -d)
	GOBIN=$gobin go install "github.com/opencontainers/distribution-spec/conformance@$version" ||
		die "cannot build the conformance suite $version"
	mv "$gobin/conformance" "$bin"
	rmdir "$gobin"
}

run() {
	local url="" label="" out="" username="" password=""
	while [ $# -gt 0 ]; do
		case $1 in
		--url)
			url=$2
			shift 2
			;;
		--label)
			label=$2
			shift 2
			;;
		--out)
			out=$2
			shift 2
			;;
		--username)
			username=$2
			shift 2
			;;
		--password)
			password=$2
			shift 2
			;;
		*) die "unknown argument $1" ;;
		esac
	done
	if [ -z "$url" ] || [ -z "$label" ] || [ -z "$out" ]; then die "run needs --url, --label and --out"; fi
	build
	mkdir -p "$out"
	local tls=disabled host=${url#*://}
	case $url in https://*) tls=enabled ;; esac
	local t0=$SECONDS
	# The suite exits non-zero on any failing group; the verdict below
	# decides with the known-failures list instead.
	(cd "$out" && env OCI_REGISTRY="${host%/}" OCI_TLS=$tls OCI_RESULTS_DIR="$out" OCI_LOG=error \
		OCI_REPO1="conformance-$label/repo1" OCI_REPO2="conformance-$label/repo2" \
		OCI_USERNAME="$username" OCI_PASSWORD="$password" \
		"$bin" >"$out/console.txt" 2>&1) || true
	[ -s "$out/console.txt" ] || die "$label: the suite printed nothing"
	grep -qE '^  OCI Conformance Test/[^/]+: ' "$out/console.txt" || {
		cat "$out/console.txt" >&2
		die "$label: no group results in the suite's output"
	}
	# Group lines look like "  OCI Conformance Test/<group>: Pass|FAIL|Skip|Disabled".
	sed -nE 's#^  OCI Conformance Test/([^/]+): (.*)$#\1|\2#p' "$out/console.txt" >"$out/groups.txt"
	grep '|FAIL$' "$out/groups.txt" | cut -d'|' -f1 | sort -u >"$out/failed-groups.txt" || true
	# An empty list (only comments) is the goal, not an error.
	{ grep -vE '^\s*(#|$)' "$known" || true; } | cut -d'|' -f1 | sed 's/[[:space:]]*$//' | sort -u >"$out/known.txt"

	local total failed status=0
	total=$(wc -l <"$out/groups.txt")
	failed=$(wc -l <"$out/failed-groups.txt")
	echo "conformance [$label]: $((total - failed))/$total groups pass, $failed fail ($((SECONDS - t0))s; report in $out)"
	local g
	while read -r g; do
		[ -n "$g" ] || continue
		echo "conformance [$label]: UNEXPECTED FAILURE: $g"
		grep -A6 -E "^  OCI Conformance Test/$g: FAIL" "$out/console.txt" | grep -E '^\s+- ' | head -5 | sed 's/^/    /'
		status=1
	done < <(comm -23 "$out/failed-groups.txt" "$out/known.txt")
	while read -r g; do
		[ -n "$g" ] || continue
		if grep -qE "^$g\|(Pass|Skip)$" "$out/groups.txt"; then
			echo "conformance [$label]: known failure now PASSES: $g (remove it from $known)"
			status=1
		fi
	done < <(comm -13 "$out/failed-groups.txt" "$out/known.txt")
	while read -r g; do
		[ -n "$g" ] && echo "conformance [$label]: known failure: $g"
	done <"$out/failed-groups.txt"
	return $status
}

case ${1:-} in
build) build ;;
run)
	shift
	run "$@"
	;;
*) die "usage: $0 build | run --url URL --label NAME --out DIR [--username U --password P]" ;;
esac
