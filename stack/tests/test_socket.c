/* SPDX-License-Identifier: MIT */
/*
 * The socket layer on its own: a recording protocol registered as a family
 * checks what reaches sock->ops after net/socket.c's checks; where the kernel
 * can answer the same question (SOL_SOCKET options, descriptor errors), the
 * test asks it and compares.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <netinet/in.h>
#include <linux/sockios.h>

#include "sock.h"

/* --- a protocol that records --- */

static struct {
	unsigned int sendmsg_calls, sendmmsg_calls, released;
	struct sp_msg last;
	size_t fail_at;                 /* message index (over the socket's life) that fails */
	ssize_t fail_err;
	size_t short_at;                /* message index that is sent short */
	size_t sent;                    /* messages seen */
	bool use_burst;
} rec;

static ssize_t rec_send_one(struct sp_msg *m)
{
	size_t i = rec.sent++;

	rec.last = *m;
	if (i == rec.fail_at)
		return m->ret = rec.fail_err;
	if (i == rec.short_at && m->len)
		return m->ret = (ssize_t)m->len - 1;
	return m->ret = (ssize_t)m->len;
}

static ssize_t rec_sendmsg(struct sp_sock *sk, struct sp_msg *m)
{
	rec.sendmsg_calls++;
	return rec_send_one(m);
}

static unsigned int rec_sendmmsg(struct sp_sock *sk, struct sp_msg *m, unsigned int n)
{
	unsigned int k;

	rec.sendmmsg_calls++;
	for (k = 0; k < n; k++)
		if (rec_send_one(&m[k]) < 0 || (size_t)m[k].ret < m[k].len)
			return k + 1;
	return n;
}

static void rec_release(struct sp_sock *sk)
{
	rec.released++;
}

static const struct sp_proto_ops rec_ops = {
	.sendmsg = rec_sendmsg,
	.release = rec_release,
};

static const struct sp_proto_ops rec_burst_ops = {
	.sendmsg = rec_sendmsg,
	.sendmmsg = rec_sendmmsg,
	.release = rec_release,
};

static int rec_create(struct sp_sock *sk, int protocol)
{
	if (protocol)
		return -EPROTONOSUPPORT;
	sk->ops = rec.use_burst ? &rec_burst_ops : &rec_ops;
	return 0;
}

static const struct sp_family rec_family = {
	.name = "rec", .domain = AF_UNIX, .type = SOCK_DGRAM, .create = rec_create,
};

static void setup(void)
{
	memset(&rec, 0, sizeof(rec));
	rec.fail_at = rec.short_at = SIZE_MAX;
	cr_assert_eq(sp_family_register(&rec_family), 0);
}

static void teardown(void)
{
	sp_sock_close_all();
}

TestSuite(socket, .init = setup, .fini = teardown);

static int rec_socket(void)
{
	int fd = sp_socket(AF_UNIX, SOCK_DGRAM, 0);

	cr_assert(sp_is_fd(fd), "sp_socket: %s", strerror(errno));
	return fd;
}

#define assert_fails(call, want) do {                                           \
		errno = 0;                                                      \
		cr_assert_eq((long)(call), -1, #call " did not fail");          \
		cr_assert_eq(errno, want, #call ": errno %s, want %s",          \
			     strerrorname_np(errno), strerrorname_np(want));    \
	} while (0)

/* --- socket() and descriptors --- */

Test(socket, create_errors_in_kernel_order)
{
	assert_fails(sp_socket(AF_UNIX, SOCK_DGRAM | 0x100, 0), EINVAL);
	assert_fails(sp_socket(-1, SOCK_DGRAM, 0), EAFNOSUPPORT);
	assert_fails(sp_socket(AF_MAX, SOCK_DGRAM, 0), EAFNOSUPPORT);
	assert_fails(sp_socket(AF_UNIX, 11, 0), EINVAL);
	assert_fails(sp_socket(AF_APPLETALK, SOCK_DGRAM, 0), EAFNOSUPPORT);
	assert_fails(sp_socket(AF_UNIX, SOCK_STREAM, 0), ESOCKTNOSUPPORT);
	assert_fails(sp_socket(AF_UNIX, SOCK_DGRAM, 7), EPROTONOSUPPORT);
}

