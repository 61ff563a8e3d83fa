/* SPDX-License-Identifier: MIT */
/*
 * The driver against the real device: sp-vhost-vsock in another process,
 * memory shared over vhost-user. 1 GiB goes to the sink with a CRC32C
 * compared end to end while the backend asserts we never exceed its credit;
 * the backend is killed mid-stream and the driver must notice in bounded time.
 */
#include <criterion/criterion.h>

#include <rte_eal.h>

#include "sp_env.h"
#include "test_pmd_common.h"

#define GIB (1ull << 30)

static char sock[160], ctl[170];
static pid_t backend = -1;
static struct sp_vsock_dev *dev;

static void paths(void)
{
	char name[64];

	snprintf(name, sizeof(name), "pmd-it-%d.sock", (int)getpid());
	cr_assert_not_null(sp_env_run_path(name, sock, sizeof(sock)));
	snprintf(ctl, sizeof(ctl), "%s.ctl", sock);
}

static void start_env(const char *vdev)
{
	struct sp_env_cfg cfg = { .name = "pmd-it", .cpu = 1, .shares_memory = true, .mem_mb = 256 };

	cfg.vdevs[0] = vdev;
	cr_assert_eq(sp_env_init(&cfg), 0, "EAL did not start");
}

static void start_backend(const char *const *extra)
{
	paths();
	backend = pt_backend_start(sock, extra);
	cr_assert_gt(backend, 0, "cannot start %s (is pmd/backend built?)", SP_VHOST_VSOCK_BIN);
}

static void cleanup(void)
{
	if (dev)
		sp_vsock_dev_destroy(dev);
	dev = NULL;
	if (backend > 0) {
		kill(backend, SIGKILL);
		waitpid(backend, NULL, 0);
		backend = -1;
	}
	unlink(sock);
	unlink(ctl);
	sp_env_fini();
}

TestSuite(pmd_vhost, .fini = cleanup);

static struct sp_vsock_dev *open_dev(void)
{
	char args[256];

	snprintf(args, sizeof(args), "path=%s,connect_ms=5000", sock);
	return sp_vsock_dev_create("virtio_vsock_it0", args);
}

/* Pushes bytes [*off, total) as 64 KiB RW packets, never beyond credit; stops at stop_at seconds. */
static void stream(struct pt_stream *s, uint64_t *off, uint64_t total, uint32_t *crc, double stop_at)
{
	struct rte_mbuf *pend[32];
	uint16_t npend = 0;
	double last_credit = pt_now();

	while ((*off < total || npend) && pt_now() < stop_at && sp_vsock_dev_alive(s->dev)) {
		pt_poll(s);
		cr_assert(!s->reset, "the peer reset the stream at %llu bytes", (unsigned long long)*off);
		while (npend < 32 && *off < total) {
			uint64_t want = total - *off;
			uint32_t got = vsock_credit_take(&s->cr, want < VSOCK_MAX_PKT_PAYLOAD ? want : VSOCK_MAX_PKT_PAYLOAD);
			struct rte_mbuf *m;

			if (!got)
				break;
			m = pt_rw_pkt(s, *off, got, crc);
			cr_assert_not_null(m, "pool empty");
			*off += got;
			pend[npend++] = m;
			last_credit = pt_now();
		}
		if (npend) {
			uint16_t k = sp_vsock_tx_burst(s->dev, pend, npend);

			memmove(pend, pend + k, (npend - k) * sizeof(pend[0]));
			npend -= k;
		} else if (pt_now() - last_credit > 0.1) {
			/* no credit for a while: ask, as the kernel does */
			pt_send_ctrl(s, VSOCK_OP_CREDIT_REQUEST, 0);
			last_credit = pt_now();
		}
	}
	for (uint16_t i = 0; i < npend; i++)
		rte_pktmbuf_free(pend[i]);
}

