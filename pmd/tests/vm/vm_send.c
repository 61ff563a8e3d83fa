/* SPDX-License-Identifier: MIT */
/*
 * sp-vm-send: sendpath inside a VM on the VM's own virtio-vsock PCI device.
 * EAL's PCI bus finds the device (-a ADDR; with --scan the default scan of
 * the whole bus) and sendpath's driver makes it the vsock device named ADDR;
 * with --vdev it is created by name with pci= instead, under --no-pci. The
 * stack goes on it, connects to the host (CID 2) and sends a byte stream in
 * the pattern the backend's --verify checks; then checks that a send after
 * SHUT_WR fails with EPIPE as under vhost-user.
 *
 * With --credit-check the host starts with its reading stopped: the first
 * sends fill exactly the peer's buf_alloc, MSG_DONTWAIT then fails with EAGAIN,
 * a blocking send with SO_SNDTIMEO returns EAGAIN after its timeout; then the
 * program prints "vm-send: waiting for credit" and blocks until the host
 * (told by run-guest.sh) reads again.
 *
 * With --until-gone the device is to go away while it sends (the host kills
 * the backend or unplugs the device after "vm-send: sending"): the program
 * passes when nothing hangs (until_gone() says what each call must return).
 *
 *   sp-vm-send --pci 0000:00:03.0 --port 1234 [--bytes N] [--qsize N] [--credit-check]
 *              [--scan | --vdev] [--until-gone] [-- EAL args]
 *
 * Prints "vm-send: ..." lines, ending with "vm-send: PASS ..." (exit 0) or an error (exit 1).
 */
#define _GNU_SOURCE /* struct mmsghdr in sendpath.h */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>  /* SIOCOUTQ */
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <linux/vm_sockets.h>

#include <rte_eal.h>

#include "sendpath.h"
#include "sp_env.h"
#include "virtio_vsock.h"
#include "vsock_proto.h"

#define VDEV_NAME "virtio_vsock_pci0"
#define CHUNK (64 * 1024)

/* The backend's --verify pattern (pmd/backend/host.h vb_pattern_byte): byte i of the stream. */
static uint8_t pattern_byte(uint64_t i)
{
	return (uint8_t)(i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24));
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

static void fill(uint8_t *p, size_t len, uint64_t off)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = pattern_byte(off + i);
}

/*
 * The host does not read: credit ends at its buf_alloc. Both the non-blocking
 * and the timed blocking send must then fail with EAGAIN, as over vhost-user
 * and as in the kernel (vsock_connectible_sendmsg).
 */
static int credit_phase(int fd, unsigned long long *sent)
{
	static uint8_t b[CHUNK];
	struct timeval tv = { .tv_usec = 200 * 1000 };
	double t;
	ssize_t n;

	for (;;) {
		fill(b, CHUNK, *sent);
		n = sp_send(fd, b, CHUNK, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0)
			break;
		*sent += (unsigned long long)n;
		if (*sent > 16 * VSOCK_DEFAULT_BUF_ALLOC) {
			printf("vm-send: FAIL sent %llu bytes to a peer that reads nothing\n", *sent);
			return -1;
		}
	}
	if (errno != EAGAIN || *sent != VSOCK_DEFAULT_BUF_ALLOC) {
		printf("vm-send: FAIL MSG_DONTWAIT stopped after %llu bytes with '%s', expected EAGAIN at "
		       "the peer's buf_alloc %u\n", *sent, strerror(errno), VSOCK_DEFAULT_BUF_ALLOC);
		return -1;
	}
	printf("vm-send: MSG_DONTWAIT -> EAGAIN after %llu bytes (the peer's buf_alloc)\n", *sent);
	if (sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))
		return -1;
	t = now_s();
	fill(b, CHUNK, *sent);
	n = sp_send(fd, b, CHUNK, MSG_NOSIGNAL);
	t = now_s() - t;
	if (n != -1 || errno != EAGAIN || t < 0.15) {
		printf("vm-send: FAIL blocking send with SO_SNDTIMEO 200 ms returned %zd (%s) after %.3f s\n",
		       n, strerror(errno), t);
		return -1;
	}
	printf("vm-send: SO_SNDTIMEO 200 ms -> EAGAIN after %.3f s\n", t);
	tv.tv_usec = 0;
	sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	printf("vm-send: waiting for credit\n");
	fflush(stdout);
	return 0;
}

