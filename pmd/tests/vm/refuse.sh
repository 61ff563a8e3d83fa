# Guest script (run by init as /guest.cmd in run-guest.sh's "refuse" mode): each bad input
# gives one clear error and leaves the device as it was; afterwards the same device still
# works, and goes back to the kernel. Prints "refuse: PASS" when every check held.
A=0000:00:03.0          # the vsock device, still with the kernel's virtio-pci at boot
NET=0000:01:01.0        # virtio-net behind a PCI bridge, sharing an IOMMU group ...
RNG=0000:01:02.0        # ... with this virtio-rng, left with virtio-pci
LEGACY=0000:00:04.0     # a legacy-only virtio-net (no virtio 1.x capabilities)
P=/bin/sp-vp-probe
fails=0
sysdrv() { basename "$(readlink /sys/bus/pci/devices/$1/driver 2>/dev/null)" 2>/dev/null; }
to_vfio() {
	echo vfio-pci >/sys/bus/pci/devices/$1/driver_override
	[ -e /sys/bus/pci/devices/$1/driver ] && echo $1 >/sys/bus/pci/devices/$1/driver/unbind
	echo $1 >/sys/bus/pci/drivers_probe
}
# expect FRAGMENT COMMAND...: the command fails, with FRAGMENT in its one error line
expect() {
	frag=$1
	shift
	out=$("$@" 2>&1)
	rc=$?
	line=$(echo "$out" | grep -E "^virtio-pci|^virtio_vsock" | head -1)
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
echo $A >/sys/bus/pci/devices/$A/driver/unbind
expect "bound to no driver" $P --pci $A --id 19 $EAL
to_vfio $A
expect "not the expected 1af4:1041" $P --pci $A --id 1 $EAL
expect "no such PCI device" $P --pci 0000:00:1e.7 --id 19 $EAL
# IOVA as VA: refused for the missing VIRTIO_F_ACCESS_PLATFORM, or earlier when the IOMMU
# cannot map DPDK's virtual addresses at all (ASan builds place them higher); both say why
expect "iova-mode=pa" $P --pci $A --id 19 -- --iova-mode=va
expect "takes at most 128 entries" $P --pci $A --id 19 --qsize 256 $EAL
to_vfio $NET
expect "is not viable" $P --pci $NET --id 1 $EAL
to_vfio $LEGACY
expect "not a modern virtio device" $P --pci $LEGACY --id 1 $EAL
expect "pci= (vfio-pci device) is required" /bin/sp-vm-send --pci "" $EAL
# after all that, the device is as it was: it connects
if $P --pci $A --id 19 --connect 1234 $EAL >/tmp/p.out 2>&1 && grep -q "^probe: PASS" /tmp/p.out; then
	echo "refuse: ok   the device still works after the refusals ($(grep -c rx /tmp/p.out) rx)"
else
	echo "refuse: FAIL the device does not work after the refusals"
	sed 's/^/    /' /tmp/p.out
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
