/* SPDX-License-Identifier: MIT */
/*
 * sp-vhost-vsock end to end: the backend runs as its own process; this test
 * is the guest, with the project's virtio-vsock driver over vhost-user,
 * speaking raw vsock packets (no stack) so it can also break the rules.
 * Each test is its own process (Criterion forks), so each starts its own EAL.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <rte_hash_crc.h>
#include <rte_mbuf.h>

#include "peer.h"
#include "sp_env.h"
#include "virtio_vsock.h"
#include "vsock_proto.h"

#ifndef BACKEND_PATH
#error "BACKEND_PATH must name the sp-vhost-vsock program"
#endif

#define GUEST_CID 3
#define PORT 1234
#define GPORT 40000
#define CHUNK 4052

static char dir[64], sock[128], ctlpath[160];
static struct sp_peer backend;
static struct sp_vsock_dev *dev;

/* extra: the backend's further options, separated by spaces (at most four words). */
static void start_backend(const char *extra)
{
	char cid[16], cpu[16], opt[64];
	struct stat st;
	int first, last;

	snprintf(dir, sizeof(dir), "/tmp/sp-be-e2e.XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/v.sock", dir);
	snprintf(ctlpath, sizeof(ctlpath), "%s/v.sock.ctl", dir);
	snprintf(cid, sizeof(cid), "%d", GUEST_CID);
	sp_peer_cpus(&first, &last);       /* our EAL is on CPU 0 */
	snprintf(cpu, sizeof(cpu), "%d", last);
	snprintf(opt, sizeof(opt), "%s", extra);
	char *argv[16] = { "timeout", "-s", "INT", "60", BACKEND_PATH, "--socket", sock, "--cid", cid,
			   "--cpu", cpu };
	int argc = 11;

	for (char *save, *w = strtok_r(opt, " ", &save); w && argc < 15; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	sp_peer_start(&backend, "be-e2e", argv);
	sp_peer_wait_err(&backend, "serving", sp_peer_now() + 10);
	sp_peer_ctl_connect(&backend, ctlpath, sp_peer_now() + 5);
	cr_assert(stat(sock, &st) == 0, "backend did not listen on %s", sock);
	cr_assert_eq(st.st_mode & 0777, 0600, "vhost-user socket must be owner-only");
}

static int stop_backend(void)
{
	return sp_peer_stop(&backend, SIGINT, 10);
}

static void start_eal(void)
{
	struct sp_env_cfg cfg = { .name = "tbe2e", .cpu = 0, .shares_memory = true, .mem_mb = 128,
				  .quiet = true };

	cr_assert_eq(sp_env_init(&cfg), 0);
}

static void open_dev(void)
{
	char args[200];

	snprintf(args, sizeof(args), "path=%s", sock);
	dev = sp_vsock_dev_create("virtio_vsock0", args);
	cr_assert(dev, "driver did not come up against the backend");
	cr_assert_eq(sp_vsock_dev_cid(dev), GUEST_CID, "CID from GET_CONFIG");
}

static void fini(void)
{
	if (dev)
		sp_vsock_dev_destroy(dev);
	dev = NULL;
	stop_backend();
	if (getenv("SP_TEST_KEEP"))   /* keep the backend's out/err (under /tmp) for a look */
		sp_peer_kill(&backend);
	else
		sp_peer_drop(&backend);
	if (dir[0]) {
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	sp_env_fini();
}

/* One control line, one reply line. */
static const char *ctl(const char *cmd)
{
	return sp_peer_ctl(&backend, "%s", cmd);
}

/* What the driver knows of the host's buffer. */
static struct vsock_credit cr;

static void send_pkt(uint16_t op, uint32_t flags, const uint8_t *data, uint32_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(sp_vsock_dev_pool(dev));
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = GPORT,
			       .dst_port = PORT, .len = len, .type = VSOCK_TYPE_STREAM, .op = op,
			       .flags = flags, .buf_alloc = 256 * 1024, .fwd_cnt = cr.fwd_cnt };
	char *p;
	double t0 = sp_peer_now();

	cr_assert(m);
	p = rte_pktmbuf_append(m, sizeof(h) + len);
	cr_assert(p);
	vsock_hdr_encode(p, &h);
	if (len)
		memcpy(p + sizeof(h), data, len);
	while (sp_vsock_tx_burst(dev, &m, 1) != 1)
		cr_assert(sp_peer_now() - t0 < 5, "tx ring stuck");
}

/* Next packet from the host; op 0 when none came within the time. */
static struct vsock_hdr recv_pkt(double timeout)
{
	struct vsock_hdr h = { 0 };
	struct rte_mbuf *m;
	double t0 = sp_peer_now();

	while (sp_peer_now() - t0 < timeout) {
		if (sp_vsock_rx_burst(dev, &m, 1) == 1) {
			vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, void *));
			cr.fwd_cnt += h.op == VSOCK_OP_RW ? h.len : 0;
			vsock_credit_update_from(&cr, &h);
			rte_pktmbuf_free(m);
			return h;
		}
	}
	return h;
}

