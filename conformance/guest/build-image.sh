#!/usr/bin/env bash
# Build (once, cached) the pieces of a vsock reference guest for one kernel column of
# conformance/guest/kernels.conf: the Debian kernel, its vsock modules and a busybox initramfs.
#
#   build-image.sh COLUMN      prints the cache directory holding vmlinuz and base.cpio.gz
#
# The runner itself is not in base.cpio.gz: run-guest.sh appends it as a second cpio archive
# (the kernel unpacks concatenated archives), so rebuilding the runner never re-downloads.
# Cache: $SP_CACHE_DIR or <repo>/.cache/conformance, keyed by the resolved package and version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache_root=${SP_CACHE_DIR:-$repo/.cache/conformance}
column=${1:?usage: build-image.sh COLUMN (see kernels.conf)}

die() { echo "build-image: $*" >&2; exit 1; }

pattern=$(awk -v c="$column" '$1 == c { print $2 }' "$here/kernels.conf")
[ -n "$pattern" ] || die "no column '$column' in kernels.conf"

# The newest package whose name matches the glob (apt's own lists, no registry queries).
pkg=""
for p in $(apt-cache pkgnames linux-image- 2>/dev/null | sort -V); do
	[[ $p =~ ^$pattern$ ]] && pkg=$p
done
if [ -z "$pkg" ]; then
	# A fresh machine may have no package lists yet.
	apt-get update -qq >/dev/null 2>&1 || true
	for p in $(apt-cache pkgnames linux-image- 2>/dev/null | sort -V); do
		[[ $p =~ ^$pattern$ ]] && pkg=$p
	done
fi
[ -n "$pkg" ] || die "no package matches '$pattern' (apt-get update?)"
version=$(apt-cache policy "$pkg" | awk '/Candidate:/ { print $2 }')
[ -n "$version" ] && [ "$version" != "(none)" ] || die "$pkg has no candidate version"

dir=$cache_root/${pkg}_${version}-2	# -2: with the virtio-pci module set
if [ -f "$dir/base.cpio.gz" ] && [ -f "$dir/vmlinuz" ]; then
	echo "$dir"
	exit 0
fi

[ -x /bin/busybox ] || die "busybox-static is not installed"
mkdir -p "$dir"
work=$(mktemp -d "$dir/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "build-image: downloading $pkg $version" >&2
(cd "$work" && chmod 777 . && apt-get download -q "$pkg=$version" >&2) || die "apt-get download $pkg failed"
dpkg-deb -x "$work"/*.deb "$work/pkg"
kver=$(ls "$work/pkg/lib/modules" | head -1)
[ -n "$kver" ] || die "$pkg holds no modules"
cp "$work/pkg/boot/vmlinuz-$kver" "$dir/vmlinuz.tmp"

# The initramfs: busybox, the vsock modules in load order, and init.
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,modules}
cp /bin/busybox "$root/bin/busybox"
for tool in sh mount insmod ip poweroff sleep cat echo dmesg uname date; do
	ln -s busybox "$root/bin/$tool"
done
moddir=$work/pkg/lib/modules/$kver/kernel/net/vmw_vsock
n=0
for m in vsock vmw_vsock_virtio_transport_common vsock_loopback; do
	src=$(ls "$moddir/$m.ko"* 2>/dev/null | head -1)
	[ -n "$src" ] || die "$pkg has no module $m"
	n=$((n + 1))
	case $src in
	*.xz) xz -dc "$src" >"$root/modules/$n-$m.ko" ;;
	*.zst) zstd -dqc "$src" >"$root/modules/$n-$m.ko" ;;
	*) cp "$src" "$root/modules/$n-$m.ko" ;;
	esac
done
# For the vhost-user topology: the kernel's own virtio-pci and virtio-vsock drivers, loaded
# only when init is told so (the loopback reference stays without them).
mkdir -p "$root/modules-virtio"
n=0
for m in drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev \
	drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci \
	net/vmw_vsock/vmw_vsock_virtio_transport; do
	src=$(ls "$work/pkg/lib/modules/$kver/kernel/$m.ko"* 2>/dev/null | head -1 || true)
	[ -n "$src" ] || continue	# built in
	n=$((n + 1))
	case $src in
	*.xz) xz -dc "$src" >"$root/modules-virtio/$n-$(basename "$m").ko" ;;
	*.zst) zstd -dqc "$src" >"$root/modules-virtio/$n-$(basename "$m").ko" ;;
	*) cp "$src" "$root/modules-virtio/$n-$(basename "$m").ko" ;;
	esac
done
cp "$here/init" "$root/init"
chmod 755 "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$dir/base.cpio.gz.tmp"
echo "$kver" >"$dir/kernel-release"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
mv "$dir/base.cpio.gz.tmp" "$dir/base.cpio.gz"
echo "build-image: $column = $pkg $version ($kver) in $dir" >&2
echo "$dir"
