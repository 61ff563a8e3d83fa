/* SPDX-License-Identifier: MIT */
/*
 * sp-net-sink: the receiving end of sendpath's DPDK test fixture.
 *
 * It serves a vhost-user socket through DPDK's net_vhost PMD, so any
 * virtio-net frontend (net_virtio_user, QEMU) can send to it, and counts what
 * arrives: frames, bytes, the sequence numbers of env/sp_probe.h (gaps,
 * duplicates, reordering) and, when frames carry send stamps, one-way latency.
 *
 *   sp-net-sink --socket NAME [--count N] [--idle SEC] [--offset BYTES]
 *               [--clock tsc|ns|none] [--no-seq] [--cpu N] [--mem MB] [--quiet]
 *
 *   --socket NAME   vhost-user socket; a bare name lives in sp_env_run_path()
 *                   (/run/sendpath, mode 0700), a name with '/' is used as is.
 *                   A stale socket file is removed, a live one refused.
 *   --count N       stop after N frames (default 0: no limit)
 *   --idle SEC      stop after SEC s without a frame, from start (default 10; 0: never)
 *   --offset BYTES  where the probe starts in the frame (default 42: after
 *                   Ethernet + IPv4 + UDP headers)
 *   --clock C       unit of the probe's tx_stamp: tsc (default), ns
 *                   (CLOCK_MONOTONIC), none (ignore stamps)
 *   --no-seq        count frames and bytes only
 *   --cpu N         CPU to poll on (default $SP_CPU, else 0)
 *   --mem MB        DPDK memory (default 256)
 *   --quiet         no progress lines on stderr
 *   SIGINT/SIGTERM stop it cleanly.
 *
 * Prints "sink: listening on PATH" on stderr once the socket accepts, and one
 * JSON line on stdout at the end:
 *   {"tool":"sp-net-sink","socket":..,"hugepages":..,"cpu":..,"stop":"count|idle|signal",
 *    "frames":..,"bytes":..,"short":..,"lost":..,"gaps":..,"duplicates":..,
 *    "reordered":..,"max_seq":..,"elapsed_s":..,"frames_per_s":..,"gbit_per_s":..,
 *    "latency_ns":{hist, see env/hist.h},
 *    "latency_hist":[[upper_ns,count],...] (only with stamps)}
 * latency_hist holds the non-empty buckets of that histogram, in rising order,
 * each with the largest latency it holds: enough for a reader to draw a CDF.
 * elapsed_s runs from the first frame to the last. Exit status: 0 when every
 * frame arrived once and in order (and N of them with --count), 1 when not,
 * 2 when the sink could not run.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include "hist.h"
#include "seq_track.h"
#include "sp_env.h"
#include "sp_probe.h"

#define BURST 32
#define NB_MBUF 8191

enum stamp_clock { CLOCK_TSC, CLOCK_NS, CLOCK_NONE };

struct sink_opts {
	const char *socket;
	uint64_t count;
	double idle_s;
	unsigned int offset;
	enum stamp_clock clock;
	bool check_seq;
	int cpu;
	unsigned int mem_mb;
	bool quiet;
};

struct sink_stats {
	uint64_t frames, bytes, short_frames, bad_stamps;
	uint64_t first_tsc, last_tsc;
	struct sp_seq seq;
	struct sp_hist lat;
};

static volatile sig_atomic_t stop_signal;

/* The first signal stops the run cleanly; a second one ends the process. */
static void on_signal(int sig)
{
	stop_signal = sig;
	signal(sig, SIG_DFL);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sp-net-sink --socket NAME [--count N] [--idle SEC] [--offset BYTES]\n"
		   "                   [--clock tsc|ns|none] [--no-seq] [--cpu N] [--mem MB] [--quiet]\n");
}

