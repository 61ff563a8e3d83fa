/* SPDX-License-Identifier: MIT */
/*
 * Soak (issue 8): mixed traffic for $SP_SOAK_SECONDS (default 60) from one
 * sendpath process, checked at the peers:
 *   vsock  sp_sendmmsg batches and single sends, message sizes 1 B .. 64 KiB,
 *          to sp-vhost-vsock --verify, which checks every byte against the
 *          stream pattern (a lost, doubled, reordered or corrupted byte is a
 *          verify error) and counts them (rx_bytes == bytes we were told went);
 *   udp    sp_sendmmsg batches and single sends, 8 .. 1472-byte datagrams
 *          each numbered at its first payload byte, over net_virtio_user to
 *          sp-net-sink, which counts gaps, duplicates and reordering.
 * Memory: RSS and the two mbuf pools' free counts are sampled every second;
 * after a warm-up, RSS may not grow more than 4 MiB, and with the rings
 * drained the vsock pool must hold exactly what it held after the warm-up
 * (the UDP pool within one virtio-net tx ring: that PMD frees lazily).
 * Loss checks need no tolerance: nothing may be lost.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <rte_mempool.h>

#include "ip.h"
#include "peer.h"
#include "sock.h"
#include "sp_env.h"
#include "sp_probe.h"
#include "virtio_vsock.h"

#define SP_IP   "10.0.9.1"
#define DST_IP  "10.0.9.2"
#define PORT    1234
#define VBATCH  16
#define UBATCH  32

static struct sp_peer backend, sink;
static char vsock_path[100], ctl_path[108], sink_sock[96];

static double now_s(void)
{
	return (double)sp_now_ns() / 1e9;
}

static void peers_start(void)
{
	const char *vbin = sp_peer_bin("SP_VHOST_VSOCK"), *nbin = sp_peer_bin("SP_NET_SINK");
	double deadline = now_s() + 20;

	if (!vbin || !nbin)
		cr_skip_test("SP_VHOST_VSOCK and SP_NET_SINK must name the peers");
	snprintf(vsock_path, sizeof(vsock_path), "%s/soak-%d.sock", sp_env_run_path(NULL, NULL, 0), getpid());
	snprintf(ctl_path, sizeof(ctl_path), "%s.ctl", vsock_path);
	char *bargv[] = { (char *)vbin, "--socket", vsock_path, "--ctl", ctl_path, "--mode", "sink",
			  "--cid", "3", "--verify", NULL };
	sp_peer_start(&backend, "soak-vsock", bargv);

	snprintf(sink_sock, sizeof(sink_sock), "sp-soak-%d.sock", getpid());
	char *sargv[] = { (char *)nbin, "--socket", sink_sock, "--idle", "0", "--clock", "none",
			  NULL };
	sp_peer_start(&sink, "soak-udp", sargv);

	sp_peer_ctl_connect(&backend, ctl_path, deadline);
	sp_peer_wait_err(&sink, "sink: listening", deadline);
}

static void teardown(void)
{
	sp_fini();
	sp_peer_stop(&backend, SIGTERM, 10);
	sp_peer_drop(&backend);
	sp_peer_drop(&sink);
	unlink(vsock_path);
	unlink(ctl_path);
}

/* --- traffic --- */

static uint8_t pattern_byte(uint64_t i)
{
	return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24));
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)rng;
}

/* 1 B .. 64 KiB, small sizes as likely as large ones (log-uniform). */
static size_t vsock_size(void)
{
	unsigned int bits = rnd() % 17;          /* 2^0 .. 2^16 */

	return 1 + rnd() % (1u << bits);
}

struct vsock_tx {
	int fd;
	uint64_t off;                /* stream offset of the next byte */
	uint64_t msgs;
	uint8_t *buf[VBATCH];
	struct iovec iov[VBATCH];
	struct mmsghdr v[VBATCH];
};

static void vsock_fill(struct vsock_tx *t, unsigned int i, uint64_t off, size_t len)
{
	for (size_t k = 0; k < len; k++)
		t->buf[i][k] = pattern_byte(off + k);
	t->iov[i] = (struct iovec){ t->buf[i], len };
	memset(&t->v[i], 0, sizeof(t->v[i]));
	t->v[i].msg_hdr.msg_iov = &t->iov[i];
	t->v[i].msg_hdr.msg_iovlen = 1;
}

