/* SPDX-License-Identifier: MIT */
/*
 * vsock stream send-path scenarios. Each one is a short story told through sc_*() calls; the
 * kernels in the reference guests tell what the right ending is. Names say the rule checked.
 * Scenarios marked "vsock_test:" rewrite a send-path case of the kernel's
 * tools/testing/vsock/vsock_test.c as a scenario (own code, same question asked).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <linux/vm_sockets.h>

#include "sc.h"

#define KiB 1024u
#define DEFAULT_BUF (256 * KiB)	/* SO_VM_SOCKETS_BUFFER_SIZE default */

/* --- basics ------------------------------------------------------------------------------- */

static void send_basic(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 100, 0);
	sc_send(s, fd, 4096, 0);
	sc_peer_read(s, pc, 4196);
	sc_close(s, fd);
}

static void send_zero_len(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 0, 0);
	sc_send_buf(s, fd, NULL, 0, 0, "buf=NULL ");
	sc_peer_read_wait(s, pc, 1, 200);
}

static void send_64k_boundary(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 64 * KiB, 0);
	sc_send(s, fd, 64 * KiB + 1, 0);
	sc_send(s, fd, 100 * KiB, MSG_DONTWAIT);
	sc_peer_read(s, pc, 228 * KiB + 1);
}

static void send_many_small(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	for (int i = 0; i < 64; i++)
		sc_send(s, fd, 1 + (size_t)i * 7, MSG_DONTWAIT);
	sc_peer_read(s, pc, 1 << 20);
}

static void send_msg_more(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 1000, MSG_MORE);
	sc_send(s, fd, 24, 0);
	sc_peer_read(s, pc, 1024);
}

static void send_unknown_flags(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 64, MSG_EOR);
	sc_send(s, fd, 64, MSG_CONFIRM);
	sc_send(s, fd, 64, MSG_DONTROUTE);
	sc_send(s, fd, 64, MSG_WAITALL);
	sc_peer_read(s, pc, 256);
}

/* --- state errors --------------------------------------------------------------------------- */

static void send_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, MSG_DONTWAIT);
	sc_send(s, fd, 0, 0);
}

static void send_bound_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	sc_bind(s, fd, SC_ADDR_LOCAL);
	sc_send(s, fd, 10, 0);
}

static void send_oob(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, MSG_OOB);
	sc_send(s, fd, 10, MSG_OOB | MSG_DONTWAIT);
	sc_peer_read_wait(s, pc, 10, 200);
}

static void send_oob_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	/* MSG_OOB is refused before the state is looked at */
	sc_send(s, fd, 10, MSG_OOB);
}

static void send_after_close(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_close(s, fd);
	sc_send(s, fd, 10, 0);
}

static void send_bad_fd(struct sc *s)
{
	int bad = sc_bad_fd(s);

	sc_send_buf(s, bad, "x", 1, 0, NULL);
	sc_send_buf(s, -1, "x", 1, 0, NULL);
}

static void send_notsock(struct sc *s)
{
	int fd = sc_notsock_fd(s);

	sc_send_buf(s, fd, "x", 1, 0, NULL);
}

static void connect_refused(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM connection reset" */
	int fd = sc_socket(s);

	sc_connect(s, fd, SC_ADDR_REFUSED);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, MSG_NOSIGNAL);
}

static void connect_bind_only(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM bind only": a bound, not listening peer resets. */
	int fd;

	sc_peer_bind_only(s);
	fd = sc_socket(s);
	sc_connect(s, fd, SC_ADDR_REFUSED);
	sc_send(s, fd, 1, MSG_NOSIGNAL);
}

static void connect_retry(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM retry failed connect()": the same socket connects again. */
	int fd = sc_socket(s), pc;

	sc_connect(s, fd, SC_ADDR_PEER);
	sc_peer_listen(s, 0);
	sc_connect(s, fd, SC_ADDR_PEER);
	pc = sc_peer_accept(s);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

static void connect_twice(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_connect(s, fd, SC_ADDR_PEER);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

/* --- addresses on a stream socket ------------------------------------------------------------ */

static void sendto_connected_addr(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
	sc_sendto(s, fd, 10, 0, SC_ADDR_REFUSED);
	sc_peer_read_wait(s, pc, 10, 200);
}

static void sendto_unconnected_addr(struct sc *s)
{
	int fd = sc_socket(s);

	sc_sendto(s, fd, 10, 0, SC_ADDR_PEER);
}

static void sendto_null_addr(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, NULL, sizeof(struct sockaddr_vm),
		      "NULL/len16");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, NULL, 0, "NULL/0");
	sc_peer_read(s, pc, 20);
}

