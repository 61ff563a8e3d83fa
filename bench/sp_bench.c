/* SPDX-License-Identifier: MIT */
/*
 * sp-bench: the send paths side by side in one run.
 *
 * The parent walks the backends; each backend runs in a child process of its
 * own (DPDK's EAL lives once per process, and a crashing path must not take
 * the results of the others with it). Children send rows back over a pipe;
 * the parent prints the progress line and writes CSV and JSON, also after
 * Ctrl-C, with whatever was measured so far.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

volatile sig_atomic_t bench_stop;

static const struct bench_backend *const all_backends[] = {
	&bench_sendpath_vsock, &bench_sendpath_udp, &bench_kernel_udp,
	&bench_kernel_vsock, &bench_dpdk_txonly,
};
#define NR_ALL (sizeof(all_backends) / sizeof(all_backends[0]))

enum { MSG_STATUS, MSG_ROW, MSG_START };

struct msg {
	int type;
	struct bench_backend_status st;  /* MSG_STATUS */
	struct bench_point pt;           /* MSG_START */
	struct bench_row row;            /* MSG_ROW */
};

static void on_signal(int sig)
{
	(void)sig;
	bench_stop = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sp-bench [options]\n"
		"  --backends LIST   comma list of: sendpath-vsock,sendpath-udp,kernel-udp,kernel-vsock,dpdk-txonly\n"
		"                    (default: all; those that cannot run here are reported as skipped)\n"
		"  --sizes LIST      message sizes in bytes (default 16,64,256,1024,4096,16384,65536)\n"
		"  --batches LIST    messages per sendmmsg / burst (default 1,8,32,256)\n"
		"  --duration S      measured seconds per point (default 1)\n"
		"  --warmup S        seconds sent before measuring (default 0.2)\n"
		"  --rate N          offered messages/s, 0 = as fast as possible (default 0)\n"
		"  --cpus S,P        sender and peer CPUs (default 1,0)\n"
		"  --dontwait        MSG_DONTWAIT sends (EAGAIN counted) instead of blocking ones\n"
		"  --mmsg            use sendmmsg also for batch 1 (default: send)\n"
		"  --udp-target T    kernel-udp receiver: lo (default) or veth (own network namespaces, root)\n"
		"  --out DIR         write DIR/bench.csv and DIR/bench.json (default .)\n"
		"  --build DIR       build directory holding the peer programs (default: next to sp-bench)\n"
		"  --testpmd PATH    dpdk-testpmd binary (default dpdk-testpmd)\n"
		"  --vsock-buf N     sendpath-vsock peer's receive buffer (buf_alloc) in bytes, 4096..1073741824\n"
		"                    (default: the peer's own 262144, as the kernel's SO_VM_SOCKETS_BUFFER_SIZE)\n"
		"  --memcpy S        seconds for the memcpy bandwidth figure, 0 to skip (default 0.3)\n"
		"  -v                verbose\n");
}

static int parse_list(const char *s, unsigned int *out, unsigned int max, unsigned int lo,
		      unsigned int hi, const char *what)
{
	unsigned int n = 0;
	char *end;
	unsigned long v;

	while (*s) {
		errno = 0;
		v = strtoul(s, &end, 0);
		if (end == s || errno || v < lo || v > hi || (*end && *end != ',')) {
			fprintf(stderr, "sp-bench: bad %s list at '%s' (each %u..%u)\n", what, s, lo, hi);
			return -1;
		}
		if (n == max) {
			fprintf(stderr, "sp-bench: at most %u %s\n", max, what);
			return -1;
		}
		out[n++] = (unsigned int)v;
		s = *end ? end + 1 : end;
	}
	return (int)n;
}

static const struct bench_backend *find_backend(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NR_ALL; i++)
		if (strlen(all_backends[i]->name) == len && !strncmp(all_backends[i]->name, name, len))
			return all_backends[i];
	return NULL;
}

static void send_raw(int fd, const void *buf, size_t left)
{
	const char *p = buf;
	ssize_t w;

	while (left) {
		w = write(fd, p, left);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		left -= (size_t)w;
	}
}