Test(socket, descriptors_lowest_free_and_ebadf)
{
	int a = rec_socket(), b = rec_socket(), c;
	int type, pipefd[2];
	socklen_t len = sizeof(type);

	cr_assert_eq(b, a + 1);
	cr_assert_eq(sp_close(a), 0);
	cr_assert_eq(rec.released, 1);
	assert_fails(sp_close(a), EBADF);
	assert_fails(sp_send(a, "x", 1, 0), EBADF);
	c = rec_socket();
	cr_assert_eq(c, a, "lowest free descriptor is reused");
	assert_fails(sp_send(-1, "x", 1, 0), EBADF);
	assert_fails(sp_send(SP_FD_BASE + SP_FD_MAX - 1, "x", 1, 0), EBADF);
	/* an open kernel descriptor is not a sendpath socket */
	cr_assert_eq(pipe(pipefd), 0);
	assert_fails(sp_send(pipefd[1], "x", 1, 0), ENOTSOCK);
	assert_fails(sp_getsockopt(pipefd[1], SOL_SOCKET, SO_TYPE, &type, &len), ENOTSOCK);
	assert_fails(sp_close(pipefd[1]), EBADF);
	cr_assert_eq(write(pipefd[1], "x", 1), 1, "sp_close must not close a kernel descriptor");
	close(pipefd[0]);
	close(pipefd[1]);
	assert_fails(sp_send(pipefd[1], "x", 1, 0), EBADF);
}

Test(socket, sock_nonblock_and_fcntl_ioctl)
{
	int fd = sp_socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int on = 0;

	cr_assert_eq(sp_fcntl(fd, F_GETFL), O_RDWR | O_NONBLOCK);
	cr_assert_eq(sp_fcntl(fd, F_GETFD), FD_CLOEXEC);
	cr_assert_eq(sp_send(fd, "abc", 3, 0), 3);
	cr_assert(rec.last.flags & MSG_DONTWAIT, "O_NONBLOCK becomes MSG_DONTWAIT");
	cr_assert_eq(sp_ioctl(fd, FIONBIO, &on), 0);
	cr_assert_eq(sp_fcntl(fd, F_GETFL), O_RDWR);
	cr_assert_eq(sp_send(fd, "abc", 3, 0), 3);
	cr_assert_eq(rec.last.flags & MSG_DONTWAIT, 0);
	cr_assert_eq(sp_fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	cr_assert_eq(sp_send(fd, "abc", 3, MSG_NOSIGNAL), 3);
	cr_assert_eq(rec.last.flags, MSG_DONTWAIT | MSG_NOSIGNAL);
	assert_fails(sp_ioctl(fd, FIONBIO, NULL), EFAULT);
	assert_fails(sp_ioctl(fd, SIOCOUTQ, &on), ENOTTY);
	assert_fails(sp_fcntl(fd, F_DUPFD, 0), EINVAL);
}

/* --- sendto / sendmsg normalisation --- */

Test(socket, sendto_checks_buffer_before_descriptor)
{
	int fd = rec_socket();
	struct sockaddr_in sin = { .sin_family = AF_INET };

	/* import_single_range() runs before sockfd_lookup_light() */
	assert_fails(sp_send(-1, (void *)-4096l, 10, 0), EFAULT);
	assert_fails(sp_send(-1, "x", 1, 0), EBADF);
	assert_fails(sp_sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, 129), EINVAL);
	assert_fails(sp_sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, (socklen_t)-1), EINVAL);
	assert_fails(sp_sendto(fd, "x", 1, 0, (void *)-4096l, sizeof(sin)), EFAULT);
	/* a NULL buffer is in user space: the protocol faults when it copies */
	cr_assert_eq(sp_send(fd, NULL, 5, 0), 5);
	cr_assert_eq(sp_sendto(fd, "x", 1, 0, (struct sockaddr *)&sin, 0), 1);
	cr_assert_eq(rec.last.name, (struct sockaddr *)&sin, "sendto keeps a name of length 0");
	cr_assert_eq(rec.last.namelen, 0);
	cr_assert_eq(sp_sendto(fd, "x", 1, 0, NULL, 99), 1);
	cr_assert_null(rec.last.name);
	cr_assert_eq(sp_send(fd, "x", (size_t)INT_MAX + 10, 0), SP_MAX_RW_COUNT, "length capped at MAX_RW_COUNT");
}

