/* SPDX-License-Identifier: MIT */
/*
 * kernel-vsock: the kernel's vsock stream send path, measured inside a QEMU
 * guest (software emulation, -nodefaults -nic none) over the guest kernel's
 * vsock_loopback: bench/guest/run.sh boots the newest reference kernel of
 * conformance/guest/kernels.conf with the static sp-bench-guest, once for the
 * whole sweep; the points are then read from its lines. The CPU is emulated,
 * so these rows say what the kernel path does, not how fast it is natively.
 * This program itself never opens an AF_VSOCK socket: the machine's own vsock
 * device leads to a host that is not ours.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MAX_CACHED (BENCH_MAX_SIZES * BENCH_MAX_BATCHES)

struct guest_row {
	unsigned int size, batch;
	unsigned long long measured, sent, received, lat[5], cpu_ns, calls;
	double seconds;
};

static struct guest_row cached[MAX_CACHED];
static unsigned int nr_cached;
static char kernel[64];

static int kvsock_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	char guest[600], cmd[2048], line[512], sizes[256] = "", batches[128] = "";
	unsigned int i, off = 0;
	FILE *p;

	if (cfg->rate > 0) {
		snprintf(why, len, "the guest run cannot pace (--rate)");
		return 1;
	}
	snprintf(guest, sizeof(guest), "%s/bench/sp-bench-guest", cfg->build_dir);
	if (access(guest, X_OK) || access(SP_SOURCE_DIR "/bench/guest/run.sh", X_OK)) {
		snprintf(why, len, "sp-bench-guest or bench/guest/run.sh missing");
		return 1;
	}
	if (system("command -v qemu-system-x86_64 >/dev/null 2>&1")) {
		snprintf(why, len, "qemu-system-x86_64 not installed");
		return 1;
	}
	for (i = 0; i < cfg->nr_sizes; i++)
		off += (unsigned int)snprintf(sizes + off, sizeof(sizes) - off, "%s%u", i ? "," : "", cfg->sizes[i]);
	for (i = 0, off = 0; i < cfg->nr_batches; i++)
		off += (unsigned int)snprintf(batches + off, sizeof(batches) - off, "%s%u", i ? "," : "", cfg->batches[i]);
	snprintf(cmd, sizeof(cmd), "%s/bench/guest/run.sh %s %g %g %s %s 2>/dev/null", SP_SOURCE_DIR, guest,
		 cfg->duration, cfg->warmup, sizes, batches);
	fprintf(stderr, "kernel-vsock: booting a QEMU guest for the whole sweep (emulated CPU) ...\n");
	p = popen(cmd, "r");
	if (!p) {
		snprintf(why, len, "cannot run bench/guest/run.sh");
		return -1;
	}
	while (fgets(line, sizeof(line), p) && nr_cached < MAX_CACHED) {
		struct guest_row *g = &cached[nr_cached];

		if (sscanf(line, "kernel %63s", kernel) == 1)
			continue;
		if (sscanf(line, "row %u %u %llu %lf %llu %llu %llu %llu %llu %llu %llu %llu %llu", &g->size,
			   &g->batch, &g->measured, &g->seconds, &g->sent, &g->received, &g->lat[0], &g->lat[1],
			   &g->lat[2], &g->lat[3], &g->lat[4], &g->cpu_ns, &g->calls) == 13)
			nr_cached++;
	}
	if (pclose(p) != 0 || !nr_cached) {
		snprintf(why, len, "the guest gave no results (bench/guest/run.sh; SP_GUEST_KEEP=1 keeps its console)");
		return -1;
	}
	return 0;
}

static int kvsock_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	unsigned int i;

	(void)cfg;
	for (i = 0; i < nr_cached; i++) {
		const struct guest_row *g = &cached[i];

		if (g->size != pt->size || g->batch != pt->batch)
			continue;
		snprintf(row->target, sizeof(row->target), "qemu-guest");
		snprintf(row->call, sizeof(row->call), "%s", pt->batch > 1 ? "sendmmsg" : "send");
		row->measured = g->measured;
		row->seconds = g->seconds;
		row->sent = g->sent;
		row->received = g->received;
		row->cpu_ns = g->cpu_ns;
		row->calls = g->calls;
		row->tsc_cycles = 0;  /* the guest's clock, not this machine's TSC */
		row->have_ext_latency = g->lat[4] > 0;
		memcpy(row->ext_lat, g->lat, sizeof(row->ext_lat));
		snprintf(row->note, sizeof(row->note), "EMULATED (QEMU TCG guest, kernel %.40s, vsock_loopback): not comparable in speed",
			 kernel);
		return 0;
	}
	snprintf(row->note, sizeof(row->note), "the guest has no row for this point");
	return -1;
}

const struct bench_backend bench_kernel_vsock = {
	.name = "kernel-vsock",
	.about = "Linux vsock stream inside a QEMU guest over vsock_loopback (emulated CPU: not comparable in speed)",
	.setup = kvsock_setup,
	.run = kvsock_run,
};