static void sendto_addrlen(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, 0, "peer/len0");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, 4, "peer/len4");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, sc_wide_addr(s, SC_ADDR_PEER), 1000,
		      "peer/len1000");
	sc_sendto_raw(s, fd, sc_payload(s, 10), 10, 0, (struct sockaddr *)&ss, (socklen_t)-1,
		      "peer/len-1");
	sc_peer_read_wait(s, pc, 40, 200);
}

static void sendto_oob_and_addr(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	/* which check comes first: MSG_OOB or the address */
	sc_sendto(s, fd, 10, MSG_OOB, SC_ADDR_PEER);
	(void)pc;
}

/* --- shutdown, EPIPE and SIGPIPE -------------------------------------------------------------- */

static void shut_wr_send(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM SHUT_WR" (the sender's side) */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, MSG_DONTWAIT);
	sc_peer_read_wait(s, pc, 10, 200);
}

static void shut_wr_send_nosignal(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 10, MSG_NOSIGNAL);
	(void)pc;
}

static void shut_rd_send(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_RD);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

static void shut_rdwr_send(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_RDWR);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 0, 0);
	(void)pc;
}

static void shut_wr_zero_len(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 0, 0);
	(void)pc;
}

static void shut_wr_oob(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 10, MSG_OOB);
	(void)pc;
}

static void shutdown_bad_how(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, 3);
	sc_shutdown(s, fd, -1);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

static void shutdown_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	sc_shutdown(s, fd, SHUT_WR);
	sc_send(s, fd, 10, 0);
}

static void peer_shut_rd(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM SHUT_RD" */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 10, 0);
	sc_peer_shutdown(s, pc, SHUT_RD);
	sc_settle(s);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, MSG_DONTWAIT);
}

static void peer_shut_rd_nosignal(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_shutdown(s, pc, SHUT_RD);
	sc_settle(s);
	sc_send(s, fd, 10, MSG_NOSIGNAL);
}

static void peer_shut_wr(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_shutdown(s, pc, SHUT_WR);
	sc_settle(s);
	sc_send(s, fd, 10, 0);
	sc_recv(s, fd, 10, MSG_DONTWAIT);
	sc_peer_read(s, pc, 10);
}