Test(socket, sendmsg_checks_in_kernel_order)
{
	int fd = rec_socket();
	char a[8] = "abcdefg", b[4] = "xyz";
	struct iovec iov[2] = { { a, 7 }, { b, 3 } };
	struct sockaddr_storage ss = { .ss_family = AF_INET };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	char ctl[64] = { 0 };

	assert_fails(sp_sendmsg(-1, NULL, (int)SP_MSG_CMSG_COMPAT), EINVAL);
	assert_fails(sp_sendmsg(-1, &msg, 0), EBADF);
	assert_fails(sp_sendmsg(fd, NULL, 0), EFAULT);
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 10);
	cr_assert_eq(rec.last.len, 10);
	cr_assert_eq(rec.last.iovlen, 2);

	msg.msg_name = &ss;
	msg.msg_namelen = (socklen_t)-1;
	assert_fails(sp_sendmsg(fd, &msg, 0), EINVAL);
	msg.msg_namelen = 200;          /* capped at sizeof(sockaddr_storage), not refused */
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 10);
	cr_assert_eq(rec.last.namelen, sizeof(struct sockaddr_storage));
	msg.msg_name = NULL;            /* no name: the length is ignored */
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 10);
	cr_assert_eq(rec.last.namelen, 0);

	msg.msg_iovlen = UIO_MAXIOV + 1;
	assert_fails(sp_sendmsg(fd, &msg, 0), EMSGSIZE);
	msg.msg_iovlen = 2;
	msg.msg_iov = NULL;
	assert_fails(sp_sendmsg(fd, &msg, 0), EFAULT);
	msg.msg_iovlen = 0;
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 0, "no iov, no bytes: fine");
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	iov[1].iov_len = (size_t)-1;    /* negative as ssize_t: EINVAL before any EFAULT */
	iov[0].iov_base = (void *)-4096l;
	assert_fails(sp_sendmsg(fd, &msg, 0), EINVAL);
	iov[1].iov_len = 3;
	assert_fails(sp_sendmsg(fd, &msg, 0), EFAULT);
	iov[0].iov_base = a;

	msg.msg_controllen = (size_t)INT_MAX + 1;
	assert_fails(sp_sendmsg(fd, &msg, 0), ENOBUFS);
	msg.msg_controllen = 1u << 30;
	msg.msg_control = ctl;
	assert_fails(sp_sendmsg(fd, &msg, 0), ENOBUFS);
	msg.msg_controllen = sizeof(ctl);
	msg.msg_control = NULL;
	assert_fails(sp_sendmsg(fd, &msg, 0), EFAULT);
	msg.msg_control = ctl;
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 10);
	cr_assert_eq(rec.last.control, ctl);

	/* msg_flags are not flags for sendmsg (only sendmmsg takes MSG_EOR from them) */
	msg.msg_flags = MSG_EOR;
	cr_assert_eq(sp_sendmsg(fd, &msg, 0), 10);
	cr_assert_eq(rec.last.flags & MSG_EOR, 0);
	/* unknown flags reach the protocol untouched, as in the kernel */
	cr_assert_eq(sp_sendmsg(fd, &msg, 0x40000000), 10);
	cr_assert_eq(rec.last.flags, 0x40000000);
}

