#!/usr/bin/env bash
# Builds the guest for the virtio-pci/vfio proof: Debian's kernel, the vfio modules, busybox,
# and the given programs with every shared library ldd finds plus the DPDK plugins EAL needs.
#
#   build-image.sh OUT_DIR PROGRAM...    writes OUT_DIR/vmlinuz and OUT_DIR/initrd.cpio.gz
#
# The kernel ($SP_VM_KERNEL, a column of conformance/guest/kernels.conf: kernel-6.1 or
# kernel-6.12) is downloaded once into $SP_CACHE_DIR (default <repo>/.cache/vm-vfio).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${SP_CACHE_DIR:-$repo/.cache/vm-vfio}
out=${1:?usage: build-image.sh OUT_DIR PROGRAM...}
shift
die() { echo "vm-image: $*" >&2; exit 1; }

# The kernel: a column of conformance/guest/kernels.conf ($SP_VM_KERNEL, default kernel-6.1),
# the newest package apt knows that matches it (its lists, no registry queries).
column=${SP_VM_KERNEL:-kernel-6.1}
pattern=$(awk -v c="$column" '$1 == c { print $2 }' "$repo/conformance/guest/kernels.conf")
[ -n "$pattern" ] || die "no kernel column '$column' in conformance/guest/kernels.conf"
pkg=
for p in $(apt-cache pkgnames linux-image- 2>/dev/null | sort -V); do
	[[ $p =~ ^$pattern$ ]] && pkg=$p
done
[ -n "$pkg" ] || die "no package matches '$pattern' (apt-get update?)"
kdir=$cache/$pkg-3   # -3: modules resolved from their .modinfo depends=
# Loaded in this order by init: vfio-pci with the IOMMU back end, then the kernel's own
# virtio-pci and virtio-vsock drivers, which own the device at boot as in a user's VM;
# each after the modules it needs. Built-in ones are skipped.
want="vfio_iommu_type1 vfio-pci virtio_pci vmw_vsock_virtio_transport"
if [ ! -f "$kdir/vmlinuz" ]; then
	rm -rf "$kdir"
	mkdir -p "$kdir/dl"
	(cd "$kdir/dl" && chmod 777 . && apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
	dpkg-deb -x "$kdir"/dl/*.deb "$kdir/pkg"
	kver=$(ls "$kdir/pkg/lib/modules" | head -1)
	mdir=$kdir/pkg/lib/modules/$kver
	mkdir -p "$kdir/modules"
	n=10
	declare -A done_=()
	# module name -> file (names use _ where files may use -)
	declare -A file_=()
	while read -r f; do
		b=${f##*/}
		b=${b%%.ko*}
		file_[${b//-/_}]=$f
	done < <(cd "$mdir" && find kernel -name '*.ko*')
	unpack() {
		case $1 in
		*.xz) xz -dc "$1" ;;
		*.zst) zstd -dqc "$1" ;;
		*) cat "$1" ;;
		esac
	}
	add() {   # add NAME: the modules its .modinfo "depends=" names first, then itself
		local name=${1//-/_} path dep
		[ -n "${done_[$name]:-}" ] && return
		done_[$name]=1
		path=${file_[$name]:-}
		if [ -z "$path" ]; then
			grep -qE "/($1|$name)\.ko$" "$mdir/modules.builtin" && return
			die "$pkg has no module $1"
		fi
		unpack "$mdir/$path" >"$kdir/mod.tmp"
		for dep in $(tr '\0' '\n' <"$kdir/mod.tmp" | sed -n 's/^depends=//p' | tr ',' ' '); do
			add "$dep"
		done
		n=$((n + 1))
		unpack "$mdir/$path" >"$kdir/modules/$n-$name.ko"
	}
	for m in $want; do
		add "$m"
	done
	cp "$kdir/pkg/boot/vmlinuz-$kver" "$kdir/vmlinuz.tmp"
	rm -rf "$kdir/pkg" "$kdir/dl" "$kdir/mod.tmp"
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
# so only the plugins the programs need go there: the mempool ring driver, the PCI bus (which
# sendpath's driver also opens by soname) and those named in $SP_VM_PLUGINS
# (librte_net_virtio.so for DPDK's virtio-net PMD).
plugdir=$(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || true)
[ -n "$plugdir" ] || plugdir=$(ls -d /usr/lib/x86_64-linux-gnu/dpdk/pmds-* | head -1)
libs=()
for p in "$@"; do
	[ -x "$p" ] || die "$p is not a program"
	cp "$p" "$root/bin/"
	libs+=("$p")
done
plugins=()
for pl in librte_mempool_ring.so librte_bus_pci.so ${SP_VM_PLUGINS:-}; do
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
# The plugins' sonames in the library directory too (librte_bus_pci.so.23 -> the plugin):
# sendpath's driver opens the PCI bus by that name (pmd/pci_abi.h).
for pl in "${plugins[@]}"; do
	for f in "$(dirname "$(dirname "$plugdir")")/$(basename "$pl")".[0-9]*; do
		[ -e "$f" ] && copy_keep_links "$f"
	done
done
# The dynamic loader, where binaries look for it.
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out/initrd.cpio.gz"
cp "$kdir/vmlinuz" "$out/vmlinuz"
echo "$out"
