/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
/* rte_dev_iterator_* (device probe check) is still experimental in 22.11. */
#define ALLOW_EXPERIMENTAL_API
#include "sp_env.h"

#include <errno.h>
#include <limits.h>
#include <numa.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_dev.h>
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
	char *end;
	long v;

	if (cpu < 0 && s && *s) {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno || *end || v < 0 || v >= CPU_SETSIZE) {
			fprintf(stderr, "env: SP_CPU=%s is not a CPU number\n", s);
			return -1;
		}
		cpu = (int)v;
	} else if (cpu < 0) {
		cpu = 0;
	}
	if (cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof(set), &set) < 0 ||
	    !CPU_ISSET(cpu, &set)) {
		fprintf(stderr, "env: CPU %d is not available to this process (%ld online)\n",
			cpu, sysconf(_SC_NPROCESSORS_ONLN));
		return -1;
	}
	return cpu;
}

/*
 * EAL reports a failed start over many lines (getopt, log, a usage page on
 * stdout). Its output is captured while it starts: replayed as is when it
 * starts, boiled down to the line that names the cause when it does not.
 */
struct eal_capture {
	int fd, saved_out, saved_err;
};

static int capture_begin(struct eal_capture *c)
{
	fflush(stdout);
	fflush(stderr);
	c->fd = memfd_create("sp-env-eal", MFD_CLOEXEC);
	if (c->fd < 0)
		return -1;
	c->saved_out = dup(STDOUT_FILENO);
	c->saved_err = dup(STDERR_FILENO);
	if (c->saved_out < 0 || c->saved_err < 0) {    /* stdout or stderr closed: no capture */
		if (c->saved_out >= 0)
			close(c->saved_out);
		if (c->saved_err >= 0)
			close(c->saved_err);
		close(c->fd);
		return -1;
	}
	dup2(c->fd, STDOUT_FILENO);
	dup2(c->fd, STDERR_FILENO);
	return 0;
}

/* Restores stdout/stderr; returns what EAL wrote, NUL-terminated (caller frees). */
static char *capture_end(struct eal_capture *c)
{
	char *text;
	off_t len;

	fflush(stdout);
	fflush(stderr);
	dup2(c->saved_out, STDOUT_FILENO);
	dup2(c->saved_err, STDERR_FILENO);
	close(c->saved_out);
	close(c->saved_err);
	len = lseek(c->fd, 0, SEEK_END);
	if (len < 0)
		len = 0;
	if (len > 1 << 20)
		len = 1 << 20;
	text = calloc(1, (size_t)len + 1);
	if (text && len > 0 && pread(c->fd, text, (size_t)len, 0) < 0)
		text[0] = '\0';
	close(c->fd);
	return text;
}

/* EAL's output of a good start, less the line about unreserved 1 GiB pages. */
static void replay(char *text)
{
	char *line, *save = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strstr(line, "No free 1048576 kB hugepages"))
			fprintf(stderr, "%s\n", line);
}

static bool has_any(const char *line, const char *const *words)
{
	for (; *words; words++)
		if (strstr(line, *words))
			return true;
	return false;
}

/* The line of EAL's output that says why it failed, else dflt, into out. */
static void eal_failure_reason(char *text, const char *dflt, char *out, size_t len)
{
	static const char *const getopt_words[] = { "unrecognized option", "invalid option",
		"requires an argument", "allow an argument", "is ambiguous", NULL };
	static const char *const error_words[] = { "ail", "annot", "rror", "nvalid",
		"not supported", "No such", "denied", NULL };
	char *line, *save = NULL, *cause = NULL, *fatal = NULL;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "Usage:", 6))
			break;          /* the rest is EAL's usage page */
		if (has_any(line, getopt_words)) {
			cause = strstr(line, ": ") ? strstr(line, ": ") + 2 : line;
			break;
		}
		if (strstr(line, "FATAL: ")) {
			if (!fatal)
				fatal = strstr(line, "FATAL: ") + 7;
		} else if (!cause && has_any(line, error_words)) {
			cause = line;
		}
	}
	if (cause && fatal)
		snprintf(out, len, "%s; %s", fatal, cause);
	else
		snprintf(out, len, "%s", cause ? cause : fatal ? fatal : dflt);
}

