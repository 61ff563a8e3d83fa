#!/usr/bin/env bash
# Runs sendpath's libFuzzer targets for a bounded time each (docs/reliability.md).
#
#   scripts/fuzz.sh [TARGET...]   targets: fuzz_backend fuzz_pmd_used fuzz_sendmsg fuzz_vsock_rx (default: all)
#
# Env: SP_FUZZ_TIME   seconds per target (default 20)
#      SP_FUZZ_BUILD  the clang build dir (default build-fuzz); set up here when missing:
#                     CC=clang, -Db_sanitize=address,undefined, c_args -fsanitize=fuzzer-no-link
#      SP_FUZZ_MERGE=1  merge what the run found into the repo corpus (minimised, -merge=1)
#      SP_FUZZ_JOBS   parallel fuzzing processes per target (default 1)
# Exit 0: no crash; 1: a crash, its input kept under $SP_FUZZ_BUILD/artifacts/ and the
# command that reproduces it printed. Last line per target: "fuzz TARGET: ..." figures.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${SP_FUZZ_BUILD:-${SP_FUZZ_BUILD_DEFAULT:-$top/build-fuzz}}
secs=${SP_FUZZ_TIME:-${SP_FUZZ_TIME_DEFAULT:-20}}
jobs=${SP_FUZZ_JOBS:-1}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_backend fuzz_pmd_used fuzz_sendmsg fuzz_vsock_rx)

declare -A bin=([fuzz_backend]=pmd/tests/fuzz_backend [fuzz_pmd_used]=pmd/tests/fuzz_pmd_used
		[fuzz_sendmsg]=stack/fuzz_sendmsg [fuzz_vsock_rx]=stack/fuzz_vsock_rx)
declare -A corpus=([fuzz_backend]=pmd/tests/corpus/fuzz_backend [fuzz_pmd_used]=pmd/tests/corpus/fuzz_pmd_used
		   [fuzz_sendmsg]=stack/tests/corpus/fuzz_sendmsg [fuzz_vsock_rx]=stack/tests/corpus/fuzz_vsock_rx)
# Inputs are ring memory images (backend) or op scripts; bound them.
declare -A maxlen=([fuzz_backend]=33000 [fuzz_pmd_used]=4096 [fuzz_sendmsg]=4096 [fuzz_vsock_rx]=4096)

command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang libclang-rt-14-dev)"; exit 77; }

mkdir -p "$(dirname "$build")"
build=$(cd "$(dirname "$build")" && pwd)/$(basename "$build")
# one fuzz.sh per build dir at a time; lock and set-up log live outside the source tree
tag=$(printf '%s' "$build" | md5sum | cut -c1-12)
exec 9>"/tmp/sp-fuzz-$tag.lock"
flock 9
if [ ! -f "$build/build.ninja" ]; then
	echo "== fuzz: setting up $build (clang, ASan+UBSan, fuzzer coverage)"
	CC=clang meson setup "$build" "$top" -Db_sanitize=address,undefined \
		-Dc_args=-fsanitize=fuzzer-no-link -Dtests=disabled >"/tmp/sp-fuzz-$tag.setup.log" 2>&1 ||
		{ cat "/tmp/sp-fuzz-$tag.setup.log"; exit 1; }
fi
for t in "${targets[@]}"; do
	[ -n "${bin[$t]:-}" ] || { echo "fuzz: unknown target $t (${!bin[*]})"; exit 2; }
done
ninja -C "$build" $(for t in "${targets[@]}"; do echo "${bin[$t]}"; done) >"$build/fuzz-ninja.log" 2>&1 ||
	{ tail -40 "$build/fuzz-ninja.log"; exit 1; }

# The EAL targets create their device per input; leaks are checked by the targets' own
# counters (mempool), LeakSanitizer at exit would only see EAL's process-lifetime memory.
export ASAN_OPTIONS=${ASAN_OPTIONS_FUZZ:-abort_on_error=1:detect_leaks=0:allocator_may_return_null=1}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export SP_LOG_LEVEL=${SP_LOG_LEVEL:-*:emerg}
status=0
for t in "${targets[@]}"; do
	work=$build/corpus-work/$t
	art=$build/artifacts
	log=$build/fuzz-$t.log
	mkdir -p "$work" "$art"
	extra=()
	[ "$jobs" -gt 1 ] && extra=(-fork="$jobs" -ignore_crashes=0)
	set +e
	timeout $((secs + 120)) "$build/${bin[$t]}" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=4096 -max_len="${maxlen[$t]}" -print_final_stats=1 \
		-artifact_prefix="$art/$t-" "${extra[@]}" "$work" "$top/${corpus[$t]}" >"$log" 2>&1
	rc=$?
	set -e
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*')
	if [ $rc -ne 0 ]; then
		status=1
		grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -20
		crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
		echo "fuzz $t: CRASH after ${runs:-?} runs (exit $rc); log $log"
		[ -n "$crash" ] && echo "  reproduce: $build/${bin[$t]} $crash"
		continue
	fi
	if [ "${SP_FUZZ_MERGE:-0}" = 1 ]; then
		"$build/${bin[$t]}" -merge=1 -max_len="${maxlen[$t]}" "$top/${corpus[$t]}" "$work" >>"$log" 2>&1
	fi
	echo "fuzz $t: ${runs:-?} runs in ${secs} s, coverage ${cov:-?} edges, 0 crashes, corpus $(ls "$top/${corpus[$t]}" | wc -l) seeds + $(ls "$work" | wc -l) found"
done
exit $status
