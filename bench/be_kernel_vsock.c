/* SPDX-License-Identifier: MIT */
/*
 * kernel-vsock: the kernel's vsock stream send path. On this kind of machine
 * the only safe kernel vsock is inside a QEMU guest (software emulation, so
 * its numbers are flagged emulated); the machine's own vsock device leads to
 * a host that is not ours, and this program never opens AF_VSOCK itself.
 * Until the guest harness carries a bench scenario the backend says so.
 */
#include <stdio.h>

#include "bench.h"

static int kvsock_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	(void)cfg;
	snprintf(why, len, "runs only inside a QEMU guest (emulated); guest bench harness not built yet");
	return 1;
}

static int kvsock_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	(void)cfg;
	(void)pt;
	snprintf(row->note, sizeof(row->note), "not available");
	return -1;
}

const struct bench_backend bench_kernel_vsock = {
	.name = "kernel-vsock",
	.about = "Linux vsock stream inside a QEMU guest (emulated CPU: not comparable in speed)",
	.setup = kvsock_setup,
	.run = kvsock_run,
};