/* total bytes to the sink, CRC compared, backend exit status checked; flag withholds a feature */
static void to_sink(uint64_t total, const char *flag)
{
	char expect[32];
	const char *extra[] = { "--mode", "sink", "--cid", "3", "--cpu", "0", "--poll",
				"--expect-bytes", expect, flag, NULL };
	struct sp_vsock_stats st;
	struct pt_stream s;
	uint64_t off = 0;
	uint32_t crc = ~0u;
	char json[16384];
	double t0, t1;
	int rc;

	snprintf(expect, sizeof(expect), "%llu", (unsigned long long)total);
	start_backend(extra);
	start_env(NULL);
	dev = open_dev();
	cr_assert_not_null(dev, "device not created");
	cr_assert_eq(sp_vsock_dev_cid(dev), 3, "guest CID from GET_CONFIG");
	cr_assert_eq(pt_connect(&s, dev, 40001, 1234), 0, "no RESPONSE to REQUEST");

	t0 = pt_now();
	stream(&s, &off, total, &crc, t0 + 240);
	t1 = pt_now();
	cr_assert_eq(off, total, "sent %llu of %llu bytes", (unsigned long long)off, (unsigned long long)total);
	fprintf(stderr, "pmd_vhost: %llu MiB%s%s in %.2f s = %.2f Gbit/s, crc32c 0x%08x, %llu credit updates\n",
		(unsigned long long)(total >> 20), flag ? " " : "", flag ? flag : "", t1 - t0, total * 8 / (t1 - t0) / 1e9, crc, (unsigned long long)s.credit_updates);

	/* wait until the sink has consumed everything, then compare */
	for (double end = pt_now() + 30; pt_now() < end; usleep(20000)) {
		pt_poll(&s);
		sp_vsock_tx_free(dev);
		cr_assert_eq(pt_ctl(ctl, "stats", json, sizeof(json)), 0, "backend control socket");
		if (pt_json_u64(json, "rx_bytes") == (long long)total)
			break;
	}
	cr_assert_eq(pt_json_u64(json, "rx_bytes"), (long long)total, "sink got %lld bytes: %s",
		     pt_json_u64(json, "rx_bytes"), json);
	cr_assert_eq((uint32_t)pt_json_u64(json, "crc32c"), crc, "crc mismatch: ours 0x%08x, %s", crc, json);
	cr_assert_eq(pt_json_u64(json, "credit_violations"), 0, "%s", json);
	cr_assert_eq(pt_json_u64(json, "bad_chains"), 0, "%s", json);
	cr_assert_eq(pt_json_u64(json, "proto_errors"), 0, "%s", json);

	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.bad_used_id + st.bad_used_len + st.bad_rx_hdr + st.tx_bad_pkt, 0);
	/* the backend busy-polls (--poll) and says so: notifications stay suppressed */
	cr_assert_leq(st.tx_kicks, st.tx_pkts / 1000 + 2, "%llu kicks for %llu packets",
		      (unsigned long long)st.tx_kicks, (unsigned long long)st.tx_pkts);
	cr_assert_geq(st.tx_bytes, total);
	fprintf(stderr, "pmd_vhost: driver tx_pkts %llu, kicks %llu (%.4f per packet), ring full %llu\n",
		(unsigned long long)st.tx_pkts, (unsigned long long)st.tx_kicks,
		(double)st.tx_kicks / st.tx_pkts, (unsigned long long)st.tx_ring_full);

	/* a clean end: our SHUTDOWN, then the backend exits 0 (expect-bytes met, no credit violation) */
	cr_assert_eq(pt_send_ctrl(&s, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND), 0);
	for (double end = pt_now() + 2; pt_now() < end && !s.reset;)
		pt_poll(&s);
	cr_assert_eq(pt_ctl(ctl, "exit", json, sizeof(json)), 0);
	rc = pt_backend_wait(backend, 10);
	backend = -1;
	cr_assert_eq(rc, 0, "backend exit status %d", rc);
}

Test(pmd_vhost, gib_to_sink_crc_end_to_end_within_credit, .timeout = 300)
{
	to_sink(GIB, NULL);
}

/* the other ring modes against the real device: no in-order, no event index */
Test(pmd_vhost, to_sink_without_in_order, .timeout = 120)
{
	to_sink(256ull << 20, "--no-in-order");
}

Test(pmd_vhost, to_sink_without_event_idx, .timeout = 120)
{
	to_sink(256ull << 20, "--no-event-idx");
}

/* A backend that sleeps when idle asks for a kick (event index); each burst after a pause must kick once. */
static void sleeping_kicks(const char *flag)
{
	const char *extra[] = { "--mode", "sink", "--cid", "3", "--cpu", "0", flag, NULL };
	struct sp_vsock_stats st0, st1;
	struct pt_stream s;
	uint32_t crc = ~0u;
	char json[16384];
	int i;

	start_backend(extra);
	start_env(NULL);
	dev = open_dev();
	cr_assert_not_null(dev);
	cr_assert_eq(pt_connect(&s, dev, 40004, 1234), 0);
	for (i = 0; i < 5; i++) {
		struct rte_mbuf *m;
		long long got = -1;

		usleep(50 * 1000); /* the backend goes idle and sleeps on its kick fd */
		sp_vsock_dev_stats(dev, &st0);
		cr_assert_eq(vsock_credit_take(&s.cr, 1000), 1000);
		m = pt_rw_pkt(&s, (uint64_t)i * 1000, 1000, &crc);
		cr_assert_eq(sp_vsock_tx_burst(dev, &m, 1), 1);
		sp_vsock_dev_stats(dev, &st1);
		cr_assert_eq(st1.tx_kicks - st0.tx_kicks, 1, "burst %d after a pause: %llu kicks", i,
			     (unsigned long long)(st1.tx_kicks - st0.tx_kicks));
		for (double end = pt_now() + 2; pt_now() < end && got != (i + 1) * 1000; usleep(1000)) {
			pt_poll(&s);
			cr_assert_eq(pt_ctl(ctl, "stats", json, sizeof(json)), 0);
			got = pt_json_u64(json, "rx_bytes");
		}
		cr_assert_eq(got, (i + 1) * 1000, "sink has %lld bytes", got);
	}
	cr_assert_eq((uint32_t)pt_json_u64(json, "crc32c"), crc);
}

