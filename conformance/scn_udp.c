/* SPDX-License-Identifier: MIT */
/*
 * UDP send-path scenarios: udp_sendmsg's checks in their order, corking, sendmmsg counts.
 * The peer is a receiver on the peer address; broadcast goes to a broadcast address that the
 * backend keeps on its own link (for the kernel: lo's 127.255.255.255).
 */
#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <sys/socket.h>

#include "sc.h"

static int unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	if (fd < 0)
		sc_fail(s, "socket failed");
	sc_peer_listen(s, 0);
	return fd;
}

static void sendto_basic(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 100, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 1472, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void sendto_zero_len(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 0, 0, SC_ADDR_PEER);
	sc_sendto_raw(s, fd, NULL, 0, 0, NULL, 0, "none");
	sc_peer_read(s, 0, 2);
}

static void send_unconnected(struct sc *s)
{
	int fd = unconnected(s);

	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 0, 0);
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, NULL, 16, "NULL/len16");
}

static void connect_send(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 20, MSG_DONTWAIT);
	sc_send(s, fd, 30, MSG_NOSIGNAL);
	sc_peer_read(s, pc, 3);
}

static void connected_sendto(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	/* an explicit address on a connected UDP socket overrides the connected one */
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 10, 0, SC_ADDR_REFUSED);
	sc_peer_read(s, pc, 2);
}

static void sendto_short_addrlen(struct sc *s)
{
	int fd = unconnected(s);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, 15, "peer/len15");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, 2, "peer/len2");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, 0, "peer/len0");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, sc_wide_addr(s, SC_ADDR_PEER), 200,
		      "peer/len200");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, sc_wide_addr(s, SC_ADDR_PEER), 1000,
		      "peer/len1000");
	sc_peer_read(s, 0, 2);
}

static void sendto_family(struct sc *s)
{
	int fd = unconnected(s);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	ss.ss_family = AF_INET6;
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, len, "peer/AF_INET6");
	ss.ss_family = AF_UNIX;
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, len, "peer/AF_UNIX");
	ss.ss_family = AF_UNSPEC;
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, len, "peer/AF_UNSPEC");
	sc_peer_read(s, 0, 3);
}

static void sendto_port0(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER_PORT0);
}

static void size_limits(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "SO_SNDBUF");
	sc_sendto(s, fd, 65507, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 65508, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 70000, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 3);
}

static void size_limits_connected(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "SO_SNDBUF");
	sc_send(s, fd, 65508, 0);
	sc_send(s, fd, 65507, MSG_DONTWAIT);
	sc_peer_read(s, pc, 2);
}

static void bcast_without_option(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 10, 0, SC_ADDR_BCAST);
	sc_sendto(s, fd, 10, MSG_DONTWAIT, SC_ADDR_BCAST);
	sc_peer_read_wait(s, 0, 1, 200);
}

static void bcast_with_option(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_BROADCAST, 1, "SO_BROADCAST");
	sc_sendto(s, fd, 10, 0, SC_ADDR_BCAST);
	sc_set_int(s, fd, SOL_SOCKET, SO_BROADCAST, 0, "SO_BROADCAST");
	sc_sendto(s, fd, 10, 0, SC_ADDR_BCAST);
	sc_peer_read(s, 0, 2);
}

static void bcast_connect(struct sc *s)
{
	int fd = unconnected(s);

	/* connect checks broadcast too */
	sc_connect(s, fd, SC_ADDR_BCAST);
	sc_set_int(s, fd, SOL_SOCKET, SO_BROADCAST, 1, "SO_BROADCAST");
	sc_connect(s, fd, SC_ADDR_BCAST);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, 0, 1);
}

static void oob(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 10, MSG_OOB, SC_ADDR_PEER);
	sc_send(s, fd, 10, MSG_OOB);
	sc_peer_read_wait(s, 0, 1, 200);
}

static void msg_more_cork(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 100, MSG_MORE, SC_ADDR_PEER);
	sc_peer_read_wait(s, 0, 1, 100);
	sc_sendto(s, fd, 200, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 300, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void msg_more_connected(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, MSG_MORE);
	sc_send(s, fd, 20, MSG_MORE);
	sc_send(s, fd, 0, 0);
	sc_send(s, fd, 5, 0);
	sc_peer_read(s, pc, 3);
}

static void msg_more_other_dest(struct sc *s)
{
	int fd = unconnected(s);

	/* while corked the destination of later calls is not looked at */
	sc_sendto(s, fd, 100, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 100, 0, SC_ADDR_REFUSED);
	sc_peer_read(s, 0, 2);
}

