/* SPDX-License-Identifier: MIT */
/*
 * UDP on a DPDK net_ring port, which loops every frame back to its own
 * receive queue: the test reads what the stack put on the wire and checks it
 * field by field. Errors are compared with the host kernel's answers to the
 * same calls (kernel socket to 127.0.0.1, sendpath socket to the ring's
 * subnet; both destinations have a listener, so neither side sees ICMP).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <netinet/tcp.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_udp.h>
#include <rte_icmp.h>

#include "ip.h"
#include "sock.h"

#define SP_IP   "10.77.0.2"
#define PEER_IP "10.77.0.1"
#define MTU     1500

static const struct rte_ether_addr peer_mac = { { 0x02, 0, 0, 0, 0x77, 0x01 } };
static int krx = -1;                    /* kernel listener on 127.0.0.1 */
static uint16_t kport;

static void up(void)
{
	struct sp_init_cfg cfg = {
		.start_eal = true, .name = "test-udp", .cpu = -1, .mem_mb = 128,
		.udp_port = 0, .udp_mtu = MTU, .vdevs = { "net_ring0" },
	};
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);

	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	inet_pton(AF_INET, "255.255.255.0", &cfg.udp_netmask);
	cr_assert_eq(sp_init(&cfg), 0, "sp_init: %s", strerror(errno));
	cr_assert_not_null(sp_nif);
	cr_assert_eq(sp_neigh_add(inet_addr(PEER_IP), &peer_mac), 0);
	krx = socket(AF_INET, SOCK_DGRAM, 0);
	cr_assert_eq(bind(krx, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(krx, (struct sockaddr *)&sin, &len);
	kport = sin.sin_port;
}

static void down(void)
{
	close(krx);
	sp_fini();
}

TestSuite(udp, .init = up, .fini = down, .timeout = 30);

/* --- reading the wire --- */

struct frame {
	struct rte_ether_hdr eth;
	struct rte_ipv4_hdr ip;
	struct rte_udp_hdr udp;         /* first fragment and whole datagrams */
	uint8_t data[70000];
	size_t data_len;                /* bytes after the IP header */
	bool ip_csum_ok;
};

static void mbuf_copy(const struct rte_mbuf *m, uint32_t off, uint32_t len, void *buf)
{
	const void *p = rte_pktmbuf_read(m, off, len, buf);

	if (p && p != buf)
		memcpy(buf, p, len);
}

static unsigned int rx_frames(struct frame *f, unsigned int max)
{
	struct rte_mbuf *m[64];
	unsigned int got = 0, idle = 0;

	while (got < max && idle < 1000) {
		uint16_t n = rte_eth_rx_burst(sp_nif->port_id, 0, m, 64), i;

		if (!n) {
			idle++;
			usleep(100);
			continue;
		}
		for (i = 0; i < n; i++) {
			if (got < max) {
				struct rte_ipv4_hdr ip;
				uint16_t sum;

				memset(&f[got], 0, offsetof(struct frame, data));
				mbuf_copy(m[i], 0, sizeof(f[got].eth), &f[got].eth);
				mbuf_copy(m[i], sizeof(f[got].eth), sizeof(ip), &f[got].ip);
				f[got].data_len = m[i]->pkt_len - sizeof(f[got].eth) - sizeof(ip);
				mbuf_copy(m[i], sizeof(f[got].eth) + sizeof(ip), f[got].data_len, f[got].data);
				memcpy(&f[got].udp, f[got].data, sizeof(f[got].udp));
				ip = f[got].ip;
				sum = ip.hdr_checksum;
				ip.hdr_checksum = 0;
				f[got].ip_csum_ok = rte_ipv4_cksum(&ip) == sum;
				got++;
			}
			rte_pktmbuf_free(m[i]);
		}
	}
	return got;
}

static bool udp_csum_ok(const struct frame *f)
{
	uint8_t buf[70000];
	struct rte_ipv4_hdr ip = f->ip;
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)buf;
	uint16_t want = f->udp.dgram_cksum;

	memcpy(buf, f->data, f->data_len);
	uh->dgram_cksum = 0;
	return rte_ipv4_udptcp_cksum(&ip, buf) == want;
}

/* --- sendpath and kernel sockets side by side --- */

static int sp_udp(void)
{
	int fd = sp_socket(AF_INET, SOCK_DGRAM, 0);

	cr_assert(sp_is_fd(fd), "sp_socket: %s", strerror(errno));
	return fd;
}

static struct sockaddr_in sp_dst(uint16_t port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons(port) };

	inet_pton(AF_INET, PEER_IP, &s.sin_addr);
	return s;
}

static struct sockaddr_in k_dst(void)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = kport,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	return s;
}

struct res {
	long ret;
	int err;
};

#define CALL(expr) ({ errno = 0; long r_ = (long)(expr); (struct res){ r_, r_ < 0 ? errno : 0 }; })
#define SAME(k, s, what) do {                                                           \
		struct res k_ = (k), s_ = (s);                                          \
		cr_expect(k_.ret == s_.ret && k_.err == s_.err,                         \
			  "%s: kernel %ld %s, sendpath %ld %s", what, k_.ret,            \
			  k_.err ? strerrorname_np(k_.err) : "", s_.ret,                  \
			  s_.err ? strerrorname_np(s_.err) : "");                         \
	} while (0)

static char big[70000];

