#!/usr/bin/env bash
# The whole conformance suite: every column of the matrix, then the comparison.
#
#   conformance/run.sh [--build-dir DIR] [--out-dir DIR] [--columns LIST] [--only GLOBS]
#
# Columns: host (UDP on this machine's kernel, in a network namespace of the runner's own),
# one per line of guest/kernels.conf (vsock + UDP inside a QEMU guest), and sendpath (the
# meson-built runner with the stack, when it is built). Default: all of them, plus "vhost":
# each kernel's own virtio-vsock driver against sp-vhost-vsock through vhost-user-vsock-pci
# (guest/run-vhost-guest.sh), reported in the matrix under "topologies".
# Output in OUT-DIR (default <repo>/report/conformance): one trace JSON per column and
# conformance.json, the matrix (format: conformance/README.md). Exit 1 on any unexplained
# divergence or error.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
build=$repo/build
out=$repo/report/conformance
columns=""
only=""
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) build=$(cd "$2" && pwd); shift 2 ;;
	--out-dir) out=$2; shift 2 ;;
	--columns) columns=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: run.sh [--build-dir DIR] [--out-dir DIR] [--columns LIST] [--only GLOBS]" >&2
	   exit 2 ;;
	esac
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
kernels=$(awk '!/^#/ && NF >= 2 { print $1 }' "$here/guest/kernels.conf")
reference=$(echo "$kernels" | tail -1)
[ -n "$columns" ] || columns="host $(echo $kernels) sendpath vhost"
columns=${columns//,/ }
only_args=()
[ -z "$only" ] || only_args=(--only "$only")

# The kernel-backend runner, static so that the guest needs nothing but the kernel.
static=$out/sp-conformance-static
srcs=(sc.c runner.c backend_kernel.c backend_sendpath_stub.c scn_vsock.c scn_udp.c)
if [ ! -x "$static" ] || [ -n "$(cd "$here" && find "${srcs[@]}" sc.h sc_runner.h -newer "$static")" ]; then
	(cd "$here" && ${CC:-cc} -static -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror \
		-Wno-unused-parameter -pthread -o "$static" "${srcs[@]}")
fi

check=$out/sp-vhost-check-static
if [ ! -x "$check" ] || [ "$here/guest/vhost_check.c" -nt "$check" ]; then
	${CC:-cc} -static -O2 -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -o "$check" \
		"$here/guest/vhost_check.c"
fi

traces=()
topologies=()
for col in $columns; do
	t0=$(date +%s.%N)
	case $col in
	host)
		# UDP on the host kernel; vsock scenarios report why they do not run here.
		"$static" --backend kernel --netns --lo-mtu 1500 --column host --settle-ms 50 --jobs 4 \
			"${only_args[@]}" --out "$out/host.json" 2>"$out/host.log" ||
			{ echo "conformance: host runner failed" >&2; cat "$out/host.log" >&2; exit 1; }
		;;
	sendpath)
		sp=$build/conformance/sp-conformance
		if [ -x "$sp" ] && "$sp" --has-sendpath >/dev/null 2>&1; then
			export SP_VHOST_VSOCK=${SP_VHOST_VSOCK:-$build/pmd/backend/sp-vhost-vsock}
			timeout 900 "$sp" --backend sendpath --netns --column sendpath --jobs 3 "${only_args[@]}" \
				--out "$out/sendpath.json" 2>"$out/sendpath.log" ||
				{ echo "conformance: sendpath runner failed" >&2; tail -20 "$out/sendpath.log" >&2; exit 1; }
		else
			why="sendpath stack not built yet (no $sp with the sendpath backend)"
			printf '{"format": "sp-conformance-trace/1", "backend": "sendpath", "column": "sendpath", "skipped": "%s", "scenarios": []}\n' \
				"$why" >"$out/sendpath.json"
		fi
		;;
	vhost)
		vb=${SP_VHOST_VSOCK:-$build/pmd/backend/sp-vhost-vsock}
		if [ -x "$vb" ]; then
			for k in $kernels; do
				"$here/guest/run-vhost-guest.sh" "$k" "$vb" "$check" "$out/vhost-$k.json" \
					>"$out/vhost-$k.log" 2>&1 || true	# judged in compare.py
				[ -f "$out/vhost-$k.json" ] ||
					printf '{"format": "sp-vhost-guest/1", "column": "%s", "ok": false, "error": "no result (see vhost-%s.log)"}\n' \
						"$k" "$k" >"$out/vhost-$k.json"
				topologies+=(--topology "$out/vhost-$k.json")
			done
		else
			echo "conformance: no sp-vhost-vsock at $vb: vhost topology not run" >&2
		fi
		printf 'conformance: column %-12s %6.1f s\n' "$col" \
			"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
		continue
		;;
	*)
		echo "$kernels" | grep -qx "$col" || { echo "conformance: unknown column $col" >&2; exit 2; }
		"$here/guest/run-guest.sh" "$col" "$static" "$out/$col.json" --lo-mtu 1500 \
			--settle-ms 200 --read-wait-ms 800 "${only_args[@]}" \
			2>"$out/$col.log" ||
			{ echo "conformance: guest $col failed" >&2; tail -40 "$out/$col.log" >&2; exit 1; }
		;;
	esac
	printf 'conformance: column %-12s %6.1f s\n' "$col" \
		"$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
	traces+=("$out/$col.json")
done

python3 "$here/compare.py" --out "$out/conformance.json" --accepted "$here/accepted.json" \
	--reference "vsock=$reference" --reference "udp=host" "${topologies[@]}" "${traces[@]}"
