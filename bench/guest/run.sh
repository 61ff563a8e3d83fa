#!/usr/bin/env bash
# kernel-vsock: run sp-bench-guest in a QEMU guest (software emulation; -nodefaults -nic none:
# a serial console and nothing else) on the newest reference kernel of
# conformance/guest/kernels.conf, over vsock_loopback. Prints the guest's lines on stdout.
#
#   bench/guest/run.sh GUEST_BINARY DURATION WARMUP SIZES BATCHES
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${1:?usage: run.sh GUEST_BINARY DURATION WARMUP SIZES BATCHES}
shift
column=$(awk '!/^#/ && NF >= 2 { c = $1 } END { print c }' "$repo/conformance/guest/kernels.conf")
dir=$("$repo/conformance/guest/build-image.sh" "$column")
work=$(mktemp -d /tmp/sp-bench-guest.XXXXXX)
[ -n "${SP_GUEST_KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work/root"
cp "$bin" "$work/root/sp-bench-guest"
cp "$here/init" "$work/root/init"
chmod 755 "$work/root/init" "$work/root/sp-bench-guest"
echo "$*" >"$work/root/sp-bench-guest.args"
: >"$work/root/sp-bench-guest.marker"
(cd "$work/root" && printf '%s\n' init sp-bench-guest sp-bench-guest.args sp-bench-guest.marker |
	cpio -o -H newc --quiet | gzip -1) >"$work/bench.cpio.gz"
cat "$dir/base.cpio.gz" "$work/bench.cpio.gz" >"$work/initrd.gz"
timeout "${SP_GUEST_TIMEOUT:-600}" qemu-system-x86_64 -nodefaults -nic none -nographic -serial stdio \
	-no-reboot -m 512 -smp 2 -cpu max \
	-kernel "$dir/vmlinuz" -initrd "$work/initrd.gz" \
	-append 'console=ttyS0 quiet loglevel=3 panic=-1 oops=panic' </dev/null >"$work/console.log" 2>&1 || true
grep -q "=====SP-BENCH-END=====" "$work/console.log" ||
	{ echo "guest: no result; console:" >&2; tail -20 "$work/console.log" >&2; exit 1; }
tr -d '\r' <"$work/console.log" | grep -a -E '^(kernel|row|error) ' 