static int parse_opts(int argc, char **argv, struct sink_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "idle", required_argument, NULL, 'i' },
		{ "offset", required_argument, NULL, 'o' },
		{ "clock", required_argument, NULL, 'c' },
		{ "no-seq", no_argument, NULL, 'S' },
		{ "cpu", required_argument, NULL, 'C' },
		{ "mem", required_argument, NULL, 'm' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct sink_opts){ .idle_s = 10, .offset = SP_PROBE_OFF, .check_seq = true,
				 .cpu = -1 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'n': o->count = strtoull(optarg, &end, 10); break;
		case 'i': o->idle_s = strtod(optarg, &end); break;
		case 'o': o->offset = (unsigned int)strtoul(optarg, &end, 10); break;
		case 'C': o->cpu = (int)strtol(optarg, &end, 10); break;
		case 'm': o->mem_mb = (unsigned int)strtoul(optarg, &end, 10); break;
		case 'S': o->check_seq = false; break;
		case 'q': o->quiet = true; break;
		case 'c':
			if (!strcmp(optarg, "tsc"))
				o->clock = CLOCK_TSC;
			else if (!strcmp(optarg, "ns"))
				o->clock = CLOCK_NS;
			else if (!strcmp(optarg, "none"))
				o->clock = CLOCK_NONE;
			else
				goto bad;
			break;
		case 'h': usage(stdout); exit(0);
		default: goto bad;
		}
		if (end && (*end || errno || optarg[0] == '-'))
			goto bad;
	}
	if (optind == argc && o->socket && o->offset < 9000 && o->idle_s >= 0)
		return 0;
bad:
	usage(stderr);
	return -1;
}

static int port_setup(uint16_t port, struct rte_mempool *pool)
{
	const uint64_t l4 = RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	int ret;

	memset(&conf, 0, sizeof(conf));
	/*
	 * A sender may hand us partial checksums (virtio's NEEDS_CSUM, the
	 * kernel's CHECKSUM_PARTIAL). Without the Rx offload net_vhost would
	 * finish each one in software; the sink reads no checksum, so it
	 * takes the offload, as a host's own stack takes such packets as they are.
	 */
	if (rte_eth_dev_info_get(port, &info) == 0 && (info.rx_offload_capa & l4) == l4)
		conf.rxmode.offloads |= l4;
	ret = rte_eth_dev_configure(port, 1, 1, &conf);
	if (!ret)
		ret = rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), NULL, pool);
	if (!ret)
		ret = rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), NULL);
	if (!ret)
		ret = rte_eth_dev_start(port);
	if (ret)
		fprintf(stderr, "sink: cannot start port %u: %s\n", port, rte_strerror(-ret));
	return ret;
}

/* n samples of value v at once: sp_hist_add n times, in one update. */
static void hist_add_n(struct sp_hist *h, uint64_t v, uint64_t n)
{
	h->bucket[sp_hist_index(v)] += n;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count += n;
	h->sum += v * n;
}

/*
 * The stamps of one burst: a sender stamps a whole batch with one clock
 * read, so consecutive frames mostly carry the same stamp, and the same
 * arrival time (one clock read per burst) gives the same latency.
 */
struct stamp_run {
	uint64_t stamp, n;
};

static void run_flush(struct sink_stats *st, struct stamp_run *r, uint64_t now)
{
	if (!r->n)
		return;
	if (r->stamp > now)
		st->bad_stamps += r->n;         /* another clock, or garbage: not a latency */
	else
		hist_add_n(&st->lat, now - r->stamp, r->n);
	r->n = 0;
}

/*
 * The frames of one burst: counts, the probe's sequence number, and the
 * stamps, taken as runs (one histogram update per run).
 */
static void account_burst(const struct sink_opts *o, struct sink_stats *st,
			  struct rte_mbuf **pkts, uint16_t n, uint64_t now)
{
	const bool stamps = o->clock != CLOCK_NONE;
	struct stamp_run run = { 0, 0 };
	uint8_t buf[SP_PROBE_LEN];
	uint16_t i;

