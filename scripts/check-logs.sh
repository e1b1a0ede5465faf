#!/usr/bin/env bash
# Fails when the logs registry-stack wrote during a test run contain a
# credential: a JWT (every docker token is one), an Authorization header
# value, or a test user's password (test passwords carry the marker "-Pa55-").
#
#   scripts/check-logs.sh DIR...   (default: artifacts/stack-logs and artifacts/conformance)
set -euo pipefail
cd "$(dirname "$0")/.."
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(artifacts/stack-logs artifacts/conformance)
files=()
for d in "${dirs[@]}"; do
	[ -d "$d" ] || continue
	while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$d" -name '*.log' -print0)
done
if [ ${#files[@]} -eq 0 ]; then
	echo "check-logs: no stack logs found in ${dirs[*]}" >&2
	exit 1
fi
patterns=(
	'eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.' # a JWT
	# an Authorization value: a token with something other than lower-case
	# letters inside, so prose ("with Basic authentication") is no match
	'(Basic|Bearer) [A-Za-z0-9+/_=.-]{4,}[A-Z0-9+/_=][A-Za-z0-9+/_=.-]{4,}'
	'-Pa55-'                                       # a test user's password
)
status=0
for p in "${patterns[@]}"; do
	if grep -E -l -- "$p" "${files[@]}" >/dev/null 2>&1; then
		echo "check-logs: credential pattern /$p/ found in:" >&2
		grep -E -l -- "$p" "${files[@]}" | sed 's/^/  /' >&2
		status=1
	fi
done
lines=$(cat "${files[@]}" | wc -l)
echo "check-logs: ${#files[@]} log files, $lines lines, no credentials: $([ $status = 0 ] && echo yes || echo NO)"
exit $status