Test(pmd_vhost, sleeping_backend_is_kicked_once_per_burst, .timeout = 60)
{
	sleeping_kicks(NULL);
}

/* the same with used->flags (VRING_USED_F_NO_NOTIFY) instead of the event index */
Test(pmd_vhost, sleeping_backend_is_kicked_without_event_idx, .timeout = 60)
{
	sleeping_kicks("--no-event-idx");
}

Test(pmd_vhost, backend_killed_midstream_device_gone_in_bounded_time, .timeout = 60)
{
	const char *extra[] = { "--mode", "sink", "--cid", "3", "--cpu", "0", "--poll", NULL };
	struct rte_mbuf *m;
	struct pt_stream s;
	uint64_t off = 0;
	uint32_t crc = ~0u;
	double t_kill, t_gone = 0;

	start_backend(extra);
	start_env(NULL);
	dev = open_dev();
	cr_assert_not_null(dev);
	cr_assert_eq(pt_connect(&s, dev, 40002, 1234), 0);
	stream(&s, &off, UINT64_MAX, &crc, pt_now() + 0.5);
	fprintf(stderr, "pmd_vhost: %llu bytes before the kill, %llu credit updates\n",
		(unsigned long long)off, (unsigned long long)s.credit_updates);
	cr_assert_gt(off, 0);
	cr_assert(sp_vsock_dev_alive(dev));

	kill(backend, SIGKILL);
	t_kill = pt_now();
	/* keep sending as an application would; the driver must say the device is gone */
	stream(&s, &off, UINT64_MAX, &crc, t_kill + 3);
	if (!sp_vsock_dev_alive(dev))
		t_gone = pt_now();
	cr_assert(!sp_vsock_dev_alive(dev), "device still alive 3 s after the backend died");
	fprintf(stderr, "pmd_vhost: device gone %.1f ms after the backend was killed (after %llu bytes)\n",
		(t_gone - t_kill) * 1e3, (unsigned long long)off);
	cr_assert_lt(t_gone - t_kill, 1.0);
	/* and stays gone: bursts return at once */
	m = pt_ctrl_pkt(&s, VSOCK_OP_RW, 0);
	cr_assert_eq(sp_vsock_tx_burst(dev, &m, 1), 0);
	rte_pktmbuf_free(m);
	cr_assert_eq(pt_poll(&s), 0);
	waitpid(backend, NULL, 0);
	backend = -1;
}

Test(pmd_vhost, vdev_devargs_create_device, .timeout = 60)
{
	const char *extra[] = { "--mode", "sink", "--cid", "7", "--cpu", "0", NULL };
	char vdev[256];
	struct pt_stream s;

	start_backend(extra);
	snprintf(vdev, sizeof(vdev), "virtio_vsock0,path=%s,connect_ms=5000,queue_size=512", sock);
	start_env(vdev);
	dev = sp_vsock_dev_get("virtio_vsock0");
	cr_assert_not_null(dev, "--vdev did not create the device");
	cr_assert_eq(sp_vsock_dev_cid(dev), 7);
	cr_assert_eq(pt_connect(&s, dev, 40003, 99), 0);
	cr_assert_geq(sp_vsock_tx_free(dev), 511, "queue_size=512");
	/* EAL owns it: rte_eal_cleanup removes it, not us */
	dev = NULL;
}

Test(pmd_vhost, no_backend_fails_with_one_line, .timeout = 30)
{
	char args[256];
	double t0;

	paths();
	start_env(NULL);
	snprintf(args, sizeof(args), "path=%s,connect_ms=200", sock);
	t0 = pt_now();
	cr_assert_null(sp_vsock_dev_create("virtio_vsock_none", args));
	cr_assert_lt(pt_now() - t0, 2.0);
}

/*
 * sp-vhost-vsock serves one frontend at a time and lets the last one go on
 * its own thread after the hang-up: a create right after a destroy may be
 * refused for a moment, so try for up to 2 s.
 */
static struct sp_vsock_dev *open_dev_again(void)
{
	struct sp_vsock_dev *d = NULL;