	st->frames += n;
	for (i = 0; i < n; i++) {
		const struct rte_mbuf *m = pkts[i];
		const uint8_t *p;
		uint64_t seq, stamp;

		st->bytes += m->pkt_len;
		if (!o->check_seq)
			continue;
		if (m->pkt_len < o->offset + SP_PROBE_SEQ_LEN) {
			st->short_frames++;
			continue;
		}
		p = rte_pktmbuf_read(m, o->offset, RTE_MIN(m->pkt_len - o->offset, (uint32_t)SP_PROBE_LEN), buf);
		seq = sp_probe_get64(p);
		if (likely(seq == st->seq.next)) {
			/* in order: what sp_seq_account does for it, without its general walk */
			sp_seq_test_set(&st->seq, seq);
			st->seq.next++;
			st->seq.unique++;
		} else {
			sp_seq_account(&st->seq, seq);
		}
		if (!stamps || m->pkt_len < o->offset + SP_PROBE_LEN)
			continue;
		stamp = sp_probe_get64(p + SP_PROBE_SEQ_LEN);
		if (stamp == 0)
			continue;
		if (stamp != run.stamp) {
			run_flush(st, &run, now);
			run.stamp = stamp;
		}
		run.n++;
	}
	run_flush(st, &run, now);
}

static __rte_noinline const char *poll_loop(uint16_t port, const struct sink_opts *o, struct sink_stats *st)
{
	const uint64_t hz = rte_get_tsc_hz();
	const uint64_t idle_tsc = (uint64_t)(o->idle_s * (double)hz);
	uint64_t last = rte_rdtsc(), now, stamp_now;
	struct rte_mbuf *pkts[BURST];
	unsigned int empty = 0;
	uint16_t n;

	while (!stop_signal) {
		n = rte_eth_rx_burst(port, 0, pkts, BURST);
		if (n == 0) {
			/* Reading the TSC on every empty poll costs more than the poll. */
			if (++empty < 256)
				continue;
			empty = 0;
			if (idle_tsc && rte_rdtsc() - last > idle_tsc)
				return "idle";
			continue;
		}
		now = rte_rdtsc();
		stamp_now = o->clock == CLOCK_NS ? sp_probe_now_ns() : now;
		if (st->frames == 0)
			st->first_tsc = now;
		account_burst(o, st, pkts, n, stamp_now);
		rte_pktmbuf_free_bulk(pkts, n);
		last = st->last_tsc = now;
		if (o->count && st->frames >= o->count)
			return "count";
	}
	return "signal";
}

/* ,"latency_hist":[[upper_ns,count],...]: the non-empty buckets, for a CDF */
static void print_buckets(const struct sp_hist *h)
{
	const char *sep = "";
	unsigned int i;

	printf(",\"latency_hist\":[");
	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		if (!h->bucket[i])
			continue;
		printf("%s[%" PRIu64 ",%" PRIu64 "]", sep, sp_hist_bucket_high(i), h->bucket[i]);
		sep = ",";
	}
	printf("]");
}