static void connect_host(void)
{
	struct vsock_hdr h;

	memset(&cr, 0, sizeof(cr));
	send_pkt(VSOCK_OP_REQUEST, 0, NULL, 0);
	h = recv_pkt(3);
	cr_assert_eq(h.op, VSOCK_OP_RESPONSE, "got op %u; backend: %s", h.op, ctl("stats"));
	cr_assert_eq(h.src_port, PORT);
	cr_assert_eq(h.dst_port, GPORT);
	cr_assert_eq(h.buf_alloc, VSOCK_DEFAULT_BUF_ALLOC);
}

/* Sends len pattern bytes within the host's credit, reading its CREDIT_UPDATEs. */
static uint32_t send_stream(uint64_t len)
{
	static uint8_t buf[CHUNK];
	uint32_t crc = ~0u;
	uint64_t off = 0;

	while (off < len) {
		uint32_t n = len - off < CHUNK ? (uint32_t)(len - off) : CHUNK;
		struct rte_mbuf *m;
		double t0 = sp_peer_now();

		while (vsock_peer_free(&cr) < n) {
			cr_assert(sp_peer_now() - t0 < 5, "no credit came back from the host");
			if (sp_vsock_rx_burst(dev, &m, 1) == 1) {
				struct vsock_hdr h;

				vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, void *));
				cr_assert_eq(h.op, VSOCK_OP_CREDIT_UPDATE);
				vsock_credit_update_from(&cr, &h);
				rte_pktmbuf_free(m);
			}
		}
		for (uint32_t i = 0; i < n; i++)
			buf[i] = (uint8_t)((off + i) ^ ((off + i) >> 8) ^ ((off + i) >> 16) ^ ((off + i) >> 24));
		crc = rte_hash_crc(buf, n, crc);
		vsock_credit_take(&cr, n);
		send_pkt(VSOCK_OP_RW, 0, buf, n);
		off += n;
	}
	return crc;
}

TestSuite(backend_e2e, .fini = fini, .timeout = 60);

Test(backend_e2e, stream_checksum_and_close)
{
	uint64_t total = 32ull << 20;
	uint32_t crc;
	struct vsock_hdr h;
	const char *s;
	char want[32];
	double t0;

	start_backend("--verify --expect-bytes 33554432");
	start_eal();
	open_dev();
	connect_host();
	t0 = sp_peer_now();
	crc = send_stream(total);
	fprintf(stderr, "backend_e2e: %llu MiB in %.2f s\n", (unsigned long long)(total >> 20),
		sp_peer_now() - t0);
	/* close(): SHUTDOWN both; the host answers with RST. */
	send_pkt(VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL, 0);
	do
		h = recv_pkt(3);
	while (h.op == VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(h.op, VSOCK_OP_RST);
	s = ctl("stats");
	cr_assert_eq(sp_peer_json_num(s, "conns_open"), 0);
	cr_assert_eq(sp_peer_json_num(s, "credit_violations"), 0);
	cr_assert_eq(sp_peer_json_num(s, "verify_errors"), 0);
	cr_assert(strstr(s, "\"closed\""), "%s", s);
	cr_assert_eq(sp_peer_json_num(strstr(s, "\"closed\""), "rx_bytes"), (long long)total);
	snprintf(want, sizeof(want), "\"crc32c\":\"0x%08x\"", crc);
	cr_assert(strstr(strstr(s, "\"closed\""), want), "checksum %s not in %s", want, s);
	cr_assert_eq(stop_backend(), 0, "backend exit status");
}

Test(backend_e2e, refused_connection_gets_rst)
{
	start_backend("");
	start_eal();
	open_dev();
	cr_assert_str_eq(ctl("refuse on"), "ok");
	send_pkt(VSOCK_OP_REQUEST, 0, NULL, 0);
	cr_assert_eq(recv_pkt(3).op, VSOCK_OP_RST);
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "conns_refused"), 1);
	cr_assert_str_eq(ctl("refuse off"), "ok");
	connect_host();
}

Test(backend_e2e, host_shutdown_and_rst_reach_the_driver)
{
	struct vsock_hdr h;

	start_backend("");
	start_eal();
	open_dev();
	connect_host();
	cr_assert_str_eq(ctl("shutdown send"), "ok 1");
	h = recv_pkt(3);
	cr_assert_eq(h.op, VSOCK_OP_SHUTDOWN, "op %u; backend: %s", h.op, ctl("stats"));
	cr_assert_eq(h.flags, VSOCK_SHUTDOWN_SEND);
	cr_assert_str_eq(ctl("rst"), "ok 1");
	cr_assert_eq(recv_pkt(3).op, VSOCK_OP_RST);
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "conns_open"), 0);
}