static void peer_shut_rdwr(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_shutdown(s, pc, SHUT_RDWR);
	sc_settle(s);
	sc_send(s, fd, 10, 0);
	sc_send(s, fd, 10, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void peer_close(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_close(s, pc);
	sc_settle(s);
	sc_send(s, fd, 1, 0);
	sc_recv(s, fd, 1, MSG_DONTWAIT);
}

static void peer_close_unread_data(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM server close": EPIPE, yet the peer's byte is still there */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_send(s, pc, 1);
	sc_peer_close(s, pc);
	sc_settle(s);
	sc_send(s, fd, 1, 0);
	sc_recv(s, fd, 1, 0);
	sc_recv(s, fd, 1, 0);
}

static void peer_close_nosignal(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_close(s, pc);
	sc_settle(s);
	sc_send(s, fd, 100, MSG_NOSIGNAL);
	sc_send(s, fd, 100, MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void peer_close_data_kept(struct sc *s)
{
	/* data sent before the peer closed is not lost */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 3000, 0);
	sc_peer_read(s, pc, 3000);
	sc_peer_close(s, pc);
	sc_settle(s);
	sc_send(s, fd, 10, MSG_NOSIGNAL);
}

static void client_close(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM client close": what we sent is there after our close. */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 1, 0);
	sc_close(s, fd);
	sc_settle(s);
	sc_peer_read(s, pc, 2);
}

static void peer_listener_closed(struct sc *s)
{
	/* The listener goes away; an accepted connection lives on. */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_close(s, -1);
	sc_settle(s);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

/* --- credit: EAGAIN, partial counts, SO_SNDTIMEO ---------------------------------------------- */

static void dontwait_fill(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 300 * KiB, MSG_DONTWAIT);
	sc_send(s, fd, 1, MSG_DONTWAIT);
	sc_send(s, fd, 0, MSG_DONTWAIT);
	(void)pc;
}

static void nonblock_fill(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_nonblock(s, fd, true);
	sc_send(s, fd, 300 * KiB, 0);
	sc_send(s, fd, 1, 0);
	sc_set_nonblock(s, fd, false);
	sc_send(s, fd, 1, MSG_DONTWAIT);
	(void)pc;
}

static void dontwait_exact_fill(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, DEFAULT_BUF, MSG_DONTWAIT);
	sc_send(s, fd, 1, MSG_DONTWAIT);
	sc_peer_read(s, pc, DEFAULT_BUF);
}

static void credit_after_read(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, DEFAULT_BUF, MSG_DONTWAIT);
	sc_peer_read(s, pc, 4 * KiB);
	sc_settle(s);
	sc_send(s, fd, 64 * KiB, MSG_DONTWAIT);	/* the reader has not told us yet */
	sc_peer_read(s, pc, 200 * KiB);
	sc_settle(s);
	sc_send(s, fd, 300 * KiB, MSG_DONTWAIT);
}

static void small_peer_buffer(struct sc *s)
{
	int pc, fd = sc_connected(s, 4096, &pc);

	sc_send(s, fd, 10000, MSG_DONTWAIT);
	sc_send(s, fd, 10, MSG_DONTWAIT);
	sc_peer_read(s, pc, 4096);
	sc_settle(s);
	sc_send(s, fd, 10000, MSG_DONTWAIT);
	sc_peer_read(s, pc, 10000);
}

static void sndtimeo_partial(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_sndtimeo(s, fd, 200);
	sc_send(s, fd, 300 * KiB, 0);
	sc_send(s, fd, 10, 0);
	(void)pc;
}

static void sndtimeo_with_nosignal(struct sc *s)
{
	int pc, fd = sc_connected(s, 4096, &pc);

	sc_set_sndtimeo(s, fd, 100);
	sc_send(s, fd, 5000, MSG_NOSIGNAL);
	sc_peer_read(s, pc, 5000);
	(void)pc;
}

static void sndtimeo_bad_values(struct sc *s)
{
	int fd = sc_socket(s);
	struct { long sec, usec; } bad = { 0, 1000000 }, neg = { -1, 0 };
	int small = 1;

	sc_setsockopt(s, fd, SOL_SOCKET, SO_SNDTIMEO, &bad, sizeof(bad), "SO_SNDTIMEO usec=1e6");
	sc_setsockopt(s, fd, SOL_SOCKET, SO_SNDTIMEO, &neg, sizeof(neg), "SO_SNDTIMEO sec=-1");
	sc_setsockopt(s, fd, SOL_SOCKET, SO_SNDTIMEO, &small, sizeof(small), "SO_SNDTIMEO short");
}

static void blocking_large_with_reader(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_peer_read_async(s, pc, 1024 * KiB);
	sc_send(s, fd, 1024 * KiB, 0);
	sc_peer_join(s, pc);
}

static void blocking_small_buffer_with_reader(struct sc *s)
{
	int pc, fd = sc_connected(s, 4096, &pc);

	sc_peer_read_async(s, pc, 100 * KiB);
	sc_send(s, fd, 100 * KiB, 0);
	sc_peer_join(s, pc);
}

static void sndtimeo_then_reader(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_sndtimeo(s, fd, 3000);
	sc_send(s, fd, DEFAULT_BUF, MSG_DONTWAIT);
	sc_peer_read_async(s, pc, 2 * DEFAULT_BUF);
	sc_send(s, fd, DEFAULT_BUF, 0);
	sc_peer_join(s, pc);
}

static void peer_shut_rd_while_full(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, DEFAULT_BUF, MSG_DONTWAIT);
	sc_peer_shutdown(s, pc, SHUT_RD);
	sc_settle(s);
	sc_send(s, fd, 10, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* --- sendmsg ------------------------------------------------------------------------------------ */

static void sendmsg_iovecs(struct sc *s)
{
	static const size_t lens[] = { 10, 0, 4000, 1, 70000 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmsg_iov(s, fd, lens, 5, -1, 0);
	sc_peer_read(s, pc, 74011);
}

static void sendmsg_no_iov(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct msghdr msg;

	memset(&msg, 0, sizeof(msg));
	sc_sendmsg_raw(s, fd, &msg, 0, "iovlen=0");
	(void)pc;
}

static void sendmsg_bad_pointers(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct iovec iov = { .iov_base = NULL, .iov_len = 10 };
	struct msghdr msg;

	sc_sendmsg_raw(s, fd, NULL, 0, "msg=NULL");
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = NULL;
	msg.msg_iovlen = 1;
	sc_sendmsg_raw(s, fd, &msg, 0, "iov=NULL iovlen=1");
	msg.msg_iov = &iov;
	sc_sendmsg_raw(s, fd, &msg, 0, "iov[0]={NULL,10}");
	(void)pc;
}

static void sendmsg_iovlen_limit(struct sc *s)
{
	static struct iovec iov[1025];
	static unsigned char byte[1025];
	int pc, fd = sc_connected(s, 0, &pc);
	struct msghdr msg;

	for (int i = 0; i < 1025; i++) {
		iov[i].iov_base = &byte[i];
		iov[i].iov_len = 1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 1024;
	sc_sendmsg_raw(s, fd, &msg, 0, "iovlen=1024 (UIO_MAXIOV)");
	msg.msg_iovlen = 1025;
	sc_sendmsg_raw(s, fd, &msg, 0, "iovlen=1025");
	sc_peer_read(s, pc, 2048);
}

static void sendmsg_name_connected(struct sc *s)
{
	static const size_t lens[] = { 10 };
	int pc, fd = sc_connected(s, 0, &pc);
	struct sockaddr_storage ss;
	struct iovec iov;
	struct msghdr msg;
	socklen_t len;

	sc_sendmsg_iov(s, fd, lens, 1, SC_ADDR_PEER, 0);
	sc_addr_of(s, SC_ADDR_PEER, &ss, &len);
	sc_msg_one(s, &msg, &iov, 10);
	msg.msg_name = NULL;
	msg.msg_namelen = len;
	sc_sendmsg_raw(s, fd, &msg, 0, "name=NULL namelen=16");
	msg.msg_name = sc_wide_addr(s, SC_ADDR_PEER);
	msg.msg_namelen = 4096;
	sc_sendmsg_raw(s, fd, &msg, 0, "name=peer namelen=4096");
	sc_peer_read(s, pc, 30);
}

static void sendmsg_control_ignored(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	unsigned char ctl[64];
	struct iovec iov;
	struct msghdr msg;

	memset(ctl, 0, sizeof(ctl));
	sc_msg_one(s, &msg, &iov, 10);
	msg.msg_control = ctl;
	msg.msg_controllen = sizeof(ctl);
	sc_sendmsg_raw(s, fd, &msg, 0, "control=64 zero bytes");
	sc_peer_read(s, pc, 10);
}

static void sendmsg_dontwait_partial(struct sc *s)
{
	static const size_t lens[] = { 200 * KiB, 100 * KiB };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmsg_iov(s, fd, lens, 2, -1, MSG_DONTWAIT);
	sc_peer_read(s, pc, 300 * KiB);
}

/* --- sendmmsg ----------------------------------------------------------------------------------- */

static void sendmmsg_basic(struct sc *s)
{
	static const size_t lens[] = { 100, 200, 300, 400 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmmsg(s, fd, lens, 4, -1, 0);
	sc_peer_read(s, pc, 1000);
}

static void sendmmsg_partial_credit(struct sc *s)
{
	static const size_t lens[] = { 3000, 3000, 3000 };
	int pc, fd = sc_connected(s, 4096, &pc);

	sc_sendmmsg(s, fd, lens, 3, -1, MSG_DONTWAIT);
	sc_sendmmsg(s, fd, lens, 3, -1, MSG_DONTWAIT);
	sc_peer_read(s, pc, 4096);
}

static void sendmmsg_unconnected(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int fd = sc_socket(s);

	sc_sendmmsg(s, fd, lens, 2, -1, 0);
}

static void sendmmsg_zero_vlen(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct mmsghdr vec;

	memset(&vec, 0, sizeof(vec));
	sc_sendmmsg_raw(s, fd, &vec, 0, 0, "vec=1");
	sc_sendmmsg_raw(s, fd, NULL, 0, 0, "vec=NULL");
	sc_sendmmsg_raw(s, fd, NULL, 2, 0, "vec=NULL");
	(void)pc;
}

static void sendmmsg_epipe(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_shutdown(s, fd, SHUT_WR);
	sc_sendmmsg(s, fd, lens, 2, -1, 0);
	sc_sendmmsg(s, fd, lens, 2, -1, MSG_NOSIGNAL);
	(void)pc;
}

static void sendmmsg_second_fails(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct iovec iov[2];
	struct mmsghdr vec[3];

	memset(vec, 0, sizeof(vec));
	iov[0].iov_base = (void *)sc_payload(s, 10);
	iov[0].iov_len = 10;
	iov[1] = iov[0];
	vec[0].msg_hdr.msg_iov = &iov[0];
	vec[0].msg_hdr.msg_iovlen = 1;
	vec[1].msg_hdr.msg_iov = NULL;		/* EFAULT on the second message */
	vec[1].msg_hdr.msg_iovlen = 1;
	vec[2].msg_hdr.msg_iov = &iov[1];
	vec[2].msg_hdr.msg_iovlen = 1;
	for (int i = 0; i < 3; i++)
		vec[i].msg_len = 0xdead;
	sc_sendmmsg_raw(s, fd, vec, 3, 0, "msgs=[10,bad,10]");
	sc_send(s, fd, 5, 0);
	sc_peer_read(s, pc, 30);
}

static void sendmmsg_addr_connected(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmmsg(s, fd, lens, 2, SC_ADDR_PEER, 0);
	(void)pc;
}

static void sendmmsg_oob(struct sc *s)
{
	static const size_t lens[] = { 10, 10 };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_sendmmsg(s, fd, lens, 2, -1, MSG_OOB);
	(void)pc;
}

static void sendmmsg_vlen_cap(struct sc *s)
{
	static size_t lens[1100];
	int pc, fd = sc_connected(s, 0, &pc);

	for (int i = 0; i < 1100; i++)
		lens[i] = 8;
	/* vlen above UIO_MAXIOV is capped, not refused */
	sc_sendmmsg(s, fd, lens, 1100, -1, 0);
	sc_peer_read(s, pc, 8800);
}

static void sendmmsg_with_reader(struct sc *s)
{
	static size_t lens[64];
	int pc, fd = sc_connected(s, 0, &pc);

	for (int i = 0; i < 64; i++)
		lens[i] = 16 * KiB;
	sc_peer_read_async(s, pc, 1024 * KiB);
	sc_sendmmsg(s, fd, lens, 64, -1, 0);
	sc_peer_join(s, pc);
}

/* --- bad buffers, misc from vsock_test ---------------------------------------------------------- */

static void send_bad_buffer(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM test invalid buffer" (sender side) */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send_buf(s, fd, NULL, 10, 0, "buf=NULL ");
	sc_send_buf(s, fd, NULL, 10, MSG_DONTWAIT, "buf=NULL ");
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 20);
}

static void send_bad_buffer_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	sc_send_buf(s, fd, NULL, 10, 0, "buf=NULL ");
}

static void multiconn(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM multiple connections" (8 here, each sends) */
	int fds[8], pcs[8];

	sc_peer_listen(s, 0);
	for (int i = 0; i < 8; i++) {
		fds[i] = sc_socket(s);
		sc_connect(s, fds[i], SC_ADDR_PEER);
		pcs[i] = sc_peer_accept(s);
	}
	for (int i = 0; i < 8; i++)
		sc_send(s, fds[i], 1 + (size_t)i, 0);
	for (int i = 0; i < 8; i++)
		sc_peer_read(s, pcs[i], 1 + (size_t)i);
	for (int i = 0; i < 8; i++)
		sc_close(s, fds[i]);
}

static void skb_merge(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM virtio skb merge": small sends, read back as one stream */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 5, 0);
	sc_send(s, fd, 5, 0);
	sc_settle(s);
	sc_peer_read(s, pc, 3);
	sc_send(s, fd, 2, 0);
	sc_peer_read(s, pc, 9);
}

static void siocoutq_after_send(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM ioctl(SIOCOUTQ) 0 unsent bytes" */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 1000, 0);
	sc_settle(s);
	sc_ioctl(s, fd, SIOCOUTQ, "SIOCOUTQ");
	sc_peer_read(s, pc, 1000);
}

static void double_bind_connect(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM double bind connect": a second socket on a used port */
	int pc, fd = sc_socket(s), fd2;

	sc_bind(s, fd, SC_ADDR_LOCAL_PORT);
	sc_peer_listen(s, 0);
	sc_connect(s, fd, SC_ADDR_PEER);
	pc = sc_peer_accept(s);
	fd2 = sc_socket(s);
	sc_bind(s, fd2, SC_ADDR_LOCAL_PORT);
	sc_send(s, fd, 10, 0);
	sc_peer_read(s, pc, 10);
}

static void zerocopy_flag(struct sc *s)
{
	/* vsock_test: "SOCK_STREAM MSG_ZEROCOPY": the flag without SO_ZEROCOPY, then with it */
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 100, MSG_ZEROCOPY);
	sc_set_int(s, fd, SOL_SOCKET, SO_ZEROCOPY, 1, "SO_ZEROCOPY");
	sc_peer_read(s, pc, 100);
}

static void buffer_size_options(struct sc *s)
{
	int fd = sc_socket(s);
	unsigned long long v = 1024;

	sc_setsockopt(s, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MIN_SIZE, &v, sizeof(v),
		      "BUFFER_MIN_SIZE=1024");
	sc_setsockopt(s, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v),
		      "BUFFER_SIZE=1024");
	sc_setsockopt(s, fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, 4, "BUFFER_SIZE optlen=4");
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_TYPE, "SO_TYPE");
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
}

