/* SPDX-License-Identifier: MIT */
/*
 * UDP over DPDK's own virtio-net PMD: sendpath drives net_virtio_user, and
 * sp-net-sink (env/) receives on net_vhost in another process, over a real
 * vhost-user socket. The sink checks the sequence number each datagram
 * carries at frame offset 42 (the first payload byte).
 *
 * udp_vhost/every_datagram_arrives: 100k datagrams, singles and sendmmsg
 *   vectors, none lost, none twice, all in order.
 * udp_rate/sendmmsg_vs_testpmd: the measurement for the report: 64-byte
 *   sp_sendmmsg (batch 32) next to dpdk-testpmd txonly on the same pair,
 *   in one run; it prints and records numbers and fails only if nothing flowed.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ip.h"
#include "peer.h"
#include "sock.h"
#include "sp_env.h"
#include "sp_probe.h"

#define SP_IP   "10.0.0.1"
#define DST_IP  "10.0.0.2"

static struct sp_peer sinkp, txp;     /* the sink; the sender (sendpath or testpmd) */

static double now_s(void)
{
	return sp_peer_now();
}

static void kill_kids(void)
{
	sp_peer_drop(&sinkp);
	sp_peer_drop(&txp);
}

struct sink {
	char sock[96];
};

/* The sink's CPU is the last one this process may use; the sender takes the first. */
static void sink_start(struct sink *s, const char *tag, long count, bool seq)
{
	const char *bin = getenv("SP_NET_SINK");
	char cnt[32], cpu[16];
	int first, last;

	cr_assert_not_null(bin, "SP_NET_SINK must name sp-net-sink");
	sp_peer_cpus(&first, &last);
	snprintf(cpu, sizeof(cpu), "%d", last);
	snprintf(cnt, sizeof(cnt), "%ld", count);
	snprintf(s->sock, sizeof(s->sock), "sp-udp-%s-%d.sock", tag, (int)getpid());
	char *argv[] = { (char *)bin, "--socket", s->sock, "--count", cnt, "--idle", "8",
			 "--clock", "none", "--cpu", cpu, seq ? NULL : "--no-seq", NULL };
	sp_peer_start(&sinkp, "udp-sink", argv);
	sp_peer_wait_err(&sinkp, "sink: listening", now_s() + 15);
}

/* The sink's JSON line once it stopped (count reached, or idle). */
static const char *sink_result(void)
{
	int rc = sp_peer_reap(&sinkp, now_s() + 30);
	const char *json = sp_peer_slurp(sinkp.out);

	cr_expect(rc == 0 || rc == 1, "sink exit %d: %s", rc, sp_peer_slurp(sinkp.err));
	if (!strchr(json, '{'))
		fprintf(stderr, "sink exit %d, no result: %s\n", rc, sp_peer_slurp(sinkp.err));
	sp_peer_drop(&sinkp);
	return json;
}

/* --- the sendpath side, in a child process of its own (one EAL per process) --- */

struct tx_result {
	double cpu_s;                   /* the sender process's CPU time, EAL start included */
	long sent;
	double elapsed_s;
	uint64_t bursts, backlogged;
	int err;
};

static int sp_sender_up(const struct sink *s)
{
	char vdev[256], path[128];
	struct sp_init_cfg cfg = { .start_eal = true, .name = "test-udp-vhost", .mem_mb = 256 };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	const struct rte_ether_addr sink_mac = { { 0x02, 0, 0, 0, 0, 2 } };
	int first, last, fd;

	sp_peer_cpus(&first, &last);
	cfg.cpu = first;
	sp_env_run_path(s->sock, path, sizeof(path));
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queue_size=1024", path);
	cfg.vdevs[0] = vdev;
	cfg.udp_port = 0;
	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
	if (sp_init(&cfg))
		return -1;
	sp_neigh_add(inet_addr(DST_IP), &sink_mac);
	fd = sp_socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, DST_IP, &dst.sin_addr);
	if (fd < 0 || sp_connect(fd, (struct sockaddr *)&dst, sizeof(dst)))
		return -1;
	return fd;
}

/*
 * Sends count datagrams of size bytes (or for seconds, when count is 0) in
 * sp_sendmmsg vectors of batch, each carrying its sequence number.
 */