/* The first vdev of cfg that no driver took, or NULL; its name goes into buf. */
static const char *unprobed_vdev(const struct sp_env_cfg *cfg, char *buf, size_t len)
{
	struct rte_dev_iterator it;
	struct rte_device *dev;
	bool probed;
	int i;

	for (i = 0; i < SP_ENV_MAX_VDEVS && cfg->vdevs[i]; i++) {
		snprintf(buf, len, "%.*s", (int)strcspn(cfg->vdevs[i], ","), cfg->vdevs[i]);
		probed = false;
		RTE_DEV_FOREACH(dev, "bus=vdev", &it)
			probed |= !strcmp(rte_dev_name(dev), buf) && rte_dev_is_probed(dev);
		if (!probed)
			return buf;
	}
	return NULL;
}

int sp_env_init(const struct sp_env_cfg *cfg)
{
	char lcores[32], mem[16], prefix_arg[80];
	char *argv[64];
	int argc = 0, cpu, i, ret, eal_errno;
	struct eal_capture cap;
	bool captured;
	char *text, dev_name[64];
	const char *failed_dev, *dflt;
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

	captured = capture_begin(&cap) == 0;
	ret = rte_eal_init(argc, argv);
	eal_errno = rte_errno;
	text = captured ? capture_end(&cap) : NULL;
	/* EAL starts even when a vdev fails to probe; a program without its device cannot. */
	failed_dev = ret < 0 ? NULL : unprobed_vdev(cfg, dev_name, sizeof(dev_name));
	if (ret < 0 || failed_dev) {
		char reason[256];

		if (text && loglevel && *loglevel)
			fputs(text, stderr);    /* asked for details: all of it */
		dflt = failed_dev ? "no driver took it (is its PMD built and installed?)" :
				    rte_strerror(eal_errno);
		if (text)
			eal_failure_reason(text, dflt, reason, sizeof(reason));
		else
			snprintf(reason, sizeof(reason), "%s", dflt);
		fprintf(stderr, "env: %s%s did not start: %s (%s, prefix %s)\n",
			failed_dev ? "device " : "DPDK EAL", failed_dev ? failed_dev : "", reason,
			info.hugepages ? "hugepages" : "--no-huge", info.prefix);
		free(text);
		if (failed_dev) {
			eal_up = true;
			sp_env_fini();
		} else {
			rmdir(rte_eal_get_runtime_dir());       /* if EAL got as far as making it */
		}
		rte_errno = failed_dev ? ENODEV : eal_errno;
		return -1;
	}
	if (text)
		replay(text);
	free(text);
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
	char rundir[PATH_MAX];

	if (!eal_up)
		return;
	snprintf(rundir, sizeof(rundir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	/* EAL leaves its (empty, with --in-memory/--no-shconf) runtime dir behind. */
	rmdir(rundir);
	eal_up = false;
}

const char *sp_env_run_path(const char *name, char *buf, size_t len)
{
	static char dir[108];
	const char *s = getenv("SP_RUN_DIR");
	struct stat st;

	if (s && *s)
		snprintf(dir, sizeof(dir), "%s", s);
	else if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/sendpath");
	else
		snprintf(dir, sizeof(dir), "/tmp/sendpath-%u", (unsigned int)geteuid());
	/* Owner-only: whoever can reach a vhost-user socket can read our memory. */
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return NULL;
	if (lstat(dir, &st) < 0)
		return NULL;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid()) {
		fprintf(stderr, "env: %s is not a directory of user %u; not using it\n", dir,
			(unsigned int)geteuid());
		errno = EPERM;
		return NULL;
	}
	if ((st.st_mode & 077) && chmod(dir, 0700) < 0)
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