static void msg_more_too_big(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "SO_SNDBUF");
	sc_sendto(s, fd, 40000, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 40000, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void sendmsg_iovecs(struct sc *s)
{
	static const size_t lens[] = { 10, 0, 1000, 1 };
	int fd = unconnected(s);

	sc_sendmsg_iov(s, fd, lens, 4, SC_ADDR_PEER, 0);
	sc_sendmsg_iov(s, fd, lens, 4, -1, 0);
	sc_peer_read(s, 0, 2);
}

static void sendmsg_limits(struct sc *s)
{
	static struct iovec iov[1025];
	static unsigned char byte[1025];
	int fd = unconnected(s);
	struct sockaddr_storage ss;
	struct msghdr msg;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	for (int i = 0; i < 1025; i++) {
		iov[i].iov_base = &byte[i];
		iov[i].iov_len = 1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &ss;
	msg.msg_namelen = len;
	msg.msg_iov = iov;
	msg.msg_iovlen = 1024;
	sc_sendmsg_raw(s, fd, &msg, 0, "to=peer iovlen=1024");
	msg.msg_iovlen = 1025;
	sc_sendmsg_raw(s, fd, &msg, 0, "to=peer iovlen=1025");
	sc_sendmsg_raw(s, fd, NULL, 0, "msg=NULL");
	msg.msg_iov = NULL;
	msg.msg_iovlen = 1;
	sc_sendmsg_raw(s, fd, &msg, 0, "to=peer iov=NULL iovlen=1");
	msg.msg_iov = iov;
	msg.msg_iovlen = 0;
	sc_sendmsg_raw(s, fd, &msg, 0, "to=peer iovlen=0");
	sc_peer_read(s, 0, 3);
}

static void sendmsg_name_variants(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct sockaddr_storage ss;
	struct iovec iov;
	struct msghdr msg;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_REFUSED, &ss, &len);
	sc_msg_one(s, &msg, &iov, 10);
	msg.msg_name = NULL;
	msg.msg_namelen = len;
	sc_sendmsg_raw(s, fd, &msg, 0, "name=NULL namelen=16");
	msg.msg_name = &ss;
	msg.msg_namelen = 8;
	sc_sendmsg_raw(s, fd, &msg, 0, "name=refused namelen=8");
	msg.msg_name = sc_wide_addr(s, SC_ADDR_REFUSED);
	msg.msg_namelen = 4096;
	sc_sendmsg_raw(s, fd, &msg, 0, "name=refused namelen=4096");
	sc_peer_read(s, pc, 3);
}

static void sendmmsg_basic(struct sc *s)
{
	static const size_t lens[] = { 10, 20, 30, 40, 0 };
	int fd = unconnected(s);

	sc_sendmmsg(s, fd, lens, 5, SC_ADDR_PEER, 0);
	sc_peer_read(s, 0, 5);
}

static void sendmmsg_connected(struct sc *s)
{
	static const size_t lens[] = { 64, 64, 64, 64, 64, 64, 64, 64 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmmsg(s, fd, lens, 8, -1, MSG_DONTWAIT);
	sc_peer_read(s, pc, 8);
}

static void sendmmsg_first_fails(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int fd = unconnected(s);

	sc_sendmmsg(s, fd, lens, 2, -1, 0);
	sc_sendmmsg(s, fd, lens, 2, SC_ADDR_BCAST, 0);
}

static void sendmmsg_second_fails(struct sc *s)
{
	static const size_t lens[] = { 10, 65508, 10 };
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "SO_SNDBUF");
	sc_sendmmsg(s, fd, lens, 3, SC_ADDR_PEER, 0);
	/* the error of the second message is not lost for good: what does the next call see? */
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 3);
}

static void sendmmsg_vlen(struct sc *s)
{
	static size_t lens[1100];
	int fd = unconnected(s);
	struct mmsghdr vec;

	for (int i = 0; i < 1100; i++)
		lens[i] = 1;
	memset(&vec, 0, sizeof(vec));
	sc_sendmmsg_raw(s, fd, &vec, 0, 0, "vec=1");
	sc_sendmmsg_raw(s, fd, NULL, 4, 0, "vec=NULL");
	sc_sendmmsg(s, fd, lens, 1100, SC_ADDR_PEER, MSG_DONTWAIT);
}

static void sendmmsg_oob(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int fd = unconnected(s);

	sc_sendmmsg(s, fd, lens, 2, SC_ADDR_PEER, MSG_OOB);
}