static struct tx_result sp_send_run(const struct sink *s, size_t size, unsigned int batch,
				    long count, double seconds, bool mix_singles)
{
	struct tx_result r = { 0 };
	int pipefd[2];
	pid_t pid;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		static char payload[64][2048];
		struct mmsghdr v[64];
		struct iovec iov[64];
		/* net_virtio_user writes to the vhost-user socket without MSG_NOSIGNAL:
		 * a sink that already left would kill us in rte_eal_cleanup */
		signal(SIGPIPE, SIG_IGN);
		int fd = sp_sender_up(s);
		double t0, end;
		long seq = 0;

		close(pipefd[0]);
		if (fd < 0) {
			r.err = errno ? errno : EIO;
			goto out;
		}
		memset(v, 0, sizeof(v));
		for (unsigned int i = 0; i < batch; i++) {
			memset(payload[i], 0x5a, size);
			iov[i] = (struct iovec){ payload[i], size };
			v[i].msg_hdr.msg_iov = &iov[i];
			v[i].msg_hdr.msg_iovlen = 1;
		}
		t0 = now_s();
		end = t0 + seconds;
		while (count ? seq < count : now_s() < end) {
			unsigned int n = batch;
			int k;

			if (count && count - seq < n)
				n = (unsigned int)(count - seq);
			if (mix_singles && (seq / batch) % 4 == 3) {
				sp_probe_write(payload[0], (uint64_t)seq, 0);
				if (sp_send(fd, payload[0], size, 0) != (ssize_t)size) {
					r.err = errno;
					break;
				}
				seq++;
				continue;
			}
			for (unsigned int i = 0; i < n; i++)
				sp_probe_write(payload[i], (uint64_t)(seq + i), 0);
			k = sp_sendmmsg(fd, v, n, 0);
			if (k < 0) {
				r.err = errno;
				break;
			}
			seq += k;
		}
		r.elapsed_s = now_s() - t0;
		r.sent = seq;
		r.bursts = sp_nif->st.tx_bursts;
		r.backlogged = sp_nif->st.tx_backlogged;
		/* let the backlog drain, and the peer take the ring, before the port stops */
		for (double stop = now_s() + 1; sp_nif->bl_len && now_s() < stop;)
			sp_poll();
		usleep(300000);
		sp_fini();
out:
		if (write(pipefd[1], &r, sizeof(r)) != sizeof(r))
			_exit(2);
		_exit(0);
	}
	close(pipefd[1]);
	txp = (struct sp_peer){ .name = "sendpath sender", .pid = pid, .ctl = -1 };
	if (read(pipefd[0], &r, sizeof(r)) != (ssize_t)sizeof(r)) {
		int st = sp_peer_reap(&txp, now_s() + 10);

		cr_assert_fail("the sender process died (status %d); sink: %s", st, sp_peer_slurp(sinkp.err));
	}
	close(pipefd[0]);
	sp_peer_reap(&txp, now_s() + 10);
	r.cpu_s = txp.cpu_s;
	return r;
}

TestSuite(udp_vhost, .fini = kill_kids, .timeout = 120);

Test(udp_vhost, every_datagram_arrives)
{
	const long n = 100000;
	struct sink s;
	struct tx_result r;
	const char *json;

	sink_start(&s, "check", n, true);
	r = sp_send_run(&s, 64, 32, n, 0, true);
	cr_assert_eq(r.err, 0, "sender: %s", strerror(r.err));
	cr_assert_eq(r.sent, n);
	json = sink_result();
	fprintf(stderr, "udp_vhost: sent %ld in %.3f s, %lu tx bursts; sink %s\n",
		r.sent, r.elapsed_s, (unsigned long)r.bursts, json);
	cr_expect_eq(sp_peer_json_num(json, "frames"), n, "%s", json);
	cr_expect_eq(sp_peer_json_num(json, "bytes"), n * (42 + 64));
	cr_expect_eq(sp_peer_json_num(json, "max_seq"), n - 1);
	cr_expect_eq(sp_peer_json_num(json, "lost"), 0);
	cr_expect_eq(sp_peer_json_num(json, "gaps"), 0);
	cr_expect_eq(sp_peer_json_num(json, "duplicates"), 0);
	cr_expect_eq(sp_peer_json_num(json, "reordered"), 0);
}

/* --- the measurement --- */

static bool hugepages_free(unsigned int mb)
{
	return !getenv("SP_NO_HUGE") &&
	       sp_peer_meminfo("HugePages_Free") * sp_peer_meminfo("Hugepagesize") / 1024 >= mb;
}