	for (double end = pt_now() + 2; !d && pt_now() < end;) {
		d = open_dev();
		if (!d)
			usleep(10000);
	}
	return d;
}

/*
 * Destroy stops the rings (GET_VRING_BASE, answered) before their memory goes
 * back. Here the backend busy-polls a stream when the device is destroyed and
 * a new one is created at once on the same backend, reusing that memory: the
 * backend must find only good chains there, and data must move on the new one.
 */
Test(pmd_vhost, destroy_then_create_on_same_backend_no_bad_chains, .timeout = 120)
{
	const char *extra[] = { "--mode", "sink", "--cid", "3", "--cpu", "0", "--poll", NULL };
	const uint64_t last = 8ull << 20;
	struct sp_vsock_stats st;
	struct pt_stream s;
	uint32_t crc = ~0u;
	char json[16384];
	long long before = -1, now = -2;
	uint64_t off;
	int round;

	start_backend(extra);
	start_env(NULL);
	for (round = 0; round < 6; round++) {
		dev = open_dev_again();
		cr_assert_not_null(dev, "round %d: no new device on the same backend", round);
		cr_assert_eq(pt_connect(&s, dev, 41000 + round, 1234), 0, "round %d: no RESPONSE", round);
		off = 0;
		stream(&s, &off, UINT64_MAX, &crc, pt_now() + 0.2);
		cr_assert_gt(off, 0, "round %d moved nothing", round);
		sp_vsock_dev_stats(dev, &st);
		cr_assert_eq(st.bad_used_id + st.bad_used_len + st.bad_rx_hdr, 0, "round %d", round);
		sp_vsock_dev_destroy(dev); /* mid-stream, the backend busy on our rings */
		dev = NULL;
	}
	/* the last device: a whole stream arrives */
	dev = open_dev_again();
	cr_assert_not_null(dev);
	cr_assert_eq(pt_connect(&s, dev, 41100, 1234), 0);
	for (double end = pt_now() + 5; pt_now() < end && before != now; usleep(50000)) {
		before = now;
		cr_assert_eq(pt_ctl(ctl, "stats", json, sizeof(json)), 0);
		now = pt_json_u64(json, "rx_bytes");
	}
	off = 0;
	stream(&s, &off, last, &crc, pt_now() + 20);
	cr_assert_eq(off, last);
	for (double end = pt_now() + 10; pt_now() < end && now != before + (long long)last; usleep(20000)) {
		pt_poll(&s);
		cr_assert_eq(pt_ctl(ctl, "stats", json, sizeof(json)), 0);
		now = pt_json_u64(json, "rx_bytes");
	}
	cr_assert_eq(now, before + (long long)last, "the sink got %lld of %llu bytes on the last device: %s",
		     now - before, (unsigned long long)last, json);
	cr_assert_eq(pt_json_u64(json, "bad_chains"), 0, "%s", json);
	cr_assert_eq(pt_json_u64(json, "bad_addr"), 0, "%s", json);
	cr_assert_eq(pt_json_u64(json, "bad_head"), 0, "%s", json);
	cr_assert_eq(pt_json_u64(json, "frontends_accepted"), 7, "%s", json);
	sp_vsock_dev_stats(dev, &st);
	cr_assert_eq(st.bad_used_id + st.bad_used_len + st.bad_rx_hdr, 0);
}

/* A backend that stopped answering (SIGSTOP) must not hang destroy. */
Test(pmd_vhost, destroy_with_silent_backend_is_bounded, .timeout = 30)
{
	const char *extra[] = { "--mode", "sink", "--cid", "3", "--cpu", "0", NULL };
	struct pt_stream s;
	double t0, took;

	start_backend(extra);
	start_env(NULL);
	dev = open_dev();
	cr_assert_not_null(dev);
	cr_assert_eq(pt_connect(&s, dev, 41200, 1234), 0);
	kill(backend, SIGSTOP);
	t0 = pt_now();
	sp_vsock_dev_destroy(dev);
	took = pt_now() - t0;
	dev = NULL;
	kill(backend, SIGCONT);
	fprintf(stderr, "pmd_vhost: destroy with a stopped backend took %.0f ms\n", took * 1e3);
	cr_assert_lt(took, 2.0);
	/* a device of the same name comes up again on a live backend */
	kill(backend, SIGKILL);
	waitpid(backend, NULL, 0);
	unlink(sock);
	extra[5] = "1"; /* forked from an EAL process pinned to CPU 1 */
	start_backend(extra);
	dev = open_dev();
	cr_assert_not_null(dev, "no device of the same name after a destroy that could not free");
	cr_assert_eq(pt_connect(&s, dev, 41201, 1234), 0);
}
