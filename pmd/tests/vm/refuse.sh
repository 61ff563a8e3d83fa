# Guest script (run by init as /guest.cmd in run-guest.sh's "refuse" mode): each bad input
# gives one clear error and leaves the device as it was, both where the transport is opened
# by address (sp-vp-probe) and where DPDK's PCI bus finds the device (sp-vm-send, -a ADDR or
# the default scan); afterwards the same device still works, and goes back to the kernel.
# Prints "refuse: PASS" when every check held.
A=0000:00:03.0          # the vsock device, still with the kernel's virtio-pci at boot
NET=0000:01:01.0        # virtio-net behind a PCI bridge, sharing an IOMMU group ...
RNG=0000:01:02.0        # ... with this virtio-rng, left with virtio-pci
LEGACY=0000:00:04.0     # a legacy-only virtio-net (no virtio 1.x capabilities)
P=/bin/sp-vp-probe
S="/bin/sp-vm-send --port 1234 --bytes 65536"   # the stack, its device from the PCI bus
fails=0
sysdrv() { basename "$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null)" 2>/dev/null; }
to_vfio() {
	echo vfio-pci >/sys/bus/pci/devices/$1/driver_override
	[ -e /sys/bus/pci/devices/$1/driver ] && echo $1 >/sys/bus/pci/devices/$1/driver/unbind
	echo $1 >/sys/bus/pci/drivers_probe
}
# expect FRAGMENT COMMAND...: the command fails, with FRAGMENT in its first error line (the
# driver's, or sp_env's one line when EAL did not start)
expect() {
	frag=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	line=$(echo "$out" | grep -E "^virtio-pci|^virtio_vsock|^env: DPDK EAL did not start" | head -1)
	if [ $rc -ne 0 ] && echo "$line" | grep -q "$frag"; then
		echo "refuse: ok   $line"
	else
		echo "refuse: FAIL expected '$frag' (rc $rc):"
		echo "$out" | sed 's/^/    /'
		fails=$((fails + 1))
	fi
}
EAL="-- --iova-mode=pa"
expect "still bound to the kernel driver virtio-pci" $P --pci $A --id 19 $EAL
# the PCI bus: named with -a, the driver refuses it saying why; found by the default scan,
# it leaves it alone and says so; either way the stack then has no device and says so
expect "cannot take $A: it is still bound to the kernel driver virtio-pci: unbind it" $S --pci $A $EAL
expect "$A left alone: it is bound to virtio-pci, not vfio-pci" $S --pci $A --scan $EAL
if [ "$(sysdrv $A)" = virtio-pci ]; then
	echo "refuse: ok   $A is still with virtio-pci after the refusals"
else
	echo "refuse: FAIL $A is with '$(sysdrv $A)' after the refusals"
	fails=$((fails + 1))
fi
echo $A >/sys/bus/pci/devices/$A/driver/unbind
expect "bound to no driver" $P --pci $A --id 19 $EAL
# the bus does not list a function without a driver; the stack's lookup says what is wrong
expect "no vsock device $A: it is bound to no driver, not vfio-pci" $S --pci $A $EAL
expect "no vsock device $A: it is bound to no driver, not vfio-pci" $S --pci $A --scan $EAL
to_vfio $A
expect "not the expected 1af4:1041" $P --pci $A --id 1 $EAL
expect "no such PCI device" $P --pci 0000:00:1e.7 --id 19 $EAL
# IOVA as VA: refused for the missing VIRTIO_F_ACCESS_PLATFORM, or earlier when the IOMMU
# cannot map DPDK's virtual addresses at all (ASan builds place them higher); both say why
expect "iova-mode=pa" $P --pci $A --id 19 -- --iova-mode=va
expect "takes at most 128 entries" $P --pci $A --id 19 --qsize 256 $EAL
expect "takes at most 128 entries" $S --pci $A --qsize 256 $EAL     # -a ADDR,queue_size=256
expect "no vsock device $LEGACY: it is 1af4:1000, not a virtio-vsock device" $S --pci $LEGACY $EAL
expect "no vsock device 0000:00:1e.7: there is no PCI device" $S --pci 0000:00:1e.7 $EAL
expect "no vsock device 00:03.0: it is named $A" $S --pci 00:03.0 $EAL
to_vfio $NET
expect "is not viable" $P --pci $NET --id 1 $EAL
to_vfio $LEGACY
expect "not a modern virtio device" $P --pci $LEGACY --id 1 $EAL
expect "pci= (vfio-pci device) is required" /bin/sp-vm-send --pci "" --vdev $EAL
# after all that, the device is as it was: it connects
if $P --pci $A --id 19 --connect 1234 $EAL >/tmp/p.out 2>&1 && grep -q "^probe: PASS" /tmp/p.out; then
	echo "refuse: ok   the device still works after the refusals ($(grep -c rx /tmp/p.out) rx)"
else
	echo "refuse: FAIL the device does not work after the refusals"
	sed 's/^/    /' /tmp/p.out
	fails=$((fails + 1))
fi
# ... and through the PCI bus's default scan, the stack on it
if $S --pci $A --scan $EAL >/tmp/s.out 2>&1 && grep -q "^vm-send: PASS" /tmp/s.out; then
	echo "refuse: ok   the default scan takes it: $(grep -c 'came from DPDK' /tmp/s.out) device, $(grep '^vm-send: sent' /tmp/s.out)"
else
	echo "refuse: FAIL the stack does not work on the device from the default scan"
	sed 's/^/    /' /tmp/s.out
	fails=$((fails + 1))
fi
# ... and made by name under --no-pci (sp_vsock_dev_create with pci=, as --vdev=...,pci= does)
if $S --pci $A --vdev $EAL >/tmp/v.out 2>&1 && grep -q "^vm-send: PASS" /tmp/v.out; then
	echo "refuse: ok   made by name it works too: $(grep '^vm-send: sent' /tmp/v.out)"
else
	echo "refuse: FAIL the stack does not work on the device made by name (pci=)"
	sed 's/^/    /' /tmp/v.out
	fails=$((fails + 1))
fi
# and back to the kernel
echo >/sys/bus/pci/devices/$A/driver_override
echo $A >/sys/bus/pci/drivers/vfio-pci/unbind
echo $A >/sys/bus/pci/drivers_probe
if [ "$(sysdrv $A)" = virtio-pci ]; then
	vd=$(ls -d /sys/bus/pci/devices/$A/virtio* | head -1)
	echo "refuse: ok   $A is back with virtio-pci, its virtio device with $(basename "$(readlink $vd/driver)")"
else
	echo "refuse: FAIL $A is with '$(sysdrv $A)' after the give-back"
	fails=$((fails + 1))
fi
[ $fails -eq 0 ] && echo "refuse: PASS" || echo "refuse: FAIL $fails checks"