Test(backend_e2e, credit_violation_is_counted_and_fails_the_exit_status)
{
	static uint8_t buf[CHUNK];
	const char *s;

	start_backend("");
	start_eal();
	open_dev();
	cr_assert_str_eq(ctl("stop-reading"), "ok");
	connect_host();
	/* Ignore the credit on purpose: 256 KiB fits, the packets after it do not. */
	for (uint32_t sent = 0; sent < 256 * 1024 + 3 * CHUNK; sent += CHUNK)
		send_pkt(VSOCK_OP_RW, 0, buf, CHUNK);
	usleep(200000);
	s = ctl("stats");
	cr_assert_geq(sp_peer_json_num(s, "credit_violations"), 1, "%s", s);
	cr_assert(strstr(s, "\"conns\""), "%s", s);
	cr_assert_eq(sp_peer_json_num(strstr(s, "\"conns\""), "rx_bytes"), 256 * 1024 / CHUNK * CHUNK);
	cr_assert_eq(stop_backend(), 3);
}

Test(backend_e2e, second_frontend_refused_while_one_is_connected)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char c;
	int fd;

	start_backend("");
	start_eal();
	open_dev();
	strcpy(sa.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	struct timeval tv = { .tv_sec = 3 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(read(fd, &c, 1), 0, "the backend hangs up on a second frontend");
	close(fd);
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "frontends_refused"), 1);
	connect_host();
}

Test(backend_e2e, frontend_reconnects_after_disconnect)
{
	const char *s;

	start_backend("");
	start_eal();
	open_dev();
	connect_host();
	sp_vsock_dev_destroy(dev);
	dev = NULL;
	usleep(200000);
	s = ctl("stats");
	cr_assert_eq(sp_peer_json_num(s, "conns_open"), 0, "the frontend's connections went with it");
	cr_assert_eq(sp_peer_json_num(s, "frontends_gone"), 1);
	open_dev();
	connect_host();
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "frontends_accepted"), 2);
}

Test(backend_e2e, echo_returns_the_stream)
{
	static uint8_t back[100000];
	uint64_t total = sizeof(back), got = 0;
	double t0;

	start_backend("--mode echo");
	start_eal();
	open_dev();
	connect_host();
	send_stream(total);   /* fits the 256 KiB the driver advertised: no CREDIT_UPDATE needed */
	t0 = sp_peer_now();
	while (got < total && sp_peer_now() - t0 < 5) {
		struct rte_mbuf *m;
		struct vsock_hdr h;

		if (sp_vsock_rx_burst(dev, &m, 1) != 1)
			continue;
		vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, void *));
		if (h.op == VSOCK_OP_RW) {
			cr_assert_leq(got + h.len, total);
			cr_assert_eq(rte_pktmbuf_pkt_len(m), sizeof(h) + h.len);
			const void *d = rte_pktmbuf_read(m, sizeof(h), h.len, back + got);

			cr_assert(d);
			if (d != back + got)
				memcpy(back + got, d, h.len);
			got += h.len;
		} else {
			cr_assert_eq(h.op, VSOCK_OP_CREDIT_UPDATE, "op %u", h.op);
		}
		rte_pktmbuf_free(m);
	}
	cr_assert_eq(got, total, "echoed %llu of %llu", (unsigned long long)got, (unsigned long long)total);
	for (uint64_t i = 0; i < total; i++)
		cr_assert_eq(back[i], (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)), "byte %llu",
			     (unsigned long long)i);
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "tx_bytes"), (long long)total);
}