Test(udp, sendto_errors_match_kernel)
{
	int k = socket(AF_INET, SOCK_DGRAM, 0), s = sp_udp(), one = 1;
	struct sockaddr_in kd = k_dst(), sd = sp_dst(9000), kb, sb;
	struct sockaddr_in6 six = { .sin6_family = AF_INET6, .sin6_port = htons(9) };
	socklen_t kl = sizeof(kb), sl = sizeof(sb);

	SAME(CALL(send(k, "x", 1, 0)), CALL(sp_send(s, "x", 1, 0)), "send unconnected");
	getsockname(k, (struct sockaddr *)&kb, &kl);
	sp_getsockname(s, (struct sockaddr *)&sb, &sl);
	cr_expect(kb.sin_port != 0 && sb.sin_port != 0, "a failed send still autobinds");
	cr_expect_eq(sl, kl);

	SAME(CALL(sendto(k, big, 65508, 0, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, big, 65508, 0, (void *)&sd, sizeof(sd))), "65508 bytes");
	SAME(CALL(sendto(k, big, 65536, 0, (void *)&six, sizeof(six))),
	     CALL(sp_sendto(s, big, 65536, 0, (void *)&six, sizeof(six))), "65536 bytes before the address");
	SAME(CALL(sendto(k, "x", 1, MSG_OOB, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, "x", 1, MSG_OOB, (void *)&sd, sizeof(sd))), "MSG_OOB");
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&kd, sizeof(kd) - 1)),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&sd, sizeof(sd) - 1)), "short address");
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&six, sizeof(struct sockaddr_in))),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&six, sizeof(struct sockaddr_in))), "AF_INET6 address");
	kd.sin_port = 0;
	sd.sin_port = 0;
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&sd, sizeof(sd))), "port 0");
	kd = k_dst();
	sd = sp_dst(9000);
	kd.sin_family = AF_UNSPEC;
	sd.sin_family = AF_UNSPEC;
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&sd, sizeof(sd))), "AF_UNSPEC is taken as AF_INET");
	kd = k_dst();
	sd = sp_dst(9000);

	struct sockaddr_in bc = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = INADDR_BROADCAST };
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&bc, sizeof(bc))),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&bc, sizeof(bc))), "broadcast without SO_BROADCAST");
	SAME(CALL(sendto(k, NULL, 5, 0, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, NULL, 5, 0, (void *)&sd, sizeof(sd))), "NULL buffer");
	SAME(CALL(sendto(k, big, 65507, 0, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, big, 65507, 0, (void *)&sd, sizeof(sd))), "65507 bytes");

	/* control messages */
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { "x", 1 };
	struct msghdr km = { .msg_name = &kd, .msg_namelen = sizeof(kd), .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct msghdr sm = km;
	struct cmsghdr *c = CMSG_FIRSTHDR(&km);
	int bad[] = { 0, 256, -1 };

	sm.msg_name = &sd;
	for (unsigned int i = 0; i < 3; i++) {
		c->cmsg_level = SOL_IP;
		c->cmsg_type = IP_TTL;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &bad[i], sizeof(int));
		SAME(CALL(sendmsg(k, &km, 0)), CALL(sp_sendmsg(s, &sm, 0)), "cmsg IP_TTL out of range");
	}
	c->cmsg_len = CMSG_LEN(2);
	SAME(CALL(sendmsg(k, &km, 0)), CALL(sp_sendmsg(s, &sm, 0)), "cmsg IP_TTL short");
	c->cmsg_len = sizeof(u.buf) + 8;
	SAME(CALL(sendmsg(k, &km, 0)), CALL(sp_sendmsg(s, &sm, 0)), "cmsg longer than the buffer");

	/* shutdown on an unconnected socket: ENOTCONN, and shut all the same */
	SAME(CALL(shutdown(k, 7)), CALL(sp_shutdown(s, 7)), "shutdown(7)");
	SAME(CALL(shutdown(k, SHUT_WR)), CALL(sp_shutdown(s, SHUT_WR)), "shutdown unconnected");
	SAME(CALL(sendto(k, "x", 1, MSG_NOSIGNAL, (void *)&kd, sizeof(kd))),
	     CALL(sp_sendto(s, "x", 1, MSG_NOSIGNAL, (void *)&sd, sizeof(sd))), "send after SHUT_WR");
	SAME(CALL(sendto(k, "x", 1, 0, (void *)&bc, sizeof(bc))),
	     CALL(sp_sendto(s, "x", 1, 0, (void *)&bc, sizeof(bc))), "EACCES before EPIPE");
	(void)one;
	close(k);
}

