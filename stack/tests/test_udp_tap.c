/* SPDX-License-Identifier: MIT */
/*
 * The kernel as the receiver: a network namespace of our own, a DPDK net_tap
 * port whose interface lives in it, and a kernel UDP socket there that must
 * receive every datagram sendpath sends, byte for byte, with the right source
 * port and TTL. The kernel drops bad checksums and bad fragments, so this
 * checks the wire format for real; ARP is resolved by the kernel's replies.
 * The same traffic is also written through a net_pcap port to
 * $SP_PCAP_OUT (a build artefact) and read back with libpcap-free checks
 * here and, when tshark is installed, by tshark's checksum validation.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#include <rte_ethdev.h>

#include "ip.h"
#include "sock.h"
#include "sp_env.h"

#define K_IP    "10.99.0.1"
#define SP_IP   "10.99.0.2"
#define K_PORT  7000
#define MAXDG   256

static char ns[64], ifname[16];
static int krx = -1;

static int sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void cleanup(void)
{
	if (ns[0]) {
		sh("ip netns del %s 2>/dev/null", ns);
		ns[0] = 0;
	}
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* A namespace of our own, entered by this process: net_tap creates its interface in it. */
static void enter_netns(void)
{
	char path[128];
	int fd;

	/* namespaces of earlier runs whose process is gone */
	sh("for n in $(ip netns list | awk '/^sp-udp-/{print $1}'); do "
	   "kill -0 ${n#sp-udp-} 2>/dev/null || ip netns del $n; done");
	snprintf(ns, sizeof(ns), "sp-udp-%d", (int)getpid());
	snprintf(ifname, sizeof(ifname), "sptap%d", (int)getpid() % 100000);
	atexit(cleanup);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	cr_assert_eq(sh("ip netns add %s", ns), 0, "ip netns add");
	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(setns(fd, CLONE_NEWNET), 0, "setns: %s", strerror(errno));
	close(fd);
}

static void kernel_receiver(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(K_PORT) };
	int on = 1, big = 32 << 20;

	cr_assert_eq(sh("ip link set %s up && ip addr add %s/24 dev %s", ifname, K_IP, ifname), 0);
	inet_pton(AF_INET, K_IP, &sin.sin_addr);
	krx = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_geq(krx, 0);
	setsockopt(krx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(krx, SOL_IP, IP_RECVTTL, &on, sizeof(on));
	setsockopt(krx, SOL_IP, IP_RECVTOS, &on, sizeof(on));
	cr_assert_eq(bind(krx, (struct sockaddr *)&sin, sizeof(sin)), 0, "bind: %s", strerror(errno));
}

/* --- the traffic, written once, sent on both ports --- */

struct dg {
	uint32_t id;
	size_t len;
	uint16_t sport;
	int ttl, tos;
	bool seen;
};

static struct dg want[MAXDG];
static unsigned int nwant;
static char buf[70000];

static void fill(char *p, uint32_t id, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(id * 31 + i * 7 + (i >> 8));
	if (len >= 4)
		memcpy(p, &id, 4);
}

static void expect(uint32_t id, size_t len, uint16_t sport, int ttl, int tos)
{
	cr_assert_lt(nwant, MAXDG);
	want[nwant++] = (struct dg){ id, len, sport, ttl, tos, false };
}

static uint16_t local_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	cr_assert_eq(sp_getsockname(fd, (struct sockaddr *)&a, &l), 0);
	return ntohs(a.sin_port);
}

static void poll_for(uint64_t ms)
{
	uint64_t end = sp_now_ns() + ms * 1000000;

	while (sp_now_ns() < end) {
		sp_poll();
		usleep(200);
	}
}

