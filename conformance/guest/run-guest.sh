#!/usr/bin/env bash
# Boot a reference kernel in QEMU (software emulation, no devices but the serial console) and
# run the static sp-conformance runner inside it; write the runner's JSON to OUT.
#
#   run-guest.sh COLUMN RUNNER OUT [runner arguments...]
#
# The guest's vsock peer is a kernel socket in the same guest over vsock_loopback (CID 1).
# Prints "boot_and_run_s=<seconds>" on stderr and adds "boot_and_run_s" to the JSON.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
column=${1:?usage: run-guest.sh COLUMN RUNNER OUT [args...]}
runner=${2:?runner binary}
out=${3:?output file}
shift 3
timeout_s=${SP_GUEST_TIMEOUT:-300}

dir=$("$here/build-image.sh" "$column")
work=$(mktemp -d /tmp/sp-guest.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The runner goes in a second archive appended to the cached base.
mkdir -p "$work/root"
# init goes in it too: a later archive's file replaces the cached one, so init edits count.
cp "$runner" "$work/root/sp-conformance"
cp "$here/init" "$work/root/init"
chmod 755 "$work/root/init"
printf '%s\n' "--allow-kernel-vsock --column $column $*" >"$work/root/runner.args"
(cd "$work/root" && printf '%s\n' init sp-conformance runner.args | cpio -o -H newc --quiet | gzip -1) \
	>"$work/runner.cpio.gz"
cat "$dir/base.cpio.gz" "$work/runner.cpio.gz" >"$work/initrd.gz"

start=$(date +%s.%N)
# -nodefaults and -nic none: the guest has a serial console and nothing else.
set +e
timeout "$timeout_s" qemu-system-x86_64 -nodefaults -nic none -nographic -serial stdio \
	-no-reboot -m 512 -smp 1 -cpu max \
	-kernel "$dir/vmlinuz" -initrd "$work/initrd.gz" \
	-append 'console=ttyS0 quiet loglevel=3 panic=-1 oops=panic' \
	</dev/null >"$work/console.log" 2>&1
rc=$?
set -e
end=$(date +%s.%N)
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

tr -d '\r' <"$work/console.log" >"$work/console.txt"
cp "$work/console.txt" "${out%.json}.console.txt"
if ! grep -q '^=====SP-CONFORMANCE-JSON-END=====' "$work/console.txt"; then
	echo "run-guest: $column: no result from the guest (qemu exit $rc, ${secs}s); console:" >&2
	tail -40 "$work/console.txt" >&2
	exit 1
fi
sed -n '/^=====SP-CONFORMANCE-JSON-BEGIN=====$/,/^=====SP-CONFORMANCE-JSON-END=====$/p' \
	"$work/console.txt" | sed '1d;$d' | base64 -d | gunzip >"$work/trace.json" ||
	{ echo "run-guest: $column: the guest's result does not decode" >&2; exit 1; }
python3 - "$work/trace.json" "$out" "$secs" "$(cat "$dir/kernel-release")" <<'EOF'
import json, sys
src, dst, secs, release = sys.argv[1:5]
with open(src) as f:
    d = json.load(f)
d["boot_and_run_s"] = float(secs)
d["kernel_package_release"] = release
with open(dst, "w") as f:
    json.dump(d, f, indent=1)
EOF
grep '^sp-guest:' "$work/console.txt" >&2 || true
echo "run-guest: $column boot_and_run_s=$secs" >&2
