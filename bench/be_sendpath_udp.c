/* SPDX-License-Identifier: MIT */
/*
 * sendpath-udp: sendpath's UDP stack (sp_send / sp_sendmmsg) on DPDK's
 * net_virtio_user, into sp-net-sink (net_vhost, env/) in its own process -
 * the same vhost-user pair and ring layout as the dpdk-txonly ceiling.
 *
 * Each point runs in a process of its own, because EAL starts once per
 * process and the sink counts per run: sink up, sender up (sp_init), warm-up
 * frames without a stamp, measured frames with a TSC stamp, drain, sink's
 * JSON read back. The payload starts with the probe sp-net-sink reads
 * (env/sp_probe.h: seq, TSC), which is bench_stamp's layout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sendpath.h>

#include "bench.h"
#include "ip.h"
#include "proc.h"
#include "sp_env.h"

#define SP_IP    "10.0.0.1"
#define SINK_IP  "10.0.0.2"
#define UDP_PORT 9
#define PORT_MTU 1500  /* net_virtio_user's default: larger datagrams leave as IP fragments */

/* Frames per datagram of size bytes: the sink counts frames. */
static unsigned int fragments(unsigned int size)
{
	unsigned int per = (PORT_MTU - 20) & ~7u;

	return (size + 8 + per - 1) / per;
}

static char sink_bin[512];

static int spudp_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	snprintf(sink_bin, sizeof(sink_bin), "%s/env/sp-net-sink", cfg->build_dir);
	if (access(sink_bin, X_OK)) {
		snprintf(why, len, "peer %s not built", sink_bin);
		return 1;
	}
	return 0;
}