/* Sends the scenario; ids start at base so the two runs do not mix. */
static void send_traffic(uint32_t base)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(K_PORT) };
	struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = htons(6000) };
	int a = sp_socket(AF_INET, SOCK_DGRAM, 0), b = sp_socket(AF_INET, SOCK_DGRAM, 0);
	int ttl = 33, tos = 0x10;
	uint32_t id = base;
	size_t sizes[] = { 4, 5, 17, 64, 100, 512, 1000, 1471, 1472, 1473, 2000, 2961, 4000, 9000, 30000, 65507 };

	inet_pton(AF_INET, K_IP, &dst.sin_addr);
	cr_assert(sp_is_fd(a) && sp_is_fd(b));
	cr_assert_eq(sp_bind(a, (struct sockaddr *)&me, sizeof(me)), 0, "bind: %s", strerror(errno));

	/* the first datagram waits for ARP; give the kernel's reply time to come back */
	fill(buf, id, 32);
	cr_assert_eq(sp_sendto(a, buf, 32, 0, (struct sockaddr *)&dst, sizeof(dst)), 32);
	expect(id++, 32, 6000, 64, 0);
	poll_for(300);

	/* single datagrams: small, MTU-sized (1472 = 1500 - 28), fragmented */
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		fill(buf, id, sizes[i]);
		cr_assert_eq(sp_sendto(a, buf, sizes[i], 0, (struct sockaddr *)&dst, sizeof(dst)),
			     (ssize_t)sizes[i], "sendto %zu: %s", sizes[i], strerror(errno));
		expect(id++, sizes[i], 6000, 64, 0);
		sp_poll();
	}
	/* TTL and TOS by option */
	cr_assert_eq(sp_setsockopt(a, SOL_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	cr_assert_eq(sp_setsockopt(a, SOL_IP, IP_TOS, &tos, sizeof(tos)), 0);
	fill(buf, id, 300);
	cr_assert_eq(sp_sendto(a, buf, 300, 0, (struct sockaddr *)&dst, sizeof(dst)), 300);
	expect(id++, 300, 6000, 33, 0x10);
	fill(buf, id, 3000);
	cr_assert_eq(sp_sendto(a, buf, 3000, 0, (struct sockaddr *)&dst, sizeof(dst)), 3000);
	expect(id++, 3000, 6000, 33, 0x10);

	/* TTL and TOS for one datagram, by control message */
	{
		union { char buf[CMSG_SPACE(sizeof(int)) * 2]; struct cmsghdr align; } u;
		struct iovec iov = { buf, 400 };
		struct msghdr mh = { .msg_name = &dst, .msg_namelen = sizeof(dst), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		int cttl = 7, ctos = 0x20;

		memset(&u, 0, sizeof(u));
		c->cmsg_level = SOL_IP;
		c->cmsg_type = IP_TTL;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &cttl, sizeof(int));
		c = CMSG_NXTHDR(&mh, c);
		c->cmsg_level = SOL_IP;
		c->cmsg_type = IP_TOS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &ctos, sizeof(int));
		fill(buf, id, 400);
		cr_assert_eq(sp_sendmsg(a, &mh, 0), 400, "sendmsg with cmsgs: %s", strerror(errno));
		expect(id++, 400, 6000, 7, 0x20);
	}

	/* corked: three pieces, one datagram (MSG_MORE), and one above the MTU (UDP_CORK) */
	fill(buf, id, 1800);
	cr_assert_eq(sp_sendto(a, buf, 700, MSG_MORE, (struct sockaddr *)&dst, sizeof(dst)), 700);
	cr_assert_eq(sp_sendto(a, buf + 700, 600, MSG_MORE, (struct sockaddr *)&dst, sizeof(dst)), 600);
	cr_assert_eq(sp_sendto(a, buf + 1300, 500, 0, (struct sockaddr *)&dst, sizeof(dst)), 500);
	expect(id++, 1800, 6000, 33, 0x10);
	int on = 1, off = 0;
	fill(buf, id, 20);
	cr_assert_eq(sp_setsockopt(a, SOL_UDP, UDP_CORK, &on, sizeof(on)), 0);
	cr_assert_eq(sp_sendto(a, buf, 10, 0, (struct sockaddr *)&dst, sizeof(dst)), 10);
	cr_assert_eq(sp_sendto(a, buf + 10, 10, 0, (struct sockaddr *)&dst, sizeof(dst)), 10);
	cr_assert_eq(sp_setsockopt(a, SOL_UDP, UDP_CORK, &off, sizeof(off)), 0);
	expect(id++, 20, 6000, 33, 0x10);

	/* a connected socket with an automatic port: send, and sendmmsg of 32 */
	cr_assert_eq(sp_connect(b, (struct sockaddr *)&dst, sizeof(dst)), 0);
	uint16_t bport = local_port(b);
	cr_assert_geq(bport, 1024);
	fill(buf, id, 200);
	cr_assert_eq(sp_send(b, buf, 200, 0), 200);
	expect(id++, 200, bport, 64, 0);

	static char mbuf[32][1500];
	struct mmsghdr v[32];
	struct iovec iov[32];
	memset(v, 0, sizeof(v));
	for (unsigned int i = 0; i < 32; i++) {
		size_t len = i == 31 ? 1472 : 64;

		fill(mbuf[i], id + i, len);
		iov[i] = (struct iovec){ mbuf[i], len };
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
	}
	cr_assert_eq(sp_sendmmsg(b, v, 32, 0), 32);
	for (unsigned int i = 0; i < 32; i++) {
		cr_assert_eq(v[i].msg_len, iov[i].iov_len);
		expect(id++, iov[i].iov_len, bport, 64, 0);
	}
	/* sendmmsg with per-message addresses and a fragmented one in the middle */
	for (unsigned int i = 0; i < 8; i++) {
		size_t len = i == 4 ? 1500 : 100 + i;

		fill(mbuf[i], id + i, len);
		iov[i] = (struct iovec){ mbuf[i], len };
		v[i].msg_hdr.msg_name = &dst;
		v[i].msg_hdr.msg_namelen = sizeof(dst);
	}
	cr_assert_eq(sp_sendmmsg(a, v, 8, 0), 8);
	for (unsigned int i = 0; i < 8; i++)
		expect(id++, iov[i].iov_len, 6000, 33, 0x10);
	sp_close(a);
	sp_close(b);
}

