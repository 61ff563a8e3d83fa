/* SPDX-License-Identifier: MIT */
/*
 * The vsock send loop against an in-process fake transport (the
 * struct vsock_transport seam): credit waits, EAGAIN and partial counts,
 * SO_SNDTIMEO, EPIPE/SIGPIPE, the checks in the kernel's order, sendmmsg's
 * stop rules and one flush per call or vector. No DPDK, no device.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "sendpath.h"
#include "vsock.h"
#include "vsock_proto.h"

struct fake_sock {
	struct vsock_sock *vsk;
	struct vsock_credit cr;
	bool connecting;
	uint64_t delivered;             /* bytes flushed to the "peer" */
};

static struct {
	uint32_t peer_buf_alloc;
	uint32_t read_per_poll;         /* bytes the peer consumes (and credits) per progress() */
	enum { PEER_ACCEPT, PEER_RST, PEER_SILENT } on_connect;
	unsigned int flushes, pending_pkts, pkts, shutdowns, close_timeouts;
	bool linger;                    /* release() waits for the peer (SHUTDOWN sent, no RST yet) */
	uint64_t bytes;
	struct fake_sock *socks[8];
	unsigned char sink[1 << 20];
	size_t sink_len;
} F;

static int f_init(struct vsock_sock *vsk)
{
	struct fake_sock *fs = calloc(1, sizeof(*fs));
	unsigned int i;

	fs->vsk = vsk;
	vsk->trans = fs;
	for (i = 0; i < 8; i++)
		if (!F.socks[i]) {
			F.socks[i] = fs;
			break;
		}
	return 0;
}

static void f_destruct(struct vsock_sock *vsk)
{
	unsigned int i;

	for (i = 0; i < 8; i++)
		if (F.socks[i] == vsk->trans)
			F.socks[i] = NULL;
	free(vsk->trans);
}

static bool f_release(struct vsock_sock *vsk)
{
	if (!F.linger)
		return true;
	vsock_close_timer(vsk, true);
	return false;
}

static void f_close_timeout(struct vsock_sock *vsk)
{
	F.close_timeouts++;
	vsock_remove_sock(vsk);
}

static int f_connect(struct vsock_sock *vsk)
{
	((struct fake_sock *)vsk->trans)->connecting = true;
	F.pending_pkts++;
	return 0;
}

static int f_shutdown(struct vsock_sock *vsk, int mode)
{
	F.shutdowns++;
	F.pending_pkts++;
	return 0;
}

static int64_t f_has_space(struct vsock_sock *vsk)
{
	return vsock_peer_free(&((struct fake_sock *)vsk->trans)->cr);
}

static int64_t f_has_data(struct vsock_sock *vsk) { return 0; }
static uint64_t f_rcvhiwat(struct vsock_sock *vsk) { return 262144; }

static ssize_t f_enqueue(struct vsock_sock *vsk, struct sp_iov_iter *it, size_t len)
{
	struct fake_sock *fs = vsk->trans;
	uint32_t n = vsock_credit_take(&fs->cr, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	uint32_t done = 0;

	while (done < n) {
		uint32_t chunk = n - done > VSOCK_MAX_PKT_PAYLOAD ? VSOCK_MAX_PKT_PAYLOAD : n - done;
		size_t room = sizeof(F.sink) - F.sink_len;
		unsigned char tmp[1];
		ssize_t r;

		r = room >= chunk ? sp_iter_copy(it, F.sink + F.sink_len, chunk) : sp_iter_copy(it, tmp, 0);
		if (r != (ssize_t)chunk) {
			vsock_credit_return(&fs->cr, n - done);
			return done ? (ssize_t)done : -ENOMEM;
		}
		F.sink_len += chunk;
		F.pending_pkts++;
		done += chunk;
	}
	fs->delivered += n;
	return n;
}

static unsigned int f_flush(void)
{
	if (F.pending_pkts) {
		F.flushes++;
		F.pkts += F.pending_pkts;
		F.pending_pkts = 0;
	}
	return 0;
}

static uint32_t f_cid(void) { return 3; }

static int f_progress(void)
{
	unsigned int i;
	int work = 0;

	for (i = 0; i < 8; i++) {
		struct fake_sock *fs = F.socks[i];

		if (!fs)
			continue;
		if (fs->connecting) {
			fs->connecting = false;
			work++;
			if (F.on_connect == PEER_ACCEPT) {
				fs->vsk->sk_state = VSOCK_TCP_ESTABLISHED;
				vsock_set_ss(fs->vsk, SS_CONNECTED);
				vsock_insert_connected(fs->vsk);
				fs->cr.peer_buf_alloc = F.peer_buf_alloc;
			} else if (F.on_connect == PEER_RST) {
				fs->vsk->sk_state = VSOCK_TCP_CLOSE;
				vsock_set_err(fs->vsk, ECONNRESET);
			} else {
				fs->connecting = true;  /* never answers */
			}
		}
		if (F.read_per_poll && fs->cr.tx_cnt != fs->cr.peer_fwd_cnt) {
			uint32_t unread = fs->cr.tx_cnt - fs->cr.peer_fwd_cnt;

			fs->cr.peer_fwd_cnt += unread < F.read_per_poll ? unread : F.read_per_poll;
			work++;
		}
	}
	return work;
}

static const struct vsock_transport fake = {
	.name = "fake",
	.init = f_init,
	.destruct = f_destruct,
	.release = f_release,
	.close_timeout = f_close_timeout,
	.connect = f_connect,
	.shutdown = f_shutdown,
	.stream_has_space = f_has_space,
	.stream_has_data = f_has_data,
	.stream_enqueue = f_enqueue,
	.stream_dequeue = NULL,
	.stream_rcvhiwat = f_rcvhiwat,
	.flush = f_flush,
	.get_local_cid = f_cid,
	.progress = f_progress,
};

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int s) { (void)s; sigpipes++; }

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	F.peer_buf_alloc = 65536;
	cr_assert_eq(vsock_core_register(&fake), 0);
	cr_assert_eq(sp_init(NULL), 0);
	sigpipes = 0;
	signal(SIGPIPE, on_sigpipe);
}