Test(udp, bind_connect_options_match_kernel)
{
	int k = socket(AF_INET, SOCK_DGRAM, 0), s = sp_udp();
	int k2 = socket(AF_INET, SOCK_DGRAM, 0), s2 = sp_udp();
	struct sockaddr_in kd = k_dst(), sd = sp_dst(9000), ka, sa;
	struct sockaddr_in any = { .sin_family = AF_INET }, far = { .sin_family = AF_INET };
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	socklen_t kl, sl;
	int v, kv, sv;

	inet_pton(AF_INET, "1.2.3.4", &far.sin_addr);
	SAME(CALL(bind(k, (void *)&any, sizeof(any) - 1)), CALL(sp_bind(s, (void *)&any, sizeof(any) - 1)), "bind short");
	SAME(CALL(bind(k, (void *)&far, sizeof(far))), CALL(sp_bind(s, (void *)&far, sizeof(far))), "bind non-local");
	any.sin_family = AF_INET6;
	SAME(CALL(bind(k, (void *)&any, sizeof(any))), CALL(sp_bind(s, (void *)&any, sizeof(any))), "bind AF_INET6");
	any.sin_family = AF_UNSPEC;
	SAME(CALL(bind(k, (void *)&any, sizeof(any))), CALL(sp_bind(s, (void *)&any, sizeof(any))), "bind AF_UNSPEC ANY");
	SAME(CALL(bind(k, (void *)&any, sizeof(any))), CALL(sp_bind(s, (void *)&any, sizeof(any))), "bind twice");
	kl = sizeof(ka);
	sl = sizeof(sa);
	getsockname(k, (void *)&ka, &kl);
	sp_getsockname(s, (void *)&sa, &sl);
	cr_expect(ka.sin_port && sa.sin_port && sa.sin_addr.s_addr == 0);
	SAME(CALL(bind(k2, (void *)&ka, sizeof(ka))), CALL(sp_bind(s2, (void *)&sa, sizeof(sa))), "port in use");

	SAME(CALL(connect(k, &unspec, 1)), CALL(sp_connect(s, &unspec, 1)), "connect len 1");
	kd.sin_family = AF_INET6;
	sd.sin_family = AF_INET6;
	SAME(CALL(connect(k, (void *)&kd, sizeof(kd))), CALL(sp_connect(s, (void *)&sd, sizeof(sd))), "connect AF_INET6");
	kd.sin_family = sd.sin_family = AF_INET;
	SAME(CALL(connect(k, (void *)&kd, sizeof(kd) - 1)), CALL(sp_connect(s, (void *)&sd, sizeof(sd) - 1)), "connect short");
	SAME(CALL(connect(k, (void *)&kd, sizeof(kd))), CALL(sp_connect(s, (void *)&sd, sizeof(sd))), "connect");
	SAME(CALL(bind(k, (void *)&any, sizeof(any))), CALL(sp_bind(s, (void *)&any, sizeof(any))), "bind connected");
	SAME(CALL(send(k, "ab", 2, 0)), CALL(sp_send(s, "ab", 2, 0)), "send connected");
	SAME(CALL(sendto(k, "ab", 2, 0, (void *)&kd, sizeof(kd))), CALL(sp_sendto(s, "ab", 2, 0, (void *)&sd, sizeof(sd))), "sendto on connected");
	kl = sizeof(ka);
	sl = sizeof(sa);
	SAME(CALL(getpeername(k, (void *)&ka, &kl)), CALL(sp_getpeername(s, (void *)&sa, &sl)), "getpeername");
	cr_expect_eq(sa.sin_port, sd.sin_port);
	kl = sl = sizeof(int);
	SAME(CALL(getsockopt(k, SOL_IP, IP_MTU, &kv, &kl)), CALL(sp_getsockopt(s, SOL_IP, IP_MTU, &sv, &sl)), "IP_MTU connected");
	cr_expect_eq(sv, MTU);
	SAME(CALL(shutdown(k, SHUT_WR)), CALL(sp_shutdown(s, SHUT_WR)), "shutdown connected");
	SAME(CALL(send(k, "ab", 2, 0)), CALL(sp_send(s, "ab", 2, 0)), "send after shutdown (no SIGPIPE for UDP)");
	SAME(CALL(connect(k, &unspec, sizeof(unspec))), CALL(sp_connect(s, &unspec, sizeof(unspec))), "disconnect");
	kl = sizeof(ka);
	sl = sizeof(sa);
	SAME(CALL(getpeername(k, (void *)&ka, &kl)), CALL(sp_getpeername(s, (void *)&sa, &sl)), "getpeername after disconnect");
	SAME(CALL(getsockopt(k, SOL_IP, IP_MTU, &kv, &kl)), CALL(sp_getsockopt(s, SOL_IP, IP_MTU, &sv, &sl)), "IP_MTU unconnected");

	/* IP options: values, ranges and read-back */
	int vals[] = { -2, -1, 0, 1, 64, 255, 256, 0x1ff };
	for (unsigned int i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		int opts[] = { IP_TTL, IP_TOS, IP_MTU_DISCOVER, IP_MULTICAST_TTL };

		for (unsigned int j = 0; j < 4; j++) {
			SAME(CALL(setsockopt(k2, SOL_IP, opts[j], &vals[i], sizeof(int))),
			     CALL(sp_setsockopt(s2, SOL_IP, opts[j], &vals[i], sizeof(int))), "IP option set");
			kv = sv = 0x5a5a5a5a;
			kl = sl = sizeof(int);
			SAME(CALL(getsockopt(k2, SOL_IP, opts[j], &kv, &kl)),
			     CALL(sp_getsockopt(s2, SOL_IP, opts[j], &sv, &sl)), "IP option get");
			cr_expect(kv == sv && kl == sl, "option %d after %d: kernel %d/%u, sendpath %d/%u",
				  opts[j], vals[i], kv, kl, sv, sl);
		}
	}
	v = 7;
	SAME(CALL(setsockopt(k2, SOL_IP, IP_TTL, &v, 1)), CALL(sp_setsockopt(s2, SOL_IP, IP_TTL, &v, 1)), "IP_TTL one byte");
	SAME(CALL(setsockopt(k2, SOL_IP, IP_TTL, &v, 0)), CALL(sp_setsockopt(s2, SOL_IP, IP_TTL, &v, 0)), "IP_TTL len 0");
	kv = sv = 0;
	kl = sl = 1;
	SAME(CALL(getsockopt(k2, SOL_IP, IP_TTL, &kv, &kl)), CALL(sp_getsockopt(s2, SOL_IP, IP_TTL, &sv, &sl)), "IP_TTL get 1 byte");
	cr_expect(kv == sv && kl == sl);
	SAME(CALL(setsockopt(k2, SOL_TCP, 1, &v, 4)), CALL(sp_setsockopt(s2, SOL_TCP, 1, &v, 4)), "SOL_TCP on UDP");
	SAME(CALL(setsockopt(k2, SOL_UDP, UDP_CORK, &v, 2)), CALL(sp_setsockopt(s2, SOL_UDP, UDP_CORK, &v, 2)), "UDP_CORK short");
	kl = sl = sizeof(int);
	SAME(CALL(getsockopt(k2, SOL_SOCKET, SO_PROTOCOL, &kv, &kl)), CALL(sp_getsockopt(s2, SOL_SOCKET, SO_PROTOCOL, &sv, &sl)), "SO_PROTOCOL");
	cr_expect_eq(kv, sv);
	kl = sl = sizeof(int);
	SAME(CALL(ioctl(k2, SIOCOUTQ, &kv)), CALL(sp_ioctl(s2, SIOCOUTQ, &sv)), "SIOCOUTQ");
	cr_expect_eq(kv, sv);
	close(k);
	close(k2);
}

/* --- on the wire --- */

static struct frame fr[64];

Test(udp, datagram_on_the_wire)
{
	int s = sp_udp(), ttl = 9, tos = 0x28;
	struct sockaddr_in sd = sp_dst(4242), me = { .sin_family = AF_INET, .sin_port = htons(5151) };
	char msg[100];

	for (unsigned int i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 7);
	cr_assert_eq(sp_bind(s, (void *)&me, sizeof(me)), 0);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_TOS, &tos, sizeof(tos)), 0);
	cr_assert_eq(sp_sendto(s, msg, sizeof(msg), 0, (void *)&sd, sizeof(sd)), (ssize_t)sizeof(msg));
	cr_assert_eq(sp_sendto(s, msg, 0, 0, (void *)&sd, sizeof(sd)), 0);
	cr_assert_eq(rx_frames(fr, 2), 2);
	cr_expect(rte_is_same_ether_addr(&fr[0].eth.dst_addr, &peer_mac));
	cr_expect(rte_is_same_ether_addr(&fr[0].eth.src_addr, &sp_nif->mac));
	cr_expect_eq(fr[0].ip.version_ihl, 0x45);
	cr_expect_eq(fr[0].ip.time_to_live, 9);
	cr_expect_eq(fr[0].ip.type_of_service, 0x28);
	cr_expect_eq(fr[0].ip.next_proto_id, IPPROTO_UDP);
	cr_expect_eq(ntohs(fr[0].ip.fragment_offset), RTE_IPV4_HDR_DF_FLAG, "PMTUDISC_WANT: DF on what fits");
	cr_expect_eq(fr[0].ip.packet_id, 0, "unconnected DF datagrams carry id 0");
	cr_expect_eq(fr[0].ip.src_addr, inet_addr(SP_IP));
	cr_expect_eq(fr[0].ip.dst_addr, inet_addr(PEER_IP));
	cr_expect_eq(ntohs(fr[0].ip.total_length), 20 + 8 + 100);
	cr_expect_eq(fr[0].udp.src_port, htons(5151));
	cr_expect_eq(fr[0].udp.dst_port, htons(4242));
	cr_expect_eq(ntohs(fr[0].udp.dgram_len), 108);
	cr_expect(fr[0].ip_csum_ok && udp_csum_ok(&fr[0]), "checksums");
	cr_expect_eq(memcmp(fr[0].data + 8, msg, sizeof(msg)), 0);
	cr_expect_eq(ntohs(fr[1].udp.dgram_len), 8, "an empty datagram is a datagram");
	cr_expect(udp_csum_ok(&fr[1]));
}

