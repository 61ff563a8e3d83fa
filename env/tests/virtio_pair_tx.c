/* SPDX-License-Identifier: MIT */
/*
 * virtio_pair_tx: the sending end of the fixture. A net_virtio_user frontend
 * connects to a vhost-user socket served by sp-net-sink and sends numbered
 * Ethernet/IPv4/UDP frames carrying the probe of env/sp_probe.h.
 *
 *   virtio_pair_tx --socket NAME [--count N] [--burst B] [--size BYTES]
 *                  [--clock tsc|ns|none] [--cpu N] [--mem MB] [--wait SEC] [--linger SEC]
 *
 *   --socket NAME  the sink's socket: bare name in sp_env_run_path(), or a path
 *   --count N      frames to send, seq 0..N-1 (default 1000000)
 *   --burst B      frames per rte_eth_tx_burst (default 32, at most 512)
 *   --size BYTES   frame length without FCS (default 64, at least 58)
 *   --clock C      tx_stamp unit: tsc (default), ns, none (stamp 0)
 *   --cpu N        CPU to run on (default $SP_CPU, else 0)
 *   --wait SEC     how long to wait for the link to come up, and for a full
 *                  ring to drain before giving up (default 10)
 *   --linger SEC   after the last frame, wait up to SEC for the sink to close
 *                  the connection (default 10): frames still in the ring when
 *                  the frontend leaves are never dequeued.
 *
 * One JSON line on stdout: {"tool":"virtio_pair_tx","frames":..,"bytes":..,
 * "elapsed_s":..,"frames_per_s":..,"hugepages":..,"cpu":..,"peer_closed":..}.
 * Exit status 0 when all N frames went into the ring, 1 when not, 2 on setup errors.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include "sp_env.h"
#include "sp_probe.h"

#define MAX_BURST 512
#define NB_MBUF 8191

struct tx_opts {
	const char *socket;
	uint64_t count;
	unsigned int burst, size, mem_mb;
	int clock;              /* 0 tsc, 1 ns, 2 none */
	int cpu;
	double wait_s, linger_s;
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
	fprintf(f, "usage: virtio_pair_tx --socket NAME [--count N] [--burst B] [--size BYTES]\n"
		   "       [--clock tsc|ns|none] [--cpu N] [--mem MB] [--wait SEC] [--linger SEC]\n");
}

static int parse_opts(int argc, char **argv, struct tx_opts *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },
		{ "burst", required_argument, NULL, 'b' },
		{ "size", required_argument, NULL, 'z' },
		{ "clock", required_argument, NULL, 'c' },
		{ "cpu", required_argument, NULL, 'C' },
		{ "mem", required_argument, NULL, 'm' },
		{ "wait", required_argument, NULL, 'w' },
		{ "linger", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*o = (struct tx_opts){ .count = 1000000, .burst = 32, .size = 64, .cpu = -1,
			       .wait_s = 10, .linger_s = 10 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 's': o->socket = optarg; break;
		case 'n': o->count = strtoull(optarg, &end, 10); break;
		case 'b': o->burst = (unsigned int)strtoul(optarg, &end, 10); break;
		case 'z': o->size = (unsigned int)strtoul(optarg, &end, 10); break;
		case 'C': o->cpu = (int)strtol(optarg, &end, 10); break;
		case 'm': o->mem_mb = (unsigned int)strtoul(optarg, &end, 10); break;
		case 'w': o->wait_s = strtod(optarg, &end); break;
		case 'l': o->linger_s = strtod(optarg, &end); break;
		case 'c':
			o->clock = !strcmp(optarg, "tsc") ? 0 : !strcmp(optarg, "ns") ? 1 :
				   !strcmp(optarg, "none") ? 2 : -1;
			if (o->clock < 0)
				goto bad;
			break;
		default: goto bad;
		}
		if (end && (*end || errno || optarg[0] == '-'))
			goto bad;
	}
	if (optind == argc && o->socket && o->burst >= 1 && o->burst <= MAX_BURST &&
	    o->size >= SP_PROBE_OFF + SP_PROBE_LEN && o->size <= RTE_MBUF_DEFAULT_DATAROOM)
		return 0;