/*
 * Sends until the device goes; the host takes it away meanwhile. Nothing may
 * hang. The send under way ends in ECONNRESET when the device had packets of
 * ours to use (the transport sees them unused for 5 s, or the kernel asks for
 * the device back); when the sender was instead waiting for credit the dead
 * peer will never return, the ring holds nothing of ours and no transport can
 * tell: that send ends at SO_SNDTIMEO with EAGAIN, as the kernel's would. The
 * close() that follows queues a SHUTDOWN the device never uses, so the device
 * is seen gone within limit_s either way, and a new connect then fails (ENODEV,
 * or ETIMEDOUT at its 2 s timeout when it was sent before the stack polled).
 */
static int until_gone(int fd, struct sp_vsock_dev *dev, double limit_s, unsigned int port)
{
	static uint8_t b[CHUNK];
	struct sockaddr_vm peer = { .svm_family = AF_VSOCK, .svm_cid = VSOCK_HOST_CID, .svm_port = port };
	struct timeval tv = { .tv_sec = 10 };     /* past the transport's 5 s */
	unsigned long long sent = 0;
	double last = now_s(), t;
	ssize_t n;
	int err, fd2;

	sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	printf("vm-send: sending\n");
	fflush(stdout);
	for (;;) {
		fill(b, CHUNK, sent);
		n = sp_send(fd, b, CHUNK, MSG_NOSIGNAL);
		t = now_s();
		if (n < 0)
			break;
		sent += (unsigned long long)n;
		last = t;
	}
	err = errno;
	printf("vm-send: send failed after %llu bytes with '%s', %.2f s after the last progress; "
	       "device %s\n", sent, strerror(err), t - last, sp_vsock_dev_alive(dev) ? "alive" : "gone");
	if (t - last > limit_s || (err != ECONNRESET && err != EAGAIN) ||
	    (err == ECONNRESET && sp_vsock_dev_alive(dev))) {
		printf("vm-send: FAIL expected ECONNRESET (device gone) or EAGAIN (SO_SNDTIMEO, waiting "
		       "for credit) within %.0f s\n", limit_s);
		return -1;
	}
	if (err == EAGAIN)
		printf("vm-send: it waited for credit the peer never returned; nothing of ours was on the ring\n");
	/* the close queues a packet: a dead device leaves it unused */
	t = now_s();
	sp_close(fd);
	while (sp_vsock_dev_alive(dev) && now_s() - t < limit_s)
		sp_poll();
	if (sp_vsock_dev_alive(dev)) {
		printf("vm-send: FAIL the device still counts as alive %.0f s after close()\n", limit_s);
		return -1;
	}
	printf("vm-send: device gone %.2f s after close()\n", now_s() - t);
	t = now_s();
	fd2 = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	n = fd2 < 0 ? -1 : sp_connect(fd2, (struct sockaddr *)&peer, sizeof(peer));
	printf("vm-send: a new connect -> %zd (%s) in %.3f s\n", n, n < 0 ? strerror(errno) : "-",
	       now_s() - t);
	if (n == 0 || now_s() - t > 3) {
		printf("vm-send: FAIL a connect on a gone device must fail (at the latest at its 2 s timeout)\n");
		return -1;
	}
	sp_close(fd2);
	printf("vm-send: PASS the device went away: the send ended in %s, nothing hung\n",
	       err == ECONNRESET ? "ECONNRESET" : "EAGAIN at SO_SNDTIMEO");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pci", required_argument, NULL, 'p' }, { "port", required_argument, NULL, 'P' },
		{ "bytes", required_argument, NULL, 'b' }, { "qsize", required_argument, NULL, 'q' },
		{ "credit-check", no_argument, NULL, 'C' }, { "scan", no_argument, NULL, 'S' },
		{ "vdev", no_argument, NULL, 'V' }, { "until-gone", no_argument, NULL, 'G' },
		{ "gone-limit", required_argument, NULL, 'L' }, { NULL, 0, NULL, 0 },
	};
	struct sp_env_cfg cfg = { .name = "vm-send", .cpu = -1, .mem_mb = 128 };
	struct sp_init_cfg icfg = { .udp_port = -1, .cpu = -1 };
	struct sockaddr_vm peer = { .svm_family = AF_VSOCK, .svm_cid = VSOCK_HOST_CID };
	unsigned long long total = 16ull << 20, sent = 0;
	unsigned int port = 1234, qsize = 0;  /* 0: the device's default */
	bool credit_check = false, scan = false, by_vdev = false, gone = false;
	double gone_limit = 15;
	const char *pci = NULL, *name;
	char *eal[64];
	struct sp_vsock_dev *dev;
	struct sp_vsock_stats st;
	static uint8_t buf[CHUNK + 256];
	char args[160];
	double t0, t1;
	ssize_t n;
	int c, fd, k = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p': pci = optarg; break;
		case 'P': port = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'b': total = strtoull(optarg, NULL, 0); break;
		case 'q': qsize = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'C': credit_check = true; break;
		case 'S': scan = true; break;
		case 'V': by_vdev = true; break;
		case 'G': gone = true; break;
		case 'L': gone_limit = strtod(optarg, NULL); break;
		default: return 2;
		}
	}
	if (!pci || argc - optind > 60) {
		fprintf(stderr, "usage: sp-vm-send --pci ADDR [--port N] [--bytes N] [--qsize N] "
			"[--credit-check] [--scan | --vdev] [--until-gone] [-- EAL args]\n");
		return 2;
	}
	if (qsize)
		snprintf(args, sizeof(args), "%s%s,queue_size=%u", by_vdev ? "pci=" : "", pci, qsize);
	else
		snprintf(args, sizeof(args), "%s%s", by_vdev ? "pci=" : "", pci);
	/* the PCI bus takes the device (devargs after the address), unless it is made by name */
	cfg.pci = !by_vdev;
	if (!by_vdev && !scan) {
		eal[k++] = (char *)"-a";
		eal[k++] = args;
	}
	while (optind < argc)
		eal[k++] = argv[optind++];
	cfg.extra_argc = k;
	cfg.extra_argv = eal;
	if (sp_env_init(&cfg))
		return 1;

	name = by_vdev ? VDEV_NAME : pci;
	dev = by_vdev ? sp_vsock_dev_create(VDEV_NAME, args) : sp_vsock_dev_get(pci);
	if (dev)
		printf("vm-send: %s came from %s\n", name, by_vdev ? "sp_vsock_dev_create(pci=)" :
		       "DPDK's PCI bus");
	/* without a device, sp_init says why (the driver said so already, when it saw one) */
	icfg.vsock_dev = name;
	if (sp_init(&icfg)) {
		printf("vm-send: FAIL sp_init: %s\n", strerror(errno));
		return 1;
	}
	printf("vm-send: device %s up, guest CID %llu\n", pci, (unsigned long long)sp_vsock_dev_cid(dev));
	fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	peer.svm_port = port;
	if (fd < 0 || sp_connect(fd, (struct sockaddr *)&peer, sizeof(peer))) {
		printf("vm-send: FAIL connect to %u:%u: %s\n", VSOCK_HOST_CID, port, strerror(errno));
		return 1;
	}
	printf("vm-send: connected to %u:%u\n", VSOCK_HOST_CID, port);

	if (credit_check && credit_phase(fd, &sent) < 0)
		return 1;
	if (gone) {
		if (until_gone(fd, dev, gone_limit, port) < 0)
			return 1;
		sp_fini();
		/* gives the device back to vfio-pci: the kernel's removal can go on */
		sp_vsock_dev_destroy(dev);
		sp_env_fini();
		return 0;
	}

	t0 = now_s();
	while (sent < total) {
		size_t len = total - sent < CHUNK ? (size_t)(total - sent) : CHUNK;

		fill(buf, len, sent);
		n = sp_send(fd, buf, len, MSG_NOSIGNAL);
		if (n <= 0) {
			printf("vm-send: FAIL send after %llu bytes: %s\n", sent, n < 0 ? strerror(errno) : "0");
			return 1;
		}
		sent += (unsigned long long)n;
	}
	if ((n = drain(fd, 30)) > 0) {
		printf("vm-send: FAIL %zd bytes still not used by the device after 30 s\n", n);
		return 1;
	}
	t1 = now_s();
	printf("vm-send: sent %llu bytes in %.3f s (%.1f MB/s), all used by the device\n", sent,
	       t1 - t0, sent / (t1 - t0) / 1e6);

	/* the same EPIPE as over vhost-user: a send after our own SHUT_WR */
	if (sp_shutdown(fd, SHUT_WR) || sp_send(fd, buf, 1, MSG_NOSIGNAL) != -1 || errno != EPIPE) {
		printf("vm-send: FAIL send after SHUT_WR did not fail with EPIPE (%s)\n", strerror(errno));
		return 1;
	}
	printf("vm-send: send after SHUT_WR -> EPIPE\n");
	sp_close(fd);
	settle(0.3);
	sp_vsock_dev_stats(dev, &st);
	printf("vm-send: tx_pkts %llu tx_kicks %llu rx_pkts %llu bad_used %llu\n",
	       (unsigned long long)st.tx_pkts, (unsigned long long)st.tx_kicks,
	       (unsigned long long)st.rx_pkts, (unsigned long long)(st.bad_used_id + st.bad_used_len));
	sp_fini();
	/* resets the device and hands it back to vfio-pci as we found it */
	sp_vsock_dev_destroy(dev);
	sp_env_fini();
	printf("vm-send: PASS %llu bytes\n", sent);
	return 0;
}