Test(socket, iter_copies_and_faults_at_null_base)
{
	char a[4] = "abc", out[8] = { 0 };
	struct iovec iov[3] = { { a, 3 }, { NULL, 0 }, { NULL, 2 } };
	struct sp_msg m = { .iov = iov, .iovlen = 3, .len = 5 };
	struct sp_iov_iter it;

	sp_iter_init(&it, &m);
	cr_assert_eq(sp_iter_copy(&it, out, 2), 2);
	cr_assert_eq(sp_iter_copy(&it, out + 2, 8), 1, "bytes before the fault count");
	cr_assert_str_eq(out, "abc");
	cr_assert_eq(sp_iter_copy(&it, out, 8), -EFAULT);
}

/* --- sendmmsg --- */

static void mmsg_fill(struct mmsghdr *v, struct iovec *iov, unsigned int n, char *buf)
{
	unsigned int i;

	memset(v, 0, n * sizeof(*v));
	for (i = 0; i < n; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 10 + i % 7;
		v[i].msg_hdr.msg_iov = &iov[i];
		v[i].msg_hdr.msg_iovlen = 1;
		v[i].msg_len = 0xdead;
	}
}

static void sendmmsg_semantics(bool burst)
{
	static struct mmsghdr v[UIO_MAXIOV + 8];
	static struct iovec iov[UIO_MAXIOV + 8];
	char buf[32] = { 0 };
	unsigned int i;
	int fd;

	rec.use_burst = burst;
	fd = rec_socket();
	mmsg_fill(v, iov, UIO_MAXIOV + 8, buf);

	cr_assert_eq(sp_sendmmsg(fd, v, 0, 0), 0);
	cr_assert_eq(sp_sendmmsg(fd, v, 5, 0), 5);
	for (i = 0; i < 5; i++)
		cr_assert_eq(v[i].msg_len, 10 + i % 7);
	cr_assert_eq(v[5].msg_len, 0xdead);

	rec.sent = 0;
	cr_assert_eq(sp_sendmmsg(fd, v, UIO_MAXIOV + 8, 0), UIO_MAXIOV, "vlen capped at UIO_MAXIOV");
	cr_assert_eq(rec.sent, UIO_MAXIOV);

	/* the first fails: the error; a later one fails: the count before it */
	rec.sent = 0;
	rec.fail_at = 0;
	rec.fail_err = -EAGAIN;
	assert_fails(sp_sendmmsg(fd, v, 4, 0), EAGAIN);
	rec.sent = 0;
	rec.fail_at = 2;
	v[2].msg_len = 0xbeef;
	cr_assert_eq(sp_sendmmsg(fd, v, 4, 0), 2);
	cr_assert_eq(v[2].msg_len, 0xbeef, "msg_len untouched for the failed entry");
	rec.fail_at = SIZE_MAX;

	/* a short send ends the call, counted and with its length */
	rec.sent = 0;
	rec.short_at = 1;
	cr_assert_eq(sp_sendmmsg(fd, v, 4, 0), 2);
	cr_assert_eq(v[1].msg_len, iov[1].iov_len - 1);
	rec.short_at = SIZE_MAX;

	/* a bad entry: messages before it go, then the call stops there */
	rec.sent = 0;
	v[70].msg_hdr.msg_iovlen = UIO_MAXIOV + 1;
	cr_assert_eq(sp_sendmmsg(fd, v, 100, 0), 70);
	cr_assert_eq(rec.sent, 70);
	assert_fails(sp_sendmmsg(fd, v + 70, 3, 0), EMSGSIZE);
	v[70].msg_hdr.msg_iovlen = 1;
	assert_fails(sp_sendmmsg(fd, NULL, 3, 0), EFAULT);
	assert_fails(sp_sendmmsg(fd, v, 3, (int)SP_MSG_CMSG_COMPAT), EINVAL);

	/* MSG_EOR is taken from each entry's msg_flags */
	v[0].msg_hdr.msg_flags = MSG_EOR | MSG_OOB;
	cr_assert_eq(sp_sendmmsg(fd, v, 1, 0), 1);
	cr_assert_eq(rec.last.flags, MSG_EOR);
	v[0].msg_hdr.msg_flags = 0;
}

