#!/usr/bin/env bash
# Proves sp-vhost-vsock against a real driver: the guest kernel's own virtio-vsock driver,
# through QEMU's vhost-user-vsock-pci (QEMU keeps the event queue; the CID comes from the
# backend's GET_CONFIG answer). Debian's 6.1 kernel, software emulation, no KVM.
#
#   run.sh BUILD_DIR [BYTES]          BYTES defaults to 64 MiB
#
# The guest connects to CID 2 and sends BYTES in the --verify pattern (the backend checks every
# byte and the CRC32C the guest computed), gets ECONNRESET from a port nobody listens on, and
# EPIPE once it has asked the backend, over the backend's vsock control port, to shut down its
# receive side. At the end this script reads the backend's stats through sp-vhost-ctl.
# Exit 0 pass, 1 fail, 77 skipped (no QEMU, compiler for a static binary, or kernel package).
# The kernel is downloaded once into $SP_CACHE_DIR (default <repo>/.cache/backend-guest);
# SP_GUEST_KERNEL picks another package by extended regex, e.g. 'linux-image-6\.12\..*\+deb12-amd64'.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
build=$(cd "${1:?usage: run.sh BUILD_DIR [BYTES]}" && pwd)
bytes=${2:-$((64 << 20))}
tmo=${SP_VM_TIMEOUT:-300}
cache=${SP_CACHE_DIR:-$repo/.cache/backend-guest}
port=1234
refused_port=999
ctl_port=1235
work=$(mktemp -d "${TMPDIR:-/tmp}/sp-backend-vm.XXXXXX")
backend_pid=
cleanup() {
	[ -n "$backend_pid" ] && kill "$backend_pid" 2>/dev/null && wait "$backend_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
skip() { echo "backend-vm: SKIP $*"; exit 77; }
die() { echo "backend-vm: FAIL $*"; exit 1; }

backend=$build/pmd/backend/sp-vhost-vsock
ctl=$build/pmd/backend/sp-vhost-ctl
[ -x "$backend" ] && [ -x "$ctl" ] || skip "build $backend and $ctl first"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
command -v cpio >/dev/null || skip "cpio is not installed"
[ -x /bin/busybox ] || skip "busybox-static is not installed"
mkdir -p "$work/root"
gcc -static -O2 -Wall -o "$work/root/guest-client" "$here/guest_client.c" 2>"$work/cc.log" ||
	{ cat "$work/cc.log"; skip "cannot link a static guest client (libc6-dev?)"; }

# The kernel and its virtio/vsock modules, once.
kpat=${SP_GUEST_KERNEL:-linux-image-6\.1\.0-[0-9]+-amd64}
pkg=$(apt-cache pkgnames linux-image- 2>/dev/null | grep -E "^$kpat\$" | sort -V | tail -1)
[ -n "$pkg" ] || skip "no package matching $kpat in apt's lists (apt-get update?)"
kdir=$cache/$pkg
if [ ! -f "$kdir/vmlinuz" ]; then
	rm -rf "$kdir" && mkdir -p "$kdir/dl" "$kdir/modules"
	# apt-get download runs as _apt when it can: let it write there.
	(cd "$kdir/dl" && chmod 777 . && apt-get download -q "$pkg" >"$work/apt.log" 2>&1) ||
		{ cat "$work/apt.log"; skip "apt-get download $pkg failed"; }
	dpkg-deb -x "$kdir"/dl/*.deb "$kdir/pkg" || die "cannot unpack $pkg"
	kver=$(ls "$kdir/pkg/lib/modules" | head -1)
	n=10
	for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
		drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/vmw_vsock/vsock \
		net/vmw_vsock/vmw_vsock_virtio_transport_common net/vmw_vsock/vmw_vsock_virtio_transport; do
		src=$(ls "$kdir/pkg/lib/modules/$kver/kernel/$m.ko"* 2>/dev/null | head -1)
		[ -n "$src" ] || continue   # built in
		n=$((n + 1))
		case $src in
		*.xz) xz -dc "$src" >"$kdir/modules/$n-$(basename "$m").ko" ;;
		*.zst) zstd -dqc "$src" >"$kdir/modules/$n-$(basename "$m").ko" ;;
		*) cp "$src" "$kdir/modules/$n-$(basename "$m").ko" ;;
		esac
	done
	cp "$kdir/pkg/boot/vmlinuz-$kver" "$kdir/vmlinuz.tmp"
	rm -rf "$kdir/pkg" "$kdir/dl"
	mv "$kdir/vmlinuz.tmp" "$kdir/vmlinuz"
fi

# The initramfs: busybox, the modules, init, the client.
root=$work/root
mkdir -p "$root"/{bin,proc,sys,dev,modules}
cp /bin/busybox "$root/bin/busybox"
for t in sh mount insmod poweroff cat echo sed uname sleep; do ln -s busybox "$root/bin/$t"; done
cp "$kdir"/modules/*.ko "$root/modules/" 2>/dev/null
cp "$here/init" "$root/init" && chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip) >"$work/initrd" || die "initramfs"

# The host: CID 2, only $port listens, every byte checked against the pattern.
sock=$work/vsock.sock
SP_CPU=${SP_BACKEND_CPU:-1} timeout $((tmo + 30)) "$backend" --socket "$sock" --cid 3 \
	--port "$port" --ctl-port "$ctl_port" --verify >"$work/backend.json" 2>"$work/backend.log" &
backend_pid=$!
for _ in $(seq 100); do [ -S "$sock.ctl" ] && [ -S "$sock" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/backend.log"; die "backend did not listen on $sock"; }

t0=$(date +%s.%N)
timeout "$tmo" qemu-system-x86_64 -nodefaults -nographic -no-reboot -serial stdio \
	-m 256M -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
	-kernel "$kdir/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet panic=-1 sp_args=$port,$bytes,$refused_port,$ctl_port" \
	-chardev socket,id=vsock0,path="$sock" \
	-device vhost-user-vsock-pci,chardev=vsock0 \
	</dev/null >"$work/serial.log" 2>&1
qrc=$?
t1=$(date +%s.%N)
"$ctl" "$sock.ctl" stats >"$work/ctl.json" || die "sp-vhost-ctl stats failed"
kill -INT "$backend_pid" 2>/dev/null
wait "$backend_pid"
brc=$?
backend_pid=

tr -d '\r' <"$work/serial.log" | grep -aoE 'guest: .*|qemu.*|vhost.*' || tail -20 "$work/serial.log"
echo "---- backend (exit $brc)"
cat "$work/backend.log"
cat "$work/backend.json"
awk -v a="$t0" -v b="$t1" -v q="$qrc" 'BEGIN { printf "backend-vm: boot+run %.1f s (qemu exit %d)\n", b - a, q }'

[ "$qrc" -eq 124 ] && die "guest did not finish within ${tmo}s"
grep -aq 'guest: PASS' "$work/serial.log" || die "guest client did not pass"
[ "$brc" -eq 0 ] || die "backend exit status $brc"
json=$(cat "$work/backend.json")
first=$(echo "$json" | grep -o '"closed":\[{[^}]*}')
guest_crc=$(grep -o 'crc32c 0x[0-9a-f]*' "$work/serial.log" | head -1 | cut -d' ' -f2)
echo "$first" | grep -q "\"rx_bytes\":$bytes," || die "backend did not count $bytes bytes: $first"
echo "$first" | grep -q "\"crc32c\":\"$guest_crc\"" || die "checksum differs: guest $guest_crc, backend $first"
echo "$json" | grep -q '"credit_violations":0,' || die "credit violations"
echo "$json" | grep -q '"verify_errors":0,' || die "payload errors"
echo "$json" | grep -q '"config_reads":[1-9]' || die "QEMU never read the CID through GET_CONFIG"
grep -q "\"rx_bytes\":$bytes," "$work/ctl.json" || die "sp-vhost-ctl stats disagree: $(cat "$work/ctl.json")"
echo "backend-vm: PASS $bytes bytes, crc32c $guest_crc, ECONNRESET and EPIPE seen in the guest"