/* One batch (or one single send); partial sends continue from where they stopped. */
static void vsock_round(struct vsock_tx *t)
{
	unsigned int n = rnd() % 4 == 0 ? 1 : 1 + rnd() % VBATCH;
	uint64_t off = t->off;
	int k;

	for (unsigned int i = 0; i < n; i++) {
		size_t len = vsock_size();

		vsock_fill(t, i, off, len);
		off += len;
	}
	if (n == 1) {
		ssize_t r = sp_send(t->fd, t->buf[0], t->iov[0].iov_len, 0);

		cr_assert_gt(r, 0, "vsock send: %s", strerror(errno));
		t->off += (uint64_t)r;
		t->msgs++;
		return;
	}
	k = sp_sendmmsg(t->fd, t->v, n, 0);
	cr_assert_gt(k, 0, "vsock sendmmsg: %s", strerror(errno));
	for (int i = 0; i < k; i++)
		t->off += t->v[i].msg_len;
	t->msgs += (uint64_t)k;
}

struct udp_tx {
	int fd;
	uint64_t seq;
	uint64_t calls_short;
	uint8_t buf[UBATCH][1472];
	struct iovec iov[UBATCH];
	struct mmsghdr v[UBATCH];
};

static void udp_round(struct udp_tx *t)
{
	unsigned int n = rnd() % 4 == 0 ? 1 : 1 + rnd() % UBATCH;
	int k;

	for (unsigned int i = 0; i < n; i++) {
		size_t len = 8 + rnd() % (1472 - 8 + 1);

		sp_probe_write(t->buf[i], t->seq + i, 0);
		/* payload after the probe follows the sequence number, for a reader of the capture */
		memset(t->buf[i] + 8, (int)((t->seq + i) & 0xff), len - 8);
		t->iov[i] = (struct iovec){ t->buf[i], len };
		memset(&t->v[i], 0, sizeof(t->v[i]));
		t->v[i].msg_hdr.msg_iov = &t->iov[i];
		t->v[i].msg_hdr.msg_iovlen = 1;
	}
	if (n == 1) {
		ssize_t r = sp_send(t->fd, t->buf[0], t->iov[0].iov_len, 0);

		cr_assert_eq(r, (ssize_t)t->iov[0].iov_len, "udp send: %s", strerror(errno));
		t->seq++;
		return;
	}
	k = sp_sendmmsg(t->fd, t->v, n, 0);
	cr_assert_gt(k, 0, "udp sendmmsg: %s", strerror(errno));
	for (int i = 0; i < k; i++)
		cr_assert_eq(t->v[i].msg_len, t->iov[i].iov_len);
	t->calls_short += (unsigned int)k < n;
	t->seq += (uint64_t)k;       /* the rest is sent again next round, under new numbers */
}