/* dpdk-testpmd txonly on net_virtio_user into the sink, for seconds; the sink's JSON. */
static const char *testpmd_run(double seconds, char *tx_line, size_t tx_len, double *cpu_s)
{
	struct sink s;
	char vdev[256], path[128], prefix[64];
	int first, last;
	char lcore[32];
	const char *json;

	sink_start(&s, "testpmd", 0, false);
	sp_peer_cpus(&first, &last);
	/* the main lcore (printing stats) and the forwarding lcore share the sender's CPU */
	snprintf(lcore, sizeof(lcore), "0@%d,1@%d", first, first);
	sp_env_run_path(s.sock, path, sizeof(path));
	snprintf(vdev, sizeof(vdev), "--vdev=net_virtio_user0,path=%s,queue_size=1024", path);
	snprintf(prefix, sizeof(prefix), "--file-prefix=sp-testpmd-%d", (int)getpid());
	char *argv[32];
	int a = 0;

	argv[a++] = "dpdk-testpmd";
	argv[a++] = "--lcores";
	argv[a++] = lcore;
	argv[a++] = prefix;
	argv[a++] = "--no-pci";
	argv[a++] = "--no-telemetry";
	argv[a++] = "--single-file-segments";       /* memory shared with the vhost side by fd */
	argv[a++] = vdev;
	argv[a++] = "--log-level=*:error";
	if (hugepages_free(600)) {
		argv[a++] = "--in-memory";
	} else {
		argv[a++] = "--no-huge";
		argv[a++] = "--no-shconf";
		argv[a++] = "-m";
		argv[a++] = "512";
	}
	argv[a++] = "--";
	argv[a++] = "--forward-mode=txonly";
	argv[a++] = "--txpkts=64";
	argv[a++] = "--burst=32";
	argv[a++] = "--stats-period=1";
	argv[a++] = "--nb-cores=1";
	argv[a] = NULL;
	sp_peer_start(&txp, "testpmd", argv);
	/* the clock starts when testpmd forwards (its first stats line), not when it starts */
	for (double t = now_s() + 30; !strstr(sp_peer_slurp(txp.out), "Tx-pps") && now_s() < t;) {
		if (!sp_peer_running(&txp))
			break;
		usleep(50000);
	}
	usleep((useconds_t)(seconds * 1e6));
	sp_peer_stop(&txp, SIGINT, 10);
	*cpu_s = txp.cpu_s;
	json = sink_result();
	/* testpmd's own view: the best per-second Tx-pps it printed */
	{
		const char *o = sp_peer_slurp(txp.out), *p = o;
		double best = -1;

		while ((p = strstr(p, "Tx-pps:"))) {
			p += strlen("Tx-pps:");
			best = RTE_MAX(best, strtod(p, NULL));
		}
		snprintf(tx_line, tx_len, "%.0f", best);
		if (best < 0)
			fprintf(stderr, "testpmd said: %s %s\n", o, sp_peer_slurp(txp.err));
	}
	sp_peer_drop(&txp);
	return json;
}

static double load_avg(void)
{
	double l = -1;
	FILE *f = fopen("/proc/loadavg", "r");

	if (f) {
		if (fscanf(f, "%lf", &l) != 1)
			l = -1;
		fclose(f);
	}
	return l;
}

TestSuite(udp_rate, .fini = kill_kids, .timeout = 120);

/*
 * Rounds of (testpmd, sendpath 64 B, sendpath 22 B) one after the other on the
 * same pair: on a shared machine the rounds show the noise, the best of each
 * kind is the comparison. One JSON line per round, then a "best" line.
 */
