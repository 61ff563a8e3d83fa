/* SPDX-License-Identifier: MIT */
/* What the numbers were measured on, so that runs can be compared later. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

static void read_first(const char *path, const char *key, char *out, size_t len)
{
	char line[256], *p;
	FILE *f = fopen(path, "r");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, strlen(key)))
			continue;
		p = strchr(line, ':');
		if (!p)
			continue;
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		p[strcspn(p, "\n")] = 0;
		snprintf(out, len, "%s", p);
		break;
	}
	fclose(f);
}

/* The DPDK the peers and testpmd run on: pkg-config knows the installed one. */
static void dpdk_version(char *out, size_t len)
{
	FILE *p = popen("pkg-config --modversion libdpdk 2>/dev/null", "r");

	snprintf(out, len, "unknown");
	if (!p)
		return;
	if (fgets(out, (int)len, p))
		out[strcspn(out, "\n")] = 0;
	pclose(p);
}

void bench_machine_describe(struct bench_machine *m, const struct bench_cfg *cfg)
{
	struct utsname u;
	char total[32] = "0", free_[32] = "0";
	const char *no = getenv("SP_NO_HUGE");
	time_t now = time(NULL);

	memset(m, 0, sizeof(*m));
	snprintf(m->cpu_model, sizeof(m->cpu_model), "unknown");
	read_first("/proc/cpuinfo", "model name", m->cpu_model, sizeof(m->cpu_model));
	m->cpus_online = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(m->kernel, sizeof(m->kernel), "%s %s", u.sysname, u.release);
	gethostname(m->hostname, sizeof(m->hostname) - 1);
	dpdk_version(m->dpdk_version, sizeof(m->dpdk_version));
	read_first("/proc/meminfo", "HugePages_Total", total, sizeof(total));
	read_first("/proc/meminfo", "HugePages_Free", free_, sizeof(free_));
	m->hugepages = atoi(total) > 0 && !(no && *no && strcmp(no, "0"));
	snprintf(m->hugepages_note, sizeof(m->hugepages_note), "%s x 2 MiB reserved, %s free%s",
		 total, free_, no && *no && strcmp(no, "0") ? ", SP_NO_HUGE=1 (--no-huge)" : "");
	m->tsc_ghz = bench_tsc_hz() / 1e9;
	{
		FILE *f = fopen("/proc/loadavg", "r");

		if (f) {
			if (fgets(m->loadavg, sizeof(m->loadavg), f))
				m->loadavg[strcspn(m->loadavg, "\n")] = 0;
			fclose(f);
		}
	}
	strftime(m->date, sizeof(m->date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	(void)cfg;
}

/*
 * Single-core copy bandwidth with `block`-byte copies: a hot source (as an
 * application's send buffer is) into destinations rotating through 16 MiB,
 * which is what a send path that copies into ring buffers does at best.
 */
double bench_memcpy_gbit(unsigned int block, double seconds)
{
	size_t span = 16u << 20, off = 0;
	uint64_t bytes = 0, t0, t1, end;
	char *src, *dst;

	src = malloc(block);
	dst = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!src || dst == MAP_FAILED) {
		free(src);
		return 0;
	}
	memset(src, 0x5a, block);
	memset(dst, 0, span);
	t0 = bench_tsc();
	end = t0 + (uint64_t)(seconds * bench_tsc_hz());
	do {
		memcpy(dst + off, src, block);
		__asm__ volatile("" : : "r"(dst) : "memory");
		off += block;
		if (off + block > span)
			off = 0;
		bytes += block;
	} while ((t1 = bench_tsc()) < end && !bench_stop);
	munmap(dst, span);
	free(src);
	return (double)bytes * 8 / ((double)(t1 - t0) / bench_tsc_hz()) / 1e9;
}