static void teardown(void)
{
	sp_fini();
	vsock_core_unregister(&fake);
}

static int connected_socket(void)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1234 };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	cr_assert_geq(fd, SP_FD_BASE);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
	return fd;
}

static char buf[1 << 20];

TestSuite(vsock_unit, .init = setup, .fini = teardown, .timeout = 20);

Test(vsock_unit, send_within_credit_is_one_flush)
{
	int fd = connected_socket();
	unsigned int f0 = F.flushes;

	memset(buf, 'a', 1000);
	cr_assert_eq(sp_send(fd, buf, 1000, 0), 1000);
	cr_assert_eq(F.flushes, f0 + 1);
	cr_assert_eq(F.sink_len, 1000);
}

Test(vsock_unit, large_send_cut_into_64k_packets_one_flush)
{
	int fd = connected_socket();
	unsigned int p0, f0 = F.flushes;

	F.peer_buf_alloc = 0;
	F.socks[0]->cr.peer_buf_alloc = 262144;
	p0 = F.pkts;
	cr_assert_eq(sp_send(fd, buf, 200000, 0), 200000);
	cr_assert_eq(F.flushes, f0 + 1);
	cr_assert_eq(F.pkts - p0, 4);   /* 64K + 64K + 64K + 3392 */
}

Test(vsock_unit, nonblocking_eagain_then_partial)
{
	int fd = connected_socket();

	/* MSG_DONTWAIT: the partial count while credit lasts, then EAGAIN. */
	cr_assert_eq(sp_send(fd, buf, 100000, MSG_DONTWAIT), 65536);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 10, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
	/* O_NONBLOCK alike */
	cr_assert_eq(sp_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(sigpipes, 0);
}

Test(vsock_unit, blocking_send_waits_for_credit_and_completes)
{
	int fd = connected_socket();

	F.read_per_poll = 4096;
	cr_assert_eq(sp_send(fd, buf, 300000, 0), 300000);
	cr_assert_eq(F.sink_len, 300000);
	/* never more in flight than the peer's buffer */
	cr_assert_leq(F.socks[0]->cr.tx_cnt - F.socks[0]->cr.peer_fwd_cnt, 65536);
}

Test(vsock_unit, sndtimeo_partial_then_eagain)
{
	struct timeval tv = { .tv_sec = 0, .tv_usec = 100000 };
	int fd = connected_socket();
	uint64_t t0;

	cr_assert_eq(sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	t0 = sp_now_ns();
	cr_assert_eq(sp_send(fd, buf, 100000, 0), 65536);      /* partial after the timeout */
	cr_assert_geq(sp_now_ns() - t0, 90000000ull);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 100, 0), -1);             /* nothing sent: EAGAIN */
	cr_assert_eq(errno, EAGAIN);
}

