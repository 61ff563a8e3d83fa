#!/usr/bin/env bash
# Builds the guest for the virtio-pci/vfio proof: Debian's kernel, the vfio modules, busybox,
# and the given programs with every shared library ldd finds plus the DPDK plugins EAL needs.
#
#   build-image.sh OUT_DIR PROGRAM...    writes OUT_DIR/vmlinuz and OUT_DIR/initrd.cpio.gz
#
# The kernel is downloaded once into $SP_CACHE_DIR (default <repo>/.cache/vm-vfio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${SP_CACHE_DIR:-$repo/.cache/vm-vfio}
out=${1:?usage: build-image.sh OUT_DIR PROGRAM...}
shift
die() { echo "vm-image: $*" >&2; exit 1; }

# The newest 6.1 generic kernel apt knows (its lists, no registry queries).
pkg=$(apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
	grep -E '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' | sort -V | tail -1)
[ -n "$pkg" ] || die "no linux-image-6.1.0-N-amd64-unsigned package (apt-get update?)"
kdir=$cache/$pkg-2   # -2: the module set below
if [ ! -f "$kdir/vmlinuz" ]; then
	mkdir -p "$kdir/dl"
	(cd "$kdir/dl" && chmod 777 . && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
	dpkg-deb -x "$kdir"/dl/*.deb "$kdir/pkg"
	kver=$(ls "$kdir/pkg/lib/modules" | head -1)
	mkdir -p "$kdir/modules"
	# In load order: vfio-pci and what it needs, then the kernel's own virtio-pci and
	# virtio-vsock drivers, which own the device at boot as in a user's VM.
	n=10
	for m in virt/lib/irqbypass drivers/vfio/vfio drivers/vfio/vfio_iommu_type1 \
		drivers/vfio/vfio_virqfd drivers/vfio/pci/vfio-pci-core drivers/vfio/pci/vfio-pci \
		drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
		drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/vmw_vsock/vsock \
		net/vmw_vsock/vmw_vsock_virtio_transport_common net/vmw_vsock/vmw_vsock_virtio_transport; do
		src=$(ls "$kdir/pkg/lib/modules/$kver/kernel/$m.ko"* | head -1)
		[ -n "$src" ] || die "$pkg has no module $m"
		n=$((n + 1))
		case $src in
		*.xz) xz -dc "$src" >"$kdir/modules/$n-$(basename $m).ko" ;;
		*.zst) zstd -dqc "$src" >"$kdir/modules/$n-$(basename $m).ko" ;;
		*) cp "$src" "$kdir/modules/$n-$(basename $m).ko" ;;
		esac
	done
	cp "$kdir/pkg/boot/vmlinuz-$kver" "$kdir/vmlinuz.tmp"
	rm -rf "$kdir/pkg" "$kdir/dl"
	mv "$kdir/vmlinuz.tmp" "$kdir/vmlinuz"
fi

mkdir -p "$out"
root=$(mktemp -d "$out/.root.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,proc,sys,dev,tmp,modules,mnt/huge,run,var}
ln -s /run "$root/var/run"
cp /bin/busybox "$root/bin/busybox"
for t in sh mount insmod poweroff sleep cat echo ls ln readlink basename date uname grep sed dmesg; do
	ln -s busybox "$root/bin/$t"
done
cp "$kdir"/modules/*.ko "$root/modules/"
cp "$here/init" "$root/init"
chmod 755 "$root/init"

# Programs keep their absolute library paths; EAL loads plugins from its default directory,
# so only the plugins the programs need go there: the mempool ring driver, and those named
# in $SP_VM_PLUGINS (librte_bus_pci.so librte_net_virtio.so for DPDK's virtio-net PMD).
plugdir=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
[ -n "$plugdir" ] || plugdir=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* | head -1)
libs=()
for p in "$@"; do
	[ -x "$p" ] || die "$p is not a program"
	cp "$p" "$root/bin/"
	libs+=("$p")
done
plugins=()
for pl in librte_mempool_ring.so ${SP_VM_PLUGINS:-}; do
	plugins+=("$plugdir/$pl")
done
# Symlinks are kept as symlinks, next to the files they name: a plugin that is also linked
# directly (librte_bus_pci) must resolve to the same file both ways, or EAL loads it twice
# and panics on its tailq.
copy_keep_links() {
	local p=$1
	while :; do
		p=$(realpath "$(dirname "$p")")/$(basename "$p")   # /lib is /usr/lib on Debian 12
		mkdir -p "$root$(dirname "$p")"
		cp -a "$p" "$root$p"
		[ -L "$p" ] || break
		case $(readlink "$p") in
		/*) p=$(readlink "$p") ;;
		*) p=$(dirname "$p")/$(readlink "$p") ;;
		esac
	done
}
for f in "${libs[@]}" "${plugins[@]}"; do
	ldd "$f" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'
done | cat - <(printf '%s\n' "${plugins[@]}") | sort -u | while read -r lib; do
	copy_keep_links "$lib"
done
# The dynamic loader, where binaries look for it.
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.cpio.gz"
cp "$kdir/vmlinuz" "$out/vmlinuz"
echo "$out"