Test(socket, sendmmsg_loop)
{
	sendmmsg_semantics(false);
	cr_assert_eq(rec.sendmmsg_calls, 0);
}

Test(socket, sendmmsg_burst)
{
	sendmmsg_semantics(true);
	cr_assert_gt(rec.sendmmsg_calls, 0);
	cr_assert_eq(rec.sendmsg_calls, 0);
}

/* --- SOL_SOCKET options, compared with the kernel's answers --- */

static void both_set(int sfd, int kfd, int name, const void *val, socklen_t len)
{
	int kr, ke, sr, se;

	errno = 0;
	kr = setsockopt(kfd, SOL_SOCKET, name, val, len);
	ke = errno;
	errno = 0;
	sr = sp_setsockopt(sfd, SOL_SOCKET, name, val, len);
	se = errno;
	cr_assert_eq(sr, kr, "setsockopt(%d, len %u): sendpath %d, kernel %d", name, len, sr, kr);
	if (kr)
		cr_assert_eq(se, ke, "setsockopt(%d): sendpath %s, kernel %s", name,
			     strerrorname_np(se), strerrorname_np(ke));
}

static void both_get(int sfd, int kfd, int name, socklen_t len)
{
	char kv[32] = { 0 }, sv[32] = { 0 };
	socklen_t kl = len, sl = len;
	int kr = getsockopt(kfd, SOL_SOCKET, name, kv, &kl);
	int sr = sp_getsockopt(sfd, SOL_SOCKET, name, sv, &sl);

	cr_assert_eq(sr, kr, "getsockopt(%d)", name);
	cr_assert_eq(sl, kl, "getsockopt(%d) length: sendpath %u, kernel %u", name, sl, kl);
	cr_assert_eq(memcmp(sv, kv, sizeof(kv)), 0, "getsockopt(%d) value differs", name);
}

