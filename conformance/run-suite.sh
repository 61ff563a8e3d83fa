#!/usr/bin/env bash
# The main job's entry point (scripts/main.sh): the whole suite, the matrix written to FILE and
# the per-column traces beside it in <dir of FILE>/conformance/.
#
#   conformance/run-suite.sh --out report/conformance.json [run.sh options...]
#
# Exit status as run.sh: 1 when anything diverges unexplained or errs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=""
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--out) out=$2; shift 2 ;;
	*) args+=("$1"); shift ;;
	esac
done
[ -n "$out" ] || { echo "usage: run-suite.sh --out FILE [run.sh options]" >&2; exit 2; }
dir=$(dirname "$out")/conformance
mkdir -p "$dir"
status=0
"$here/run.sh" --out-dir "$dir" "${args[@]}" || status=$?
[ -f "$dir/conformance.json" ] && cp "$dir/conformance.json" "$out"
exit $status