Test(vsock_unit, epipe_after_shut_wr_with_sigpipe)
{
	int fd = connected_socket();

	cr_assert_eq(sp_shutdown(fd, SHUT_WR), 0);
	errno = 0;
	cr_assert_eq(sp_send(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1);
	cr_assert_eq(sp_send(fd, buf, 10, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 1);
}

Test(vsock_unit, peer_shutdown_rcv_is_epipe_even_while_waiting)
{
	struct sp_sock *sk;
	struct vsock_sock *vsk;
	int fd = connected_socket();

	cr_assert_eq(sp_send(fd, buf, 65536, 0), 65536);
	sk = sp_sock_lookup(fd);
	vsk = sk->priv;
	vsk->peer_shutdown |= SP_RCV_SHUTDOWN;
	cr_assert_eq(sp_send(fd, buf, 10, MSG_NOSIGNAL), -1);
	cr_assert_eq(errno, EPIPE);
	cr_assert_eq(sigpipes, 0);
}

Test(vsock_unit, checks_in_kernel_order)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1234 };
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	/* MSG_OOB before anything, without SIGPIPE */
	cr_assert_eq(sp_send(fd, buf, 1, MSG_OOB), -1);
	cr_assert_eq(errno, EOPNOTSUPP);
	/* a destination on an unconnected stream: EOPNOTSUPP; never connected: ENOTCONN */
	cr_assert_eq(sp_sendto(fd, buf, 1, 0, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EOPNOTSUPP);
	cr_assert_eq(sp_send(fd, buf, 1, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_send(fd, buf, 0, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_shutdown(fd, SHUT_WR), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(sp_sendto(fd, buf, 1, 0, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EISCONN);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EISCONN);
	cr_assert_eq(sp_send(fd, buf, 0, 0), 0);
	cr_assert_eq(sigpipes, 0);
}

Test(vsock_unit, connect_refused_timeout_and_nonblocking)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1234 };
	struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 }, got;
	socklen_t gl = sizeof(got);
	int fd, err;
	socklen_t el = sizeof(err);

	F.on_connect = PEER_RST;
	fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, ECONNRESET);
	cr_assert_eq(sp_send(fd, buf, 1, 0), -1);
	cr_assert_eq(errno, ENOTCONN);

	F.on_connect = PEER_SILENT;
	fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)), 0);
	cr_assert_eq(sp_getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &got, &gl), 0);
	cr_assert_eq(got.tv_sec, 0);
	cr_assert_eq(got.tv_usec, 200000);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, ETIMEDOUT);

	fd = sp_socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK, 0);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)), 0);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EINPROGRESS);
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EALREADY);
	while (sp_sock_lookup(fd)->err == 0)
		sp_poll();
	cr_assert_eq(sp_getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el), 0);
	cr_assert_eq(err, ETIMEDOUT);
}

Test(vsock_unit, options_like_the_kernel)
{
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);
	uint64_t v = 1 << 20, got;
	socklen_t l = sizeof(got);
	struct timeval tv = { .tv_sec = 0, .tv_usec = 1 }, bad = { .tv_sec = -1 };

	/* above MAX: clamped to it */
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)), 0);
	cr_assert_eq(sp_getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &l), 0);
	cr_assert_eq(got, 262144);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &v, sizeof(v)), 0);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)), 0);
	cr_assert_eq(sp_getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &l), 0);
	cr_assert_eq(got, 1 << 20);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, 4), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, 99, &v, sizeof(v)), -1);
	cr_assert_eq(errno, ENOPROTOOPT);
	cr_assert_eq(sp_setsockopt(fd, SOL_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &v, sizeof(v)), -1);
	cr_assert_eq(errno, ENOPROTOOPT);
	l = 4;
	cr_assert_eq(sp_getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &got, &l), -1);
	cr_assert_eq(errno, EINVAL);
	/* 1 us rounds up to one jiffy (4 ms at HZ=250) */
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, sizeof(tv)), 0);
	l = sizeof(tv);
	cr_assert_eq(sp_getsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &tv, &l), 0);
	cr_assert_eq(tv.tv_usec, 4000);
	cr_assert_eq(sp_setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT, &bad, sizeof(bad)), -1);
	cr_assert_eq(errno, ERANGE);
}

