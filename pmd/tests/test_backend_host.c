/* SPDX-License-Identifier: MIT */
/*
 * The backend's host logic (CID 2) driven in-process: packets in as the
 * driver would put them on the tx queue, packets out into fake rx buffers.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <rte_hash_crc.h>

#include "host.h"

#define GUEST 3
#define PORT 1234
#define GPORT 5000
#define RXBUF (4096 + 44)
#define MAXOUT 256

static struct host h;
/* Payload lands at offset 44 as in a driver's buffer: misaligned on purpose. */
static uint8_t inbuf[44 + VSOCK_MAX_PKT_PAYLOAD] __attribute__((aligned(64)));

/* Fake driver rx buffers; what the host wrote is decoded into out[]. */
static uint8_t rxmem[MAXOUT][RXBUF];
static struct vb_chain rxc;
static unsigned int nout, rx_avail;
static struct vsock_hdr out[MAXOUT];
static uint32_t out_len[MAXOUT];

static const struct vb_chain *fake_get(void *ctx)
{
	(void)ctx;
	if (!rx_avail || nout == MAXOUT)
		return NULL;
	rx_avail--;
	rxc = (struct vb_chain){ .head = (uint16_t)nout, .nseg = 1, .len = RXBUF };
	rxc.seg[0] = (struct vb_seg){ rxmem[nout], RXBUF };
	return &rxc;
}

static void fake_put(void *ctx, const struct vb_chain *c, uint32_t written)
{
	(void)ctx;
	vsock_hdr_decode(&out[nout], c->seg[0].base);
	out_len[nout] = written;
	nout++;
}

static const struct host_tx_ops ops = { .get = fake_get, .put = fake_put };

static void setup(void)
{
	struct host_cfg cfg = { .mode = HOST_SINK, .guest_cid = GUEST, .buf_alloc = 256 * 1024,
				.max_conns = 16, .close_timeout_ms = 1000 };

	host_init(&h, &cfg);
	nout = 0;
	rx_avail = MAXOUT;
}

static void teardown(void)
{
	host_fini(&h);
}

static void send_pkt_to(uint32_t port, uint16_t op, uint32_t len, uint32_t flags, const uint8_t *payload)
{
	struct vsock_hdr hd = { .src_cid = GUEST, .dst_cid = 2, .src_port = GPORT, .dst_port = port,
				.len = len, .type = VSOCK_TYPE_STREAM, .op = op, .flags = flags,
				.buf_alloc = 65536, .fwd_cnt = 0 };
	struct vb_chain c = { .nseg = 1, .len = 44 + len };

	vsock_hdr_encode(inbuf, &hd);
	if (len)
		memcpy(inbuf + 44, payload, len);
	c.seg[0] = (struct vb_seg){ inbuf, 44 + len };
	host_recv(&h, &hd, &c);
}

static void send_pkt(uint16_t op, uint32_t len, uint32_t flags, const uint8_t *payload)
{
	send_pkt_to(PORT, op, len, flags, payload);
}

static unsigned int flush(void)
{
	unsigned int before = nout;

	host_output(&h, &ops);
	return nout - before;
}

static struct conn *only_conn(void)
{
	cr_assert_eq(h.nconns, 1);
	return TAILQ_FIRST(&h.conns);
}

static void connect(void)
{
	send_pkt(VSOCK_OP_REQUEST, 0, 0, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[nout - 1].op, VSOCK_OP_RESPONSE);
}

TestSuite(backend_host, .init = setup, .fini = teardown);

Test(backend_host, request_answered_with_response)
{
	connect();
	cr_assert_eq(out[0].src_cid, 2);
	cr_assert_eq(out[0].dst_cid, GUEST);
	cr_assert_eq(out[0].src_port, PORT);
	cr_assert_eq(out[0].dst_port, GPORT);
	cr_assert_eq(out[0].buf_alloc, 256 * 1024);
	cr_assert_eq(out[0].fwd_cnt, 0);
	cr_assert_eq(out_len[0], 44);
	cr_assert_eq(only_conn()->cr.peer_buf_alloc, 65536);
}