static void report(const struct sink_opts *o, const char *path, const char *why,
		   const struct sink_stats *st)
{
	const struct sp_env_info *env = sp_env_info();
	const struct sp_seq *s = &st->seq;
	double secs = (double)(st->last_tsc - st->first_tsc) / (double)rte_get_tsc_hz();
	uint64_t lost = o->check_seq ? sp_seq_lost(s) : 0;
	struct sp_hist ns;
	unsigned int i;

	printf("{\"tool\":\"sp-net-sink\",\"socket\":\"%s\",\"hugepages\":%s,\"cpu\":%d,"
	       "\"stop\":\"%s\",\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"short\":%" PRIu64
	       ",\"lost\":%" PRIu64 ",\"gaps\":%" PRIu64 ",\"duplicates\":%" PRIu64
	       ",\"reordered\":%" PRIu64 ",\"max_seq\":%" PRId64 ",\"elapsed_s\":%.6f"
	       ",\"frames_per_s\":%.0f,\"gbit_per_s\":%.3f",
	       path, env->hugepages ? "true" : "false", env->cpu, why, st->frames, st->bytes,
	       st->short_frames, lost, s->gaps, s->duplicates, s->reordered,
	       (int64_t)s->next - 1, secs, secs > 0 ? (double)st->frames / secs : 0,
	       secs > 0 ? (double)st->bytes * 8 / secs / 1e9 : 0);
	if (o->check_seq && o->clock != CLOCK_NONE && st->lat.count) {
		ns = st->lat;
		if (o->clock == CLOCK_TSC) {
			/* Buckets are rescaled by their upper edge: errs high, like the histogram. */
			double f = 1e9 / (double)rte_get_tsc_hz();

			sp_hist_reset(&ns);
			for (i = 0; i < SP_HIST_BUCKETS; i++)
				if (st->lat.bucket[i])
					ns.bucket[sp_hist_index((uint64_t)((double)sp_hist_bucket_high(i) * f))] +=
						st->lat.bucket[i];
			ns.count = st->lat.count;
			ns.min = (uint64_t)((double)st->lat.min * f);
			ns.max = (uint64_t)((double)st->lat.max * f);
			ns.sum = (uint64_t)((double)st->lat.sum * f);
		}
		printf(",\"bad_stamps\":%" PRIu64 ",\"latency_ns\":", st->bad_stamps);
		sp_hist_print_json(&ns, stdout);
		print_buckets(&ns);
	}
	printf("}\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sp_env_cfg cfg = { .name = "sink", .cpu = -1 };
	char path[108], vdev[160];
	struct sink_opts o;
	struct sink_stats *st;
	struct rte_mempool *pool;
	struct sigaction sa = { .sa_handler = on_signal };
	const char *why;
	uint16_t port;
	bool clean;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (strpbrk(o.socket, "\"\\,\n")) {
		fprintf(stderr, "sink: socket name %s has characters vdev args or JSON cannot carry\n",
			o.socket);
		return 2;
	}
	if (strchr(o.socket, '/')) {
		if (snprintf(path, sizeof(path), "%s", o.socket) >= (int)sizeof(path)) {
			fprintf(stderr, "sink: socket path %s is too long\n", o.socket);
			return 2;
		}
	} else if (!sp_env_run_path(o.socket, path, sizeof(path))) {
		fprintf(stderr, "sink: no run directory for %s: %s\n", o.socket, strerror(errno));
		return 2;
	}
	if (sp_env_clear_stale_socket(path) < 0)
		return 2;
	if (snprintf(vdev, sizeof(vdev), "net_vhost0,iface=%s,queues=1", path) >= (int)sizeof(vdev)) {
		fprintf(stderr, "sink: socket path %s is too long\n", path);
		return 2;
	}
	cfg.cpu = o.cpu;
	cfg.mem_mb = o.mem_mb;
	cfg.quiet = o.quiet;
	cfg.vdevs[0] = vdev;
	if (sp_env_init(&cfg) < 0)
		return 2;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	st = calloc(1, sizeof(*st));
	pool = rte_pktmbuf_pool_create("sink_pool", NB_MBUF, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       rte_socket_id());
	if (!st || !pool) {
		fprintf(stderr, "sink: no memory for %u mbufs: %s\n", NB_MBUF, rte_strerror(rte_errno));
		goto fail;
	}
	if (rte_eth_dev_get_port_by_name("net_vhost0", &port) || port_setup(port, pool))
		goto fail;
	/* The run dir is already 0700; the socket itself is the peer's key to our memory too. */
	if (chmod(path, 0600) < 0)
		fprintf(stderr, "sink: cannot make %s owner-only: %s\n", path, strerror(errno));
	if (!o.quiet)
		fprintf(stderr, "sink: listening on %s\n", path);

	why = poll_loop(port, &o, st);
	report(&o, path, why, st);
	clean = st->short_frames == 0 && (!o.check_seq || sp_seq_clean(&st->seq)) &&
		(!o.count || st->frames == o.count);

	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);        /* unregisters the socket, removing its file */
	rte_mempool_free(pool);
	free(st);
	sp_env_fini();
	return clean ? 0 : 1;
fail:
	free(st);
	sp_env_fini();
	return 2;
}
