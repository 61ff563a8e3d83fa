#!/usr/bin/env bash
# Runs sendpath inside a QEMU guest on the guest's own virtio-vsock PCI device, taken from
# vfio-pci, against the project's vhost-user backend serving QEMU's vhost-user-vsock-pci.
#
#   run-guest.sh BUILD_DIR probe            device found, features, CID, one connection by hand
#   run-guest.sh BUILD_DIR send [BYTES]     the stack connects to CID 2 and sends BYTES (16 MiB)
#                                           which the backend checks byte by byte
#   run-guest.sh BUILD_DIR udp [COUNT]      the UDP stack on DPDK's net_virtio PCI driver (a
#                                           virtio-net-pci device taken from vfio-pci) sends
#                                           COUNT datagrams (10000) to a receiver on the host;
#                                           the same process sends 1 MiB over the vsock device
#   run-guest.sh BUILD_DIR refuse           bad inputs (device still with the kernel, wrong id,
#                                           group not viable, legacy device, ...) each refused
#                                           with one error, the device working afterwards
#   run-guest.sh BUILD_DIR gone             the host kills the backend (SIGKILL) while the stack
#                                           sends: the send must end in ECONNRESET, not hang
#   run-guest.sh BUILD_DIR unplug           the host removes the device (QEMU device_del; it sits
#                                           behind a pcie-root-port) while the stack sends: the
#                                           send ends in ECONNRESET, the program gives the device
#                                           back and the guest kernel completes the removal
#
# Guest: q35 with an emulated Intel IOMMU (so vfio-pci has a real IOMMU group), Debian's
# kernel ($SP_VM_KERNEL: kernel-6.1, the default, or kernel-6.12; see build-image.sh), no KVM. Guest output comes back over the serial console. Exit 0 pass, 1 fail,
# 77 skipped (no QEMU, no backend, no kernel package reachable).
#
# Environment: SP_VM_TIMEOUT (s, default 240), SP_VM_BACKEND (backend program); for
# debugging: SP_VM_RUN (another guest command), SP_VM_PROGS (more programs in the image),
# SP_VM_BIND (vendor:device list for vfio-pci), SP_VM_QEMU (more QEMU arguments),
# SP_VM_LOG (SP_LOG_LEVEL in the guest, e.g. '*:debug').
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:?usage: run-guest.sh BUILD_DIR probe|send|udp|refuse [BYTES|COUNT]}" && pwd)
mode=${2:-probe}
bytes=${3:-$((16 << 20))}
tmo=${SP_VM_TIMEOUT:-240}
port=1234
pci=0000:00:03.0              # where -device ... addr=3 puts the vsock device
work=$(mktemp -d "${TMPDIR:-/tmp}/sp-vm.XXXXXX")
backend_pid=
sink_pid=
qemu_pid=
cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null && wait "$qemu_pid" 2>/dev/null
	[ -n "$backend_pid" ] && kill "$backend_pid" 2>/dev/null && wait "$backend_pid" 2>/dev/null
	[ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM   # a test harness's timeout still stops QEMU and the backend
skip() { echo "vm: SKIP $*"; exit 77; }
die() { echo "vm: FAIL $*"; exit 1; }

command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed"
backend=${SP_VM_BACKEND:-$build/pmd/backend/sp-vhost-vsock}
[ -x "$backend" ] || skip "no backend program $backend"
case $mode in
probe) progs=("$build/pmd/tests/vm/sp-vp-probe")
	run="/bin/sp-vp-probe --pci $pci --id 19 --connect $port -- --iova-mode=pa" ;;
send) progs=("$build/pmd/tests/vm/sp-vm-send")
	# the device found by DPDK's PCI bus (-a $pci), as a user would start it
	run="/bin/sp-vm-send --pci $pci --port $port --bytes $bytes --credit-check -- --iova-mode=pa" ;;
udp) progs=("$build/pmd/tests/vm/sp-vm-udp")
	export SP_VM_PLUGINS="librte_bus_pci.so librte_net_virtio.so"
	count=${3:-10000}
	bytes=$((1 << 20))
	udp_port=$((20000 + RANDOM % 40000))
	# both devices of the guest in one stack: UDP on net_virtio, vsock on sendpath's driver
	run="/bin/sp-vm-udp --pci 0000:00:04.0 --port $udp_port --count $count --vsock-pci $pci"
	run+=" --vsock-port $port --vsock-bytes $bytes -- --iova-mode=pa" ;;
refuse) progs=("$build/pmd/tests/vm/sp-vp-probe" "$build/pmd/tests/vm/sp-vm-send")
	run=$(cat "$here/refuse.sh") ;;
gone) progs=("$build/pmd/tests/vm/sp-vm-send")
	run="/bin/sp-vm-send --pci $pci --port $port --until-gone --gone-limit 15 -- --iova-mode=pa" ;;