bad:
	usage(stderr);
	return -1;
}

/* Ethernet + IPv4 + UDP headers of every frame, 10.0.0.1:9000 -> 10.0.0.2:9001. */
static void build_headers(uint8_t *hdr, uint16_t port, unsigned int size)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);

	memset(hdr, 0, SP_PROBE_OFF);
	rte_eth_macaddr_get(port, &eth->src_addr);
	eth->dst_addr = (struct rte_ether_addr){ { 0x02, 0, 0, 0, 0, 0x02 } };
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(size - sizeof(*eth)));
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_UDP;
	ip->src_addr = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 1));
	ip->dst_addr = rte_cpu_to_be_32(RTE_IPV4(10, 0, 0, 2));
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	udp->src_port = rte_cpu_to_be_16(9000);
	udp->dst_port = rte_cpu_to_be_16(9001);
	udp->dgram_len = rte_cpu_to_be_16((uint16_t)(size - sizeof(*eth) - sizeof(*ip)));
}

static bool wait_link(uint16_t port, bool up, double secs)
{
	uint64_t end = rte_rdtsc() + (uint64_t)(secs * (double)rte_get_tsc_hz());
	struct rte_eth_link link;

	do {
		if (rte_eth_link_get_nowait(port, &link) == 0 && (link.link_status != 0) == up)
			return true;
		usleep(1000);
	} while (rte_rdtsc() < end && !stop_signal);
	return false;
}

static int port_setup(uint16_t port, struct rte_mempool *pool)
{
	struct rte_eth_conf conf;
	int ret;

	memset(&conf, 0, sizeof(conf));
	ret = rte_eth_dev_configure(port, 1, 1, &conf);
	if (!ret)
		ret = rte_eth_rx_queue_setup(port, 0, 256, rte_eth_dev_socket_id(port), NULL, pool);
	if (!ret)
		ret = rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), NULL);
	if (!ret)
		ret = rte_eth_dev_start(port);
	if (ret)
		fprintf(stderr, "tx: cannot start port %u: %s\n", port, rte_strerror(-ret));
	return ret;
}

/*
 * Puts n frames into the ring, retrying while it is full; gives up when the
 * peer has taken nothing for stall_tsc cycles (it stopped polling or went away).
 */
static unsigned int tx_until_stalled(uint16_t port, struct rte_mbuf **pkts, unsigned int n,
				     uint64_t stall_tsc)
{
	unsigned int sent = 0, spins = 0;
	uint64_t since = 0;
	uint16_t k;

	while (sent < n && !stop_signal) {
		k = rte_eth_tx_burst(port, 0, pkts + sent, (uint16_t)(n - sent));
		sent += k;
		if (k) {
			since = 0;
			spins = 0;
		} else if (++spins % 1024 == 0) {
			if (!since)
				since = rte_rdtsc();
			else if (rte_rdtsc() - since > stall_tsc) {
				fprintf(stderr, "tx: the ring stayed full for %.0f s: the sink stopped taking frames\n",
					(double)stall_tsc / (double)rte_get_tsc_hz());
				stop_signal = SIGALRM;
			}
		}
	}
	return sent;
}