static void so_error_after_refused(struct sc *s)
{
	int fd = sc_socket(s);

	sc_connect(s, fd, SC_ADDR_REFUSED);
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
	sc_send(s, fd, 1, MSG_NOSIGNAL);
}

static void nonblocking_connect_send(struct sc *s)
{
	int fd = sc_socket(s);

	sc_peer_listen(s, 0);
	sc_set_nonblock(s, fd, true);
	sc_connect(s, fd, SC_ADDR_PEER);
	sc_settle(s);
	sc_getsockopt_int(s, fd, SOL_SOCKET, SO_ERROR, "SO_ERROR");
	sc_send(s, fd, 10, 0);
	sc_peer_accept(s);
	sc_peer_read(s, 0, 10);
}

static void socket_bad_type(struct sc *s)
{
	sc_socket_raw(s, AF_VSOCK, SOCK_RAW, 0);
	sc_socket_raw(s, AF_VSOCK, SOCK_STREAM, 5);
}

static void sendmmsg_nonblock_fill(struct sc *s)
{
	static const size_t lens[] = { 100 * KiB, 100 * KiB, 100 * KiB, 100 * KiB };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_nonblock(s, fd, true);
	sc_sendmmsg(s, fd, lens, 4, -1, 0);
	sc_sendmmsg(s, fd, lens, 4, -1, 0);
	sc_peer_read(s, pc, DEFAULT_BUF);
}