unplug) progs=("$build/pmd/tests/vm/sp-vm-send")
	pci=0000:01:00.0   # behind the root port below
	run="/bin/sp-vm-send --pci $pci --port $port --until-gone --gone-limit 15 -- --iova-mode=pa"
	# then the kernel's removal, which waited for the program to let go of the device
	run+=" && for i in \$(seq 40); do [ -e /sys/bus/pci/devices/$pci ] || break; sleep 0.25; done"
	run+=" && if [ -e /sys/bus/pci/devices/$pci ]; then echo 'unplug: FAIL $pci still there';"
	run+=" false; else echo \"unplug: $pci removed by the guest kernel (\$(cat /proc/uptime))\"; fi" ;;
*) die "mode is probe, send, udp, refuse, gone or unplug, not $mode" ;;
esac
[ -n "${SP_VM_RUN:-}" ] && run=$SP_VM_RUN     # debugging: another guest command ...
progs+=(${SP_VM_PROGS:-})                     # ... and more programs in the guest
[ -n "${SP_VM_BIND:-}" ] && bind_override=$SP_VM_BIND   # ... devices for vfio-pci ...
[ -n "${SP_VM_LOG:-}" ] && run="export SP_LOG_LEVEL='$SP_VM_LOG'; $run"   # EAL log level in the guest
bind=1af4:1053
extra=()
if [ "$mode" = udp ]; then
	bind=1af4:1041,1af4:1053
	# QEMU's user network delivers datagrams for 10.0.2.2 to the host's loopback
	extra=(-netdev user,id=n0 -device virtio-net-pci,netdev=n0,addr=4,disable-legacy=on,romfile=)
	python3 "$here/udp_sink.py" "$udp_port" >"$work/sink.json" 2>"$work/sink.log" &
	sink_pid=$!
elif [ "$mode" = refuse ]; then
	bind=   # the guest script moves the devices itself
	# two devices behind a conventional PCI bridge share an IOMMU group; one legacy-only
	extra=(-device pcie-pci-bridge,id=br1,addr=5
		-device virtio-net-pci,bus=br1,addr=1,disable-legacy=on,romfile=
		-device virtio-rng-pci,bus=br1,addr=2,disable-legacy=on
		-device virtio-net-pci,addr=4,disable-modern=on,romfile=)
fi
vsock_dev=(-device vhost-user-vsock-pci,chardev=vsock0,addr=3,id=vsock0)
if [ "$mode" = unplug ]; then
	# only devices below a (hot-plug capable) root port can leave a q35 machine
	vsock_dev=(-device pcie-root-port,id=rp1,chassis=1,slot=1,addr=5
		-device vhost-user-vsock-pci,chardev=vsock0,bus=rp1,id=vsock0)
	extra+=(-monitor "unix:$work/mon.sock,server=on,wait=off")
fi

extra+=(${SP_VM_QEMU:-})                     # ... and more QEMU arguments
[ -n "${bind_override:-}" ] && bind=$bind_override

t0=$(date +%s.%N)
"$here/build-image.sh" "$work/img" "${progs[@]}" >/dev/null 2>"$work/image.log" ||
	{ cat "$work/image.log"; grep -q "apt-get" "$work/image.log" &&
		skip "the guest kernel package could not be fetched"; die "guest image"; }
# The command the guest runs, as a second cpio archive (the kernel unpacks both).
mkdir -p "$work/cmd"
printf '%s\n' "$run" >"$work/cmd/guest.cmd"
(cd "$work/cmd" && echo guest.cmd | cpio -o -H newc --quiet | gzip) >"$work/cmd.cpio.gz"
cat "$work/img/initrd.cpio.gz" "$work/cmd.cpio.gz" >"$work/initrd"

# The host side: CID 2, the guest's CID 3 handed to QEMU through GET_CONFIG.
sock=$work/vsock.sock
verify_args=(--verify)
[ "$mode" = probe ] && verify_args=()
SP_CPU=${SP_BACKEND_CPU:-1} timeout $((tmo + 30)) "$backend" --socket "$sock" --ctl "$sock.ctl" \
	--guest-cid 3 --port "$port" "${verify_args[@]}" >"$work/backend.json" 2>"$work/backend.log" &
backend_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && [ -S "$sock.ctl" ] && break; sleep 0.1; done
[ -S "$sock" ] || { cat "$work/backend.log"; die "backend did not listen on $sock"; }
# One line to the backend's control socket, its one-line answer back.
ctl() {
	python3 - "$sock.ctl" "$*" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
print("vm: backend <- %s: %s" % (sys.argv[2], s.makefile().readline().strip()))
PY
}
# send: the host reads nothing until the guest has seen EAGAIN (sp-vm-send --credit-check)
[ "$mode" = send ] && ctl stop-reading

