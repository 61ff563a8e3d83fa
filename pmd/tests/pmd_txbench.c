/* SPDX-License-Identifier: MIT */
/*
 * sp-pmd-txbench: packets per second through sp_vsock_tx_burst to the
 * sp-vhost-vsock sink, small RW packets on one stream, the driver and the
 * backend polling on separate cores. Counts what tx_burst took and what the
 * sink consumed; the stream stays within the sink's credit throughout (the
 * sink asserts it, so a faster-than-credit number is impossible).
 *
 *   sp-pmd-txbench [--seconds S] [--payload N] [--burst B] [--cpu C] [--backend-cpu C] [--queue-size Q] [--fake]
 *
 * --fake replaces the backend with an in-process device that completes every
 * packet right after each burst, on the same core: the driver's own cost per
 * packet, with no second process and no credit.
 *
 * Output: one human line on stderr and one JSON line on stdout.
 */
#include <getopt.h>

#include "sp_env.h"
#include "test_pmd_common.h"
#include "test_pmd_fake.h"

static int build_burst(struct pt_stream *s, struct rte_mbuf **m, uint16_t n, uint32_t payload)
{
	uint16_t i;

	if (rte_pktmbuf_alloc_bulk(s->pool, m, n) != 0)
		return -1;
	for (i = 0; i < n; i++) {
		struct vsock_hdr h = {
			.src_cid = s->cid, .dst_cid = VSOCK_HOST_CID, .src_port = s->port,
			.dst_port = s->peer_port, .len = payload, .type = VSOCK_TYPE_STREAM,
			.op = VSOCK_OP_RW, .buf_alloc = s->cr.buf_alloc, .fwd_cnt = s->cr.fwd_cnt,
		};
		uint8_t *p = (uint8_t *)rte_pktmbuf_append(m[i], sizeof(h) + payload);

		vsock_hdr_encode(p, &h);
		memset(p + sizeof(h), 0xab, payload);
	}
	return 0;
}