static void sendmmsg_sndtimeo(struct sc *s)
{
	static const size_t lens[] = { 100 * KiB, 100 * KiB, 100 * KiB };
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_sndtimeo(s, fd, 100);
	sc_sendmmsg(s, fd, lens, 3, -1, 0);
	sc_sendmmsg(s, fd, lens, 3, -1, MSG_NOSIGNAL);
	(void)pc;
}

static void ioctl_unconnected(struct sc *s)
{
	int fd = sc_socket(s);

	sc_ioctl(s, fd, SIOCOUTQ, "SIOCOUTQ");
	sc_ioctl(s, fd, SIOCINQ, "SIOCINQ");
	sc_send(s, fd, 1, 0);
}

static void shutdown_twice(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_send(s, fd, 100, 0);
	sc_shutdown(s, fd, SHUT_WR);
	sc_shutdown(s, fd, SHUT_WR);
	sc_shutdown(s, fd, SHUT_RD);
	sc_send(s, fd, 1, MSG_NOSIGNAL);
	sc_peer_read(s, pc, 200);
}

static void dontwait_beats_sndtimeo(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);

	sc_set_sndtimeo(s, fd, 5000);
	sc_send(s, fd, DEFAULT_BUF, MSG_DONTWAIT);
	sc_send(s, fd, 1, MSG_DONTWAIT);	/* at once, not after 5 s */
	(void)pc;
}