Test(udp, fragments_and_df)
{
	int s = sp_udp(), mode = IP_PMTUDISC_DO;
	struct sockaddr_in sd = sp_dst(4243);
	size_t len = 4000, off = 0;
	unsigned int n, i;

	for (i = 0; i < len; i++)
		big[i] = (char)(i ^ (i >> 8));
	cr_assert_eq(sp_sendto(s, big, len, 0, (void *)&sd, sizeof(sd)), (ssize_t)len);
	n = rx_frames(fr, 8);
	cr_assert_eq(n, 3, "4008 bytes of UDP in 1480-byte fragments: 3, got %u", n);
	for (i = 0; i < n; i++) {
		uint16_t fo = ntohs(fr[i].ip.fragment_offset);

		cr_expect(fr[i].ip_csum_ok, "fragment %u IP checksum", i);
		cr_expect_eq((fo & RTE_IPV4_HDR_OFFSET_MASK) * 8u, off, "fragment %u offset", i);
		cr_expect_eq(!!(fo & RTE_IPV4_HDR_MF_FLAG), i < n - 1);
		cr_expect_eq(fo & RTE_IPV4_HDR_DF_FLAG, 0, "fragments carry no DF");
		cr_expect_eq(fr[i].ip.packet_id, fr[0].ip.packet_id);
		if (i < n - 1)
			cr_expect_eq(fr[i].data_len, 1480u, "the kernel's fragment size");
		off += fr[i].data_len;
	}
	cr_expect_eq(off, 8 + len);
	/* reassemble and check the UDP checksum over the whole datagram */
	static struct frame whole;
	whole = fr[0];
	for (i = 1, off = fr[0].data_len; i < n; i++) {
		memcpy(whole.data + off, fr[i].data, fr[i].data_len);
		off += fr[i].data_len;
	}
	whole.data_len = off;
	whole.ip.total_length = htons((uint16_t)(20 + off));
	cr_expect(udp_csum_ok(&whole), "UDP checksum over the reassembled datagram");
	cr_expect_eq(memcmp(whole.data + 8, big, len), 0);

	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)), 0);
	errno = 0;
	cr_expect_eq(sp_sendto(s, big, MTU - 27, 0, (void *)&sd, sizeof(sd)), -1);
	cr_expect_eq(errno, EMSGSIZE, "DF: above MTU-28 is EMSGSIZE");
	cr_expect_eq(sp_sendto(s, big, MTU - 28, 0, (void *)&sd, sizeof(sd)), MTU - 28);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect_eq(ntohs(fr[0].ip.total_length), MTU);
	cr_expect_eq(ntohs(fr[0].ip.fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	mode = IP_PMTUDISC_DONT;
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_MTU_DISCOVER, &mode, sizeof(mode)), 0);
	cr_expect_eq(sp_sendto(s, big, 10, 0, (void *)&sd, sizeof(sd)), 10);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect_eq(fr[0].ip.fragment_offset, 0, "PMTUDISC_DONT: no DF");
}

Test(udp, cork_makes_one_datagram)
{
	int s = sp_udp(), on = 1, off = 0;
	struct sockaddr_in sd = sp_dst(4244), other = sp_dst(0);

	cr_assert_eq(sp_sendto(s, "abc", 3, MSG_MORE, (void *)&sd, sizeof(sd)), 3);
	/* while corked the address is not looked at, port 0 or not */
	cr_assert_eq(sp_sendto(s, "defg", 4, MSG_MORE, (void *)&other, sizeof(other)), 4);
	cr_assert_eq(rx_frames(fr, 1), 0, "nothing leaves while corked");
	cr_assert_eq(sp_sendto(s, "hi", 2, 0, (void *)&other, sizeof(other)), 2);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect_eq(ntohs(fr[0].udp.dgram_len), 8 + 9);
	cr_expect_eq(fr[0].udp.dst_port, htons(4244));
	cr_expect_eq(memcmp(fr[0].data + 8, "abcdefghi", 9), 0);
	cr_expect(udp_csum_ok(&fr[0]));

	cr_assert_eq(sp_setsockopt(s, SOL_UDP, UDP_CORK, &on, sizeof(on)), 0);
	cr_assert_eq(sp_sendto(s, "12", 2, 0, (void *)&sd, sizeof(sd)), 2);
	cr_assert_eq(sp_sendto(s, "34", 2, 0, (void *)&sd, sizeof(sd)), 2);
	cr_assert_eq(rx_frames(fr, 1), 0);
	cr_assert_eq(sp_setsockopt(s, SOL_UDP, UDP_CORK, &off, sizeof(off)), 0);
	cr_assert_eq(rx_frames(fr, 2), 1, "UDP_CORK off pushes the datagram");
	cr_expect_eq(memcmp(fr[0].data + 8, "1234", 4), 0);

	/* an append that does not fit drops the whole cork, as ip_append_data does */
	cr_assert_eq(sp_sendto(s, big, 60000, MSG_MORE, (void *)&sd, sizeof(sd)), 60000);
	errno = 0;
	cr_expect_eq(sp_sendto(s, big, 6000, MSG_MORE, (void *)&sd, sizeof(sd)), -1);
	cr_expect_eq(errno, EMSGSIZE);
	cr_assert_eq(sp_sendto(s, "z", 1, 0, (void *)&sd, sizeof(sd)), 1);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect_eq(ntohs(fr[0].udp.dgram_len), 9, "the cork was dropped");
}