/* Reads what the kernel got and checks it against want[]. */
static void kernel_checks(void)
{
	uint64_t end = sp_now_ns() + 3000000000ull;
	unsigned int got = 0, i;
	static char rbuf[70000];

	while (got < nwant && sp_now_ns() < end) {
		char ctl[256];
		struct sockaddr_in from;
		struct iovec iov = { rbuf, sizeof(rbuf) };
		struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
				     .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(krx, &mh, MSG_DONTWAIT);
		int ttl = -1, tos = -1;
		uint32_t id;
		struct dg *d = NULL;

		if (n < 0) {
			sp_poll();
			usleep(100);
			continue;
		}
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TTL)
				memcpy(&ttl, CMSG_DATA(c), sizeof(int));
			if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_TOS)
				tos = *(unsigned char *)CMSG_DATA(c);
		}
		cr_assert_geq(n, 4, "a datagram of %zd bytes", n);
		memcpy(&id, rbuf, 4);
		for (i = 0; i < nwant; i++)
			if (want[i].id == id)
				d = &want[i];
		cr_assert_not_null(d, "unknown datagram id %u", id);
		cr_expect(!d->seen, "datagram %u twice", id);
		d->seen = true;
		got++;
		cr_expect_eq((size_t)n, d->len, "datagram %u: %zd bytes, sent %zu", id, n, d->len);
		fill(buf, id, d->len);
		cr_expect_eq(memcmp(rbuf, buf, d->len), 0, "datagram %u: bytes differ", id);
		cr_expect_eq(ntohs(from.sin_port), d->sport, "datagram %u: source port %u", id, ntohs(from.sin_port));
		cr_expect_eq(from.sin_addr.s_addr, inet_addr(SP_IP));
		cr_expect_eq(ttl, d->ttl, "datagram %u: TTL %d, want %d", id, ttl, d->ttl);
		cr_expect_eq(tos, d->tos, "datagram %u: TOS %d, want %d", id, tos, d->tos);
	}
	for (i = 0; i < nwant; i++)
		cr_expect(want[i].seen, "datagram %u (%zu bytes) never arrived", want[i].id, want[i].len);
	cr_expect_eq(got, nwant, "received %u of %u datagrams", got, nwant);
}

/* A connected socket hears the kernel's ICMP port unreachable: the next send is ECONNREFUSED, once. */
static void icmp_refused(void)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(K_PORT + 1) };
	int s = sp_socket(AF_INET, SOCK_DGRAM, 0), e = -1;
	socklen_t el = sizeof(e);
	uint64_t icmp0 = sp_nif->st.rx_icmp;

	inet_pton(AF_INET, K_IP, &dst.sin_addr);
	cr_assert_eq(sp_connect(s, (struct sockaddr *)&dst, sizeof(dst)), 0);
	cr_assert_eq(sp_send(s, "nobody", 6, 0), 6);
	for (uint64_t end = sp_now_ns() + 2000000000ull; sp_nif->st.rx_icmp == icmp0 && sp_now_ns() < end;)
		sp_poll();
	cr_expect_eq(sp_nif->st.rx_icmp, icmp0 + 1, "the kernel's ICMP came back");
	errno = 0;
	cr_expect_eq(sp_send(s, "again", 5, 0), -1);
	cr_expect_eq(errno, ECONNREFUSED);
	cr_expect_eq(sp_send(s, "again", 5, 0), 5, "the error is reported once");
	cr_expect_eq(sp_getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el), 0);
	cr_expect_eq(e, 0);
	sp_close(s);
}