Test(backend_host, refused_request_gets_rst)
{
	char reply[256];

	host_ctl(&h, "refuse on", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok");
	send_pkt(VSOCK_OP_REQUEST, 0, 0, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[0].op, VSOCK_OP_RST);
	cr_assert_eq(h.nconns, 0);
	cr_assert_eq(h.n.conns_refused, 1);
}

Test(backend_host, packet_without_connection_gets_rst_but_rst_does_not)
{
	send_pkt(VSOCK_OP_RW, 0, 0, NULL);
	send_pkt(VSOCK_OP_RST, 0, 0, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[0].op, VSOCK_OP_RST);
}

Test(backend_host, foreign_source_cid_dropped)
{
	struct vsock_hdr hd = { .src_cid = 9, .dst_cid = 2, .src_port = 1, .dst_port = PORT,
				.type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST };
	struct vb_chain c = { .nseg = 1, .len = 44 };

	c.seg[0] = (struct vb_seg){ inbuf, 44 };
	host_recv(&h, &hd, &c);
	cr_assert_eq(flush(), 0);
	cr_assert_eq(h.n.bad_src_cid, 1);
}

Test(backend_host, payload_counted_and_checksummed)
{
	uint8_t data[3000] __attribute__((aligned(8)));
	struct conn *c;

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = vb_pattern_byte(i);
	h.cfg.verify = true;
	connect();
	send_pkt(VSOCK_OP_RW, 1000, 0, data);
	send_pkt(VSOCK_OP_RW, 2000, 0, data + 1000);
	c = only_conn();
	cr_assert_eq(c->rx_total, 3000);
	cr_assert_eq(c->cr.fwd_cnt, 3000, "sink consumes at once");
	cr_assert_eq(c->crc, rte_hash_crc(data, sizeof(data), ~0u));
	cr_assert_eq(c->verify_errors, 0);
	data[10] ^= 1;
	send_pkt(VSOCK_OP_RW, 20, 0, data);
	cr_assert_eq(c->verify_errors, 20, "bytes at offset 3000.. are not pattern[0..20)");
	cr_assert_eq(host_exit_code(&h), 4);
}

Test(backend_host, sending_past_credit_is_a_violation)
{
	static uint8_t data[VSOCK_MAX_PKT_PAYLOAD];
	struct conn *c;
	char reply[256];

	host_ctl(&h, "stop-reading", reply, sizeof(reply));
	connect();
	/* 256 KiB advertised: four full packets fit, the fifth does not. */
	for (int i = 0; i < 4; i++)
		send_pkt(VSOCK_OP_RW, VSOCK_MAX_PKT_PAYLOAD, 0, data);
	c = only_conn();
	cr_assert_eq(c->credit_violations, 0);
	cr_assert_eq(c->cr.rx_bytes, 256 * 1024);
	send_pkt(VSOCK_OP_RW, 1, 0, data);
	cr_assert_eq(c->credit_violations, 1);
	cr_assert_eq(c->rx_total, 256 * 1024, "the excess byte is dropped");
	cr_assert_eq(host_exit_code(&h), 3);
}

Test(backend_host, credit_update_by_the_kernel_rule)
{
	static uint8_t data[VSOCK_MAX_PKT_PAYLOAD];

	connect();
	/* Consumed bytes are announced once less than one packet of buffer stays unannounced. */
	send_pkt(VSOCK_OP_RW, VSOCK_MAX_PKT_PAYLOAD, 0, data);
	send_pkt(VSOCK_OP_RW, VSOCK_MAX_PKT_PAYLOAD, 0, data);
	send_pkt(VSOCK_OP_RW, VSOCK_MAX_PKT_PAYLOAD, 0, data);
	cr_assert_eq(flush(), 0, "192 KiB consumed of 256: no update yet");
	send_pkt(VSOCK_OP_RW, 1, 0, data);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(out[1].fwd_cnt, 3 * VSOCK_MAX_PKT_PAYLOAD + 1);
	/* Now the driver may go on to fwd_cnt + buf_alloc. */
	send_pkt(VSOCK_OP_RW, VSOCK_MAX_PKT_PAYLOAD, 0, data);
	cr_assert_eq(only_conn()->credit_violations, 0);
}

Test(backend_host, credit_request_answered)
{
	connect();
	send_pkt(VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(out[1].buf_alloc, 256 * 1024);
}

Test(backend_host, stop_reading_then_read_n)
{
	uint8_t data[1000] = { 0 };
	char reply[256];
	struct conn *c;

	host_ctl(&h, "stop-reading", reply, sizeof(reply));
	connect();
	send_pkt(VSOCK_OP_RW, 1000, 0, data);
	c = only_conn();
	cr_assert_eq(c->cr.fwd_cnt, 0);
	host_ctl(&h, "read 300", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 300");
	cr_assert_eq(c->cr.fwd_cnt, 300);
	host_ctl(&h, "resume", reply, sizeof(reply));
	cr_assert_eq(c->cr.fwd_cnt, 1000);
	host_ctl(&h, "credit-update", reply, sizeof(reply));
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_CREDIT_UPDATE);
	cr_assert_eq(out[1].fwd_cnt, 1000);
}

Test(backend_host, shutdown_and_rst_commands)
{
	char reply[256];

	connect();
	host_ctl(&h, "shutdown send port 1234", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	host_ctl(&h, "shutdown rcv port 99", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 0");
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_SHUTDOWN);
	cr_assert_eq(out[1].flags, VSOCK_SHUTDOWN_SEND);
	host_ctl(&h, "rst", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[2].op, VSOCK_OP_RST);
	cr_assert_eq(h.nconns, 0);
	cr_assert_str_eq(h.history[0].how, "rst_sent");
}

Test(backend_host, close_sends_shutdown_then_rst_after_timeout)
{
	char reply[256];

	connect();
	host_ctl(&h, "close", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_SHUTDOWN);
	cr_assert_eq(out[1].flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
	host_tick(&h, 500);
	cr_assert_eq(flush(), 0);
	host_tick(&h, 1000);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[2].op, VSOCK_OP_RST);
	cr_assert_eq(h.nconns, 0);
}

Test(backend_host, peer_shutdown_both_is_answered_with_rst)
{
	connect();
	send_pkt(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[1].op, VSOCK_OP_RST);
	cr_assert_eq(h.nconns, 0);
}

Test(backend_host, peer_rst_drops_connection)
{
	connect();
	send_pkt(VSOCK_OP_RST, 0, 0, NULL);
	cr_assert_eq(h.nconns, 0);
	cr_assert_eq(flush(), 0);
	cr_assert_str_eq(h.history[0].how, "peer_rst");
}

Test(backend_host, no_rx_buffers_keeps_packets_waiting)
{
	rx_avail = 0;
	send_pkt(VSOCK_OP_REQUEST, 0, 0, NULL);
	cr_assert_eq(flush(), 0);
	cr_assert(host_has_output(&h));
	rx_avail = 1;
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[0].op, VSOCK_OP_RESPONSE);
}

Test(backend_host, echo_sends_data_back_within_peer_credit)
{
	uint8_t data[10000];

	for (unsigned int i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	h.cfg.mode = HOST_ECHO;
	connect();
	send_pkt(VSOCK_OP_RW, sizeof(data), 0, data);
	/* 10000 bytes in 4096-byte rx buffers: three RW packets. */
	cr_assert_eq(flush(), 3);
	cr_assert_eq(out[1].op, VSOCK_OP_RW);
	cr_assert_eq(out[1].len, 4096);
	cr_assert_eq(out[3].len, 10000 - 8192);
	cr_assert_arr_eq(rxmem[1] + 44, data, 4096);
	cr_assert_arr_eq(rxmem[3] + 44, data + 8192, 10000 - 8192);
	cr_assert_eq(only_conn()->cr.tx_cnt, 10000);
}

Test(backend_host, ctl_rejects_nonsense)
{
	char reply[512];

	host_ctl(&h, "frobnicate", reply, sizeof(reply));
	cr_assert(!strncmp(reply, "err", 3));
	host_ctl(&h, "read -5", reply, sizeof(reply));
	cr_assert(!strncmp(reply, "err", 3));
	host_ctl(&h, "shutdown sideways", reply, sizeof(reply));
	cr_assert(!strncmp(reply, "err", 3));
	host_ctl(&h, "rst port x", reply, sizeof(reply));
	cr_assert(!strncmp(reply, "err", 3));
}

Test(backend_host, control_lines_over_a_vsock_port)
{
	const char *cmds = "refuse on\nstats\n";
	char got[8192] = { 0 };
	size_t n = 0;

	h.cfg.ctl_port = 9999;
	send_pkt_to(9999, VSOCK_OP_REQUEST, 0, 0, NULL);
	cr_assert_eq(flush(), 1);
	cr_assert_eq(out[0].op, VSOCK_OP_RESPONSE);
	send_pkt_to(9999, VSOCK_OP_RW, (uint32_t)strlen(cmds), 0, (const uint8_t *)cmds);
	cr_assert(h.refuse, "the line ran");
	flush();
	for (unsigned int i = 1; i < nout; i++) {
		cr_assert_eq(out[i].op, VSOCK_OP_RW);
		memcpy(got + n, rxmem[i] + 44, out[i].len);
		n += out[i].len;
	}
	cr_assert(!strncmp(got, "ok\n{", 4), "reply: %s", got);
	cr_assert(strstr(got, "\"conns_open\":0"), "the control connection is not a scripted one: %s", got);
	/* refuse does not apply to the control port itself, but to the rest */
	send_pkt(VSOCK_OP_REQUEST, 0, 0, NULL);
	flush();
	cr_assert_eq(out[nout - 1].op, VSOCK_OP_RST);
}

Test(backend_host, eof_after_resume_closes)
{
	uint8_t data[100] = { 0 };
	char reply[256];

	host_ctl(&h, "stop-reading", reply, sizeof(reply));
	connect();
	send_pkt(VSOCK_OP_RW, 100, 0, data);
	send_pkt(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND, NULL);
	cr_assert_eq(flush(), 0, "100 bytes unread: no EOF yet");
	host_ctl(&h, "resume", reply, sizeof(reply));
	flush();
	cr_assert_eq(out[nout - 1].op, VSOCK_OP_SHUTDOWN, "read to EOF, the reader closes");
	cr_assert_eq(out[nout - 1].flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
}

/* --msg-size: a probe {seq, tx_stamp} every msg_size bytes of the stream, however packets cut it. */
static void restart_with_msg_size(uint32_t msg_size)
{
	struct host_cfg cfg = h.cfg;

	host_fini(&h);
	cfg.msg_size = msg_size;
	cfg.stamp_hz = 0;   /* stamps in ns */
	host_init(&h, &cfg);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

Test(backend_host, probes_found_at_every_message_start_across_packet_cuts)
{
	enum { SIZE = 100, N = 40 };
	static const uint32_t cuts[] = { 7, 9, 1, 250, 13, 100, 3, 300, 17, 16, 84, 1000 };
	uint8_t stream[SIZE * N];
	uint32_t off = 0, k = 0;
	char *js = NULL;
	size_t jl = 0;
	FILE *f;

	restart_with_msg_size(SIZE);
	memset(stream, 0xee, sizeof(stream));
	for (uint64_t i = 0; i < N; i++) {
		put64(stream + i * SIZE, i);
		put64(stream + i * SIZE + 8, i < 4 ? 0 : 1000 + i * 10);  /* the first 4: warm-up, no stamp */
	}
	connect();
	h.now_stamp = 5000;
	while (off < sizeof(stream)) {
		uint32_t n = cuts[k++ % (sizeof(cuts) / sizeof(cuts[0]))];

		n = n < sizeof(stream) - off ? n : (uint32_t)sizeof(stream) - off;
		send_pkt(VSOCK_OP_RW, n, 0, stream + off);
		off += n;
	}
	cr_assert_eq(only_conn()->rx_total, sizeof(stream));
	cr_assert_eq(h.probe.messages, N);
	cr_assert_eq(h.probe.unstamped, 4);
	cr_assert_eq(h.probe.seq_errors, 0);
	cr_assert_eq(h.probe.bad_stamps, 0);
	cr_assert_eq(h.probe.lat.count, N - 4);
	cr_assert_eq(h.probe.lat.min, 5000 - (1000 + (N - 1) * 10));
	cr_assert_eq(h.probe.lat.max, 5000 - (1000 + 4 * 10));

	/* a stamp from the future and a skipped seq are counted, never taken as latency */
	put64(stream, N + 1);
	put64(stream + 8, 9999);
	send_pkt(VSOCK_OP_RW, SIZE, 0, stream);
	cr_assert_eq(h.probe.seq_errors, 1);
	cr_assert_eq(h.probe.bad_stamps, 1);
	cr_assert_eq(h.probe.lat.count, N - 4);

	f = open_memstream(&js, &jl);
	host_stats_fields(&h, f);
	fclose(f);
	cr_assert(strstr(js, "\"probe\":{\"msg_size\":100,\"messages\":41,\"unstamped\":4,\"bad_stamps\":1,\"seq_errors\":1}"), "%s", js);
	cr_assert(strstr(js, "\"latency_ns\":{\"samples\":36"), "%s", js);
	cr_assert(strstr(js, "\"latency_hist\":[["), "%s", js);
	free(js);
}

Test(backend_host, probe_stamps_converted_from_ticks)
{
	uint8_t m[64] = { 0 };

	struct host_cfg cfg = h.cfg;

	host_fini(&h);
	cfg.msg_size = 64;
	cfg.stamp_hz = 2500000000u;   /* a 2.5 GHz TSC: 2500 ticks = 1000 ns */
	host_init(&h, &cfg);
	connect();
	put64(m + 8, 1000);
	h.now_stamp = 3500;
	send_pkt(VSOCK_OP_RW, sizeof(m), 0, m);
	cr_assert_eq(h.probe.lat.count, 1);
	cr_assert(h.probe.lat.max >= 999 && h.probe.lat.max <= 1000, "%lu", (unsigned long)h.probe.lat.max);
}

Test(backend_host, no_probes_without_msg_size)
{
	uint8_t m[64] = { 0 };

	connect();
	send_pkt(VSOCK_OP_RW, sizeof(m), 0, m);
	cr_assert_eq(h.probe.messages, 0);
}

/* "send N": the host's own bytes to the driver, within its credit, before our SHUTDOWN. */
Test(backend_host, send_n_goes_within_credit_and_before_shutdown)
{
	char reply[128];
	uint8_t got[64];

	connect();
	host_ctl(&h, "send 100000", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	host_ctl(&h, "close", reply, sizeof(reply));
	nout = 0;
	flush();
	/* the driver's buf_alloc is 65536 (send_pkt): 16 packets of 4096 fill it, then we wait */
	cr_assert_eq(nout, 16, "%u packets", nout);
	for (unsigned int i = 0; i < nout; i++) {
		cr_assert_eq(out[i].op, VSOCK_OP_RW);
		cr_assert_eq(out[i].len, 4096);
	}
	memcpy(got, rxmem[1] + 44, sizeof(got));
	for (unsigned int k = 0; k < sizeof(got); k++)
		cr_assert_eq(got[k], vb_pattern_byte(4096 + k), "byte %u of the 2nd packet", k);
	cr_assert_eq(only_conn()->to_send, 100000 - 65536);
	/* the driver read it all: the rest goes, then the SHUTDOWN of close */
	send_pkt_to(PORT, VSOCK_OP_CREDIT_UPDATE, 0, 0, NULL);
	only_conn()->cr.peer_fwd_cnt = 65536;
	nout = 0;
	flush();
	cr_assert_eq(nout, 10);
	cr_assert_eq(out[8].op, VSOCK_OP_RW);
	cr_assert_eq(out[8].len, 100000 - 65536 - 8 * 4096);
	cr_assert_eq(out[9].op, VSOCK_OP_SHUTDOWN);
	cr_assert_eq(h.n.tx_bytes, 100000);
}

/* "conn K" picks the K-th accepted connection; "port P" still picks by our port. */
Test(backend_host, commands_address_one_connection)
{
	char reply[128];
	struct conn *c;

	send_pkt_to(PORT, VSOCK_OP_REQUEST, 0, 0, NULL);
	send_pkt_to(PORT + 1, VSOCK_OP_REQUEST, 0, 0, NULL);
	flush();
	host_ctl(&h, "send 10 conn 1", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	host_ctl(&h, "send 10 conn 7", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 0");
	host_ctl(&h, "rst conn x", reply, sizeof(reply));
	cr_assert_str_eq(reply, "err bad port or conn");
	TAILQ_FOREACH(c, &h.conns, all)
		cr_assert_eq(c->to_send, c->local_port == PORT + 1 ? 10 : 0, "conn %lu", (unsigned long)c->id);
	host_ctl(&h, "shutdown send conn 0", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 1");
	host_ctl(&h, "send 5 conn 0", reply, sizeof(reply));
	cr_assert_str_eq(reply, "ok 0", "no data after our SHUTDOWN(SEND)");
}