Test(udp, sendmmsg_is_one_burst)
{
	int s = sp_udp();
	struct sockaddr_in sd = sp_dst(4245);
	struct mmsghdr v[32];
	struct iovec iov[32];
	char payload[32][64];
	uint64_t bursts;

	memset(v, 0, sizeof(v));
	for (unsigned int i = 0; i < 32; i++) {
		memset(payload[i], 'a' + (int)i % 26, 64);
		iov[i] = (struct iovec){ payload[i], 64 };
		v[i].msg_hdr = (struct msghdr){ .msg_name = &sd, .msg_namelen = sizeof(sd),
						.msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	bursts = sp_nif->st.tx_bursts;
	cr_assert_eq(sp_sendmmsg(s, v, 32, 0), 32);
	cr_expect_eq(sp_nif->st.tx_bursts - bursts, 1, "32 datagrams, one rte_eth_tx_burst");
	for (unsigned int i = 0; i < 32; i++)
		cr_expect_eq(v[i].msg_len, 64);
	cr_assert_eq(rx_frames(fr, 64), 32);
	for (unsigned int i = 0; i < 32; i++)
		cr_expect_eq(memcmp(fr[i].data + 8, payload[i], 64), 0, "datagram %u in order", i);

	/* a bad address in the middle: the count before it */
	v[5].msg_hdr.msg_namelen = 3;
	cr_expect_eq(sp_sendmmsg(s, v, 32, 0), 5);
	cr_expect_eq(rx_frames(fr, 64), 5);
	errno = 0;
	cr_expect_eq(sp_sendmmsg(s, v + 5, 2, 0), -1);
	cr_expect_eq(errno, EINVAL);
}

/*
 * No chunking inside the stack: a vector of 1000 datagrams is one
 * rte_eth_tx_burst. net_ring's ring holds 1023 frames, which bounds the
 * burst on this port (a longer vector's rest goes in the next burst).
 */
Test(udp, sendmmsg_long_vector_is_one_burst)
{
	enum { N = 1000 };
	static struct mmsghdr v[N];
	static struct iovec iov[N];
	static uint32_t seq[N][16];
	struct sockaddr_in sd = sp_dst(4247);
	struct rte_mbuf *m[64];
	uint64_t bursts, pkts;
	unsigned int got = 0, idle = 0;
	int s = sp_udp();

	memset(v, 0, sizeof(v));
	for (unsigned int i = 0; i < N; i++) {
		seq[i][0] = i;
		iov[i] = (struct iovec){ seq[i], sizeof(seq[i]) };
		v[i].msg_hdr = (struct msghdr){ .msg_name = &sd, .msg_namelen = sizeof(sd),
						.msg_iov = &iov[i], .msg_iovlen = 1 };
	}
	bursts = sp_nif->st.tx_bursts;
	pkts = sp_nif->st.tx_pkts;
	cr_assert_eq(sp_sendmmsg(s, v, N, 0), N);
	cr_expect_eq(sp_nif->st.tx_bursts - bursts, 1, "1000 datagrams, one rte_eth_tx_burst");
	cr_expect_eq(sp_nif->st.tx_pkts - pkts, N);
	/* every datagram on the wire, in order */
	while (got < N && idle < 1000) {
		uint16_t n = rte_eth_rx_burst(sp_nif->port_id, 0, m, 64);

		if (!n) {
			idle++;
			usleep(100);
		}
		for (uint16_t i = 0; i < n; i++) {
			uint32_t x;

			mbuf_copy(m[i], sizeof(struct rte_ether_hdr) + sizeof(struct rte_ipv4_hdr) +
				  sizeof(struct rte_udp_hdr), sizeof(x), &x);
			cr_expect_eq(x, got, "datagram %u in order (got %u)", got, x);
			got++;
			rte_pktmbuf_free(m[i]);
		}
	}
	cr_expect_eq(got, N);
}

/* The public static neighbour: the next frame to that address carries its MAC, no ARP. */
Test(udp, public_static_neighbour)
{
	const uint8_t mac[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	const uint8_t mac2[6] = { 0x02, 0x66, 0x77, 0x88, 0x99, 0xaa };
	struct in_addr ip;
	struct sockaddr_in sd = { .sin_family = AF_INET, .sin_port = htons(4248) };
	int s = sp_udp();

	inet_pton(AF_INET, "10.77.0.42", &ip);
	sd.sin_addr = ip;
	cr_assert_eq(sp_neigh_add_static(ip, mac), 0, "%s", strerror(errno));
	cr_assert_eq(sp_sendto(s, "n", 1, 0, (void *)&sd, sizeof(sd)), 1);
	cr_assert_eq(rx_frames(fr, 2), 1, "one frame, no ARP request");
	cr_expect_eq(memcmp(fr[0].eth.dst_addr.addr_bytes, mac, 6), 0);
	/* replace, as `ip neigh replace` */
	cr_assert_eq(sp_neigh_add_static(ip, mac2), 0);
	cr_assert_eq(sp_sendto(s, "n", 1, 0, (void *)&sd, sizeof(sd)), 1);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect_eq(memcmp(fr[0].eth.dst_addr.addr_bytes, mac2, 6), 0);
	/* addresses ARP never resolves, and no MAC */
	errno = 0;
	cr_expect_eq(sp_neigh_add_static((struct in_addr){ 0 }, mac), -1);
	cr_expect_eq(errno, EINVAL);
	inet_pton(AF_INET, "239.1.2.3", &ip);
	errno = 0;
	cr_expect_eq(sp_neigh_add_static(ip, mac), -1);
	cr_expect_eq(errno, EINVAL);
	errno = 0;
	cr_expect_eq(sp_neigh_add_static(sd.sin_addr, NULL), -1);
	cr_expect_eq(errno, EINVAL);
}

/*
 * A connected socket's datagrams come from a header template built on its
 * first send: what changes after connect (TTL, TOS, DF, the neighbour's MAC,
 * a reconnect) must show up in the very next datagram, and each datagram
 * still carries its own length, id and checksums.
 */
Test(udp, connected_template_follows_changes)
{
	const uint8_t mac2[6] = { 0x02, 0x66, 0x77, 0x88, 0x99, 0xab };
	const int dont = IP_PMTUDISC_DONT, want = IP_PMTUDISC_WANT;
	struct sockaddr_in sd = sp_dst(4250), sd2 = sp_dst(4251);
	int s = sp_udp(), ttl = 17, tos = 0x10, deflt = -1;
	char msg[333];
	uint16_t id0;

	for (unsigned int i = 0; i < sizeof(msg); i++)
		msg[i] = (char)(i * 13 + 1);
	cr_assert_eq(sp_connect(s, (void *)&sd, sizeof(sd)), 0);
	cr_assert_eq(sp_send(s, msg, 1, 0), 1);
	cr_assert_eq(sp_send(s, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
	cr_assert_eq(sp_send(s, msg, 0, 0), 0);
	cr_assert_eq(rx_frames(fr, 4), 3);
	id0 = ntohs(fr[0].ip.packet_id);
	for (unsigned int i = 0; i < 3; i++) {
		cr_expect_eq(fr[i].ip.time_to_live, 64, "frame %u: the default TTL", i);
		cr_expect_eq(ntohs(fr[i].ip.packet_id), (uint16_t)(id0 + i), "frame %u: connected ids count up", i);
		cr_expect(fr[i].ip_csum_ok && udp_csum_ok(&fr[i]), "frame %u: checksums", i);
		cr_expect(rte_is_same_ether_addr(&fr[i].eth.dst_addr, &peer_mac));
	}
	cr_expect_eq(ntohs(fr[1].ip.total_length), 20 + 8 + sizeof(msg));
	cr_expect_eq(memcmp(fr[1].data + 8, msg, sizeof(msg)), 0);
	cr_expect_eq(ntohs(fr[2].udp.dgram_len), 8);

	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_TTL, &ttl, sizeof(ttl)), 0);
	cr_assert_eq(sp_send(s, msg, 5, 0), 5);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_TOS, &tos, sizeof(tos)), 0);
	cr_assert_eq(sp_send(s, msg, 5, 0), 5);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_MTU_DISCOVER, &dont, sizeof(dont)), 0);
	cr_assert_eq(sp_send(s, msg, 5, 0), 5);
	cr_assert_eq(rx_frames(fr, 4), 3);
	cr_expect_eq(fr[0].ip.time_to_live, 17, "IP_TTL after connect: the next datagram");
	cr_expect_eq(fr[0].ip.type_of_service, 0);
	cr_expect_eq(fr[1].ip.type_of_service, 0x10, "IP_TOS after connect");
	cr_expect_eq(ntohs(fr[1].ip.fragment_offset), RTE_IPV4_HDR_DF_FLAG);
	cr_expect_eq(ntohs(fr[2].ip.fragment_offset), 0, "IP_PMTUDISC_DONT after connect: no DF");
	for (unsigned int i = 0; i < 3; i++)
		cr_expect(fr[i].ip_csum_ok && udp_csum_ok(&fr[i]), "frame %u: checksums", i);

	/* the neighbour's MAC changes (ip neigh replace), then a reconnect elsewhere */
	cr_assert_eq(sp_neigh_add(inet_addr(PEER_IP), (const struct rte_ether_addr *)mac2), 0);
	cr_assert_eq(sp_send(s, msg, 7, 0), 7);
	cr_assert_eq(sp_neigh_add(inet_addr(PEER_IP), &peer_mac), 0);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_TTL, &deflt, sizeof(deflt)), 0);
	cr_assert_eq(sp_setsockopt(s, SOL_IP, IP_MTU_DISCOVER, &want, sizeof(want)), 0);
	cr_assert_eq(sp_connect(s, (void *)&sd2, sizeof(sd2)), 0);
	cr_assert_eq(sp_send(s, msg, 7, 0), 7);
	cr_assert_eq(rx_frames(fr, 4), 2);
	cr_expect_eq(memcmp(fr[0].eth.dst_addr.addr_bytes, mac2, 6), 0, "the neighbour's new MAC");
	cr_expect(rte_is_same_ether_addr(&fr[1].eth.dst_addr, &peer_mac));
	cr_expect_eq(fr[1].udp.dst_port, htons(4251), "the new peer's port");
	cr_expect_eq(fr[1].ip.time_to_live, 64);
	cr_expect_eq(fr[1].ip.type_of_service, 0x10);
	cr_expect(fr[1].ip_csum_ok && udp_csum_ok(&fr[1]));

	/* pieces at odd offsets: each one's sum lands byte-swapped, the whole must still add up */
	{
		struct iovec v[5] = { { msg, 3 }, { msg + 3, 0 }, { msg + 3, 5 }, { msg + 8, 1 }, { msg + 9, 119 } };
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = 5 };

		cr_assert_eq(sp_sendmsg(s, &mh, 0), 128);
		cr_assert_eq(rx_frames(fr, 2), 1);
		cr_expect(udp_csum_ok(&fr[0]), "odd pieces: UDP checksum");
		cr_expect_eq(memcmp(fr[0].data + 8, msg, 128), 0);
	}
	sp_close(s);
}

