/* SPDX-License-Identifier: MIT */
/*
 * dpdk-txonly: the ceiling. DPDK's own testpmd in txonly mode pushes UDP
 * frames through net_virtio_user into a second testpmd that receives them
 * on net_vhost (rxonly) - the same vhost-user pair and the same ring layout
 * (split, in-order, no mergeable buffers) that sendpath drives. Nothing is
 * built per message beyond what testpmd does, so no socket path can beat it.
 *
 * Numbers come from testpmd's own statistics: msgs/s is its Tx-pps averaged
 * over the measured seconds; sent/received are the whole run's TX-packets of
 * the sender and RX-packets of the receiver, which must be equal.
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "proc.h"
#include "sp_env.h"

#define FRAME_HDRS 42   /* Ethernet 14 + IPv4 20 + UDP 8: txonly's frame around the payload */
#define SEG_MAX       2048 /* data room of testpmd's default mbuf */
#define MBUF_HEADROOM 128  /* RTE_PKTMBUF_HEADROOM */
#define MEM_MB     256

static char sock_path[108];
static char log_dir[64];

static int txonly_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	char cmd[512];

	if (cfg->rate > 0) {
		snprintf(why, len, "testpmd txonly cannot pace (--rate): it is the ceiling at full speed only");
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", cfg->testpmd);
	if (system(cmd) != 0) {
		snprintf(why, len, "%s not found (Debian package dpdk)", cfg->testpmd);
		return 1;
	}
	snprintf(cmd, sizeof(cmd), "bench-txonly-%d.sock", (int)getpid());
	if (!sp_env_run_path(cmd, sock_path, sizeof(sock_path))) {
		snprintf(why, len, "no run directory for the vhost-user socket");
		return -1;
	}
	snprintf(log_dir, sizeof(log_dir), "/tmp/sp-bench-txonly-%d", (int)getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -p %s", log_dir);
	if (system(cmd) != 0) {
		snprintf(why, len, "cannot create %s", log_dir);
		return -1;
	}
	return 0;
}

static void txonly_teardown(void)
{
	char cmd[128];

	unlink(sock_path);
	if (getenv("SP_BENCH_KEEP_LOGS")) {
		fprintf(stderr, "dpdk-txonly: testpmd logs kept in %s\n", log_dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", log_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "dpdk-txonly: could not remove %s\n", log_dir);
}

/* testpmd keeps an mbuf's data room, headroom included, in 16 bits */
static unsigned int txonly_max_size(const struct bench_cfg *cfg)
{
	(void)cfg;
	return 65535 - MBUF_HEADROOM - FRAME_HDRS;
}

/* EAL arguments as env/sp_env.c chooses them: hugepages in memory, or fd-backed 4 KiB pages. */
static int eal_args(char **argv, int argc, bool huge, bool shares_memory, const char *prefix,
		    char *lcores, int cpu)
{
	snprintf(lcores, 32, "0@%d,1@%d", cpu, cpu);
	argv[argc++] = "--lcores";
	argv[argc++] = lcores;
	argv[argc++] = (char *)prefix;
	if (huge) {
		argv[argc++] = "--in-memory";
	} else {
		argv[argc++] = "--no-huge";
		argv[argc++] = "--no-shconf";
	}
	argv[argc++] = "-m";
	argv[argc++] = "256";
	if (shares_memory)
		argv[argc++] = "--single-file-segments";
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "--log-level";
	argv[argc++] = "*:warning";
	return argc;
}

/*
 * Rate from the "show port stats" blocks: each gives TX-packets and the
 * Tx-pps since the previous show, i.e. the interval as testpmd timed it.
 * Packets over the sum of the intervals, the first block being the baseline.
 */
static double shown_rate(const char *text, double *span)
{
	const char *p = text, *q;
	long long prev = -1, tx;
	double pkts = 0, secs = 0, pps;

	while ((p = strstr(p, "NIC statistics for port"))) {
		p++;
		q = strstr(p, "TX-packets:");
		if (!q)
			break;
		tx = strtoll(q + 11, NULL, 10);
		q = strstr(q, "Tx-pps:");
		if (!q)
			break;
		pps = strtod(q + 7, NULL);
		if (prev >= 0 && pps > 0 && tx > prev) {
			pkts += (double)(tx - prev);
			secs += (double)(tx - prev) / pps;
		}
		prev = tx;
	}
	*span = secs;
	return secs > 0 ? pkts / secs : 0;
}

/* The first error line of a testpmd log, for a one-line note. */
static void log_reason(const char *log, char *out, size_t len)
{
	char *text = proc_slurp(log), *p, *nl;

	snprintf(out, len, "no output");
	if (!text)
		return;
	p = strstr(text, "EAL: Error");
	if (!p)
		p = strstr(text, "Fail");
	if (!p)
		p = strstr(text, "rror");
	if (!p)
		p = text;
	while (p > text && p[-1] != '\n')
		p--;
	nl = strchr(p, '\n');
	if (nl)
		*nl = 0;
	snprintf(out, len, "%s", p);
	free(text);
}

static void nap(double seconds)
{
	struct timespec ts = { (time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9) };

	while (!bench_stop && nanosleep(&ts, &ts) < 0)
		;
}

/* Waits until text appears in a log (false on timeout or when pid died). */
static bool wait_for(const char *log, const char *text, pid_t pid, double seconds)
{
	double t;

	for (t = 0; t < seconds && proc_alive(pid); t += 0.05) {
		char *all = proc_slurp(log);
		bool found = all && strstr(all, text);

		free(all);
		if (found)
			return true;
		nap(0.05);
	}
	return false;
}

/* The number after the last `key` in text, -1 if none. */
static long long last_value(const char *text, const char *key)
{
	const char *p = text, *last = NULL;

	while ((p = strstr(p, key))) {
		last = p;
		p++;
	}
	return last ? strtoll(last + strlen(key), NULL, 10) : -1;
}

/* The number after `key` in the last "Accumulated forward statistics" block. */
static long long accumulated(const char *text, const char *key)
{
	const char *p = text, *last = NULL;

	while ((p = strstr(p, "Accumulated forward statistics"))) {
		last = p;
		p++;
	}
	if (!last || !(p = strstr(last, key)))
		return -1;
	return strtoll(p + strlen(key), NULL, 10);
}

static int txonly_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	unsigned int frame = pt->size + FRAME_HDRS, mbuf_room, len_seen, i;
	uint64_t t_end;
	char vdev_v[200], vdev_u[200], pfx_v[64], pfx_u[64], lc_v[32], lc_u[32];
	char txpkts[32], burst[32], log_v[128], log_u[128], mbuf_size[32], nb_mbufs[40];
	char *av[48], *au[48], *text_v = NULL, *text_u = NULL, *p;
	double pps, span = 0;
	long long tx, rx, refused;
	bool huge = proc_hugepages_ok(MEM_MB);
	pid_t pv = -1, pu = -1;
	int nv = 0, nu = 0, ret = -1, in_v = -1, in_u = -1;

	snprintf(row->target, sizeof(row->target), "vhost-user");
	snprintf(row->call, sizeof(row->call), "txonly");
	/*
	 * One segment per frame, in mbufs made big enough: chained descriptors
	 * stall virtio-user's in-order tx here, and sendpath's own large
	 * messages are what should be compared, not testpmd's chaining.
	 */
	mbuf_room = frame + MBUF_HEADROOM > SEG_MAX + MBUF_HEADROOM ? frame + MBUF_HEADROOM : 0;
	snprintf(mbuf_size, sizeof(mbuf_size), "--mbuf-size=%u", mbuf_room);
	/* at most ~128 MiB of big mbufs, at least a full ring's worth */
	snprintf(nb_mbufs, sizeof(nb_mbufs), "--total-num-mbufs=%u",
		 mbuf_room ? (128u << 20) / mbuf_room < 1024 ? 1024 : (128u << 20) / mbuf_room : 8192);
	snprintf(burst, sizeof(burst), "--burst=%u", pt->batch > 512 ? 512 : pt->batch);
	/* a fresh prefix per point: nothing of the previous pair is ever found again */
	snprintf(pfx_v, sizeof(pfx_v), "--file-prefix=sp-bench-vh%u-%d", pt->index, (int)getpid());
	snprintf(pfx_u, sizeof(pfx_u), "--file-prefix=sp-bench-vu%u-%d", pt->index, (int)getpid());
	/* a fresh socket per point, too */
	snprintf(txpkts, sizeof(txpkts), "bench-txonly-%d-%u.sock", (int)getpid(), pt->index);
	if (!sp_env_run_path(txpkts, sock_path, sizeof(sock_path))) {
		snprintf(row->note, sizeof(row->note), "no run directory for the vhost-user socket");
		return -1;
	}
	unlink(sock_path);
	snprintf(txpkts, sizeof(txpkts), "--txpkts=%u", frame);
	snprintf(vdev_v, sizeof(vdev_v), "net_vhost0,iface=%s,queues=1", sock_path);
	snprintf(vdev_u, sizeof(vdev_u),
		 "net_virtio_user0,path=%s,queues=1,packed_vq=0,in_order=1,mrg_rxbuf=0", sock_path);
	snprintf(log_v, sizeof(log_v), "%s/vhost.log", log_dir);
	snprintf(log_u, sizeof(log_u), "%s/virtio.log", log_dir);

	/* line-buffered: its progress must reach the log while it runs */
	av[nv++] = "stdbuf";
	av[nv++] = "-oL";
	av[nv++] = (char *)cfg->testpmd;
	nv = eal_args(av, nv, huge, false, pfx_v, lc_v, cfg->peer_cpu);
	av[nv++] = "--vdev";
	av[nv++] = vdev_v;
	av[nv++] = "--";
	av[nv++] = "--forward-mode=rxonly";
	av[nv++] = "--nb-cores=1";
	if (mbuf_room) {  /* whole frames per mbuf on the receiving side too */
		av[nv++] = mbuf_size;
		av[nv++] = nb_mbufs;
	}
	av[nv] = NULL;

	au[nu++] = "stdbuf";
	au[nu++] = "-oL";
	au[nu++] = (char *)cfg->testpmd;
	nu = eal_args(au, nu, huge, true, pfx_u, lc_u, cfg->sender_cpu);
	au[nu++] = "--vdev";
	au[nu++] = vdev_u;
	au[nu++] = "--";
	au[nu++] = "-i";
	au[nu++] = "--forward-mode=txonly";
	au[nu++] = "--nb-cores=1";
	if (mbuf_room) {  /* before --txpkts, which testpmd checks against the mbuf size */
		au[nu++] = mbuf_size;
		au[nu++] = nb_mbufs;
	}
	au[nu++] = txpkts;
	au[nu++] = burst;
	au[nu] = NULL;

	pv = proc_spawn(av, log_v, &in_v);
	if (pv < 0 || !proc_wait_path(sock_path, pv, 10)) {
		char why[64];

		log_reason(log_v, why, sizeof(why));
		snprintf(row->note, sizeof(row->note), "vhost testpmd did not start: %s", why);
		goto out;
	}
	pu = proc_spawn(au, log_u, &in_u);
	if (pu < 0) {
		snprintf(row->note, sizeof(row->note), "cannot start txonly testpmd");
		goto out;
	}
	/*
	 * Driven from its command line, not by signals: testpmd's signal handler
	 * tears down inside the handler and can deadlock against its own printf.
	 * "show port stats" prints Tx-pps since the previous show, timed by testpmd.
	 */
	if (!wait_for(log_u, "testpmd> ", pu, 30)) {
		char why[64];

		log_reason(log_u, why, sizeof(why));
		snprintf(row->note, sizeof(row->note), "txonly testpmd did not start: %s", why);
		goto out;
	}
	proc_say(in_u, "start");
	if (!wait_for(log_u, "packets/burst", pu, 10)) {
		proc_say(in_u, "start");
		if (!wait_for(log_u, "packets/burst", pu, 10)) {
			snprintf(row->note, sizeof(row->note), "txonly testpmd did not start forwarding");
			goto out;
		}
	}
	/*
	 * A show every 100 ms: testpmd times each one itself, so a late show (its
	 * main thread shares a CPU with the poller) shortens the span, never skews the rate.
	 */
	/*
	 * Forwarding starts before the vhost side has its queue enabled; until
	 * the receiver drains the ring nothing is measured (the warm-up follows).
	 */
	for (i = 0; i < 100 && !bench_stop; i++) {
		char *t;
		long long shown;

		proc_say(in_u, "show port stats 0");
		nap(0.1);
		t = proc_slurp(log_u);
		shown = t ? last_value(t, "TX-packets:") : -1;
		free(t);
		if (shown > 4096)
			break;
	}
	if (i == 100) {
		snprintf(row->note, sizeof(row->note), "the vhost side never drained the ring in 10 s");
		goto out;
	}
	nap(cfg->warmup);
	t_end = bench_now_ns() + (uint64_t)(cfg->duration * 1e9);
	do {
		proc_say(in_u, "show port stats 0");
		nap(cfg->duration < 1 ? cfg->duration / 10 : 0.1);
	} while (bench_now_ns() < t_end && !bench_stop);
	proc_say(in_u, "show port stats 0");
	proc_say(in_u, "stop");
	nap(0.3);  /* the receiver drains the ring while the virtio port still exists */
	proc_say(in_u, "quit");
	/* sender first, so that the receiver has seen every frame before it stops */
	proc_stop(pu, 0, 15);
	pu = -1;
	nap(0.1);
	proc_say(in_v, "");  /* non-interactive testpmd stops at a newline */
	proc_stop(pv, 0, 15);
	pv = -1;

	text_u = proc_slurp(log_u);
	text_v = proc_slurp(log_v);
	if (!text_u || !text_v) {
		snprintf(row->note, sizeof(row->note), "no testpmd output");
		goto out;
	}
	pps = shown_rate(text_u, &span);
	/* testpmd falls back to 64-byte frames when it dislikes --txpkts: never report those */
	p = strstr(text_u, "packet len=");
	len_seen = p ? (unsigned int)strtoul(p + 11, NULL, 10) : 0;
	if (len_seen != frame) {
		snprintf(row->note, sizeof(row->note), "testpmd sent %u-byte frames, not %u", len_seen, frame);
		goto out;
	}
	tx = accumulated(text_u, "TX-packets:");
	refused = accumulated(text_u, "TX-dropped:");
	rx = accumulated(text_v, "RX-packets:");
	if (tx < 0 || rx < 0 || pps <= 0) {
		const char *err = strstr(text_u, "EAL: ") ? strstr(text_u, "EAL: ") : text_u;

		snprintf(row->note, sizeof(row->note), "testpmd gave no statistics: %.60s", err);
		goto out;
	}
	row->sent = (uint64_t)tx;
	row->received = (uint64_t)rx;
	row->eagain = refused > 0 ? (uint64_t)refused : 0;
	row->seconds = span;              /* the interval testpmd timed its shows over */
	row->measured = (uint64_t)(pps * span);
	row->tsc_cycles = (uint64_t)(span * bench_tsc_hz());
	row->cpu_ns = (uint64_t)(span * 1e9);  /* one forwarding core, always busy */
	row->have_latency = false;
	snprintf(row->note, sizeof(row->note), "testpmd rate over %.2f s of %.2f; sent/received whole run%s",
		 span, cfg->duration, huge ? "" : "; --no-huge");
	ret = 0;
out:
	if (pu > 0)
		proc_stop(pu, SIGTERM, 5);
	if (pv > 0)
		proc_stop(pv, SIGTERM, 5);
	if (in_u >= 0)
		close(in_u);
	if (in_v >= 0)
		close(in_v);
	unlink(sock_path);
	free(text_u);
	free(text_v);
	return ret;
}

const struct bench_backend bench_dpdk_txonly = {
	.name = "dpdk-txonly",
	.about = "ceiling: dpdk-testpmd txonly, net_virtio_user (split, in-order) -> net_vhost rxonly testpmd",
	.setup = txonly_setup,
	.max_size = txonly_max_size,
	.run = txonly_run,
	.teardown = txonly_teardown,
};
