/* SPDX-License-Identifier: MIT */
/*
 * Stand-ins for the sendpath backends while the stack is not part of the
 * build (meson finds no sendpath_dep): they report themselves skipped, so
 * the report says why their rows are absent.
 */
#include <stdio.h>

#include "bench.h"

#if !defined(HAVE_SENDPATH_UDP) || !defined(HAVE_SENDPATH_VSOCK)
static int absent_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	(void)cfg;
	snprintf(why, len, "the sendpath stack (stack/, sendpath_dep) is not in this build yet");
	return 1;
}

static int absent_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	(void)cfg;
	(void)pt;
	snprintf(row->note, sizeof(row->note), "not built");
	return -1;
}
#endif

#ifndef HAVE_SENDPATH_UDP
const struct bench_backend bench_sendpath_udp = {
	.name = "sendpath-udp",
	.about = "sendpath UDP stack over net_virtio_user -> sp-net-sink (net_vhost)",
	.setup = absent_setup,
	.run = absent_run,
};
#endif

#ifndef HAVE_SENDPATH_VSOCK
const struct bench_backend bench_sendpath_vsock = {
	.name = "sendpath-vsock",
	.about = "sendpath vsock stream over the virtio-vsock PMD -> sp-vhost-vsock (sink)",
	.setup = absent_setup,
	.run = absent_run,
};
#endif