static unsigned int spudp_max_size(const struct bench_cfg *cfg)
{
	(void)cfg;
	return BENCH_UDP_MAX;
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* The sender, in the point's own process: writes the row to fd and exits. */
static void sender_main(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row,
			const char *sock, int fd_out)
{
	struct sp_init_cfg ic = { .start_eal = true, .name = "bench-udp", .mem_mb = 256 };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(UDP_PORT) };
	const struct rte_ether_addr sink_mac = { { 0x02, 0, 0, 0, 0, 2 } };
	unsigned int batch = pt->batch, i;
	bool mmsg = batch > 1 || cfg->force_mmsg;
	int flags = cfg->dontwait ? MSG_DONTWAIT : 0, fd, n;
	struct mmsghdr *mm = calloc(batch, sizeof(*mm));
	struct iovec *iov = calloc(batch, sizeof(*iov));
	void **bufs = calloc(batch, sizeof(*bufs));
	char *mem = calloc(batch, pt->size), vdev[256];
	uint64_t seq = 0, t_start, t_warm, t_end, t0 = 0, cpu0 = 0, first = 0;
	bool measuring = false;

	char elog[64];
	int efd;

	/* EAL and driver chatter goes to a log, not between the progress lines */
	snprintf(elog, sizeof(elog), "/tmp/sp-bench-udp-tx-%d.log", (int)getpid());
	efd = open(elog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd >= 0) {
		dup2(efd, 2);
		unlink(elog);
	}
	signal(SIGPIPE, SIG_IGN);  /* virtio-user writes to the socket of a sink that may be gone */
	if (!mm || !iov || !bufs || !mem) {
		snprintf(row->note, sizeof(row->note), "out of memory");
		goto out;
	}
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1,packed_vq=0,in_order=1,mrg_rxbuf=0", sock);
	ic.cpu = cfg->sender_cpu;
	ic.vdevs[0] = vdev;
	ic.udp_port = 0;
	inet_pton(AF_INET, SP_IP, &ic.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &ic.udp_netmask);
	if (getenv("SP_LOG_LEVEL") == NULL)
		setenv("SP_LOG_LEVEL", "*:error", 0);
	if (sp_init(&ic)) {
		snprintf(row->note, sizeof(row->note), "sp_init failed: %s", strerror(errno));
		goto out;
	}
	sp_neigh_add(inet_addr(SINK_IP), &sink_mac);
	fd = sp_socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, SINK_IP, &dst.sin_addr);
	if (fd < 0 || sp_connect(fd, (struct sockaddr *)&dst, sizeof(dst))) {
		snprintf(row->note, sizeof(row->note), "sp_socket/sp_connect: %s", strerror(errno));
		goto fini;
	}
	/* a blocking send gives up after 1 s: a peer that died (or Ctrl-C) never hangs the run */
	if (sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 1, 0 }, sizeof(struct timeval)))
		snprintf(row->note, sizeof(row->note), "SO_SNDTIMEO not set: %s", strerror(errno));
	for (i = 0; i < batch; i++) {
		bufs[i] = mem + (size_t)i * pt->size;
		memset(bufs[i], 0x5a, pt->size);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = pt->size;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	t_start = bench_tsc();
	t_warm = t_start + (uint64_t)(cfg->warmup * bench_tsc_hz());
	t_end = t_warm + (uint64_t)(cfg->duration * bench_tsc_hz());
	for (;;) {
		uint64_t now = bench_tsc();
		unsigned int done = 0;

		if (!measuring && now >= t_warm) {
			measuring = true;
			t0 = now;
			cpu0 = bench_thread_cpu_ns();
			first = seq;
		}
		if (measuring && (now >= t_end || bench_stop))
			break;
		bench_pace(t_start, seq, cfg->rate);  /* the warm-up is paced too */
		bench_stamp_batch(bufs, batch, &seq);
		if (!measuring)  /* warm-up frames carry no stamp: the sink's latency is the measured part's */
			for (i = 0; i < batch; i++)
				memset((char *)bufs[i] + 8, 0, 8);
		while (done < batch) {
			if (mmsg)
				n = sp_sendmmsg(fd, mm + done, batch - done, flags);
			else
				n = sp_send(fd, bufs[0], pt->size, flags) < 0 ? -1 : 1;
			if (measuring)
				row->calls++;
			if (n > 0) {
				done += (unsigned int)n;
				continue;
			}
			if (errno == EAGAIN || errno == ENOBUFS) {
				if (measuring)
					row->eagain++;
				sp_poll();
				if (bench_stop)
					break;
				continue;
			}
			snprintf(row->note, sizeof(row->note), "sp_send: %s", strerror(errno));
			goto fini;
		}
		seq -= batch - done;
	}
	row->tsc_cycles = bench_tsc() - t0;
	row->cpu_ns = bench_thread_cpu_ns() - cpu0;
	row->seconds = (double)row->tsc_cycles / bench_tsc_hz();
	row->measured = seq - first;
	row->sent = seq;                  /* the whole run, warm-up too: what the sink counts */
	/* let the backlog drain and the sink take the ring before the port stops */
	for (uint64_t stop = bench_tsc() + bench_tsc_hz(); sp_nif && sp_nif->bl_len && bench_tsc() < stop;)
		sp_poll();
	nap(0.3);
	sp_close(fd);
	snprintf(row->status, sizeof(row->status), "ok");
fini:
	sp_fini();
out:
	if (write(fd_out, row, sizeof(*row)) != (ssize_t)sizeof(*row))
		_exit(2);
	_exit(0);
}

