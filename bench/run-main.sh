#!/usr/bin/env bash
# The benchmark part of the main job: a sweep with sp-bench, a low-load latency run, then the
# report (plots/make-report.py) with whatever conformance results exist. Everything lands in OUT.
#
#   bench/run-main.sh [--small|--full] [--out DIR] [--build DIR] [--backends LIST] [-- SP-BENCH ARGS]
#
# --small (default): 5 sizes x 2 batches, 0.5 s per point: a few minutes on 2 cores.
# --full: 7 sizes (16 B .. 64 KiB) x 4 batches (1 .. 256), 2 s per point.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
mode=small out=$repo/report build=$repo/build backends=""
extra=()
while [ $# -gt 0 ]; do
	case $1 in
	--small) mode=small; shift ;;
	--full) mode=full; shift ;;
	--out) out=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--backends) backends=$2; shift 2 ;;
	--) shift; extra=("$@"); break ;;
	*) echo "usage: bench/run-main.sh [--small|--full] [--out DIR] [--build DIR] [--backends LIST] [-- SP-BENCH ARGS]" >&2; exit 2 ;;
	esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
bench=$build/bench/sp-bench
if [ ! -x "$bench" ]; then
	echo "bench: building sp-bench in $build"
	ninja -C "$build" bench/sp-bench >/dev/null || { echo "bench: sp-bench does not build (see ninja -C $build)" >&2; exit 1; }
fi

if [ "$mode" = full ]; then
	sweep=(--sizes 16,64,256,1024,4096,16384,65536 --batches 1,8,32,256 --duration 2 --warmup 0.5)
else
	sweep=(--sizes 16,64,1024,16384,65536 --batches 1,32 --duration 0.5 --warmup 0.2)
fi
[ -n "$backends" ] && sweep+=(--backends "$backends")

status=0
echo "bench: $mode sweep -> $out/bench.csv (progress below; Ctrl-C keeps what was measured)"
"$bench" "${sweep[@]}" --out "$out" "${extra[@]}" || status=$?
if [ $status -eq 130 ]; then
	echo "bench: interrupted; writing the report of what was measured"
else
	# One-way latency at low load: 10 000 messages/s of 64 bytes, one per call.
	echo "bench: low-load latency (64 B, 10k msgs/s) -> $out/lowload/"
	lb=()
	[ -n "$backends" ] && lb=(--backends "$backends")
	"$bench" --sizes 64 --batches 1 --rate 10000 --duration 1 --warmup 0.2 --memcpy 0 \
		"${lb[@]}" --out "$out/lowload" "${extra[@]}" || echo "bench: low-load run failed ($?)"
fi

conf=""
for c in "$out/conformance.json" "$out/conformance/conformance.json"; do
	[ -f "$c" ] && { conf=$c; break; }
done
echo "bench: report -> $out/index.html"
python3 "$repo/plots/make-report.py" --out "$out" ${conf:+--conformance "$conf"} \
	--command "scripts/main.sh --$mode" \
	--command "bench/run-main.sh --$mode --out $out" \
	--lowload "$out/lowload/bench.csv" || { echo "bench: report generation failed" >&2; exit 1; }
exit 0
