#!/usr/bin/env bash
# Make this machine ready for sendpath: Debian packages, hugepages, no leftovers of crashed runs.
# Idempotent; every problem is one line on stderr. Sourced by main.sh and test.sh.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

say() { echo "setup: $*" >&2; }

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		say "must run as root ($1); try: sudo $0"
		exit 1
	fi
}

install_packages() {
	local missing=()
	while read -r pkg; do
		[ -z "$pkg" ] && continue
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
	done < <(sed 's/#.*//' "$here/packages.txt" | tr -s ' \t' '\n')
	[ ${#missing[@]} -eq 0 ] && return 0
	need_root "to install ${missing[*]}"
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/sendpath-apt.log 2>&1; then
		apt-get update -q >>/tmp/sendpath-apt.log 2>&1 || true
		apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/sendpath-apt.log 2>&1 ||
			{ say "apt-get could not install ${missing[*]} (see /tmp/sendpath-apt.log)"; exit 1; }
	fi
}

# Hugepages when the kernel gives them; otherwise the programs fall back to --no-huge (env/sp_env.c).
reserve_hugepages() {
	local want=${SP_HUGEPAGES:-1024} nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
	if [ "${SP_NO_HUGE:-0}" = 1 ]; then
		say "hugepages: off (SP_NO_HUGE=1); DPDK runs with --no-huge, fd-backed 4 KiB pages"
		return 0
	fi
	if [ ! -w "$nr" ] || ! { [ "$(cat "$nr")" -ge "$want" ] || echo "$want" >"$nr"; } 2>/dev/null; then
		say "hugepages: cannot reserve 2 MiB pages here; DPDK runs with --no-huge, fd-backed 4 KiB pages (slower)"
		return 0
	fi
	mkdir -p /dev/hugepages
	if ! grep -q "^[^ ]* /dev/hugepages hugetlbfs" /proc/mounts; then
		mount -t hugetlbfs -o mode=0700 nodev /dev/hugepages 2>/dev/null ||
			{ say "hugepages: cannot mount hugetlbfs on /dev/hugepages; DPDK runs with --no-huge"; return 0; }
	fi
	local got; got=$(cat "$nr")
	if [ "$got" -lt 64 ]; then
		say "hugepages: the kernel gave only $got pages; DPDK runs with --no-huge"
	else
		say "hugepages: $got x 2 MiB reserved, hugetlbfs on /dev/hugepages"
	fi
}

# DPDK runtime dirs and hugepage files of sendpath processes that no longer run (see env/sp_env.c).
clean_stale() {
	local d pid gone=()
	for d in /var/run/dpdk/sp-*; do
		[ -d "$d" ] || continue
		pid=${d##*-}
		if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
			gone+=("${d##*/}")
			rm -rf "$d" /dev/hugepages/"${d##*/}"map_* 2>/dev/null || true
		fi
	done
	# Hugepage files whose process is gone (their runtime dir may already be removed).
	for d in /dev/hugepages/sp-*map_*; do
		[ -e "$d" ] || continue
		pid=${d##*/}; pid=${pid%%map_*}; pid=${pid##*-}
		if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
			rm -f "$d" 2>/dev/null || true
		fi
	done
	[ ${#gone[@]} -eq 0 ] || say "removed stale DPDK prefixes of processes that are gone: ${gone[*]}"
}

# "setup.sh clean" only removes leftovers (used by the tests); sourcing the script does everything.
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = clean ]; then
	clean_stale
	exit 0
fi

install_packages
if [ "$(id -u)" -eq 0 ]; then
	reserve_hugepages
	clean_stale
else
	say "not root: hugepages not reserved; DPDK runs with --no-huge"
fi