Test(udp, full_port_gives_eagain_or_waits_sndtimeo)
{
	int s = sp_udp(), sndbuf = 65536, n = 0;
	struct sockaddr_in sd = sp_dst(4246);
	struct timeval tv = { 0, 100000 };
	uint64_t t0;
	int q;

	/* nobody drains the ring (the stack's own receive would: it loops back), so it
	 * fills, then the backlog charges the socket */
	sp_nif->can_rx = false;
	cr_assert_eq(sp_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	while (sp_sendto(s, big, 64, MSG_DONTWAIT, (void *)&sd, sizeof(sd)) == 64)
		cr_assert_lt(++n, 100000, "never blocked");
	cr_expect_eq(errno, EAGAIN);
	cr_assert_eq(sp_ioctl(s, SIOCOUTQ, &q), 0);
	cr_expect_geq(q, 131072, "SIOCOUTQ shows the charge (%d)", q);
	cr_assert_eq(sp_setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	t0 = sp_now_ns();
	errno = 0;
	cr_expect_eq(sp_sendto(s, big, 64, 0, (void *)&sd, sizeof(sd)), -1);
	cr_expect_eq(errno, EAGAIN);
	cr_expect_geq(sp_now_ns() - t0, 100000000ull, "waited SO_SNDTIMEO");
	/* sendmmsg: a full buffer on the first is EAGAIN */
	struct mmsghdr v[4];
	struct iovec iov = { big, 64 };
	memset(v, 0, sizeof(v));
	for (int i = 0; i < 4; i++)
		v[i].msg_hdr = (struct msghdr){ .msg_name = &sd, .msg_namelen = sizeof(sd), .msg_iov = &iov, .msg_iovlen = 1 };
	errno = 0;
	cr_expect_eq(sp_sendmmsg(s, v, 4, MSG_DONTWAIT), -1);
	cr_expect_eq(errno, EAGAIN);
	/* drained, it flows again */
	cr_assert_gt(rx_frames(fr, 64), 0);
	while (rx_frames(fr, 64) == 64)
		;
	sp_poll();
	cr_expect_eq(sp_sendmmsg(s, v, 4, MSG_DONTWAIT), 4);

	/* a buffer that fills in the middle of a vector: the count so far, msg_len of those */
	static struct mmsghdr w[UIO_MAXIOV];
	memset(w, 0, sizeof(w));
	for (int i = 0; i < UIO_MAXIOV; i++) {
		w[i].msg_hdr = v[0].msg_hdr;
		w[i].msg_len = 0xdead;
	}
	while (sp_sendto(s, big, 64, MSG_DONTWAIT, (void *)&sd, sizeof(sd)) == 64)
		;
	cr_assert_eq(rx_frames(fr, 10), 10);    /* room for about ten more */
	int k = sp_sendmmsg(s, w, UIO_MAXIOV, MSG_DONTWAIT);
	cr_expect(k > 0 && k < UIO_MAXIOV, "short count when the buffer fills: %d", k);
	cr_expect_eq(w[k - 1].msg_len, 64);
	cr_expect_eq(w[k].msg_len, 0xdead);
}

Test(udp, broadcast_and_multicast_on_the_wire)
{
	int s = sp_udp(), on = 1;
	struct sockaddr_in bc = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = INADDR_BROADCAST };
	struct sockaddr_in dbc = bc, mc = bc;
	const struct rte_ether_addr all = { { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } };
	const struct rte_ether_addr grp = { { 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03 } };

	inet_pton(AF_INET, "10.77.0.255", &dbc.sin_addr);
	inet_pton(AF_INET, "239.129.2.3", &mc.sin_addr);
	errno = 0;
	cr_expect_eq(sp_sendto(s, "x", 1, 0, (void *)&dbc, sizeof(dbc)), -1);
	cr_expect_eq(errno, EACCES, "the subnet's broadcast address is a broadcast too");
	errno = 0;
	cr_expect_eq(sp_connect(s, (void *)&bc, sizeof(bc)), -1);
	cr_expect_eq(errno, EACCES, "connect to broadcast without SO_BROADCAST");
	cr_assert_eq(sp_setsockopt(s, SOL_SOCKET, SO_BROADCAST, &on, sizeof(on)), 0);
	cr_assert_eq(sp_sendto(s, "b1", 2, 0, (void *)&bc, sizeof(bc)), 2);
	cr_assert_eq(sp_sendto(s, "b2", 2, 0, (void *)&dbc, sizeof(dbc)), 2);
	cr_assert_eq(sp_sendto(s, "m1", 2, 0, (void *)&mc, sizeof(mc)), 2);
	cr_assert_eq(rx_frames(fr, 4), 3);
	cr_expect(rte_is_same_ether_addr(&fr[0].eth.dst_addr, &all));
	cr_expect(rte_is_same_ether_addr(&fr[1].eth.dst_addr, &all));
	cr_expect(rte_is_same_ether_addr(&fr[2].eth.dst_addr, &grp), "01:00:5e + the low 23 bits");
	cr_expect_eq(fr[0].ip.time_to_live, 64);
	cr_expect_eq(fr[2].ip.time_to_live, 1, "multicast TTL is IP_MULTICAST_TTL, 1 by default");
}

Test(udp, unresolved_neighbour_is_asked_three_times_then_dropped, .timeout = 30)
{
	int s = sp_udp();
	struct sockaddr_in d = sp_dst(9);
	uint64_t t0 = sp_now_ns();

	/* our own requests come back on the ring; nobody answers for .9 */
	inet_pton(AF_INET, "10.77.0.9", &d.sin_addr);
	for (int i = 0; i < 5; i++)
		cr_assert_eq(sp_sendto(s, "q", 1, 0, (void *)&d, sizeof(d)), 1, "the send succeeds");
	cr_expect_eq(sp_nif->st.arp_req_sent, 1);
	while (sp_nif->st.neigh_failed == 0 && sp_now_ns() - t0 < 5000000000ull)
		sp_poll();
	cr_expect_eq(sp_nif->st.arp_req_sent, 3, "three requests, a second apart");
	cr_expect_eq(sp_nif->st.neigh_failed, 1);
	cr_expect_eq(sp_nif->st.neigh_drop, 5, "the waiting datagrams are dropped");
	cr_expect_geq(sp_now_ns() - t0, 3000000000ull);
	cr_expect_eq(sp_nif->st.rx_arp, 3, "the requests were on the wire");
}

static void up_env(void)
{
	setenv("SP_NEIGH", "10.77.0.5=02:00:00:00:77:05, 10.77.0.6=02:00:00:00:77:06", 1);
	up();
}

TestSuite(udp_cfg, .timeout = 30);

Test(udp_cfg, static_neighbours_from_environment, .init = up_env, .fini = down)
{
	int s = sp_udp();
	struct sockaddr_in d = sp_dst(9);
	const struct rte_ether_addr m6 = { { 0x02, 0, 0, 0, 0x77, 0x06 } };

	inet_pton(AF_INET, "10.77.0.6", &d.sin_addr);
	cr_assert_eq(sp_sendto(s, "n", 1, 0, (void *)&d, sizeof(d)), 1);
	cr_assert_eq(rx_frames(fr, 2), 1);
	cr_expect(rte_is_same_ether_addr(&fr[0].eth.dst_addr, &m6));
	cr_expect_eq(sp_nif->st.arp_req_sent, 0);
}

Test(udp_cfg, bad_neighbour_environment_fails_init)
{
	struct sp_init_cfg cfg = {
		.start_eal = true, .name = "test-udp", .cpu = -1, .mem_mb = 128,
		.udp_port = 0, .vdevs = { "net_ring0" },
	};

	inet_pton(AF_INET, SP_IP, &cfg.udp_ip);
	setenv("SP_NEIGH", "10.77.0.5=nonsense", 1);
	errno = 0;
	cr_expect_eq(sp_init(&cfg), -1);
	cr_expect_eq(errno, EINVAL);
	cfg.start_eal = false;
	cfg.udp_port = 7;
	unsetenv("SP_NEIGH");
	errno = 0;
	cr_expect_eq(sp_init(&cfg), -1, "a port that does not exist is an error, not \"no UDP\"");
	cr_expect_eq(errno, ENXIO);
}

Test(udp, sendmmsg_matches_kernel)
{
	int k = socket(AF_INET, SOCK_DGRAM, 0), s = sp_udp();
	struct sockaddr_in kd = k_dst(), sd = sp_dst(9000);
	struct mmsghdr kv[6], sv[6];
	struct iovec iov = { big, 100 };

	memset(kv, 0, sizeof(kv));
	for (int i = 0; i < 6; i++)
		kv[i].msg_hdr = (struct msghdr){ .msg_name = &kd, .msg_namelen = sizeof(kd), .msg_iov = &iov, .msg_iovlen = 1 };
	memcpy(sv, kv, sizeof(sv));
	for (int i = 0; i < 6; i++)
		sv[i].msg_hdr.msg_name = &sd;
	SAME(CALL(sendmmsg(k, kv, 6, 0)), CALL(sp_sendmmsg(s, sv, 6, 0)), "six");
	kv[3].msg_hdr.msg_flags = sv[3].msg_hdr.msg_flags = MSG_OOB;        /* not a flag there */
	kv[2].msg_hdr.msg_namelen = sv[2].msg_hdr.msg_namelen = 4;
	SAME(CALL(sendmmsg(k, kv, 6, 0)), CALL(sp_sendmmsg(s, sv, 6, 0)), "bad third");
	SAME(CALL(sendmmsg(k, kv + 2, 4, 0)), CALL(sp_sendmmsg(s, sv + 2, 4, 0)), "bad first");
	SAME(CALL(sendmmsg(k, kv, 6, MSG_OOB)), CALL(sp_sendmmsg(s, sv, 6, MSG_OOB)), "MSG_OOB on the call");
	kv[2].msg_hdr.msg_namelen = sv[2].msg_hdr.msg_namelen = sizeof(kd);
	kv[4].msg_hdr.msg_iovlen = sv[4].msg_hdr.msg_iovlen = UIO_MAXIOV + 1;
	SAME(CALL(sendmmsg(k, kv, 6, 0)), CALL(sp_sendmmsg(s, sv, 6, 0)), "iovlen too big in the fifth");
	SAME(CALL(sendmmsg(k, kv, 0, 0)), CALL(sp_sendmmsg(s, sv, 0, 0)), "vlen 0");
	for (int i = 0; i < 4; i++)
		cr_expect_eq(kv[i].msg_len, sv[i].msg_len);
	close(k);
}

/* --- what comes back: ICMP errors, and garbage --- */

/* Puts a frame on the ring as if a peer had sent it: Ethernet + IPv4(ICMP) + ICMP + quoted IPv4/UDP. */
static void inject_icmp(uint8_t type, uint8_t code, uint16_t sport, uint16_t dport, bool bad_csum, size_t cut)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(sp_nif->pool);
	struct rte_ether_hdr *eh;
	struct rte_ipv4_hdr *ip, *in;
	struct rte_icmp_hdr *ic;
	struct rte_udp_hdr *uh;
	size_t len = sizeof(*eh) + 20 + 8 + 20 + 8;

	cr_assert_not_null(m);
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)len);
	memset(eh, 0, len);
	rte_ether_addr_copy(&sp_nif->mac, &eh->dst_addr);
	rte_ether_addr_copy(&peer_mac, &eh->src_addr);
	eh->ether_type = htons(RTE_ETHER_TYPE_IPV4);
	ip = (struct rte_ipv4_hdr *)(eh + 1);
	ip->version_ihl = 0x45;
	ip->total_length = htons(20 + 8 + 28);
	ip->time_to_live = 64;
	ip->next_proto_id = IPPROTO_ICMP;
	ip->src_addr = inet_addr(PEER_IP);
	ip->dst_addr = inet_addr(SP_IP);
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	ic = (struct rte_icmp_hdr *)(ip + 1);
	ic->icmp_type = type;
	ic->icmp_code = code;
	in = (struct rte_ipv4_hdr *)(ic + 1);
	in->version_ihl = 0x45;
	in->total_length = htons(28 + 10);
	in->next_proto_id = IPPROTO_UDP;
	in->src_addr = inet_addr(SP_IP);
	in->dst_addr = inet_addr(PEER_IP);
	uh = (struct rte_udp_hdr *)(in + 1);
	uh->src_port = sport;
	uh->dst_port = dport;
	ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, 8 + 28);
	if (bad_csum)
		ic->icmp_cksum ^= 0x0101;
	if (cut) {
		rte_pktmbuf_trim(m, (uint16_t)cut);
		ip->total_length = htons((uint16_t)(56 - cut));
		ip->hdr_checksum = 0;
		ip->hdr_checksum = rte_ipv4_cksum(ip);
		ic->icmp_cksum = 0;
		ic->icmp_cksum = (uint16_t)~rte_raw_cksum(ic, 8 + 28 - cut);
	}
	cr_assert_eq(rte_eth_tx_burst(sp_nif->port_id, 0, &m, 1), 1);
}