static void send_msg(int fd, const struct msg *m)
{
	send_raw(fd, m, sizeof(*m));
}

/* Sizes a backend can carry: larger ones are clamped to its maximum, duplicates dropped. */
static unsigned int backend_sizes(const struct bench_backend *be, const struct bench_cfg *cfg,
				  unsigned int *sizes)
{
	unsigned int i, j, n = 0, max = be->max_size ? be->max_size(cfg) : ~0u, s;

	for (i = 0; i < cfg->nr_sizes; i++) {
		s = cfg->sizes[i] > max ? max : cfg->sizes[i];
		for (j = 0; j < n && sizes[j] != s; j++)
			;
		if (j == n)
			sizes[n++] = s;
	}
	return n;
}

static void child_main(const struct bench_backend *be, const struct bench_cfg *cfg, int fd,
		       unsigned int first_index, unsigned int total)
{
	struct msg *m = calloc(1, sizeof(*m));
	unsigned int sizes[BENCH_MAX_SIZES], nr_sizes, i, j, k = first_index;
	int r;

	if (!m)
		_exit(2);
	m->type = MSG_STATUS;
	m->st.name = NULL;
	r = be->setup ? be->setup(cfg, m->st.why, sizeof(m->st.why)) : 0;
	snprintf(m->st.status, sizeof(m->st.status), "%s", r == 0 ? "ok" : r > 0 ? "skipped" : "failed");
	send_msg(fd, m);
	if (r)
		_exit(0);
	nr_sizes = backend_sizes(be, cfg, sizes);
	for (j = 0; j < cfg->nr_batches && !bench_stop; j++) {
		for (i = 0; i < nr_sizes && !bench_stop; i++) {
			struct bench_point pt = { sizes[i], cfg->batches[j], k++, total };

			memset(m, 0, sizeof(*m));
			m->type = MSG_START;
			m->pt = pt;
			send_msg(fd, m);
			memset(m, 0, sizeof(*m));
			m->type = MSG_ROW;
			snprintf(m->row.backend, sizeof(m->row.backend), "%s", be->name);
			snprintf(m->row.mode, sizeof(m->row.mode), "%s", cfg->dontwait ? "dontwait" : "block");
			snprintf(m->row.status, sizeof(m->row.status), "ok");
			m->row.size = pt.size;
			m->row.batch = pt.batch;
			m->row.rate = cfg->rate;
			r = be->run(cfg, &pt, &m->row);
			if (r < 0) {
				snprintf(m->st.status, sizeof(m->st.status), "failed");
				snprintf(m->st.why, sizeof(m->st.why), "size %u batch %u: %s",
					 pt.size, pt.batch, m->row.note);
				m->type = MSG_STATUS;
				send_msg(fd, m);
				continue;
			}
			if (bench_stop)
				snprintf(m->row.status, sizeof(m->row.status), "partial");
			send_msg(fd, m);
		}
	}
	if (be->teardown)
		be->teardown();
	free(m);
	_exit(0);
}

static void progress(const struct bench_row *r, unsigned int index, unsigned int total)
{
	char lat[48] = "";

	if (r->have_ext_latency)
		snprintf(lat, sizeof(lat), "  p99 %.2f us", (double)r->ext_lat[2] / 1e3);
	else if (r->have_latency && r->lat.count)
		snprintf(lat, sizeof(lat), "  p99 %.2f us", (double)sp_hist_quantile(&r->lat, 0.99) / 1e3);
	fprintf(stderr, "[%3u/%u] %-15s size %-6u batch %-4u %9.3f Mmsg/s %8.3f Gbit/s%s  sent %llu recv %llu%s%s\n",
		index + 1, total, r->backend, r->size, r->batch, bench_row_msgs_per_s(r) / 1e6,
		bench_row_gbit_per_s(r), lat, (unsigned long long)r->sent,
		(unsigned long long)r->received, r->dropped ? " (dropped by path)" : "",
		strcmp(r->status, "ok") ? " [partial]" : "");
}

