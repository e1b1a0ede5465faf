#!/usr/bin/env bash
# Runs every Go fuzz target (func FuzzX(f *testing.F) in a _test.go file
# under cmd/ or internal/) for a bounded time, one after the other:
#
#   scripts/fuzz.sh                  (make fuzz) FUZZTIME each, default 7s
#   FUZZTIME=5m scripts/fuzz.sh      longer, to look for bugs
#   scripts/fuzz.sh FuzzLoad         only the targets whose name matches
#
# FUZZ_PARALLEL is the number of fuzzing workers per target (default 1: the
# figures stay comparable between runs, and the machine stays usable).
#
# It prints the executions per target, and with $TEST_ARTIFACTS_DIR set
# writes them to fuzz.txt there and as FIGURE lines to figures.txt, with
# each target's log in fuzz/. A failing input is written by go test to the
# package's testdata/fuzz/FuzzX/: commit it, with the fix, as a regression
# input (plain `go test` runs it from then on).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

fuzztime=${FUZZTIME:-7s}
parallel=${FUZZ_PARALLEL:-1}
only=${1:-}
artifacts=${TEST_ARTIFACTS_DIR:-}
if [[ -n $artifacts ]]; then
	mkdir -p "$artifacts/fuzz"
	: >"$artifacts/fuzz.txt"
fi

# "./internal/pkg FuzzX" per target, sorted.
targets=$(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' cmd internal |
	sed -E 's#^(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#./\1 \2#' | sort)
if [[ -n $only ]]; then
	targets=$(grep -E " [^ ]*${only}[^ ]*\$" <<<"$targets" || true)
fi
if [[ -z $targets ]]; then
	echo "fuzz.sh: no fuzz targets${only:+ matching $only}" >&2
	exit 1
fi

failed=()
t0=$(now_ms)
while read -r pkg name; do
	log=$(mktemp)
	status=ok
	# -fuzzminimizetime bounds the minimising of each new input, which
	# otherwise may take a minute of the target's time and report nothing.
	if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" -fuzzminimizetime 2s \
		-parallel "$parallel" "$pkg" </dev/null >"$log" 2>&1; then
		if grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
			# Go 1.26's fuzz coordinator may report its own -fuzztime
			# deadline as a failure, with no input (go.dev/issue/75804,
			# fixed in Go 1.27): the target did not fail.
			status="ok, coordinator's deadline race"
		else
			status=FAILED
			failed+=("$name")
			cat "$log"
		fi
	fi
	# go test prints "fuzz: elapsed: 10s, execs: 123456 (12345/sec), ..."
	# every 3 s and once at the end.
	execs=$(grep -oE 'execs: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+' || echo 0)
	line="$name ($pkg): $execs executions in $fuzztime"
	if [[ $status == ok ]]; then echo "$line"; else echo "$line ($status)"; fi
	if [[ -n $artifacts ]]; then
		echo "$line ($status)" >>"$artifacts/fuzz.txt"
		echo "FIGURE fuzz executions $name ($pkg): $execs in $fuzztime" >>"$artifacts/figures.txt"
		cp "$log" "$artifacts/fuzz/$name.log"
	fi
	rm -f "$log"
done <<<"$targets"
echo "fuzzing took $(elapsed "$t0") for $(wc -l <<<"$targets") targets"

if ((${#failed[@]})); then
	echo "fuzz targets FAILED: ${failed[*]} (failing inputs are in the packages' testdata/fuzz/)"
	exit 1
fi
