/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "sp_env.h"

#include <errno.h>
#include <numa.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>

static struct sp_env_info info;
static bool eal_up;

static unsigned long meminfo_value(const char *key)
{
	char line[128];
	unsigned long v = 0;
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			v = strtoul(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

static bool hugetlbfs_mounted(void)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/mounts", "r");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, " hugetlbfs ") != NULL;
	fclose(f);
	return found;
}

/* Hugepages are used only when enough are free right now; else --no-huge and the reason. */
static bool choose_hugepages(unsigned int mem_mb, char *why, size_t len)
{
	const char *off = getenv("SP_NO_HUGE");
	unsigned long free_kb;

	if (off && *off && strcmp(off, "0")) {
		snprintf(why, len, "SP_NO_HUGE is set");
		return false;
	}
	if (!hugetlbfs_mounted()) {
		snprintf(why, len, "no hugetlbfs mounted");
		return false;
	}
	free_kb = meminfo_value("HugePages_Free") * meminfo_value("Hugepagesize");
	if (free_kb / 1024 < mem_mb) {
		snprintf(why, len, "%lu MiB of hugepages free, %u MiB needed", free_kb / 1024, mem_mb);
		return false;
	}
	return true;
}

static int choose_cpu(int cpu)
{
	const char *s = getenv("SP_CPU");
	cpu_set_t set;

	if (cpu < 0)
		cpu = s && *s ? atoi(s) : 0;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && !CPU_ISSET(cpu, &set)) {
		fprintf(stderr, "env: CPU %d is not available to this process\n", cpu);
		return -1;
	}
	return cpu;
}

int sp_env_init(const struct sp_env_cfg *cfg)
{
	char lcores[32], mem[16], prefix_arg[80];
	char *argv[64];
	int argc = 0, cpu, i;
	const char *name = cfg->name ? cfg->name : "app";
	const char *loglevel = getenv("SP_LOG_LEVEL");

	if (eal_up) {
		fprintf(stderr, "env: EAL is already running in this process\n");
		return -1;
	}
	memset(&info, 0, sizeof(info));
	info.mem_mb = cfg->mem_mb ? cfg->mem_mb : 256;
	cpu = choose_cpu(cfg->cpu);
	if (cpu < 0)
		return -1;
	info.cpu = cpu;
	info.numa_node = numa_available() >= 0 ? numa_node_of_cpu(cpu) : 0;
	if (info.numa_node < 0)
		info.numa_node = 0;
	info.hugepages = choose_hugepages(info.mem_mb, info.why_no_huge, sizeof(info.why_no_huge));
	/* The pid in the prefix lets scripts/setup.sh tell a crashed run's files from a live one's. */
	snprintf(info.prefix, sizeof(info.prefix), "sp-%s-%d", name, (int)getpid());

	snprintf(lcores, sizeof(lcores), "0@%d", cpu);
	snprintf(mem, sizeof(mem), "%u", info.mem_mb);
	snprintf(prefix_arg, sizeof(prefix_arg), "--file-prefix=%s", info.prefix);
	argv[argc++] = (char *)name;
	argv[argc++] = "--lcores";
	argv[argc++] = lcores;
	argv[argc++] = prefix_arg;
	if (info.hugepages) {
		/* Hugepage files unlinked at once (memfd): a crash leaves nothing behind. */
		argv[argc++] = "--in-memory";
	} else {
		/* --in-memory implies legacy memory with --no-huge, which EAL refuses. */
		argv[argc++] = "--no-huge";
		argv[argc++] = "--no-shconf";
		argv[argc++] = "-m";
		argv[argc++] = mem;
	}
	/* vhost-user maps our memory by fd: one fd per segment list, not one per page. */
	if (cfg->shares_memory)
		argv[argc++] = "--single-file-segments";
	if (!cfg->pci)
		argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--log-level";
	argv[argc++] = (char *)(loglevel && *loglevel ? loglevel : "*:warning");
	for (i = 0; i < SP_ENV_MAX_VDEVS && cfg->vdevs[i]; i++) {
		argv[argc++] = "--vdev";
		argv[argc++] = (char *)cfg->vdevs[i];
	}
	for (i = 0; i < cfg->extra_argc && argc < (int)(sizeof(argv) / sizeof(argv[0])) - 1; i++)
		argv[argc++] = cfg->extra_argv[i];
	argv[argc] = NULL;

	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "env: DPDK EAL did not start: %s (%s, prefix %s)\n",
			rte_strerror(rte_errno),
			info.hugepages ? "hugepages" : "--no-huge", info.prefix);
		return -1;
	}
	eal_up = true;
	if (!cfg->quiet)
		sp_env_describe(stderr);
	return 0;
}

const struct sp_env_info *sp_env_info(void)
{
	return &info;
}

void sp_env_describe(FILE *f)
{
	if (info.hugepages)
		fprintf(f, "env: hugepages 2MiB, %u MiB, prefix %s, cpu %d (numa node %d)\n",
			info.mem_mb, info.prefix, info.cpu, info.numa_node);
	else
		fprintf(f, "env: --no-huge (%s): fd-backed 4 KiB pages, slower; %u MiB, prefix %s, cpu %d (numa node %d)\n",
			info.why_no_huge, info.mem_mb, info.prefix, info.cpu, info.numa_node);
}

void sp_env_fini(void)
{
	if (!eal_up)
		return;
	rte_eal_cleanup();
	eal_up = false;
}

const char *sp_env_run_path(const char *name, char *buf, size_t len)
{
	static char dir[108];
	const char *s = getenv("SP_RUN_DIR");

	if (s && *s)
		snprintf(dir, sizeof(dir), "%s", s);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/sendpath");
	else
		snprintf(dir, sizeof(dir), "/tmp/sendpath-%u", (unsigned int)geteuid());
	/* Owner-only: whoever can reach a vhost-user socket can read our memory. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return NULL;
	if (!name)
		return dir;
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len)
		return NULL;
	return buf;
}

int sp_env_clear_stale_socket(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "env: %s exists and is not a socket; not touching it\n", path);
		return -1;
	}
	if (strlen(path) >= sizeof(sa.sun_path))
		return -1;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	close(fd);
	if (r == 0) {
		fprintf(stderr, "env: %s is in use by a running process\n", path);
		return -1;
	}
	fprintf(stderr, "env: removing stale socket %s left by a crashed run\n", path);
	return unlink(path);
}