/* Not a pass/fail on speed: prints the packet rate, asserts only that all arrived. */
Test(backend_e2e, rate_of_64_byte_packets)
{
	enum { BURST = 32, PKTS = 1 << 20 };
	static uint8_t payload[64];
	struct rte_mbuf *m[BURST];
	struct vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = VSOCK_HOST_CID, .src_port = GPORT,
			       .dst_port = PORT, .len = sizeof(payload), .type = VSOCK_TYPE_STREAM,
			       .op = VSOCK_OP_RW, .buf_alloc = 256 * 1024 };
	uint64_t sent = 0;
	double t0, dt;
	const char *s;

	start_backend("--poll");
	start_eal();
	open_dev();
	connect_host();
	t0 = sp_peer_now();
	while (sent < PKTS) {
		uint16_t n = 0, k;
		struct rte_mbuf *r;

		while (sp_vsock_rx_burst(dev, &r, 1) == 1) {
			struct vsock_hdr u;

			vsock_hdr_decode(&u, rte_pktmbuf_mtod(r, void *));
			vsock_credit_update_from(&cr, &u);
			rte_pktmbuf_free(r);
		}
		while (n < BURST && sent + n < PKTS && vsock_peer_free(&cr) >= sizeof(payload)) {
			char *p;

			vsock_credit_take(&cr, sizeof(payload));
			m[n] = rte_pktmbuf_alloc(sp_vsock_dev_pool(dev));
			if (!m[n]) {
				vsock_credit_return(&cr, sizeof(payload));
				break;
			}
			p = rte_pktmbuf_append(m[n], sizeof(h) + sizeof(payload));
			vsock_hdr_encode(p, &h);
			memcpy(p + sizeof(h), payload, sizeof(payload));
			n++;
		}
		k = sp_vsock_tx_burst(dev, m, n);
		for (uint16_t i = k; i < n; i++) {
			rte_pktmbuf_free(m[i]);
			vsock_credit_return(&cr, sizeof(payload));
		}
		sent += k;
		cr_assert(sp_peer_now() - t0 < 60, "stuck at %llu packets", (unsigned long long)sent);
	}
	do {
		s = ctl("stats");
	} while (sp_peer_json_num(s, "rx_pkts") < PKTS + 1 && sp_peer_now() - t0 < 60);
	dt = sp_peer_now() - t0;
	cr_assert_eq(sp_peer_json_num(s, "rx_bytes"), (long long)PKTS * sizeof(payload));
	cr_assert_eq(sp_peer_json_num(s, "credit_violations"), 0);
	fprintf(stderr, "backend_e2e: %d packets of 64 bytes in %.3f s: %.2f Mpps (driver cpu 0, backend cpu 1)\n",
		PKTS, dt, PKTS / dt / 1e6);
}

/*
 * Four times both buffers through the echo peer: it only flows if each side
 * returns credit, the backend by the fwd_cnt its RW headers carry, this
 * driver-side loop by CREDIT_UPDATE on the kernel's rule.
 */
Test(backend_e2e, echo_a_mebibyte_with_credit_both_ways)
{
	enum { TOTAL = 1 << 20 };
	static uint8_t out_[TOTAL], back[TOTAL];
	struct vsock_credit mine = { .buf_alloc = 256 * 1024 };
	uint64_t sent = 0, got = 0;
	double t0;

	for (uint32_t i = 0; i < TOTAL; i++)
		out_[i] = (uint8_t)(i * 7 + (i >> 9));
	start_backend("--mode echo");
	start_eal();
	open_dev();
	connect_host();
	t0 = sp_peer_now();
	while (got < TOTAL) {
		struct rte_mbuf *m;

		cr_assert(sp_peer_now() - t0 < 20, "stalled: sent %llu got %llu, backend %s",
			  (unsigned long long)sent, (unsigned long long)got, ctl("stats"));
		if (sent < TOTAL) {
			uint32_t n = TOTAL - sent < CHUNK ? (uint32_t)(TOTAL - sent) : CHUNK;

			if (vsock_peer_free(&cr) >= n) {
				vsock_credit_take(&cr, n);
				cr.fwd_cnt = mine.fwd_cnt;   /* send_pkt puts cr.fwd_cnt in the header */
				send_pkt(VSOCK_OP_RW, 0, out_ + sent, n);
				mine.last_fwd_cnt = mine.fwd_cnt;
				sent += n;
			}
		}
		if (sp_vsock_rx_burst(dev, &m, 1) == 1) {
			struct vsock_hdr h;

			vsock_hdr_decode(&h, rte_pktmbuf_mtod(m, void *));
			vsock_credit_update_from(&cr, &h);
			if (h.op == VSOCK_OP_RW) {
				const void *d = rte_pktmbuf_read(m, sizeof(h), h.len, back + got);

				cr_assert_leq(got + h.len, TOTAL);
				if (d != back + got)
					memcpy(back + got, d, h.len);
				got += h.len;
				mine.fwd_cnt += h.len;          /* read at once */
				cr_assert_leq(mine.fwd_cnt - mine.last_fwd_cnt, mine.buf_alloc,
					      "the backend sent past our credit");
				if (vsock_credit_update_due(&mine)) {
					cr.fwd_cnt = mine.fwd_cnt;
					send_pkt(VSOCK_OP_CREDIT_UPDATE, 0, NULL, 0);
					mine.last_fwd_cnt = mine.fwd_cnt;
				}
			}
			rte_pktmbuf_free(m);
		}
	}
	cr_assert_arr_eq(back, out_, TOTAL);
	cr_assert_eq(sp_peer_json_num(ctl("stats"), "credit_violations"), 0);
}