Test(udp_rate, sendmmsg_vs_testpmd, .timeout = 600)
{
	const char *env = getenv("SP_RATE_SECONDS"), *rec = getenv("SP_RATE_OUT");
	const char *renv = getenv("SP_RATE_ROUNDS");
	double seconds = env ? atof(env) : 3;
	int rounds = renv ? atoi(renv) : 2;
	double best_tp = 0, best_64 = 0, best_22 = 0;
	FILE *f = rec ? fopen(rec, "w") : NULL;

	for (int round = 0; round < rounds; round++) {
		char tp_tx[64], tp_json[1024], sp64_json[1024], sp22_json[1024], line[1200];
		struct tx_result r64, r22;
		double tp_cpu = 0;
		struct sink s;

		if (getenv("SP_RATE_SKIP_TESTPMD"))
			snprintf(tp_json, sizeof(tp_json), "{}"), snprintf(tp_tx, sizeof(tp_tx), "-1");
		else
			snprintf(tp_json, sizeof(tp_json), "%s", testpmd_run(seconds, tp_tx, sizeof(tp_tx), &tp_cpu));
		sink_start(&s, "sp64", 0, false);      /* counting only, as for testpmd */
		r64 = sp_send_run(&s, 64, 32, 0, seconds, false);
		snprintf(sp64_json, sizeof(sp64_json), "%s", sink_result());
		sink_start(&s, "sp22", 0, false);
		r22 = sp_send_run(&s, 22, 32, 0, seconds, false);
		snprintf(sp22_json, sizeof(sp22_json), "%s", sink_result());

		snprintf(line, sizeof(line),
			 "{\"pair\":\"net_virtio_user->net_vhost\",\"round\":%d,\"seconds\":%.1f,"
			 "\"testpmd_txonly_64B_frame\":{\"sink_frames_per_s\":%.0f,\"sink_frames\":%.0f,\"testpmd_best_tx_pps\":%s,\"cpu_s\":%.2f},"
			 "\"sendpath_sendmmsg_b32_64B_payload\":{\"sent_per_s\":%.0f,\"sink_frames_per_s\":%.0f,\"sink_frames\":%.0f,\"bursts\":%lu,\"backlogged\":%lu,\"cpu_s\":%.2f},"
			 "\"sendpath_sendmmsg_b32_22B_payload_64B_frame\":{\"sent_per_s\":%.0f,\"sink_frames_per_s\":%.0f,\"sink_frames\":%.0f,\"cpu_s\":%.2f},\"load_avg\":%.2f}",
			 round, seconds, sp_peer_json_num(tp_json, "frames_per_s"), sp_peer_json_num(tp_json, "frames"), tp_tx, tp_cpu,
			 r64.sent / r64.elapsed_s, sp_peer_json_num(sp64_json, "frames_per_s"), sp_peer_json_num(sp64_json, "frames"),
			 (unsigned long)r64.bursts, (unsigned long)r64.backlogged, r64.cpu_s,
			 r22.sent / r22.elapsed_s, sp_peer_json_num(sp22_json, "frames_per_s"), sp_peer_json_num(sp22_json, "frames"),
			 r22.cpu_s, load_avg());
		fprintf(stderr, "udp_rate: %s\n", line);
		if (f)
			fprintf(f, "%s\n", line);
		best_tp = RTE_MAX(best_tp, sp_peer_json_num(tp_json, "frames_per_s"));
		best_64 = RTE_MAX(best_64, sp_peer_json_num(sp64_json, "frames_per_s"));
		best_22 = RTE_MAX(best_22, sp_peer_json_num(sp22_json, "frames_per_s"));

		cr_expect_eq(r64.err, 0, "sendpath: %s", strerror(r64.err));
		if (!getenv("SP_RATE_SKIP_TESTPMD"))
			cr_expect_gt(sp_peer_json_num(tp_json, "frames"), 0, "testpmd delivered nothing: %s", tp_json);
		cr_expect_gt(sp_peer_json_num(sp64_json, "frames"), 0, "sendpath delivered nothing: %s", sp64_json);
		cr_expect_eq((long)sp_peer_json_num(sp64_json, "frames"), r64.sent,
			     "every datagram sendpath accepted arrived: %ld sent, sink %s", r64.sent, sp64_json);
	}
	fprintf(stderr, "udp_rate: best of %d rounds at the sink: testpmd txonly %.0f frames/s, "
		"sendpath sendmmsg(32) 64 B payload %.0f, 22 B payload (64 B frame) %.0f\n",
		rounds, best_tp, best_64, best_22);
	if (f) {
		fprintf(f, "{\"best_of_rounds\":%d,\"testpmd_txonly_64B_frame\":%.0f,"
			"\"sendpath_sendmmsg_b32_64B_payload\":%.0f,\"sendpath_sendmmsg_b32_22B_payload\":%.0f}\n",
			rounds, best_tp, best_64, best_22);
		fclose(f);
	}
}

/* The stack's own cost per datagram: sp_sendmmsg into net_null, which takes everything. */
Test(udp_rate, sender_cost_net_null)
{
	struct sp_init_cfg cfg = { .start_eal = true, .name = "test-udp-null", .cpu = -1,
				   .mem_mb = 256, .udp_port = 0, .vdevs = { "net_null0" } };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(9) };
	const struct rte_ether_addr mac = { { 0x02, 0, 0, 0, 0, 2 } };
	static char payload[32][64];
	struct mmsghdr v[32];
	struct iovec iov[32];
	const char *rec = getenv("SP_RATE_OUT");
	double t0, el;
	long sent = 0;
	int fd;

	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
	cr_assert_eq(sp_init(&cfg), 0);
	sp_neigh_add(inet_addr(DST_IP), &mac);
	inet_pton(AF_INET, DST_IP, &dst.sin_addr);
	fd = sp_socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&dst, sizeof(dst)), 0);
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 32; i++) {
		iov[i] = (struct iovec){ payload[i], 64 };
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = now_s();
	while ((el = now_s() - t0) < 2)
		for (int i = 0; i < 1000; i++)
			sent += sp_sendmmsg(fd, v, 32, 0);
	fprintf(stderr, "udp_rate: net_null sp_sendmmsg b32 64B: %.0f msg/s, %.1f ns/msg\n",
		sent / el, el * 1e9 / sent);
	if (rec) {
		char path[512];
		FILE *f;

		snprintf(path, sizeof(path), "%s.null", rec);
		if ((f = fopen(path, "w"))) {
			fprintf(f, "{\"port\":\"net_null\",\"sendmmsg_b32_64B_msg_per_s\":%.0f,\"ns_per_msg\":%.1f}\n",
				sent / el, el * 1e9 / sent);
			fclose(f);
		}
	}
	cr_expect_gt(sent, 0);
	sp_fini();
}