static int so_error(int fd)
{
	int e = -1;
	socklen_t l = sizeof(e);

	cr_assert_eq(sp_getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l), 0);
	return e;
}

Test(udp, icmp_errors_reach_the_connected_sender_and_garbage_is_counted)
{
	int c = sp_udp(), u = sp_udp();
	struct sockaddr_in d = sp_dst(4300), a;
	socklen_t al = sizeof(a);
	uint16_t cport, uport;

	cr_assert_eq(sp_connect(c, (void *)&d, sizeof(d)), 0);
	cr_assert_eq(sp_sendto(u, "u", 1, 0, (void *)&d, sizeof(d)), 1);
	sp_getsockname(c, (void *)&a, &al);
	cport = a.sin_port;
	al = sizeof(a);
	sp_getsockname(u, (void *)&a, &al);
	uport = a.sin_port;
	sp_poll();                              /* our own datagram comes back first: ignored */

	inject_icmp(3, 3, cport, d.sin_port, true, 0);          /* bad ICMP checksum */
	inject_icmp(3, 3, cport, d.sin_port, false, 20);        /* truncated quote */
	inject_icmp(3, 3, cport, htons(1), false, 0);            /* another peer port */
	inject_icmp(3, 1, cport, d.sin_port, false, 0);          /* host unreachable: soft */
	inject_icmp(3, 3, uport, d.sin_port, false, 0);          /* unconnected socket */
	for (int i = 0; i < 10; i++)
		sp_poll();
	cr_expect_eq(so_error(c), 0, "refused input sets no error");
	cr_expect_eq(so_error(u), 0);
	cr_expect_eq(sp_nif->st.rx_bad, 2, "bad checksum and truncated quote are counted");
	cr_expect_eq(sp_nif->st.rx_icmp, 4);

	inject_icmp(3, 3, cport, d.sin_port, false, 0);
	for (int i = 0; i < 10; i++)
		sp_poll();
	errno = 0;
	cr_expect_eq(sp_send(c, "x", 1, 0), -1);
	cr_expect_eq(errno, ECONNREFUSED);
	cr_expect_eq(sp_send(c, "x", 1, 0), 1);
	inject_icmp(3, 4, cport, d.sin_port, false, 0);         /* fragmentation needed */
	for (int i = 0; i < 10; i++)
		sp_poll();
	cr_expect_eq(so_error(c), EMSGSIZE);
	cr_expect_eq(so_error(c), 0);
}
