/* SPDX-License-Identifier: MIT */
/*
 * sp-vm-udp: sendpath UDP inside a VM on the VM's own virtio-net PCI device,
 * driven by DPDK's net_virtio PCI driver after the device was given to
 * vfio-pci. Sends COUNT datagrams with sp_sendmmsg to DST:PORT; each carries
 * its sequence number and then bytes the receiver can check. With --vsock-pci
 * the same stack also runs vsock on the VM's virtio-vsock device (sendpath's
 * virtio-pci transport, probed by the PCI bus like the net device) and sends
 * --vsock-bytes to the host, CID 2: one
 * process, both devices of the VM, one EAL and one VFIO container. Kernel UDP
 * semantics hold: a full device ring and backlog drop silently, so the count
 * that arrives is what the path really carried.
 *
 *   sp-vm-udp --pci 0000:00:04.0 --ip 10.0.2.15 --gw 10.0.2.2 --dst 10.0.2.2 --port 5555
 *             [--count N] [--size N] [--vsock-pci ADDR --vsock-port N --vsock-bytes N]
 *             [-- EAL args]
 *
 * Prints "vm-udp: ..." lines, ending with "vm-udp: PASS ..." (exit 0) or an error (exit 1).
 */
#define _GNU_SOURCE /* struct mmsghdr */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>  /* SIOCOUTQ */
#include <sys/socket.h>
#include <time.h>

#include <linux/vm_sockets.h>

#include <rte_ethdev.h>

#include "ip.h"        /* the stack's port counters */
#include "sendpath.h"
#include "sp_env.h"
#include "virtio_vsock.h"

#define BATCH 32
#define MAX_SIZE 1400

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Datagram seq: 8-byte little-endian seq, then byte i = (seq + i) & 0xff. */
static void fill(uint8_t *p, size_t size, uint64_t seq)
{
	size_t i;

	memcpy(p, &seq, 8);
	for (i = 8; i < size; i++)
		p[i] = (uint8_t)(seq + i);
}

/*
 * What a careful application does before it closes: wait (polling) until the
 * device has used every byte sent (SIOCOUTQ 0), so tearing the device down
 * afterwards loses nothing. Returns the bytes still unsent after limit_s.
 */
static int drain(int fd, double limit_s)
{
	double t = now_s();
	int outq = 0;

	while (sp_ioctl(fd, SIOCOUTQ, &outq) == 0 && outq > 0 && now_s() - t < limit_s)
		sp_poll();
	return outq;
}

/* Lets the close handshake (SHUTDOWN, the peer's RST) run before the device goes. */
static void settle(double s)
{
	double t = now_s();

	while (now_s() - t < s)
		sp_poll();
}