static long rss_kib(void)
{
	long pages = 0, rss = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

/* Everything queued has left: the UDP backlog, and the vsock tx ring (SIOCOUTQ 0). */
static void drain(int vfd)
{
	double end = now_s() + 5;
	int outq = 1;

	while (now_s() < end) {
		sp_poll();
		if (sp_nif->bl_len == 0 && sp_ioctl(vfd, SIOCOUTQ, &outq) == 0 && outq == 0)
			break;
	}
	cr_assert_eq(outq, 0, "vsock bytes still queued after 5 s");
	for (int i = 0; i < 50; i++) {    /* the device's used entries come back with the next polls */
		sp_poll();
		usleep(1000);
	}
}

TestSuite(soak, .fini = teardown, .timeout = 600);

Test(soak, mixed_vsock_and_udp_nothing_lost_memory_flat)
{
	const char *env = getenv("SP_SOAK_SECONDS");
	double seconds = env ? atof(env) : 60, warmup = seconds / 10 < 5 ? seconds / 10 : 5;
	struct sp_init_cfg cfg = { .start_eal = true, .name = "test-soak", .cpu = -1, .mem_mb = 512,
				   .udp_port = 0, .vsock_dev = "virtio_vsock0" };
	struct sockaddr_vm va = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = PORT };
	struct sockaddr_in ua = { .sin_family = AF_INET, .sin_port = htons(9) };
	const struct rte_ether_addr sink_mac = { { 0x02, 0, 0, 0, 0, 2 } };
	static struct vsock_tx vt;
	static struct udp_tx ut;
	char vdev_vsock[256], vdev_net[256], path[128];
	struct rte_mempool *vpool, *upool;
	unsigned int vfree0, ufree0, vfree1, ufree1;
	long rss0 = 0, rss_max = 0, rss;
	double t0, next_sample, t_end;
	const char *stats, *json;

	signal(SIGPIPE, SIG_IGN);
	peers_start();
	snprintf(vdev_vsock, sizeof(vdev_vsock), "virtio_vsock0,path=%s,cid=3", vsock_path);
	sp_env_run_path(sink_sock, path, sizeof(path));
	snprintf(vdev_net, sizeof(vdev_net), "net_virtio_user0,path=%s,queue_size=1024", path);
	cfg.vdevs[0] = vdev_vsock;
	cfg.vdevs[1] = vdev_net;
	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
	cr_assert_eq(sp_init(&cfg), 0, "sp_init: %s", strerror(errno));
	cr_assert_eq(sp_neigh_add(inet_addr(DST_IP), &sink_mac), 0);

	vt.fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	cr_assert_eq(sp_connect(vt.fd, (struct sockaddr *)&va, sizeof(va)), 0, "connect: %s", strerror(errno));
	ut.fd = sp_socket(AF_INET, SOCK_DGRAM, 0);
	inet_pton(AF_INET, DST_IP, &ua.sin_addr);
	cr_assert_eq(sp_connect(ut.fd, (struct sockaddr *)&ua, sizeof(ua)), 0);
	for (int i = 0; i < VBATCH; i++)
		vt.buf[i] = malloc(65536);
	vpool = sp_vsock_dev_pool(sp_vsock_dev_get("virtio_vsock0"));
	upool = sp_nif->pool;

	t0 = now_s();
	t_end = t0 + seconds;
	next_sample = t0 + warmup;
	vfree0 = ufree0 = 0;
	while (now_s() < t_end) {
		vsock_round(&vt);
		udp_round(&ut);
		if (now_s() >= next_sample) {
			rss = rss_kib();
			if (!rss0) {
				/* after the warm-up: the reference point, rings drained */
				drain(vt.fd);
				rss0 = rss_kib();
				vfree0 = rte_mempool_avail_count(vpool);
				ufree0 = rte_mempool_avail_count(upool);
			}
			if (rss > rss_max)
				rss_max = rss;
			next_sample += 1;
		}
	}
	drain(vt.fd);
	vfree1 = rte_mempool_avail_count(vpool);
	ufree1 = rte_mempool_avail_count(upool);
	rss = rss_kib();

	/* the peers' view */
	stats = sp_peer_ctl(&backend, "stats");
	cr_log_info("soak: %.0f s, vsock %llu messages %llu bytes, udp %llu datagrams (%llu short calls), "
		    "rss %ld -> %ld KiB (max %ld), free mbufs vsock %u -> %u, udp %u -> %u",
		    now_s() - t0, (unsigned long long)vt.msgs, (unsigned long long)vt.off,
		    (unsigned long long)ut.seq, (unsigned long long)ut.calls_short, rss0, rss, rss_max,
		    vfree0, vfree1, ufree0, ufree1);
	cr_expect_eq((uint64_t)sp_peer_json_num(stats, "rx_bytes"), vt.off, "backend got %.0f bytes, we sent %llu: %s",
		     sp_peer_json_num(stats, "rx_bytes"), (unsigned long long)vt.off, stats);
	cr_expect_eq(sp_peer_json_num(stats, "verify_errors"), 0, "%s", stats);
	cr_expect_eq(sp_peer_json_num(stats, "credit_violations"), 0, "%s", stats);

	sp_peer_stop(&sink, SIGINT, 30);
	json = sp_peer_slurp(sink.out);
	cr_log_info("soak: sink %s", json);
	cr_expect_eq((uint64_t)sp_peer_json_num(json, "frames"), ut.seq, "sink saw %.0f frames, we sent %llu",
		     sp_peer_json_num(json, "frames"), (unsigned long long)ut.seq);
	cr_expect_eq(sp_peer_json_num(json, "lost"), 0);
	cr_expect_eq(sp_peer_json_num(json, "gaps"), 0);
	cr_expect_eq(sp_peer_json_num(json, "duplicates"), 0);
	cr_expect_eq(sp_peer_json_num(json, "reordered"), 0);

	cr_expect_lt(rss_max - rss0, 4096, "RSS grew %ld KiB after the warm-up", rss_max - rss0);
	cr_expect_eq(vfree1, vfree0, "vsock pool: %u free after warm-up, %u at the end", vfree0, vfree1);
	/* net_virtio frees sent mbufs lazily, when its tx ring runs low: the UDP pool's
	 * free count moves within one ring (queue_size 1024); a leak walks out of it */
	cr_expect_leq(ufree0 > ufree1 ? ufree0 - ufree1 : 0, 1024,
		      "udp pool: %u free after warm-up, %u at the end", ufree0, ufree1);
	sp_close(vt.fd);
	sp_close(ut.fd);
	for (int i = 0; i < VBATCH; i++)
		free(vt.buf[i]);
}
