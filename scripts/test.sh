#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds (plain and ASan+UBSan), runs every test.
# Last line: "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
. scripts/setup.sh

configure() { # dir, extra meson options...
	local dir=$1; shift
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
	else
		meson setup "$dir" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
	fi
}

echo "== build (-Wall -Wextra -Werror)"
configure build -Dtests=enabled
ninja -C build

echo "== build with -Db_sanitize=address,undefined"
configure build-asan -Dtests=enabled -Db_sanitize=address,undefined
ninja -C build-asan

status=0
echo "== tests"
meson test -C build --print-errorlogs --num-processes 2 ${SP_TEST_ARGS:-} || status=1
# The sanitized build runs the suites whose programs it builds; the QEMU guests' programs are
# static (no ASan) and the fuzz suite is sanitized by clang already.
echo "== tests under ASan+UBSan (unit, integration, soak)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
SP_SOAK_SECONDS=${SP_SOAK_SECONDS:-20} \
	meson test -C build-asan --print-errorlogs --num-processes 2 --suite unit --suite integration --suite soak \
	--timeout-multiplier 2 || status=1

python3 scripts/test-summary.py build/meson-logs/testlog.json build-asan/meson-logs/testlog.json || status=1
exit $status