/* Driver alone: the fake device completes each burst at once, same core. */
static int run_fake(int cpu, double seconds, unsigned int payload, unsigned int burst, unsigned int qsize)
{
	struct sp_env_cfg cfg = { .name = "txbench", .cpu = cpu, .mem_mb = 256 };
	struct rte_mbuf *pkts[256];
	struct sp_vsock_dev *dev;
	struct pt_stream s = { .port = 41000, .peer_port = 1234 };
	uint64_t taken = 0, cycles = 0, c0;
	char args[64];
	double t0, end;

	if (sp_env_init(&cfg) < 0)
		return 1;
	snprintf(args, sizeof(args), "queue_size=%u", qsize);
	dev = sp_vsock_dev_create_on("virtio_vsock_fake0", fake_open((1ull << VIRTIO_F_VERSION_1) |
				     (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_F_IN_ORDER)), args);
	if (!dev) {
		sp_env_fini();
		return 1;
	}
	s.dev = dev;
	s.pool = sp_vsock_dev_pool(dev);
	s.cid = sp_vsock_dev_cid(dev);
	for (int phase = 0; phase < 2; phase++) {
		end = pt_now() + (phase ? seconds : 0.3);
		taken = cycles = 0;
		t0 = pt_now();
		while (pt_now() < end) {
			for (int k = 0; k < 64; k++) {
				uint16_t n;
				int h;

				if (build_burst(&s, pkts, burst, payload) < 0)
					break;
				c0 = rte_rdtsc();
				n = sp_vsock_tx_burst(dev, pkts, burst);
				cycles += rte_rdtsc() - c0;
				taken += n;
				if (n < burst)
					rte_pktmbuf_free_bulk(pkts + n, burst - n);
				/* the device: everything made available is used at once */
				while ((h = dev_take(TXQ)) >= 0)
					dev_used(TXQ, h, 0);
			}
		}
	}
	fprintf(stderr, "sp-pmd-txbench --fake: %u-byte payload, burst %u: %.2f Mpps through tx_burst "
		"(building packets and the fake device included), %.1f ns/pkt inside tx_burst\n", payload, burst,
		taken / (pt_now() - t0) / 1e6, cycles * 1e9 / rte_get_tsc_hz() / (double)taken);
	printf("{\"fake\":true,\"payload\":%u,\"burst\":%u,\"tx_pps\":%.0f,\"tx_burst_ns_per_pkt\":%.2f}\n",
	       payload, burst, taken / (pt_now() - t0), cycles * 1e9 / rte_get_tsc_hz() / (double)taken);
	sp_vsock_dev_destroy(dev);
	sp_env_fini();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seconds", required_argument, NULL, 's' }, { "payload", required_argument, NULL, 'p' },
		{ "burst", required_argument, NULL, 'b' }, { "cpu", required_argument, NULL, 'c' },
		{ "backend-cpu", required_argument, NULL, 'k' }, { "queue-size", required_argument, NULL, 'q' },
		{ "fake", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	double seconds = 3, t0, t1;
	unsigned int payload = 64, burst = 32, qsize = 1024;
	int cpu = 1, bcpu = 0, o;
	bool fake = false;
	char sock[160], ctl[170], name[64], args[256], json[16384], bcpu_s[16];
	struct sp_env_cfg cfg = { .name = "txbench", .shares_memory = true, .mem_mb = 256 };
	struct rte_mbuf *pend[256];
	struct sp_vsock_stats st0, st1;
	struct sp_vsock_dev *dev;
	struct pt_stream s;
	uint64_t taken = 0, burst_cycles = 0, burst_pkts = 0, c0;
	long long sink0, sink1;
	uint16_t npend = 0;
	pid_t pid;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 's': seconds = atof(optarg); break;
		case 'p': payload = (unsigned int)atoi(optarg); break;
		case 'b': burst = (unsigned int)atoi(optarg); break;
		case 'c': cpu = atoi(optarg); break;
		case 'k': bcpu = atoi(optarg); break;
		case 'q': qsize = (unsigned int)atoi(optarg); break;
		case 'f': fake = true; break;
		default:
			fprintf(stderr, "usage: sp-pmd-txbench [--seconds S] [--payload N] [--burst B] [--cpu C] [--backend-cpu C] [--queue-size Q] [--fake]\n");
			return 1;
		}
	}
	if (burst == 0 || burst > 256 || payload == 0 || payload > SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr)) {
		fprintf(stderr, "sp-pmd-txbench: burst 1..256, payload 1..%zu\n",
			SP_VSOCK_MBUF_DATA - sizeof(struct vsock_hdr));
		return 1;
	}
	if (fake)
		return run_fake(cpu, seconds, payload, burst, qsize);
	snprintf(name, sizeof(name), "txbench-%d.sock", (int)getpid());
	if (!sp_env_run_path(name, sock, sizeof(sock)))
		return 1;
	snprintf(ctl, sizeof(ctl), "%s.ctl", sock);
	snprintf(bcpu_s, sizeof(bcpu_s), "%d", bcpu);
	{
		const char *extra[] = { "--mode", "sink", "--cid", "3", "--poll", "--cpu", bcpu_s, NULL };

		pid = pt_backend_start(sock, extra);
	}
	if (pid < 0)
		return 1;
	cfg.cpu = cpu;
	if (sp_env_init(&cfg) < 0)
		goto kill_backend;
	snprintf(args, sizeof(args), "path=%s,connect_ms=5000,queue_size=%u", sock, qsize);
	dev = sp_vsock_dev_create("virtio_vsock_bench0", args);
	if (!dev || pt_connect(&s, dev, 41000, 1234) < 0) {
		fprintf(stderr, "sp-pmd-txbench: no device or no connection\n");
		goto fini;
	}
	/* warm-up, then the measured interval */
	for (int phase = 0; phase < 2; phase++) {
		double end = pt_now() + (phase ? seconds : 0.5);

		if (phase) {
			sp_vsock_dev_stats(dev, &st0);
			pt_ctl(ctl, "stats", json, sizeof(json));
			sink0 = pt_json_u64(json, "rx_pkts");
			taken = 0;
			burst_cycles = burst_pkts = 0;
			t0 = pt_now();
		}
		while (pt_now() < end) {
			uint16_t k;

			pt_poll(&s);
			if (npend == 0 && vsock_peer_free(&s.cr) >= burst * payload &&
			    build_burst(&s, pend, burst, payload) == 0) {
				vsock_credit_take(&s.cr, burst * payload);
				npend = burst;
			}
			if (!npend)
				continue;
			c0 = rte_rdtsc();
			k = sp_vsock_tx_burst(dev, pend, npend);
			if (k) {
				burst_cycles += rte_rdtsc() - c0;
				burst_pkts += k;
			}
			memmove(pend, pend + k, (npend - k) * sizeof(pend[0]));
			npend -= k;
			taken += k;
			if (!sp_vsock_dev_alive(dev))
				goto fini;
		}
	}
	t1 = pt_now();
	sp_vsock_dev_stats(dev, &st1);
	pt_ctl(ctl, "stats", json, sizeof(json));
	sink1 = pt_json_u64(json, "rx_pkts");
	if (getenv("TXBENCH_DEBUG")) {
		sp_vsock_dev_dump(dev, stderr);
		fprintf(stderr, "credit: tx_cnt %u peer_fwd_cnt %u peer_buf_alloc %u npend %u\n", s.cr.tx_cnt,
			s.cr.peer_fwd_cnt, s.cr.peer_buf_alloc, npend);
	}
	if (getenv("TXBENCH_DEBUG"))
		fprintf(stderr, "driver tx_pkts %llu, sink: %s\n", (unsigned long long)st1.tx_pkts, json);
	fprintf(stderr, "sp-pmd-txbench: %u-byte payload, burst %u: tx_burst %.2f Mpps, sink %.2f Mpps, "
		"%.4f kicks/pkt, %.1f ns/pkt inside tx_burst, credit violations %lld\n", payload, burst,
		taken / (t1 - t0) / 1e6,
		(sink1 - sink0) / (t1 - t0) / 1e6,
		(double)(st1.tx_kicks - st0.tx_kicks) / (double)(st1.tx_pkts - st0.tx_pkts + 1),
		burst_pkts ? burst_cycles * 1e9 / rte_get_tsc_hz() / burst_pkts : 0.0,
		pt_json_u64(json, "credit_violations"));
	printf("{\"payload\":%u,\"burst\":%u,\"seconds\":%.3f,\"tx_pps\":%.0f,\"sink_pps\":%.0f,"
	       "\"tx_burst_ns_per_pkt\":%.2f,\"tx_kicks\":%llu,\"tx_ring_full\":%llu,\"credit_violations\":%lld}\n",
	       payload, burst, t1 - t0, taken / (t1 - t0), (sink1 - sink0) / (t1 - t0),
	       burst_pkts ? burst_cycles * 1e9 / rte_get_tsc_hz() / burst_pkts : 0.0,
	       (unsigned long long)(st1.tx_kicks - st0.tx_kicks),
	       (unsigned long long)(st1.tx_ring_full - st0.tx_ring_full),
	       pt_json_u64(json, "credit_violations"));
	for (uint16_t i = 0; i < npend; i++)
		rte_pktmbuf_free(pend[i]);
	pt_ctl(ctl, "exit", json, sizeof(json));
	pt_backend_wait(pid, 5);
	sp_vsock_dev_destroy(dev);
	sp_env_fini();
	unlink(sock);
	return 0;
fini:
	sp_env_fini();
kill_backend:
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	unlink(sock);
	return 1;
}
