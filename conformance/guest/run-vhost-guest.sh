#!/usr/bin/env bash
# The second vsock topology: the guest kernel's own virtio-vsock driver, through QEMU's
# vhost-user-vsock-pci, against the project's backend sp-vhost-vsock (the host, CID 2).
#
#   run-vhost-guest.sh COLUMN SP_VHOST_VSOCK CHECK_BINARY OUT.json [BYTES]
#
# The backend checks every byte of the guest's stream (--verify) and counts credit; the host
# sends "shutdown rcv" when the guest says it is ready, and the guest must see EPIPE. Writes a
# small JSON result (format: conformance/README.md) and exits 1 when a check fails.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
column=${1:?usage: run-vhost-guest.sh COLUMN SP_VHOST_VSOCK CHECK OUT [BYTES]}
backend=${2:?sp-vhost-vsock binary}
check=${3:?sp-vhost-check binary}
out=${4:?output json}
bytes=${5:-$((64 << 20))}
port=5000
tmo=${SP_GUEST_TIMEOUT:-300}
die() { echo "run-vhost-guest: $*" >&2; exit 1; }

dir=$("$here/build-image.sh" "$column")
work=$(mktemp -d /tmp/sp-vhost-guest.XXXXXX)
backend_pid=
qemu_pid=
cleanup() {
	[ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
	[ -z "$backend_pid" ] || kill "$backend_pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/root"
cp "$check" "$work/root/sp-vhost-check"
cp "$here/init" "$work/root/init"
chmod 755 "$work/root/init"
echo vhost >"$work/root/guest.mode"
echo "$port $bytes" >"$work/root/runner.args"
(cd "$work/root" && printf '%s\n' init sp-vhost-check guest.mode runner.args |
	cpio -o -H newc --quiet | gzip -1) >"$work/extra.cpio.gz"
cat "$dir/base.cpio.gz" "$work/extra.cpio.gz" >"$work/initrd.gz"

sock=$work/vsock.sock
"$backend" --socket "$sock" --ctl "$sock.ctl" --guest-cid 3 --port "$port" --verify \
	>"$work/backend.json" 2>"$work/backend.log" &
backend_pid=$!
for _ in $(seq 200); do [ -S "$sock" ] && [ -S "$sock.ctl" ] && break; sleep 0.05; done
[ -S "$sock.ctl" ] || { cat "$work/backend.log" >&2; die "backend did not start"; }
ctl() {
	python3 - "$sock.ctl" "$*" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print("run-vhost-guest: backend <- %s: %s" % (sys.argv[2], s.makefile().readline().strip()))
PY
}

start=$(date +%s.%N)
# -nodefaults -nic none: no network; the vsock device is the only one, its memory shared by fd.
timeout "$tmo" qemu-system-x86_64 -nodefaults -nic none -nographic -serial stdio -no-reboot \
	-m 512 -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
	-cpu max -smp 1 -kernel "$dir/vmlinuz" -initrd "$work/initrd.gz" \
	-append 'console=ttyS0 quiet loglevel=3 panic=-1' \
	-chardev socket,id=vsock0,path="$sock" -device vhost-user-vsock-pci,chardev=vsock0 \
	</dev/null >"$work/console.log" 2>&1 &
qemu_pid=$!
shut=0
while kill -0 "$qemu_pid" 2>/dev/null; do
	if [ $shut = 0 ] && grep -q "vhost-check: ready for shutdown" "$work/console.log"; then
		ctl "shutdown rcv port $port" >&2
		shut=1
	fi
	sleep 0.1
done
set +e
wait "$qemu_pid"
qrc=$?
set -e
qemu_pid=
secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
kill -INT "$backend_pid" 2>/dev/null || true
set +e
wait "$backend_pid"
brc=$?
set -e
backend_pid=
tr -d '\r' <"$work/console.log" >"${out%.json}.console.txt"
grep -oE '(vhost-check|sp-guest): .*' "${out%.json}.console.txt" >"$work/guest.txt" || true
cat "$work/guest.txt" >&2

python3 - "$work/backend.json" "$work/guest.txt" "$out" "$column" "$bytes" "$secs" "$brc" \
	"$(cat "$dir/kernel-release")" <<'PY'
import json, sys
bj, gt, out, column, want, secs, brc, release = sys.argv[1:9]
want = int(want)
guest = open(gt).read().splitlines()
try:
    stats = json.loads(open(bj).read().strip().splitlines()[-1])
except (ValueError, IndexError):
    stats = {}
conns = stats.get("conns", []) + stats.get("closed", [])
first = next((c for c in stats.get("closed", []) + stats.get("conns", [])
              if c.get("rx_bytes", 0) >= want), None)
checks = {
    "guest_pass": "vhost-check: PASS" in guest,
    "stream_bytes": bool(first) and first["rx_bytes"] == want,
    "verify_errors_0": stats.get("verify_errors", -1) == 0,
    "credit_violations_0": stats.get("credit_violations", -1) == 0,
    "refused_connects": stats.get("conns_refused", 0) >= 1,
    "backend_exit_0": brc == "0",
}
res = {"format": "sp-vhost-guest/1", "column": column, "kernel": release,
       "topology": "guest kernel virtio-vsock -> vhost-user-vsock-pci -> sp-vhost-vsock",
       "bytes": want, "boot_and_run_s": float(secs), "checks": checks,
       "ok": all(checks.values()), "guest": guest,
       "backend": {k: stats.get(k) for k in ("rx_bytes", "verify_errors", "credit_violations",
                                              "conns_accepted", "conns_refused", "rst_sent")}}
json.dump(res, open(out, "w"), indent=1)
for k, v in checks.items():
    print(f"run-vhost-guest: {'ok  ' if v else 'FAIL'} {k}")
print(f"run-vhost-guest: {column} boot_and_run_s={secs}")
sys.exit(0 if res["ok"] else 1)
PY