static int spudp_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	char sock_name[64], sock[128], log[128], cpu[16], *text = NULL;
	char *argv[16];
	int a = 0, p[2], ret = -1;
	const char *json;
	pid_t sink, tx;
	uint64_t frames;
	unsigned int nfrag;
	double t;
	bool sent_whole;

	snprintf(row->target, sizeof(row->target), "vhost-user");
	snprintf(row->call, sizeof(row->call), "%s", pt->batch > 1 || cfg->force_mmsg ? "sendmmsg" : "send");
	snprintf(sock_name, sizeof(sock_name), "bench-udp-%d-%u.sock", (int)getpid(), pt->index);
	if (!sp_env_run_path(sock_name, sock, sizeof(sock)))
		return -1;
	snprintf(log, sizeof(log), "/tmp/sp-bench-sink-%d.log", (int)getpid());
	snprintf(cpu, sizeof(cpu), "%d", cfg->peer_cpu);
	argv[a++] = sink_bin;
	argv[a++] = "--socket";
	argv[a++] = sock;
	argv[a++] = "--idle";
	argv[a++] = "0";
	/* only first fragments carry the probe: fragmented sizes are counted, not checked or timed */
	argv[a++] = "--clock";
	argv[a++] = fragments(pt->size) > 1 ? "none" : "tsc";
	if (fragments(pt->size) > 1)
		argv[a++] = "--no-seq";
	argv[a++] = "--cpu";
	argv[a++] = cpu;
	argv[a] = NULL;
	sink = proc_spawn(argv, log, NULL);
	for (t = 0; t < 20; t += 0.05) {
		text = proc_slurp(log);
		if ((text && strstr(text, "sink: listening")) || !proc_alive(sink))
			break;
		free(text);
		text = NULL;
		nap(0.05);
	}
	if (!text || !strstr(text, "sink: listening")) {
		snprintf(row->note, sizeof(row->note), "sp-net-sink did not listen: %.80s", text ? text : "");
		goto out;
	}
	free(text);
	text = NULL;

	if (pipe(p) < 0)
		goto out;
	tx = fork();
	if (tx == 0) {
		close(p[0]);
		sender_main(cfg, pt, row, sock, p[1]);
	}
	close(p[1]);
	sent_whole = proc_read_result(tx, p[0], row, sizeof(*row));
	proc_stop(sink, SIGINT, 10);
	sink = -1;
	if (!sent_whole) {
		snprintf(row->note, sizeof(row->note), "the sender process died");
		goto out;
	}
	if (strcmp(row->status, "ok"))
		goto out;
	text = proc_slurp(log);
	json = text ? strstr(text, "{\"tool\":\"sp-net-sink\"") : NULL;
	if (!json) {
		snprintf(row->note, sizeof(row->note), "sp-net-sink gave no result");
		goto out;
	}
	/* sent/received over the whole run (warm-up too): what the sink can check by sequence */
	frames = (uint64_t)bench_json_num(json, "frames");
	nfrag = fragments(pt->size);
	row->received = frames / nfrag;
	if (nfrag > 1) {
		snprintf(row->note, sizeof(row->note), "%u IP fragments per datagram (MTU %u): frames counted, not checked",
			 nfrag, PORT_MTU);
		if (frames % nfrag)
			snprintf(row->note, sizeof(row->note), "%llu frames are not whole datagrams of %u fragments",
				 (unsigned long long)frames, nfrag);
	} else if (bench_json_num(json, "lost") > 0 || bench_json_num(json, "duplicates") > 0 || bench_json_num(json, "reordered") > 0)
		snprintf(row->note, sizeof(row->note), "sink: lost %.0f duplicates %.0f reordered %.0f",
			 bench_json_num(json, "lost"), bench_json_num(json, "duplicates"), bench_json_num(json, "reordered"));
	else
		snprintf(row->note, sizeof(row->note), "sent/received: whole run incl. warm-up; latency from sp-net-sink");
	bench_sink_latency(json, row);
	ret = 0;
out:
	if (sink > 0)
		proc_stop(sink, SIGINT, 5);
	unlink(log);
	unlink(sock);
	free(text);
	return ret;
}

const struct bench_backend bench_sendpath_udp = {
	.name = "sendpath-udp",
	.about = "sendpath UDP (sp_send / sp_sendmmsg) over net_virtio_user (split, in-order) -> sp-net-sink (net_vhost)",
	.setup = spudp_setup,
	.max_size = spudp_max_size,
	.run = spudp_run,
};