/* The vsock half: the backend's --verify pattern, byte i = i ^ i>>8 ^ i>>16 ^ i>>24. */
static int vsock_send(unsigned int port, unsigned long long total)
{
	struct sockaddr_vm peer = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = port };
	static uint8_t b[65536];
	unsigned long long sent = 0;
	size_t i, len;
	ssize_t n;
	int fd;

	fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	if (fd < 0 || sp_connect(fd, (struct sockaddr *)&peer, sizeof(peer))) {
		printf("vm-udp: FAIL vsock connect to 2:%u: %s\n", port, strerror(errno));
		return -1;
	}
	while (sent < total) {
		len = total - sent < sizeof(b) ? (size_t)(total - sent) : sizeof(b);
		for (i = 0; i < len; i++) {
			uint64_t k = sent + i;

			b[i] = (uint8_t)(k ^ (k >> 8) ^ (k >> 16) ^ (k >> 24));
		}
		n = sp_send(fd, b, len, MSG_NOSIGNAL);
		if (n <= 0) {
			printf("vm-udp: FAIL vsock send after %llu bytes: %s\n", sent, strerror(errno));
			return -1;
		}
		sent += (unsigned long long)n;
	}
	if (drain(fd, 30) > 0) {
		printf("vm-udp: FAIL vsock bytes still not used by the device after 30 s\n");
		return -1;
	}
	sp_close(fd);
	settle(0.3);
	printf("vm-udp: vsock sent %llu bytes to 2:%u on the same stack\n", sent, port);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pci", required_argument, NULL, 'p' }, { "ip", required_argument, NULL, 'i' },
		{ "gw", required_argument, NULL, 'g' }, { "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'P' }, { "count", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' }, { "vsock-pci", required_argument, NULL, 'V' },
		{ "vsock-port", required_argument, NULL, 'W' }, { "vsock-bytes", required_argument, NULL, 'B' },
		{ NULL, 0, NULL, 0 },
	};
	struct sp_env_cfg cfg = { .name = "vm-udp", .cpu = -1, .mem_mb = 128, .pci = true };
	struct sp_init_cfg icfg = { .udp_port = -1, .cpu = -1 };
	struct sockaddr_in dst = { .sin_family = AF_INET };
	static uint8_t bufs[BATCH][MAX_SIZE];
	struct mmsghdr vec[BATCH];
	struct iovec iov[BATCH];
	const char *pci = NULL, *ip = "10.0.2.15", *gw = "10.0.2.2", *dip = "10.0.2.2";
	const char *vsock_pci = NULL;
	unsigned long long vsock_bytes = 1 << 20;
	unsigned int vsock_port = 1234;
	struct sp_vsock_dev *vdev = NULL;
	unsigned long long count = 10000, seq = 0, eagain = 0;
	unsigned int size = 256, port = 5555, i;
	char *eal[64];
	uint16_t pid;
	double t0, t1;
	int c, fd, n, k = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pci = optarg; break;
		case 'i': ip = optarg; break;
		case 'g': gw = optarg; break;
		case 'd': dip = optarg; break;
		case 'P': port = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'c': count = strtoull(optarg, NULL, 0); break;
		case 's': size = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'V': vsock_pci = optarg; break;
		case 'W': vsock_port = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'B': vsock_bytes = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (!pci || size < 8 || size > MAX_SIZE || argc - optind > 58) {
		fprintf(stderr, "usage: sp-vm-udp --pci ADDR [--ip A --gw A --dst A --port N --count N --size 8..1400] [-- EAL args]\n");
		return 2;
	}
	/* the PCI bus scans only these: net_virtio (a plugin) takes one, sendpath's driver the other */
	eal[k++] = (char *)"-a";
	eal[k++] = (char *)pci;
	if (vsock_pci) {
		eal[k++] = (char *)"-a";
		eal[k++] = (char *)vsock_pci;
	}
	while (optind < argc)
		eal[k++] = argv[optind++];
	cfg.extra_argc = k;
	cfg.extra_argv = eal;
	if (sp_env_init(&cfg))
		return 1;
	if (rte_eth_dev_get_port_by_name(pci, &pid)) {
		printf("vm-udp: FAIL no ethdev for %s (is it bound to vfio-pci, is net_virtio loaded?)\n", pci);
		return 1;
	}
	icfg.udp_port = pid;
	if (inet_pton(AF_INET, ip, &icfg.udp_ip) != 1 || inet_pton(AF_INET, gw, &icfg.udp_gateway) != 1 ||
	    inet_pton(AF_INET, dip, &dst.sin_addr) != 1) {
		printf("vm-udp: FAIL bad address\n");
		return 1;
	}
	icfg.udp_netmask = htonl(0xffffff00);
	if (vsock_pci) {
		/* probed by the PCI bus, named by its address */
		vdev = sp_vsock_dev_get(vsock_pci);
		if (!vdev) {
			printf("vm-udp: FAIL the PCI bus made no vsock device of %s\n", vsock_pci);
			return 1;
		}
		icfg.vsock_dev = vsock_pci;
	}
	dst.sin_port = htons((uint16_t)port);
	if (sp_init(&icfg)) {
		printf("vm-udp: FAIL sp_init: %s\n", strerror(errno));
		return 1;
	}
	printf("vm-udp: port %u (%s) up, %s -> %s:%u\n", pid, pci, ip, dip, port);
	fd = sp_socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0) {
		printf("vm-udp: FAIL socket: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < BATCH; i++) {
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = size };
		vec[i].msg_hdr = (struct msghdr){ .msg_name = &dst, .msg_namelen = sizeof(dst),
						  .msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	/*
	 * As with the kernel, datagrams sent while the next hop's MAC is unresolved
	 * wait in a small queue and the rest are dropped: resolve it first with one
	 * datagram the receiver ignores (seq all ones).
	 */
	fill(bufs[0], 8, UINT64_MAX);
	if (sp_sendto(fd, bufs[0], 8, 0, (struct sockaddr *)&dst, sizeof(dst)) != 8) {
		printf("vm-udp: FAIL first datagram: %s\n", strerror(errno));
		return 1;
	}
	for (t0 = now_s(); now_s() - t0 < 0.5;)
		sp_poll();
	t0 = now_s();
	while (seq < count) {
		unsigned int want = count - seq < BATCH ? (unsigned int)(count - seq) : BATCH;

		for (i = 0; i < want; i++)
			fill(bufs[i], size, seq + i);
		n = sp_sendmmsg(fd, vec, want, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN) {
			eagain++;
			sp_poll();
			continue;
		}
		if (n <= 0) {
			printf("vm-udp: FAIL sendmmsg after %llu: %s\n", seq, strerror(errno));
			return 1;
		}
		seq += (unsigned int)n;
	}
	t1 = now_s();
	for (i = 0; i < 2000; i++)
		sp_poll(); /* the last burst leaves the ring */
	printf("vm-udp: sent %llu datagrams of %u bytes in %.3f s (%.0f/s, %llu EAGAIN)\n",
	       seq, size, t1 - t0, seq / (t1 - t0), eagain);
	/* the stack's own account (stack/ip.h): what left through the port, what its backlog dropped */
	printf("vm-udp: port took %llu packets in %llu bursts, backlog drops %llu\n",
	       (unsigned long long)sp_nif->st.tx_pkts, (unsigned long long)sp_nif->st.tx_bursts,
	       (unsigned long long)sp_nif->st.tx_drop_backlog_full);
	sp_close(fd);
	if (vdev && vsock_send(vsock_port, vsock_bytes) < 0)
		return 1;
	sp_fini();
	sp_vsock_dev_destroy(vdev);
	sp_env_fini();
	printf("vm-udp: PASS %llu datagrams\n", seq);
	return 0;
}