/* Sends seq 0..count-1; returns how many went into the ring. */
static uint64_t send_all(uint16_t port, struct rte_mempool *pool, const struct tx_opts *o,
			 uint64_t *bytes)
{
	uint8_t hdr[SP_PROBE_OFF];
	struct rte_mbuf *pkts[MAX_BURST];
	uint64_t seq = 0, stamp, stall_tsc;
	unsigned int i, n, sent;
	uint8_t *p;

	build_headers(hdr, port, o->size);
	stall_tsc = (uint64_t)(o->wait_s * (double)rte_get_tsc_hz());
	while (seq < o->count && !stop_signal) {
		n = (unsigned int)RTE_MIN((uint64_t)o->burst, o->count - seq);
		/* The ring holds at most queue_size mbufs, far fewer than the pool. */
		if (rte_pktmbuf_alloc_bulk(pool, pkts, n) != 0) {
			fprintf(stderr, "tx: mbuf pool empty after %" PRIu64 " frames\n", seq);
			break;
		}
		stamp = o->clock == 0 ? rte_rdtsc() : o->clock == 1 ? sp_probe_now_ns() : 0;
		for (i = 0; i < n; i++) {
			p = rte_pktmbuf_mtod(pkts[i], uint8_t *);
			memcpy(p, hdr, SP_PROBE_OFF);
			sp_probe_write(p + SP_PROBE_OFF, seq + i, stamp);
			pkts[i]->data_len = (uint16_t)o->size;
			pkts[i]->pkt_len = o->size;
		}
		sent = tx_until_stalled(port, pkts, n, stall_tsc);
		if (sent < n)
			rte_pktmbuf_free_bulk(pkts + sent, n - sent);
		seq += sent;
		*bytes += (uint64_t)sent * o->size;
	}
	return seq;
}

int main(int argc, char **argv)
{
	struct sp_env_cfg cfg = { .name = "vtx", .cpu = -1, .shares_memory = true };
	struct sigaction sa = { .sa_handler = on_signal };
	char path[108], vdev[200];
	struct rte_mempool *pool;
	struct tx_opts o;
	uint64_t sent, bytes = 0, t0, t1;
	double secs;
	bool closed;
	uint16_t port;

	if (parse_opts(argc, argv, &o) < 0)
		return 2;
	if (strchr(o.socket, '/'))
		snprintf(path, sizeof(path), "%s", o.socket);
	else if (!sp_env_run_path(o.socket, path, sizeof(path)))
		return 2;
	snprintf(vdev, sizeof(vdev), "net_virtio_user0,path=%s,queues=1,queue_size=1024,mac=02:00:00:00:00:01", path);
	cfg.cpu = o.cpu;
	cfg.mem_mb = o.mem_mb;
	cfg.vdevs[0] = vdev;
	if (sp_env_init(&cfg) < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* virtio_user writes to the vhost-user socket on close, after the sink has gone. */
	signal(SIGPIPE, SIG_IGN);

	pool = rte_pktmbuf_pool_create("tx_pool", NB_MBUF, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       rte_socket_id());
	if (!pool) {
		fprintf(stderr, "tx: no memory for %u mbufs: %s\n", NB_MBUF, rte_strerror(rte_errno));
		goto fail;
	}
	if (rte_eth_dev_get_port_by_name("net_virtio_user0", &port) || port_setup(port, pool))
		goto fail;
	if (!wait_link(port, true, o.wait_s)) {
		fprintf(stderr, "tx: link to %s did not come up in %.0f s\n", path, o.wait_s);
		goto fail;
	}

	t0 = rte_rdtsc();
	sent = send_all(port, pool, &o, &bytes);
	t1 = rte_rdtsc();
	closed = wait_link(port, false, o.linger_s);
	secs = (double)(t1 - t0) / (double)rte_get_tsc_hz();
	printf("{\"tool\":\"virtio_pair_tx\",\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64
	       ",\"elapsed_s\":%.6f,\"frames_per_s\":%.0f,\"hugepages\":%s,\"cpu\":%d"
	       ",\"peer_closed\":%s}\n", sent, bytes, secs, secs > 0 ? (double)sent / secs : 0,
	       sp_env_info()->hugepages ? "true" : "false", sp_env_info()->cpu,
	       closed ? "true" : "false");
	fflush(stdout);

	/* Stopping the device asks the backend for the ring state and blocks on its
	 * reply: with a stalled backend, leave at once and let the kernel clean up. */
	if (stop_signal == SIGALRM) {
		rmdir(rte_eal_get_runtime_dir());
		_exit(1);
	}
	rte_eth_dev_stop(port);
	rte_eth_dev_close(port);
	rte_mempool_free(pool);
	sp_env_fini();
	return sent == o.count ? 0 : 1;
fail:
	sp_env_fini();
	return 2;
}