/* Runs one backend in its own process; rows land in *rows. Returns 0, or -1 when it had to be killed. */
static int run_backend(const struct bench_backend *be, const struct bench_cfg *cfg,
		       struct bench_backend_status *st, struct bench_row **rows, unsigned int *nr,
		       unsigned int *cap, unsigned int first_index, unsigned int total)
{
	struct msg *m = calloc(1, sizeof(*m));
	double limit = cfg->duration + cfg->warmup + 60;  /* a point that takes longer is hung */
	double setup_limit = 900;                         /* a set-up may boot a guest for the sweep */
	bool heard = false;
	struct pollfd pfd;
	size_t got = 0;
	int pfds[2], status, stop_sent = 0;
	pid_t pid;
	ssize_t n;
	time_t last = time(NULL);

	if (!m || pipe(pfds) < 0) {
		free(m);
		snprintf(st->status, sizeof(st->status), "failed");
		snprintf(st->why, sizeof(st->why), "no pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(pfds[0]);
		setpgid(0, 0);  /* its helpers (testpmd, peers) go with it on a kill */
		child_main(be, cfg, pfds[1], first_index, total);
	}
	close(pfds[1]);
	if (pid < 0) {
		close(pfds[0]);
		free(m);
		snprintf(st->status, sizeof(st->status), "failed");
		snprintf(st->why, sizeof(st->why), "fork: %s", strerror(errno));
		return -1;
	}
	setpgid(pid, pid);
	snprintf(st->status, sizeof(st->status), "not-run");
	pfd.fd = pfds[0];
	pfd.events = POLLIN;
	for (;;) {
		if (bench_stop && !stop_sent) {
			kill(-pid, SIGINT);
			stop_sent = 1;
			last = time(NULL);
		}
		if (poll(&pfd, 1, 200) <= 0) {
			if (difftime(time(NULL), last) > (stop_sent ? 20 : heard ? limit : setup_limit)) {
				fprintf(stderr, "sp-bench: %s stopped answering; killing it\n", be->name);
				kill(-pid, SIGKILL);
				snprintf(st->status, sizeof(st->status), "failed");
				snprintf(st->why, sizeof(st->why), "hung and was killed");
				break;
			}
			continue;
		}
		n = read(pfds[0], (char *)m + got, sizeof(*m) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got < sizeof(*m))
			continue;
		got = 0;
		last = time(NULL);
		heard = true;
		if (m->type == MSG_STATUS) {
			if (!strcmp(st->status, "failed") && strcmp(m->st.status, "failed"))
				continue;
			snprintf(st->status, sizeof(st->status), "%s", m->st.status);
			snprintf(st->why, sizeof(st->why), "%s", m->st.why);
			if (strcmp(m->st.status, "ok"))
				fprintf(stderr, "sp-bench: %s %s: %s\n", be->name, m->st.status, m->st.why);
		} else if (m->type == MSG_START) {
			if (cfg->verbose)
				fprintf(stderr, "[%3u/%u] %s size %u batch %u ...\n", m->pt.index + 1,
					m->pt.total, be->name, m->pt.size, m->pt.batch);
		} else if (m->type == MSG_ROW) {
			if (*nr == *cap) {
				struct bench_row *nrows;

				*cap = *cap ? *cap * 2 : 64;
				nrows = realloc(*rows, *cap * sizeof(**rows));
				if (!nrows)
					break;
				*rows = nrows;
			}
			(*rows)[(*nr)++] = m->row;
			st->rows++;
			progress(&m->row, first_index + st->rows - 1, total);
		}
	}
	close(pfds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(status) && strcmp(st->status, "failed")) {
		snprintf(st->status, sizeof(st->status), "failed");
		snprintf(st->why, sizeof(st->why), "crashed with signal %d after %u rows",
			 WTERMSIG(status), st->rows);
	}
	if (bench_stop && !strcmp(st->status, "ok"))
		snprintf(st->status, sizeof(st->status), "interrupted");
	free(m);
	return 0;
}

static void cmdline_string(int argc, char **argv, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = 0;
	for (i = 0; i < argc && off < len; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? " " : "", argv[i]);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "backends", required_argument, NULL, 'b' }, { "sizes", required_argument, NULL, 's' },
		{ "batches", required_argument, NULL, 'B' }, { "duration", required_argument, NULL, 'd' },
		{ "warmup", required_argument, NULL, 'w' }, { "rate", required_argument, NULL, 'r' },
		{ "cpus", required_argument, NULL, 'c' }, { "dontwait", no_argument, NULL, 'n' },
		{ "mmsg", no_argument, NULL, 'm' }, { "udp-target", required_argument, NULL, 'u' },
		{ "out", required_argument, NULL, 'o' }, { "build", required_argument, NULL, 'D' },
		{ "testpmd", required_argument, NULL, 'T' }, { "memcpy", required_argument, NULL, 'M' },
		{ "vsock-buf", required_argument, NULL, 'V' }, { "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct bench_cfg cfg = {
		.sizes = { 16, 64, 256, 1024, 4096, 16384, 65536 }, .nr_sizes = 7,
		.batches = { 1, 8, 32, 256 }, .nr_batches = 4,
		.duration = 1.0, .warmup = 0.2, .sender_cpu = 1, .peer_cpu = 0,
		.udp_target = "lo", .testpmd = "dpdk-testpmd",
	};
	const struct bench_backend *chosen[NR_ALL];
	struct bench_backend_status st[NR_ALL];
	struct bench_row *rows = NULL;
	unsigned int nchosen = 0, nr = 0, cap = 0, total = 0, i, j, sizes[BENCH_MAX_SIZES];
	const char *out = ".", *backends = NULL;
	char path[4096], cmd[2048];
	static char self_dir[PATH_MAX]; /* static: no leak on the early returns */
	struct bench_machine mach;
	struct sigaction sa = { .sa_handler = on_signal };
	double memcpy_s = 0.3, memcpy_gbit = 0;
	int c, n;

	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': backends = optarg; break;
		case 's':
			n = parse_list(optarg, cfg.sizes, BENCH_MAX_SIZES, BENCH_HDR_LEN, 1u << 20, "sizes");
			if (n <= 0)
				return 2;
			cfg.nr_sizes = (unsigned int)n;
			break;
		case 'B':
			n = parse_list(optarg, cfg.batches, BENCH_MAX_BATCHES, 1, BENCH_MAX_BATCH, "batches");
			if (n <= 0)
				return 2;
			cfg.nr_batches = (unsigned int)n;
			break;
		case 'd': cfg.duration = atof(optarg); break;
		case 'w': cfg.warmup = atof(optarg); break;
		case 'r': cfg.rate = atof(optarg); break;
		case 'c':
			if (sscanf(optarg, "%d,%d", &cfg.sender_cpu, &cfg.peer_cpu) != 2) {
				fprintf(stderr, "sp-bench: --cpus wants SENDER,PEER\n");
				return 2;
			}
			break;
		case 'n': cfg.dontwait = true; break;
		case 'm': cfg.force_mmsg = true; break;
		case 'u': cfg.udp_target = optarg; break;
		case 'o': out = optarg; break;
		case 'D': cfg.build_dir = optarg; break;
		case 'T': cfg.testpmd = optarg; break;
		case 'M': memcpy_s = atof(optarg); break;
		case 'V': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (*optarg == '-' || *end || v < 4096 || v > (1ul << 30)) {
				fprintf(stderr, "sp-bench: --vsock-buf wants bytes, 4096..1073741824\n");
				return 2;
			}
			cfg.vsock_buf = (unsigned int)v;
			break;
		}
		case 'v': cfg.verbose = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || cfg.duration <= 0 || cfg.duration > 3600 || cfg.warmup < 0 || cfg.rate < 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(cfg.udp_target, "lo") && strcmp(cfg.udp_target, "veth")) {
		fprintf(stderr, "sp-bench: --udp-target is lo or veth\n");
		return 2;
	}
	if (!cfg.build_dir) {
		/* peers are built in the same tree: <build>/bench/sp-bench -> <build> */
		if (realpath("/proc/self/exe", self_dir)) {
			char *slash = strrchr(self_dir, '/');

			if (slash)
				*slash = 0;
			slash = strrchr(self_dir, '/');
			if (slash)
				*slash = 0;
			cfg.build_dir = self_dir;
		} else {
			cfg.build_dir = ".";
		}
	}
	if (backends) {
		const char *p = backends;

		while (*p) {
			size_t len = strcspn(p, ",");
			const struct bench_backend *be = find_backend(p, len);

			if (!be) {
				fprintf(stderr, "sp-bench: unknown backend '%.*s'\n", (int)len, p);
				return 2;
			}
			for (j = 0; j < nchosen && chosen[j] != be; j++)
				;
			if (j == nchosen)
				chosen[nchosen++] = be;
			p += len + (p[len] == ',');
		}
	} else {
		for (i = 0; i < NR_ALL; i++)
			chosen[nchosen++] = all_backends[i];
	}
	if (!nchosen) {
		fprintf(stderr, "sp-bench: no backend chosen\n");
		return 2;
	}
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "sp-bench: cannot create %s: %s\n", out, strerror(errno));
		return 1;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	bench_clock_init();
	bench_machine_describe(&mach, &cfg);
	fprintf(stderr, "sp-bench: %s, %d CPUs, %s, DPDK %s, %s, TSC %.3f GHz\n", mach.cpu_model,
		mach.cpus_online, mach.kernel, mach.dpdk_version,
		mach.hugepages ? "hugepages" : "no hugepages", mach.tsc_ghz);
	if (memcpy_s > 0) {
		cpu_set_t all;

		/* pinned for the copy only: children (and their peers) start free to use every CPU */
		sched_getaffinity(0, sizeof(all), &all);
		bench_pin(cfg.sender_cpu);
		memcpy_gbit = bench_memcpy_gbit(65536, memcpy_s);
		sched_setaffinity(0, sizeof(all), &all);
		fprintf(stderr, "sp-bench: memcpy 64 KiB blocks, one core: %.1f Gbit/s\n", memcpy_gbit);
	}
	for (i = 0; i < nchosen; i++)
		total += backend_sizes(chosen[i], &cfg, sizes) * cfg.nr_batches;

	for (i = 0; i < nchosen; i++) {
		unsigned int first = 0;

		for (j = 0; j < i; j++)
			first += backend_sizes(chosen[j], &cfg, sizes) * cfg.nr_batches;
		memset(&st[i], 0, sizeof(st[i]));
		st[i].name = chosen[i]->name;
		st[i].about = chosen[i]->about;
		if (bench_stop) {
			snprintf(st[i].status, sizeof(st[i].status), "not-run");
			snprintf(st[i].why, sizeof(st[i].why), "interrupted before it started");
			continue;
		}
		run_backend(chosen[i], &cfg, &st[i], &rows, &nr, &cap, first, total);
	}

	cmdline_string(argc, argv, cmd, sizeof(cmd));
	snprintf(path, sizeof(path), "%s/bench.csv", out);
	if (bench_write_csv(path, rows, nr) < 0) {
		fprintf(stderr, "sp-bench: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/bench.json", out);
	if (bench_write_json(path, &mach, &cfg, cmd, memcpy_gbit, st, nchosen, rows, nr) < 0) {
		fprintf(stderr, "sp-bench: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (i = 0; i < nchosen; i++)
		fprintf(stderr, "sp-bench: %-15s %-11s %3u rows%s%s\n", st[i].name, st[i].status,
			st[i].rows, *st[i].why ? "  " : "", st[i].why);
	fprintf(stderr, "sp-bench: %u rows in %s/bench.csv and %s/bench.json%s\n", nr, out, out,
		bench_stop ? " (interrupted: results so far)" : "");
	free(rows);
	return bench_stop ? 130 : 0;
}