Test(socket, sol_socket_options_match_kernel)
{
	int sfd = rec_socket();
	int kfd = socket(AF_INET, SOCK_DGRAM, 0);
	int vals[] = { 0, 1, 1000, 3000, 100000, 1 << 30, -1 };
	struct timeval tvs[] = { { 0, 1 }, { 0, 1500 }, { 2, 999999 }, { -1, 0 }, { 0, 0 }, { 0, 1000000 }, { 0, -1 } };
	unsigned int i;
	int one = 1;

	cr_assert_geq(kfd, 0);
	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		both_set(sfd, kfd, SO_SNDBUF, &vals[i], sizeof(int));
		both_get(sfd, kfd, SO_SNDBUF, sizeof(int));
		both_set(sfd, kfd, SO_RCVBUF, &vals[i], sizeof(int));
		both_get(sfd, kfd, SO_RCVBUF, sizeof(int));
		both_set(sfd, kfd, SO_BROADCAST, &vals[i], sizeof(int));
		both_get(sfd, kfd, SO_BROADCAST, sizeof(int));
	}
	for (i = 0; i < sizeof(tvs) / sizeof(tvs[0]); i++) {
		both_set(sfd, kfd, SO_SNDTIMEO, &tvs[i], sizeof(tvs[i]));
		both_get(sfd, kfd, SO_SNDTIMEO, sizeof(struct timeval));
	}
	both_set(sfd, kfd, SO_SNDTIMEO, &tvs[1], sizeof(tvs[1]) - 1);
	both_set(sfd, kfd, SO_SNDTIMEO, &tvs[1], 3);
	both_set(sfd, kfd, SO_BROADCAST, &one, 2);
	both_set(sfd, kfd, SO_BROADCAST, NULL, 4);
	both_set(sfd, kfd, SO_TYPE, &one, 4);
	both_set(sfd, kfd, SO_ERROR, &one, 4);
	both_set(sfd, kfd, SO_SNDBUF, &one, (socklen_t)-1);
	both_get(sfd, kfd, SO_SNDTIMEO, 3);     /* short buffers get a prefix */
	both_get(sfd, kfd, SO_ERROR, 4);
	both_get(sfd, kfd, SO_ACCEPTCONN, 2);
	both_get(sfd, kfd, 9999, 4);
	close(kfd);

	/* what only sendpath can be asked */
	int v = 0;
	socklen_t l = sizeof(v);
	cr_assert_eq(sp_getsockopt(sfd, SOL_SOCKET, SO_TYPE, &v, &l), 0);
	cr_assert_eq(v, SOCK_DGRAM);
	sp_sock_lookup(sfd)->err = ECONNRESET;
	cr_assert_eq(sp_getsockopt(sfd, SOL_SOCKET, SO_ERROR, &v, &l), 0);
	cr_assert_eq(v, ECONNRESET);
	cr_assert_eq(sp_getsockopt(sfd, SOL_SOCKET, SO_ERROR, &v, &l), 0);
	cr_assert_eq(v, 0, "SO_ERROR clears the error");
	l = (socklen_t)-1;
	assert_fails(sp_getsockopt(sfd, SOL_SOCKET, SO_TYPE, &v, &l), EINVAL);
	assert_fails(sp_getsockopt(sfd, SOL_SOCKET, SO_TYPE, &v, NULL), EFAULT);
	assert_fails(sp_setsockopt(sfd, SOL_IP, IP_TTL, &one, 4), EOPNOTSUPP);
}

Test(socket, sndtimeo_in_ns)
{
	int fd = rec_socket();
	struct sp_sock *sk = sp_sock_lookup(fd);
	struct timeval tv = { 0, 1500 };

	cr_assert_eq(sp_sock_sndtimeo_ns(sk, 0), INT64_MAX, "blocking forever by default");
	cr_assert_eq(sp_sock_sndtimeo_ns(sk, MSG_DONTWAIT), 0);
	cr_assert_eq(sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	cr_assert_eq(sp_sock_sndtimeo_ns(sk, 0), 4000000, "one jiffy at HZ=250");
}

/* --- SIGPIPE --- */

static volatile sig_atomic_t pipes;

static void on_sigpipe(int sig)
{
	pipes++;
}

Test(socket, epipe_raises_sigpipe_unless_nosignal)
{
	struct sigaction sa = { .sa_handler = on_sigpipe }, old;

	sigaction(SIGPIPE, &sa, &old);
	cr_assert_eq(sp_sock_epipe(-EPIPE, 0), -EPIPE);
	cr_assert_eq(pipes, 1);
	cr_assert_eq(sp_sock_epipe(-EPIPE, MSG_NOSIGNAL), -EPIPE);
	cr_assert_eq(sp_sock_epipe(-EAGAIN, 0), -EAGAIN);
	cr_assert_eq(pipes, 1);
	sigaction(SIGPIPE, &old, NULL);
}

Test(socket, names_and_missing_ops)
{
	int fd = rec_socket();
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);

	assert_fails(sp_getsockname(fd, (struct sockaddr *)&sin, &len), EOPNOTSUPP);
	assert_fails(sp_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), EOPNOTSUPP);
	assert_fails(sp_bind(fd, (struct sockaddr *)&sin, 129), EINVAL);
	assert_fails(sp_connect(fd, NULL, 16), EFAULT);
	assert_fails(sp_shutdown(fd, SHUT_WR), EOPNOTSUPP);
	assert_fails(sp_recv(fd, &sin, 4, 0), EOPNOTSUPP);
}
