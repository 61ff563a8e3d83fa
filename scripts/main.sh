#!/usr/bin/env bash
# The main job: benchmark sweep + conformance suite + one HTML report under report/.
# Small default sweep; --full for the full sweep. Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
mode=${1:---small}

echo "== build"
if [ -f build/build.ninja ]; then meson setup --reconfigure build >build.setup.log 2>&1; else meson setup build >build.setup.log 2>&1; fi || { cat build.setup.log; exit 1; }
ninja -C build
mkdir -p report

echo "== conformance"
if [ -x conformance/run-suite.sh ]; then
	conformance/run-suite.sh --out report/conformance.json || echo "main: conformance found divergences (see report)"
else
	echo "main: the conformance suite is not built yet"
fi

echo "== benchmark and report"
if [ -x bench/run-main.sh ]; then
	bench/run-main.sh "$mode" --out report
else
	echo "main: the benchmark is not built yet"
fi
echo "main: report in $PWD/report/index.html"