static void sendmmsg_more(struct sc *s)
{
	static const size_t lens[] = { 10, 20, 30 };
	int fd = unconnected(s);

	/* MSG_MORE over a vector: one corked datagram */
	sc_sendmmsg(s, fd, lens, 3, SC_ADDR_PEER, MSG_MORE);
	sc_sendto(s, fd, 40, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void disconnect(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct sockaddr unspec;

	memset(&unspec, 0, sizeof(unspec));
	unspec.sa_family = AF_UNSPEC;
	sc_send(s, fd, 10, 0);
	sc_connect_raw(s, fd, &unspec, sizeof(unspec), "AF_UNSPEC");
	sc_send(s, fd, 10, 0);
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_peer_read(s, pc, 3);
}

static void shutdown_then_send(struct sc *s)
{
	int pc, fd = sc_socket(s);

	sc_shutdown(s, fd, SHUT_WR);
	sc_peer_listen(s, 0);
	sc_connect(s, fd, SC_ADDR_PEER);
	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 10, 0);
	sc_shutdown(s, fd, SHUT_RDWR);
	sc_send(s, fd, 10, MSG_NOSIGNAL);
	pc = 0;
	sc_peer_read(s, pc, 2);
}

static void peer_gone_connected(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 1);
	sc_peer_close(s, pc);
	sc_send(s, fd, 10, 0);
	sc_settle(s);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, 0);
	sc_settle(s);
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
}

static void refused_unconnected(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 10, 0, SC_ADDR_REFUSED);
	sc_settle(s);
	sc_sendto(s, fd, 10, 0, SC_ADDR_REFUSED);
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 1);
}

static void bind_variants(struct sc *s)
{
	int fd = unconnected(s), fd2 = sc_socket(s);

	sc_bind(s, fd, SC_ADDR_LOCAL_PORT);
	sc_bind(s, fd, SC_ADDR_LOCAL);
	sc_bind(s, fd2, SC_ADDR_LOCAL_PORT);
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_sendto(s, fd2, 10, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void bad_descriptors(struct sc *s)
{
	int bad = sc_bad_fd(s), ns = sc_notsock_fd(s);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_peer_listen(s, 0);
	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_sendto_raw(s, bad, "x", 1, 0, (struct sockaddr *)&ss, len, "peer");
	sc_sendto_raw(s, ns, "x", 1, 0, (struct sockaddr *)&ss, len, "peer");
	sc_send_buf(s, -1, "x", 1, 0, NULL);
}

static void bad_buffer(struct sc *s)
{
	int fd = unconnected(s);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_sendto_raw(s, fd, NULL, 10, 0, (struct sockaddr *)&ss, len, "peer buf=NULL");
	sc_sendto_raw(s, fd, NULL, 10, 0, NULL, 0, "none buf=NULL");
	sc_peer_read_wait(s, 0, 1, 200);
}

static void ip_options(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, 0, "IP_TTL");
	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, 256, "IP_TTL");
	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, -1, "IP_TTL");
	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, 7, "IP_TTL");
	sc_getsockopt_int(s, fd, IPPROTO_IP, IP_TTL, "IP_TTL");
	sc_set_int(s, fd, IPPROTO_IP, IP_TOS, 0x10, "IP_TOS");
	sc_getsockopt_int(s, fd, IPPROTO_IP, IP_TOS, "IP_TOS");
	sc_set_int(s, fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
	sc_set_int(s, fd, IPPROTO_IP, IP_MTU_DISCOVER, 42, "IP_MTU_DISCOVER");
	sc_sendto(s, fd, 100, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 1);
}

static void sndbuf_options(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 0, "SO_SNDBUF");
	sc_sendto(s, fd, 100, 0, SC_ADDR_PEER);
	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 4096, "SO_SNDBUF");
	sc_sendto(s, fd, 1000, MSG_DONTWAIT, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void connect_port0(struct sc *s)
{
	int fd = unconnected(s);

	sc_connect(s, fd, SC_ADDR_PEER_PORT0);
	sc_send(s, fd, 10, 0);
}

static void connect_short_addr(struct sc *s)
{
	int fd = unconnected(s);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_connect_raw(s, fd, (struct sockaddr *)&ss, 8, "peer/len8");
	ss.ss_family = AF_INET6;
	sc_connect_raw(s, fd, (struct sockaddr *)&ss, len, "peer/AF_INET6");
	sc_send(s, fd, 10, 0);
}

static void socket_errors(struct sc *s)
{
	sc_socket_raw(s, AF_INET, SOCK_DGRAM, IPPROTO_TCP);
	sc_socket_raw(s, AF_INET, SOCK_DGRAM, IPPROTO_UDP);
	sc_socket_raw(s, 12345, SOCK_DGRAM, 0);
}

static void nonblock_flag(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_nonblock(s, fd, true);
	sc_send(s, fd, 100, 0);
	sc_set_nonblock(s, fd, false);
	sc_send(s, fd, 100, 0);
	sc_peer_read(s, pc, 2);
}

static void ttl_tos_on_wire(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, 7, "IP_TTL");
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_set_int(s, fd, IPPROTO_IP, IP_TOS, 0x10, "IP_TOS");
	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_set_int(s, fd, IPPROTO_IP, IP_TTL, -1, "IP_TTL");
	sc_sendto(s, fd, 3000, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 4);
}