t1=$(date +%s.%N)
timeout "$tmo" qemu-system-x86_64 -machine q35,kernel-irqchip=split -cpu max \
	-device intel-iommu,intremap=on,caching-mode=on \
	-m 1G -object memory-backend-memfd,id=mem,size=1G,share=on -numa node,memdev=mem \
	-nodefaults -nographic -serial stdio -no-reboot \
	-kernel "$work/img/vmlinuz" -initrd "$work/initrd" \
	-append "console=ttyS0 quiet intel_iommu=on hugepages=128 panic=-1 sp_bind=$bind" \
	-chardev socket,id=vsock0,path="$sock" \
	"${vsock_dev[@]}" "${extra[@]}" \
	</dev/null >"$work/serial.log" 2>&1 &
qemu_pid=$!
if [ "$mode" = send ]; then
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if grep -q "^vm-send: waiting for credit" "$work/serial.log"; then
			ctl resume
			break
		fi
		sleep 0.1
	done
elif [ "$mode" = gone ] || [ "$mode" = unplug ]; then
	# one second into the stream, take the device away
	while kill -0 "$qemu_pid" 2>/dev/null; do
		if grep -q "^vm-send: sending" "$work/serial.log"; then
			sleep 1
			if [ "$mode" = gone ]; then
				# the backend itself, the child of its timeout
				bpid=$(cat "/proc/$backend_pid/task/$backend_pid/children" 2>/dev/null)
				kill -KILL ${bpid:-$backend_pid}
				echo "vm: backend $bpid killed (SIGKILL) at $(date +%T.%N)"
			else
				python3 - "$work/mon.sock" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b"device_del vsock0\n")
time.sleep(0.3)
print("vm: monitor <- device_del vsock0")
PY
				echo "vm: device_del at $(date +%T.%N)"
			fi
			break
		fi
		sleep 0.1
	done
fi
wait "$qemu_pid"
qrc=$?
qemu_pid=
t2=$(date +%s.%N)
# Stop the backend and let it print what it saw.
kill -INT "$backend_pid" 2>/dev/null
wait "$backend_pid"
brc=$?
backend_pid=

if [ -n "$sink_pid" ]; then
	kill -TERM "$sink_pid" 2>/dev/null
	wait "$sink_pid"
	sink_pid=
fi

tr -d '\r' <"$work/serial.log" | sed -n '/sp-guest:/,$p' | grep -v '^$'
echo "---- backend (exit $brc)"
cat "$work/backend.log" "$work/backend.json"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v q="$qrc" \
	'BEGIN { printf "vm: image %.1f s, boot+run %.1f s (qemu exit %d)\n", b - a, c - b, q }'
[ "$qrc" -eq 124 ] && die "guest did not finish within ${tmo}s"
grep -q "^sp-guest: exit 0 " "$work/serial.log" || die "the guest program did not exit 0"
# the host's own count: every byte of the vsock stream arrived, in the pattern, within credit
check_backend() {
	[ "$brc" -eq 0 ] || die "backend reported a failure (exit $brc)"
	python3 - "$work/backend.json" "$bytes" <<'PY' || die "backend's counters disagree"
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
want = int(sys.argv[2])
ok = s["rx_bytes"] == want and s["verify_errors"] == 0 and s["credit_violations"] == 0 \
     and s["conns_accepted"] == 1
print("vm: backend received %d of %d bytes, verify_errors %d, credit_violations %d, conns %d"
      % (s["rx_bytes"], want, s["verify_errors"], s["credit_violations"], s["conns_accepted"]))
sys.exit(0 if ok else 1)
PY
}
case $mode in
probe) grep -q "^probe: PASS" "$work/serial.log" || die "probe did not pass" ;;
refuse) grep -q "^refuse: PASS" "$work/serial.log" || die "a refusal check did not hold" ;;
gone) grep -q "^vm-send: PASS the device went away" "$work/serial.log" ||
	die "the send did not end in ECONNRESET after the backend died" ;;
unplug) grep -q "^vm-send: PASS the device went away" "$work/serial.log" ||
	die "the send did not end in ECONNRESET when the device was removed"
	grep -q "^unplug: .* removed by the guest kernel" "$work/serial.log" ||
	die "the guest kernel did not complete the removal" ;;
udp) grep -q "^vm-udp: PASS" "$work/serial.log" || die "guest UDP send did not pass"
	python3 - "$work/sink.json" "$count" <<'PY' || die "the receiver's counts disagree"
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
want = int(sys.argv[2])
print("vm: receiver got %d datagrams (%d unique of %d sent), %d bad, %d duplicates, "
      "%d dropped by the receiver's own socket" % (s["datagrams"], s["unique"], want, s["bad"],
      s["dups"], s["socket_drops"]))
# Every datagram must arrive intact, except those the host's socket itself reports
# dropping (a loaded shared machine); a loss anywhere else on the path fails.
ok = s["bad"] == 0 and s["dups"] == 0 and s["unique"] + s["socket_drops"] >= want \
     and s["unique"] >= want // 2
sys.exit(0 if ok else 1)
PY
	check_backend ;;
send) grep -q "^vm-send: PASS" "$work/serial.log" || die "guest send did not pass"
	check_backend ;;
esac
echo "vm: PASS $mode"