Test(vsock_unit, sendmmsg_one_flush_stops_at_partial)
{
	int fd = connected_socket();
	struct iovec iov[8];
	struct mmsghdr mm[8];
	unsigned int i, f0 = F.flushes;

	memset(mm, 0, sizeof(mm));
	for (i = 0; i < 8; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 100;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	cr_assert_eq(sp_sendmmsg(fd, mm, 8, 0), 8);
	cr_assert_eq(F.flushes, f0 + 1, "one flush for the vector");
	for (i = 0; i < 8; i++)
		cr_assert_eq(mm[i].msg_len, 100);

	/* credit for 2.5 messages of 20000: the third goes out short and ends the call */
	F.socks[0]->cr.peer_buf_alloc = F.socks[0]->cr.tx_cnt - F.socks[0]->cr.peer_fwd_cnt + 50000;
	for (i = 0; i < 8; i++)
		iov[i].iov_len = 20000;
	cr_assert_eq(sp_sendmmsg(fd, mm, 8, MSG_DONTWAIT), 3);
	cr_assert_eq(mm[2].msg_len, 10000);
	/* no credit at all: the first fails, so the call fails */
	errno = 0;
	cr_assert_eq(sp_sendmmsg(fd, mm, 8, MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN);
}

Test(vsock_unit, bad_iovec_base_is_enomem_or_partial)
{
	int fd = connected_socket();
	struct iovec iov[2] = { { buf, 100 }, { NULL, 100 } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

	/* the kernel's copy fault fails the skb allocation: partial count or ENOMEM */
	cr_assert_eq(sp_sendmsg(fd, &mh, 0), -1);
	cr_assert_eq(errno, ENOMEM);
	mh.msg_iov = &iov[1];
	mh.msg_iovlen = 1;
	cr_assert_eq(sp_sendmsg(fd, &mh, 0), -1);
	cr_assert_eq(errno, ENOMEM);
}

Test(vsock_unit, bind_and_names)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = 5000 }, got;
	socklen_t l = sizeof(got);
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0), fd2 = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	cr_assert_eq(sp_bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(sp_bind(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_bind(fd2, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EADDRINUSE);
	a.svm_cid = 7;
	a.svm_port = 5001;
	cr_assert_eq(sp_bind(fd2, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EADDRNOTAVAIL);
	cr_assert_eq(sp_bind(fd2, (struct sockaddr *)&a, 4), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_getsockname(fd, (struct sockaddr *)&got, &l), 0);
	cr_assert_eq(got.svm_port, 5000);
	cr_assert_eq(sp_getpeername(fd, (struct sockaddr *)&got, &l), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_socket(AF_VSOCK, SOCK_STREAM, 17), -1);
	cr_assert_eq(errno, EPROTONOSUPPORT);
}

Test(vsock_unit, siocoutq_siocinq)
{
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0), n = -1;

	cr_assert_eq(sp_ioctl(fd, SIOCOUTQ, &n), -1);
	cr_assert_eq(errno, EOPNOTSUPP);        /* no transport before connect */
	fd = connected_socket();
	cr_assert_eq(sp_ioctl(fd, SIOCINQ, &n), 0);
	cr_assert_eq(n, 0);
}

Test(vsock_unit, connect_shutdown_recv_argument_checks)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = 1234 };
	struct sockaddr_vm bad = a;
	int fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	/* vsock_addr_cast failures are all EINVAL to connect() */
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a) - 1), -1);
	cr_assert_eq(errno, EINVAL);
	bad.svm_family = AF_INET;
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&bad, sizeof(bad)), -1);
	cr_assert_eq(errno, EINVAL);
	bad = a;
	bad.svm_flags = 0x80;
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&bad, sizeof(bad)), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_recv(fd, buf, 10, 0), -1);
	cr_assert_eq(errno, ENOTCONN);
	cr_assert_eq(sp_shutdown(fd, 3), -1);
	cr_assert_eq(errno, EINVAL);
	cr_assert_eq(sp_shutdown(fd, -1), -1);
	cr_assert_eq(errno, EINVAL);

	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(sp_shutdown(fd, SHUT_RD), 0);
	/* after shutdown the socket is SS_DISCONNECTING: connect says EINVAL */
	cr_assert_eq(sp_connect(fd, (struct sockaddr *)&a, sizeof(a)), -1);
	cr_assert_eq(errno, EINVAL);
	/* SHUT_RD alone leaves sending alone; recv reads end of stream */
	cr_assert_eq(sp_send(fd, buf, 10, 0), 10);
	cr_assert_eq(sp_recv(fd, buf, 10, 0), 0);
	cr_assert_eq(F.shutdowns, 1);
}

Test(vsock_unit, lingering_close_ends_at_close_timeout)
{
	int fd = connected_socket();
	uint64_t t0;

	F.linger = true;
	vsock_close_timeout_ns = 100000000ull;
	cr_assert_eq(vsock_live_socks(), 1);
	t0 = sp_now_ns();
	cr_assert_eq(sp_close(fd), 0);
	cr_assert_eq(vsock_live_socks(), 1, "closing, its descriptor gone");
	cr_assert_eq(sp_send(fd, buf, 1, 0), -1);
	cr_assert_eq(errno, EBADF);
	while (vsock_live_socks() && sp_now_ns() - t0 < 2000000000ull)
		sp_poll();
	cr_assert_eq(vsock_live_socks(), 0);
	cr_assert_eq(F.close_timeouts, 1);
	cr_assert_geq(sp_now_ns() - t0, 100000000ull);
}

Test(vsock_unit, nothing_left_after_close)
{
	int a = connected_socket(), b = sp_socket(AF_VSOCK, SOCK_STREAM, 0);

	cr_assert_eq(vsock_live_socks(), 2);
	cr_assert_eq(sp_close(a), 0);
	cr_assert_eq(sp_close(b), 0);
	cr_assert_eq(vsock_live_socks(), 0);
}