static void fragments(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, SOL_SOCKET, SO_SNDBUF, 1 << 20, "SO_SNDBUF");
	sc_sendto(s, fd, 1472, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 1473, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 2961, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 8000, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 65507, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 5);
}

static void pmtudisc_do(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_int(s, fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
	sc_send(s, fd, 1472, 0);
	sc_send(s, fd, 1473, 0);
	sc_send(s, fd, 9000, MSG_DONTWAIT);
	sc_set_int(s, fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT, "IP_MTU_DISCOVER");
	sc_send(s, fd, 1473, 0);
	sc_peer_read(s, pc, 3);
}

static void pmtudisc_do_cork(struct sc *s)
{
	int fd = unconnected(s);

	sc_set_int(s, fd, IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO, "IP_MTU_DISCOVER");
	sc_sendto(s, fd, 1000, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 1000, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 400, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 72, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void sendmmsg_fragments(struct sc *s)
{
	static const size_t lens[] = { 2000, 100, 3000, 1472 };
	int fd = unconnected(s);

	sc_sendmmsg(s, fd, lens, 4, SC_ADDR_PEER, 0);
	sc_peer_read(s, 0, 4);
}

static void cork_fragmented(struct sc *s)
{
	int fd = unconnected(s);

	sc_sendto(s, fd, 1000, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 1000, MSG_MORE, SC_ADDR_PEER);
	sc_sendto(s, fd, 1000, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 2);
}

static void other_flags(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, MSG_CONFIRM);
	sc_send(s, fd, 10, MSG_DONTROUTE);
	sc_send(s, fd, 10, MSG_EOR);
	sc_send(s, fd, 10, MSG_WAITALL);
	sc_send(s, fd, 10, MSG_PEEK);
	sc_peer_read(s, pc, 6);
}

static void sendmmsg_mixed_dest(struct sc *s)
{
	int fd = unconnected(s);
	struct sockaddr_storage peer, bcast;
	struct iovec iov[3];
	struct mmsghdr vec[3];
	socklen_t plen, blen;

	sc_addr_of(s, SC_ADDR_PEER, &peer, &plen);
	sc_addr_of(s, SC_ADDR_BCAST, &bcast, &blen);
	memset(vec, 0, sizeof(vec));
	for (int i = 0; i < 3; i++) {
		iov[i].iov_base = (void *)sc_payload(s, 20);
		iov[i].iov_len = 20;
		vec[i].msg_hdr.msg_iov = &iov[i];
		vec[i].msg_hdr.msg_iovlen = 1;
		vec[i].msg_hdr.msg_name = i == 1 ? &bcast : &peer;
		vec[i].msg_hdr.msg_namelen = i == 1 ? blen : plen;
		vec[i].msg_len = 0xdead;
	}
	/* the broadcast in the middle fails with EACCES: one datagram is reported sent */
	sc_sendmmsg_raw(s, fd, vec, 3, 0, "msgs=[20 to peer,20 to broadcast,20 to peer]");
	sc_sendto(s, fd, 20, 0, SC_ADDR_PEER);
	sc_peer_read(s, 0, 3);
}

static void huge_lengths(struct sc *s)
{
	int fd = unconnected(s);
	struct iovec iov[2];
	struct msghdr msg;
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_sendto_raw(s, fd, sc_payload(s, 4u << 20), (size_t)1 << 40, 0, (struct sockaddr *)&ss,
		      len, "peer len=2^40");
	sc_msg_one(s, &msg, iov, 10);
	iov[1].iov_base = iov[0].iov_base;
	iov[1].iov_len = (size_t)-1;
	msg.msg_name = &ss;
	msg.msg_namelen = len;
	msg.msg_iovlen = 2;
	sc_sendmsg_raw(s, fd, &msg, 0, "to=peer iov=[10,-1]");
	sc_peer_read_wait(s, 0, 1, 200);
}

const struct sc_scenario sc_udp_scenarios[] = {
#define U(n, w) { "udp_" #n, SC_UDP, w, n }
	U(sendto_basic, "unconnected sendto delivers each datagram"),
	U(sendto_zero_len, "a 0-byte datagram is a datagram"),
	U(send_unconnected, "send without a destination: EDESTADDRREQ"),
	U(connect_send, "connected send with and without flags"),
	U(connected_sendto, "sendto on a connected socket uses the given address"),
	U(sendto_short_addrlen, "address length checks: EINVAL below sockaddr_in"),
	U(sendto_family, "address family: EAFNOSUPPORT, AF_UNSPEC accepted"),
	U(sendto_port0, "destination port 0: EINVAL"),
	U(size_limits, "65507 bytes pass, 65508 give EMSGSIZE"),
	U(size_limits_connected, "EMSGSIZE on a connected socket"),
	U(bcast_without_option, "broadcast without SO_BROADCAST: EACCES"),
	U(bcast_with_option, "broadcast with SO_BROADCAST, then without"),
	U(bcast_connect, "connect to broadcast needs SO_BROADCAST"),
	U(oob, "MSG_OOB: EOPNOTSUPP"),
	U(msg_more_cork, "MSG_MORE corks into one datagram"),
	U(msg_more_connected, "MSG_MORE on a connected socket, 0-byte append"),
	U(msg_more_other_dest, "while corked, a new destination is ignored"),
	U(msg_more_too_big, "a corked datagram above 65507: EMSGSIZE"),
	U(sendmsg_iovecs, "sendmsg gathers iovecs into one datagram"),
	U(sendmsg_limits, "sendmsg: UIO_MAXIOV, NULL msghdr/iov, no iovecs"),
	U(sendmsg_name_variants, "sendmsg msg_name NULL, short, too long"),
	U(sendmmsg_basic, "sendmmsg with addresses returns the count, fills msg_len"),
	U(sendmmsg_connected, "sendmmsg on a connected socket"),
	U(sendmmsg_first_fails, "sendmmsg fails only when the first message fails"),
	U(sendmmsg_second_fails, "sendmmsg returns 1 when the second is too big"),
	U(sendmmsg_vlen, "sendmmsg vlen 0, NULL vector, vlen capped at UIO_MAXIOV"),
	U(sendmmsg_oob, "sendmmsg with MSG_OOB"),
	U(sendmmsg_more, "sendmmsg with MSG_MORE corks the vector"),
	U(disconnect, "connect(AF_UNSPEC) disconnects"),
	U(shutdown_then_send, "shutdown on UDP, unconnected and connected"),
	U(peer_gone_connected, "connected send after the receiver closed (ICMP)"),
	U(refused_unconnected, "unconnected sendto to a closed port"),
	U(bind_variants, "bind twice, port in use, send from bound sockets"),
	U(bad_descriptors, "EBADF and ENOTSOCK"),
	U(bad_buffer, "NULL buffer: EFAULT; no destination first"),
	U(ip_options, "IP_TTL, IP_TOS, IP_MTU_DISCOVER values"),
	U(sndbuf_options, "SO_SNDBUF 0 and small"),
	U(connect_port0, "connect to port 0, then send"),
	U(connect_short_addr, "connect with a short or foreign address"),
	U(socket_errors, "socket() with a wrong protocol or family"),
	U(nonblock_flag, "O_NONBLOCK on UDP"),
	U(ttl_tos_on_wire, "IP_TTL and IP_TOS reach the receiver; IP_TTL -1 restores the default"),
	U(fragments, "datagrams above the 1500-byte MTU are fragmented and reassembled"),
	U(pmtudisc_do, "IP_PMTUDISC_DO: EMSGSIZE above MTU-28, DONT fragments again"),
	U(pmtudisc_do_cork, "IP_PMTUDISC_DO with corking: the corked total counts"),
	U(sendmmsg_fragments, "sendmmsg with datagrams above the MTU"),
	U(cork_fragmented, "MSG_MORE building a datagram above the MTU"),
	U(other_flags, "MSG_CONFIRM, MSG_DONTROUTE, MSG_EOR, MSG_WAITALL, MSG_PEEK on send"),
	U(sendmmsg_mixed_dest, "sendmmsg stops at a message refused with EACCES"),
	U(huge_lengths, "a length above INT_MAX and a negative iov_len"),
#undef U
	{ NULL, SC_UDP, NULL, NULL },
};