static struct sp_init_cfg udp_cfg(uint16_t port)
{
	struct sp_init_cfg cfg = { .udp_port = port, .cpu = -1 };

	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
	return cfg;
}

Test(udp_tap, kernel_receives_everything, .timeout = 60)
{
	char tapdev[64], pcapdev[512];
	const char *pcap_out = getenv("SP_PCAP_OUT");
	struct sp_env_cfg env = { .name = "test-udp-tap", .cpu = -1, .mem_mb = 256 };
	struct rte_ether_addr tap_peer;
	uint16_t tap_port, pcap_port;
	struct sp_init_cfg cfg;
	unsigned int n_pcap;

	enter_netns();
	snprintf(tapdev, sizeof(tapdev), "net_tap0,iface=%s", ifname);
	snprintf(pcapdev, sizeof(pcapdev), "net_pcap0,tx_pcap=%s", pcap_out ? pcap_out : "/tmp/sp-udp-tap.pcap");
	env.vdevs[0] = tapdev;
	env.vdevs[1] = pcapdev;
	cr_assert_eq(sp_env_init(&env), 0);
	cr_assert_eq(rte_eth_dev_get_port_by_name("net_tap0", &tap_port), 0);
	cr_assert_eq(rte_eth_dev_get_port_by_name("net_pcap0", &pcap_port), 0);

	/* 1: into the pcap file, with a static neighbour (nothing answers ARP there) */
	cfg = udp_cfg(pcap_port);
	cr_assert_eq(sp_init(&cfg), 0);
	memcpy(&tap_peer, (uint8_t[]){ 0x02, 0x99, 0, 0, 0, 1 }, 6);
	cr_assert_eq(sp_neigh_add(inet_addr(K_IP), &tap_peer), 0);
	send_traffic(1000);
	n_pcap = nwant;
	cr_expect_eq(sp_nif->st.tx_drop_backlog_full + sp_nif->st.neigh_drop, 0);
	sp_fini();                              /* stops the port: the pcap file is complete */

	/* 2: into the kernel, ARP and all */
	nwant = 0;
	cfg = udp_cfg(tap_port);
	cr_assert_eq(sp_init(&cfg), 0);
	kernel_receiver();
	send_traffic(2000);
	kernel_checks();
	icmp_refused();
	cr_expect_eq(sp_nif->st.arp_req_sent, 1, "one ARP request");
	cr_expect_gt(sp_nif->st.frag_datagrams, 0);
	fprintf(stderr, "udp_tap: %u datagrams to the kernel, %" PRIu64 " frames (%" PRIu64
		" fragments of %" PRIu64 " datagrams), %u written to %s\n",
		nwant, sp_nif->st.tx_pkts, sp_nif->st.frag_pkts, sp_nif->st.frag_datagrams,
		n_pcap, pcap_out ? pcap_out : "/tmp/sp-udp-tap.pcap");
	close(krx);
	sp_fini();
	sp_env_fini();
	cleanup();

	/* the capture, read by tshark when there is one: no bad checksum, every datagram whole */
	if (pcap_out && sh("command -v tshark >/dev/null") == 0) {
		char cmd[1024];
		FILE *p;
		unsigned int bad = 99, whole = 0;

		snprintf(cmd, sizeof(cmd),
			 "tshark -r %s -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE "
			 "-Y 'ip.checksum.status == \"Bad\" || udp.checksum.status == \"Bad\"' 2>/dev/null | wc -l; "
			 "tshark -r %s -Y 'udp.dstport == %d' 2>/dev/null | wc -l", pcap_out, pcap_out, K_PORT);
		p = popen(cmd, "r");
		cr_assert_not_null(p);
		cr_expect_eq(fscanf(p, "%u %u", &bad, &whole), 2);
		pclose(p);
		cr_expect_eq(bad, 0, "tshark finds %u bad checksums in %s", bad, pcap_out);
		cr_expect_eq(whole, n_pcap, "tshark reassembles %u of %u datagrams", whole, n_pcap);
	}
}