static void send_huge_len(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	const void *buf = sc_payload(s, 4u << 20);

	/* the length is capped (INT_MAX) and only the credit is copied */
	sc_send_buf(s, fd, buf, (size_t)1 << 40, MSG_DONTWAIT, "buf=4MiB ");
	sc_peer_read(s, pc, DEFAULT_BUF);
}

static void sendmsg_negative_iov_len(struct sc *s)
{
	int pc, fd = sc_connected(s, 0, &pc);
	struct iovec iov[2];
	struct msghdr msg;

	sc_msg_one(s, &msg, iov, 10);
	iov[1].iov_base = iov[0].iov_base;
	iov[1].iov_len = (size_t)-1;
	msg.msg_iovlen = 2;
	sc_sendmsg_raw(s, fd, &msg, 0, "iov=[10,-1]");
	sc_peer_read_wait(s, pc, 10, 200);
}

const struct sc_scenario sc_vsock_scenarios[] = {
#define V(n, w) { "vsock_" #n, SC_VSOCK, w, n }
	V(send_basic, "connected send delivers the bytes"),
	V(send_zero_len, "send of 0 bytes returns 0 and sends nothing"),
	V(send_64k_boundary, "sends around the 64 KiB packet size"),
	V(send_many_small, "64 small non-blocking sends arrive in order"),
	V(send_msg_more, "MSG_MORE on a stream is accepted and delivers"),
	V(send_unknown_flags, "flags a stream ignores (MSG_EOR, MSG_CONFIRM, ...)"),
	V(send_unconnected, "ENOTCONN on a socket never connected"),
	V(send_bound_unconnected, "ENOTCONN on a bound socket"),
	V(send_oob, "MSG_OOB gives EOPNOTSUPP"),
	V(send_oob_unconnected, "MSG_OOB is checked before the connection state"),
	V(send_after_close, "send on a closed descriptor gives EBADF"),
	V(send_bad_fd, "bad descriptors give EBADF"),
	V(send_notsock, "a descriptor that is not a socket gives ENOTSOCK"),
	V(connect_refused, "connect to a port nobody listens on, then send"),
	V(connect_bind_only, "connect to a bound, not listening port"),
	V(connect_retry, "a failed connect can be retried on the same socket"),
	V(connect_twice, "connect on a connected socket"),
	V(sendto_connected_addr, "sendto with an address on a connected stream: EISCONN"),
	V(sendto_unconnected_addr, "sendto with an address on an unconnected stream"),
	V(sendto_null_addr, "sendto with a NULL address is a send"),
	V(sendto_addrlen, "sendto address lengths: 0, short, too long, negative"),
	V(sendto_oob_and_addr, "MSG_OOB and an address: which error first"),
	V(shut_wr_send, "EPIPE after local SHUT_WR, with SIGPIPE where the kernel raises it"),
	V(shut_wr_send_nosignal, "EPIPE after SHUT_WR without SIGPIPE under MSG_NOSIGNAL"),
	V(shut_rd_send, "SHUT_RD does not stop sending"),
	V(shut_rdwr_send, "EPIPE after SHUT_RDWR, also for 0 bytes"),
	V(shut_wr_zero_len, "send of 0 bytes after SHUT_WR"),
	V(shut_wr_oob, "MSG_OOB after SHUT_WR: EOPNOTSUPP before EPIPE"),
	V(shutdown_bad_how, "shutdown with an invalid how"),
	V(shutdown_unconnected, "shutdown on an unconnected socket"),
	V(peer_shut_rd, "EPIPE after the peer's SHUT_RD"),
	V(peer_shut_rd_nosignal, "EPIPE after the peer's SHUT_RD under MSG_NOSIGNAL"),
	V(peer_shut_wr, "the peer's SHUT_WR does not stop our sending"),
	V(peer_shut_rdwr, "EPIPE after the peer's SHUT_RDWR"),
	V(peer_close, "EPIPE after the peer closed"),
	V(peer_close_unread_data, "EPIPE after the peer closed; its data still readable"),
	V(peer_close_nosignal, "EPIPE after peer close under MSG_NOSIGNAL"),
	V(peer_close_data_kept, "data sent before the peer closed is delivered"),
	V(client_close, "data sent before our close reaches the peer"),
	V(peer_listener_closed, "closing the listener leaves the connection"),
	V(dontwait_fill, "MSG_DONTWAIT: partial count up to the credit, then EAGAIN"),
	V(nonblock_fill, "O_NONBLOCK behaves as MSG_DONTWAIT"),
	V(dontwait_exact_fill, "filling the credit exactly, then EAGAIN"),
	V(credit_after_read, "credit returns after the peer reads (CREDIT_UPDATE timing)"),
	V(small_peer_buffer, "the peer's SO_VM_SOCKETS_BUFFER_SIZE bounds the credit"),
	V(sndtimeo_partial, "SO_SNDTIMEO: partial count, then EAGAIN"),
	V(sndtimeo_with_nosignal, "SO_SNDTIMEO with a small peer buffer"),
	V(sndtimeo_bad_values, "SO_SNDTIMEO argument checks"),
	V(blocking_large_with_reader, "blocking send of 1 MiB completes while the peer reads"),
	V(blocking_small_buffer_with_reader, "blocking send larger than a 4 KiB peer buffer"),
	V(sndtimeo_then_reader, "blocking send waits for credit within SO_SNDTIMEO"),
	V(peer_shut_rd_while_full, "EPIPE (not EAGAIN) when the peer shuts down a full pipe"),
	V(sendmsg_iovecs, "sendmsg gathers several iovecs, empty ones included"),
	V(sendmsg_no_iov, "sendmsg with no iovecs returns 0"),
	V(sendmsg_bad_pointers, "sendmsg with NULL msghdr, iov or base: EFAULT"),
	V(sendmsg_iovlen_limit, "UIO_MAXIOV iovecs pass, one more gives EMSGSIZE"),
	V(sendmsg_name_connected, "sendmsg with msg_name on a connected stream"),
	V(sendmsg_control_ignored, "sendmsg with control data a stream ignores"),
	V(sendmsg_dontwait_partial, "sendmsg partial count across iovecs"),
	V(sendmmsg_basic, "sendmmsg returns the count and fills msg_len"),
	V(sendmmsg_partial_credit, "sendmmsg stops at a partial message"),
	V(sendmmsg_unconnected, "sendmmsg fails when the first message fails"),
	V(sendmmsg_zero_vlen, "sendmmsg with vlen 0 and NULL vectors"),
	V(sendmmsg_epipe, "sendmmsg EPIPE and SIGPIPE after SHUT_WR"),
	V(sendmmsg_second_fails, "sendmmsg returns 1 when the second message fails"),
	V(sendmmsg_addr_connected, "sendmmsg with addresses on a connected stream"),
	V(sendmmsg_oob, "sendmmsg with MSG_OOB"),
	V(sendmmsg_vlen_cap, "sendmmsg caps vlen at UIO_MAXIOV"),
	V(sendmmsg_with_reader, "blocking sendmmsg of 1 MiB while the peer reads"),
	V(send_bad_buffer, "send from a NULL buffer: EFAULT, connection usable"),
	V(send_bad_buffer_unconnected, "NULL buffer on an unconnected socket: ENOTCONN first"),
	V(multiconn, "eight connections to one listener, each sends"),
	V(skb_merge, "small sends read back as one stream"),
	V(siocoutq_after_send, "SIOCOUTQ is 0 once everything was sent"),
	V(double_bind_connect, "binding a second socket to a port in use"),
	V(zerocopy_flag, "MSG_ZEROCOPY without and SO_ZEROCOPY"),
	V(buffer_size_options, "SO_VM_SOCKETS_BUFFER_* and SO_TYPE/SO_ERROR"),
	V(so_error_after_refused, "SO_ERROR after a refused connect"),
	V(nonblocking_connect_send, "non-blocking connect: EINPROGRESS, then send"),
	V(socket_bad_type, "socket() with an unsupported type or protocol"),
	V(sendmmsg_nonblock_fill, "sendmmsg under O_NONBLOCK stops at the credit, then EAGAIN"),
	V(sendmmsg_sndtimeo, "sendmmsg with SO_SNDTIMEO: partial vector, then EAGAIN"),
	V(ioctl_unconnected, "SIOCOUTQ/SIOCINQ on an unconnected socket"),
	V(shutdown_twice, "shutdown repeated; data before SHUT_WR delivered, EOF after"),
	V(dontwait_beats_sndtimeo, "MSG_DONTWAIT does not wait out SO_SNDTIMEO"),
	V(send_huge_len, "a length above INT_MAX: capped, the credit's worth is sent"),
	V(sendmsg_negative_iov_len, "an iov_len negative as ssize_t: EINVAL, nothing sent"),
#undef V
	{ NULL, SC_VSOCK, NULL, NULL },
};
