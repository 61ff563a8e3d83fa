/* SPDX-License-Identifier: MIT */
/*
 * The socket layer (≈ net/socket.c and the SOL_SOCKET half of net/core/sock.c):
 * descriptors, the checks every call makes before a protocol sees it, in the
 * kernel's order, and the generic socket options.
 *
 * Descriptors: SP_FD_BASE + slot, lowest free slot first (as the kernel hands
 * out the lowest free fd). A descriptor of ours that is not open is EBADF. A
 * descriptor outside our range is ENOTSOCK when it is an open kernel
 * descriptor (it is not a sendpath socket: we neither forward nor guess) and
 * EBADF otherwise; sp_close never closes a kernel descriptor (EBADF).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>

#include "sock.h"

#define SOCK_TYPE_MASK   0xf
#define SP_SOCK_MAX_TYPE 10             /* SOCK_MAX */
#define SOCK_MIN_SNDBUF  4608           /* 2 * (2048 + skb truesize), as 6.x reports it */
#define SOCK_MIN_RCVBUF  2304
#define CMSG_INLINE_MAX  (sizeof(struct cmsghdr) + 20)   /* ____sys_sendmsg's on-stack ctl[] */

static struct sp_sock *socks[SP_FD_MAX];
static unsigned int next_free;          /* no slot below it is free */

/* --- small things the kernel has --- */

static int sysctl_int(const char *path, int dflt)
{
	FILE *f = fopen(path, "r");
	int v;

	if (!f)
		return dflt;
	if (fscanf(f, "%d", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static int net_core(const char *name, int dflt)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/sys/net/core/%s", name);
	return sysctl_int(path, dflt);
}

uint64_t sp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t sp_sock_sndtimeo_ns(const struct sp_sock *sk, int flags)
{
	if (flags & MSG_DONTWAIT)
		return 0;
	if (sk->sndtimeo == SP_TIMEO_MAX)
		return INT64_MAX;
	return sk->sndtimeo * (1000000000ll / SP_HZ);
}

int sp_sock_error(struct sp_sock *sk)
{
	int err = sk->err;

	sk->err = 0;
	return -err;
}

int sp_sock_epipe(int err, int flags)
{
	/* send_sig(SIGPIPE, current, 0): directed at the calling thread. */
	if (err == -EPIPE && !(flags & MSG_NOSIGNAL))
		raise(SIGPIPE);
	return err;
}

/* --- iov iteration --- */

void sp_iter_init(struct sp_iov_iter *it, const struct sp_msg *m)
{
	it->iov = m->iov;
	it->nr = m->iovlen;
	it->idx = 0;
	it->off = 0;
	it->left = m->len;
}

static ssize_t iter_move(struct sp_iov_iter *it, void *buf, size_t n, bool to_user)
{
	size_t done = 0;

	if (n > it->left)
		n = it->left;
	while (done < n && it->idx < it->nr) {
		const struct iovec *v = &it->iov[it->idx];
		size_t chunk = v->iov_len - it->off;

		if (chunk == 0) {
			it->idx++;
			it->off = 0;
			continue;
		}
		if (!v->iov_base)       /* the one fault user space can see coming */
			return done ? (ssize_t)done : -EFAULT;
		if (chunk > n - done)
			chunk = n - done;
		if (to_user)
			memcpy((char *)v->iov_base + it->off, (const char *)buf + done, chunk);
		else
			memcpy((char *)buf + done, (const char *)v->iov_base + it->off, chunk);
		done += chunk;
		it->off += chunk;
		it->left -= chunk;
	}
	return (ssize_t)done;
}

ssize_t sp_iter_copy(struct sp_iov_iter *it, void *dst, size_t n)
{
	return iter_move(it, dst, n, false);
}

ssize_t sp_iter_copy_to(struct sp_iov_iter *it, const void *src, size_t n)
{
	return iter_move(it, (void *)src, n, true);
}

/* --- descriptors --- */

struct sp_sock *sp_sock_lookup(int fd)
{
	return sp_is_fd(fd) ? socks[fd - SP_FD_BASE] : NULL;
}

/* ≈ sockfd_lookup_light(). */
static struct sp_sock *sockfd_lookup(int fd, int *err)
{
	struct sp_sock *sk = sp_sock_lookup(fd);

	if (sk)
		return sk;
	if (fd >= 0 && !sp_is_fd(fd) && fcntl(fd, F_GETFD) != -1)
		*err = -ENOTSOCK;
	else
		*err = -EBADF;
	return NULL;
}

static int fd_alloc(struct sp_sock *sk)
{
	unsigned int i;

	for (i = next_free; i < SP_FD_MAX; i++)
		if (!socks[i]) {
			socks[i] = sk;
			next_free = i + 1;
			return SP_FD_BASE + (int)i;
		}
	return -EMFILE;
}

static void fd_free(int fd)
{
	unsigned int i = (unsigned int)(fd - SP_FD_BASE);

	socks[i] = NULL;
	if (i < next_free)
		next_free = i;
}

static inline long fail(long err)
{
	errno = (int)-err;
	return -1;
}

/* --- socket, bind, connect, names, shutdown, close --- */

int sp_socket(int domain, int type, int protocol)
{
	const struct sp_family *fam;
	int flags = type & ~SOCK_TYPE_MASK;
	struct sp_sock *sk;
	int err, fd;

	if (flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK))
		return (int)fail(-EINVAL);
	type &= SOCK_TYPE_MASK;
	if (domain < 0 || domain >= AF_MAX)
		return (int)fail(-EAFNOSUPPORT);
	if (type >= SP_SOCK_MAX_TYPE)
		return (int)fail(-EINVAL);
	err = sp_family_lookup(domain, type, &fam);
	if (err)
		return (int)fail(err);

	sk = calloc(1, sizeof(*sk));
	if (!sk)
		return (int)fail(-ENOMEM);
	sk->domain = domain;
	sk->type = type;
	sk->protocol = protocol;
	sk->state = SS_UNCONNECTED;
	sk->f_flags = (flags & SOCK_NONBLOCK) ? O_NONBLOCK : 0;
	sk->fd_flags = (flags & SOCK_CLOEXEC) ? FD_CLOEXEC : 0;
	sk->sndtimeo = SP_TIMEO_MAX;
	sk->rcvtimeo = SP_TIMEO_MAX;
	sk->sndbuf = net_core("wmem_default", 212992);
	sk->rcvbuf = net_core("rmem_default", 212992);
	sk->family = fam;
	err = fam->create(sk, protocol);
	if (err) {
		free(sk);
		return (int)fail(err);
	}
	fd = fd_alloc(sk);
	if (fd < 0) {
		if (sk->ops && sk->ops->release)
			sk->ops->release(sk);
		free(sk);
		return (int)fail(fd);
	}
	sk->fd = fd;
	return fd;
}

/* ≈ move_addr_to_kernel(): only checks, the protocol reads the caller's memory. */
static int addr_check(const struct sockaddr *addr, socklen_t len)
{
	if ((int)len < 0 || len > sizeof(struct sockaddr_storage))
		return -EINVAL;
	if (len && !(addr && sp_access_ok(addr, len)))
		return -EFAULT;
	return 0;
}

int sp_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sp_sock *sk;
	int err;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	err = addr_check(addr, len);
	if (!err)
		err = sk->ops->bind ? sk->ops->bind(sk, addr, len) : -EOPNOTSUPP;
	return err ? (int)fail(err) : 0;
}

int sp_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sp_sock *sk;
	int err;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	err = addr_check(addr, len);
	if (!err)
		err = sk->ops->connect ? sk->ops->connect(sk, addr, len, sk->f_flags) : -EOPNOTSUPP;
	return err ? (int)fail(err) : 0;
}

static int getname(int fd, struct sockaddr *uaddr, socklen_t *ulen, int peer)
{
	struct sockaddr_storage ss;
	struct sp_sock *sk;
	int err, klen, len;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	memset(&ss, 0, sizeof(ss));
	klen = sk->ops->getname ? sk->ops->getname(sk, (struct sockaddr *)&ss, peer) : -EOPNOTSUPP;
	if (klen < 0)
		return (int)fail(klen);
	/* move_addr_to_user(): copy min(len, klen), report the full length. */
	if (!ulen || !sp_access_ok(ulen, sizeof(*ulen)))
		return (int)fail(-EFAULT);
	len = (int)*ulen;
	if (len > klen)
		len = klen;
	if (len < 0)
		return (int)fail(-EINVAL);
	if (len) {
		if (!uaddr || !sp_access_ok(uaddr, (size_t)len))
			return (int)fail(-EFAULT);
		memcpy(uaddr, &ss, (size_t)len);
	}
	*ulen = (socklen_t)klen;
	return 0;
}

int sp_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 0);
}

int sp_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	return getname(fd, addr, len, 1);
}

int sp_shutdown(int fd, int how)
{
	struct sp_sock *sk;
	int err;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	err = sk->ops->shutdown ? sk->ops->shutdown(sk, how) : -EOPNOTSUPP;
	return err ? (int)fail(err) : 0;
}

static void sock_release(struct sp_sock *sk)
{
	if (sk->ops && sk->ops->release)
		sk->ops->release(sk);
	fd_free(sk->fd);
	free(sk);
}

int sp_close(int fd)
{
	struct sp_sock *sk = sp_sock_lookup(fd);

	if (!sk)
		return (int)fail(-EBADF);
	sock_release(sk);
	return 0;
}

void sp_sock_close_all(void)
{
	unsigned int i;

	for (i = 0; i < SP_FD_MAX; i++)
		if (socks[i])
			sock_release(socks[i]);
}

/* --- the send path --- */

/*
 * ≈ __copy_msghdr + import_iovec + the control part of ____sys_sendmsg, in
 * their order: msghdr EFAULT, namelen EINVAL, name EFAULT, iovlen EMSGSIZE,
 * iov_len EINVAL, iov_base EFAULT, controllen ENOBUFS, control EFAULT.
 */
static int msg_import(struct sp_msg *m, const struct msghdr *msg, int flags, int allowed_msg_flags)
{
	int namelen;
	size_t i, total = 0;

	if (!msg || !sp_access_ok(msg, sizeof(*msg)))
		return -EFAULT;
	/* the common shape (one buffer, no address, no control): the checks below in short */
	if (!msg->msg_name && msg->msg_iovlen == 1 && !msg->msg_controllen && msg->msg_iov &&
	    sp_access_ok(msg->msg_iov, sizeof(*msg->msg_iov)) && (ssize_t)msg->msg_iov->iov_len >= 0 &&
	    sp_access_ok(msg->msg_iov->iov_base, msg->msg_iov->iov_len)) {
		*m = (struct sp_msg){
			.iov = msg->msg_iov, .iovlen = 1,
			.len = msg->msg_iov->iov_len < SP_MAX_RW_COUNT ? msg->msg_iov->iov_len : SP_MAX_RW_COUNT,
			.flags = flags | (msg->msg_flags & allowed_msg_flags),
		};
		return 0;
	}
	namelen = msg->msg_name ? (int)msg->msg_namelen : 0;
	if (namelen < 0)
		return -EINVAL;
	if (namelen > (int)sizeof(struct sockaddr_storage))
		namelen = sizeof(struct sockaddr_storage);
	if (namelen && !sp_access_ok(msg->msg_name, (size_t)namelen))
		return -EFAULT;
	m->name = namelen ? msg->msg_name : NULL;
	m->namelen = (socklen_t)namelen;

	if (msg->msg_iovlen > UIO_MAXIOV)
		return -EMSGSIZE;
	m->iov = msg->msg_iov;
	m->iovlen = msg->msg_iovlen;
	if (m->iovlen) {
		if (!m->iov || !sp_access_ok(m->iov, m->iovlen * sizeof(*m->iov)))
			return -EFAULT;
		for (i = 0; i < m->iovlen; i++)
			if ((ssize_t)m->iov[i].iov_len < 0)
				return -EINVAL;
		for (i = 0; i < m->iovlen; i++) {
			if (!sp_access_ok(m->iov[i].iov_base, m->iov[i].iov_len))
				return -EFAULT;
			/* the kernel trims the vector at MAX_RW_COUNT; so do we, by length */
			total += m->iov[i].iov_len < SP_MAX_RW_COUNT - total ?
				 m->iov[i].iov_len : SP_MAX_RW_COUNT - total;
		}
	}
	m->len = total;

	if (msg->msg_controllen > INT_MAX)
		return -ENOBUFS;
	m->control = NULL;
	m->controllen = msg->msg_controllen;
	if (m->controllen) {
		if (m->controllen > CMSG_INLINE_MAX &&
		    m->controllen > (size_t)net_core("optmem_max", 20480))
			return -ENOBUFS;
		if (!msg->msg_control || !sp_access_ok(msg->msg_control, m->controllen))
			return -EFAULT;
		m->control = msg->msg_control;
	}
	m->flags = flags | (msg->msg_flags & allowed_msg_flags);
	m->ret = 0;
	return 0;
}

static inline int send_flags(const struct sp_sock *sk, int flags)
{
	return (sk->f_flags & O_NONBLOCK) ? flags | MSG_DONTWAIT : flags;
}

static ssize_t sock_sendmsg(struct sp_sock *sk, struct sp_msg *m)
{
	if (!sk->ops->sendmsg)
		return m->ret = -EOPNOTSUPP;
	return m->ret = sk->ops->sendmsg(sk, m);
}

ssize_t sp_sendto(int fd, const void *buf, size_t len, int flags,
		  const struct sockaddr *dest, socklen_t dlen)
{
	struct iovec iov;
	struct sp_msg m;
	struct sp_sock *sk;
	int err;
	ssize_t ret;

	/* import_single_range() runs before the descriptor lookup */
	if (len > SP_MAX_RW_COUNT)
		len = SP_MAX_RW_COUNT;
	if (!sp_access_ok(buf, len))
		return fail(-EFAULT);
	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return fail(err);
	memset(&m, 0, sizeof(m));
	if (dest) {
		err = addr_check(dest, dlen);
		if (err)
			return fail(err);
		m.name = dest;
		m.namelen = dlen;
	}
	iov.iov_base = (void *)buf;
	iov.iov_len = len;
	m.iov = &iov;
	m.iovlen = 1;
	m.len = len;
	m.flags = send_flags(sk, flags);
	ret = sock_sendmsg(sk, &m);
	return ret < 0 ? fail(ret) : ret;
}

ssize_t sp_send(int fd, const void *buf, size_t len, int flags)
{
	return sp_sendto(fd, buf, len, flags, NULL, 0);
}

ssize_t sp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct sp_sock *sk;
	struct sp_msg m;
	int err;
	ssize_t ret;

	if ((unsigned int)flags & SP_MSG_CMSG_COMPAT)
		return fail(-EINVAL);
	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return fail(err);
	err = msg_import(&m, msg, send_flags(sk, flags), 0);
	if (err)
		return fail(err);
	ret = sock_sendmsg(sk, &m);
	return ret < 0 ? fail(ret) : ret;
}

/*
 * sendmmsg's normalised vector: UIO_MAXIOV entries (about 72 KiB) are too
 * many for the stack, so each calling thread gets one buffer, freed when the
 * thread exits.
 */
static pthread_key_t mmsg_key;
static pthread_once_t mmsg_once = PTHREAD_ONCE_INIT;

static void mmsg_key_init(void)
{
	if (pthread_key_create(&mmsg_key, free))
		abort();        /* no keys left at start-up: nothing sensible to do */
}

static struct sp_msg *mmsg_scratch(void)
{
	struct sp_msg *m;

	pthread_once(&mmsg_once, mmsg_key_init);
	m = pthread_getspecific(mmsg_key);
	if (!m) {
		m = malloc(UIO_MAXIOV * sizeof(*m));
		if (m && pthread_setspecific(mmsg_key, m)) {
			free(m);
			m = NULL;
		}
	}
	return m;
}

/*
 * ≈ __sys_sendmmsg: the count of messages sent, an error only when the first
 * one fails, msg_len filled for each sent, a short send ends the call. The
 * whole vector is normalised first (importing has no side effect, so a bad
 * entry still ends the call right before it) and handed to the protocol in
 * one call: one burst, limited only by what the ring or port and the credit
 * take.
 */
int sp_sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	struct sp_msg *m;
	struct sp_sock *sk;
	unsigned int datagrams = 0, n, k, i;
	int err = 0, import_err = 0;

	if ((unsigned int)flags & SP_MSG_CMSG_COMPAT)
		return (int)fail(-EINVAL);
	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV;
	if (!vlen)
		return 0;
	flags = send_flags(sk, flags);
	m = mmsg_scratch();
	if (!m)
		return (int)fail(-ENOMEM);

	for (n = 0; n < vlen; n++) {
		/* no arithmetic on NULL (UB): a NULL vector fails at its first entry */
		struct mmsghdr *e = vec ? vec + n : NULL;

		if (!e || !sp_access_ok(e, sizeof(*e)))
			import_err = -EFAULT;
		else
			import_err = msg_import(&m[n], &e->msg_hdr, flags, MSG_EOR);
		if (import_err)
			break;
	}
	if (n == 0)
		return (int)fail(import_err);
	if (sk->ops->sendmmsg) {
		k = sk->ops->sendmmsg(sk, m, n);
	} else {
		for (k = 0; k < n; k++) {
			ssize_t r = sock_sendmsg(sk, &m[k]);

			if (r < 0 || (size_t)r < m[k].len) {
				k++;
				break;
			}
		}
	}
	for (i = 0; i < k; i++) {
		if (m[i].ret < 0) {
			err = (int)m[i].ret;
			break;
		}
		vec[datagrams].msg_len = (unsigned int)m[i].ret;
		datagrams++;
		if ((size_t)m[i].ret < m[i].len)
			break;
	}
	if (datagrams)
		return (int)datagrams;
	return err ? (int)fail(err) : 0;
}

/* --- receive (enough for echo and tests) --- */

ssize_t sp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct sp_sock *sk;
	struct sp_msg m;
	int err;
	ssize_t ret;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return fail(err);
	err = msg_import(&m, msg, send_flags(sk, flags), 0);
	if (err)
		return fail(err);
	if (!sk->ops->recvmsg)
		return fail(-EOPNOTSUPP);
	ret = sk->ops->recvmsg(sk, &m, msg);
	return ret < 0 ? fail(ret) : ret;
}

ssize_t sp_recv(int fd, void *buf, size_t len, int flags)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct sp_sock *sk;
	struct sp_msg m;
	int err;
	ssize_t ret;

	if (len > SP_MAX_RW_COUNT)
		len = iov.iov_len = SP_MAX_RW_COUNT;
	if (!sp_access_ok(buf, len))
		return fail(-EFAULT);
	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return fail(err);
	memset(&m, 0, sizeof(m));
	m.iov = &iov;
	m.iovlen = 1;
	m.len = len;
	m.flags = send_flags(sk, flags);
	if (!sk->ops->recvmsg)
		return fail(-EOPNOTSUPP);
	ret = sk->ops->recvmsg(sk, &m, NULL);
	return ret < 0 ? fail(ret) : ret;
}

/* --- SOL_SOCKET options (≈ sk_setsockopt / sk_getsockopt) --- */

static int set_timeout(int64_t *timeo, const void *val, socklen_t len)
{
	struct { int64_t sec, usec; } tv;       /* __kernel_old_timeval == __kernel_sock_timeval on x86-64 */

	if (len < sizeof(tv))
		return -EINVAL;
	memcpy(&tv, val, sizeof(tv));
	if (tv.usec < 0 || tv.usec >= 1000000)
		return -EDOM;
	if (tv.sec < 0) {
		*timeo = 0;
		return 0;
	}
	*timeo = SP_TIMEO_MAX;
	if ((tv.sec || tv.usec) && tv.sec < INT64_MAX / SP_HZ - 1)
		*timeo = tv.sec * SP_HZ + (tv.usec + 1000000 / SP_HZ - 1) / (1000000 / SP_HZ);
	return 0;
}

static int set_buf(int *buf, int val, const char *max_name, int min)
{
	unsigned int max = (unsigned int)net_core(max_name, 212992);

	if ((unsigned int)val > max)    /* min_t(u32, ...): a negative value is a huge one */
		val = (int)max;
	if (val > INT_MAX / 2)
		val = INT_MAX / 2;
	*buf = val * 2 > min ? val * 2 : min;
	return 0;
}

int sp_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	struct sp_sock *sk;
	int err, v;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	if ((int)len < 0)
		return (int)fail(-EINVAL);
	err = 0;
	if (level != SOL_SOCKET) {
		err = sk->ops->setsockopt ? sk->ops->setsockopt(sk, level, name, val, len) : -EOPNOTSUPP;
		return err ? (int)fail(err) : 0;
	}
	if (len < sizeof(int))
		return (int)fail(-EINVAL);
	if (!val || !sp_access_ok(val, len))
		return (int)fail(-EFAULT);
	memcpy(&v, val, sizeof(v));
	switch (name) {
	case SO_BROADCAST:
		sk->broadcast = v != 0;
		break;
	case SO_REUSEADDR:
		sk->reuseaddr = v != 0;
		break;
	case SO_PRIORITY:
		sk->priority = v;
		break;
	case SO_SNDBUF:
		err = set_buf(&sk->sndbuf, v, "wmem_max", SOCK_MIN_SNDBUF);
		break;
	case SO_RCVBUF:
		err = set_buf(&sk->rcvbuf, v, "rmem_max", SOCK_MIN_RCVBUF);
		break;
	case SO_SNDTIMEO_OLD:
	case SO_SNDTIMEO_NEW:
		err = set_timeout(&sk->sndtimeo, val, len);
		break;
	case SO_RCVTIMEO_OLD:
	case SO_RCVTIMEO_NEW:
		err = set_timeout(&sk->rcvtimeo, val, len);
		break;
	default:
		err = sk->ops->setsockopt ? sk->ops->setsockopt(sk, level, name, val, len) : -ENOPROTOOPT;
		break;
	}
	return err ? (int)fail(err) : 0;
}

int sp_getsockopt(int fd, int level, int name, void *val, socklen_t *lenp)
{
	union { int i; struct { int64_t sec, usec; } tv; } v;
	struct sp_sock *sk;
	int err, len, lv = sizeof(int);
	int64_t timeo;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	if (level != SOL_SOCKET) {
		err = sk->ops->getsockopt ? sk->ops->getsockopt(sk, level, name, val, lenp) : -EOPNOTSUPP;
		return err ? (int)fail(err) : 0;
	}
	if (!lenp || !sp_access_ok(lenp, sizeof(*lenp)))
		return (int)fail(-EFAULT);
	len = (int)*lenp;
	if (len < 0)
		return (int)fail(-EINVAL);
	memset(&v, 0, sizeof(v));
	switch (name) {
	case SO_TYPE:      v.i = sk->type; break;
	case SO_DOMAIN:    v.i = sk->domain; break;
	case SO_PROTOCOL:  v.i = sk->protocol; break;
	case SO_ERROR:     v.i = -sp_sock_error(sk); break;
	case SO_BROADCAST: v.i = sk->broadcast; break;
	case SO_REUSEADDR: v.i = sk->reuseaddr; break;
	case SO_PRIORITY:  v.i = sk->priority; break;
	case SO_SNDBUF:    v.i = sk->sndbuf; break;
	case SO_RCVBUF:    v.i = sk->rcvbuf; break;
	case SO_ACCEPTCONN: v.i = 0; break;
	case SO_SNDTIMEO_OLD:
	case SO_SNDTIMEO_NEW:
	case SO_RCVTIMEO_OLD:
	case SO_RCVTIMEO_NEW:
		timeo = (name == SO_SNDTIMEO_OLD || name == SO_SNDTIMEO_NEW) ? sk->sndtimeo : sk->rcvtimeo;
		if (timeo != SP_TIMEO_MAX) {
			v.tv.sec = timeo / SP_HZ;
			v.tv.usec = (timeo % SP_HZ) * 1000000 / SP_HZ;
		}
		lv = sizeof(v.tv);
		break;
	default:
		err = sk->ops->getsockopt ? sk->ops->getsockopt(sk, level, name, val, lenp) : -ENOPROTOOPT;
		return err ? (int)fail(err) : 0;
	}
	if (len > lv)
		len = lv;
	if (len && (!val || !sp_access_ok(val, (size_t)len)))
		return (int)fail(-EFAULT);
	memcpy(val, &v, (size_t)len);
	*lenp = (socklen_t)len;
	return 0;
}

/* --- fcntl, ioctl --- */

int sp_fcntl(int fd, int cmd, ...)
{
	struct sp_sock *sk;
	va_list ap;
	int err, arg;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	va_start(ap, cmd);
	arg = (cmd == F_SETFL || cmd == F_SETFD) ? va_arg(ap, int) : 0;
	va_end(ap);
	switch (cmd) {
	case F_GETFL:
		return O_RDWR | sk->f_flags;
	case F_SETFL:
		/* setfl(): only O_NONBLOCK and O_APPEND mean something on a socket here */
		sk->f_flags = arg & (O_NONBLOCK | O_APPEND);
		return 0;
	case F_GETFD:
		return sk->fd_flags;
	case F_SETFD:
		sk->fd_flags = arg & FD_CLOEXEC;
		return 0;
	default:
		return (int)fail(-EINVAL);
	}
}

int sp_ioctl(int fd, unsigned long req, ...)
{
	struct sp_sock *sk;
	va_list ap;
	void *arg;
	int err;

	sk = sockfd_lookup(fd, &err);
	if (!sk)
		return (int)fail(err);
	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == FIONBIO) {
		if (!arg || !sp_access_ok(arg, sizeof(int)))
			return (int)fail(-EFAULT);
		if (*(int *)arg)
			sk->f_flags |= O_NONBLOCK;
		else
			sk->f_flags &= ~O_NONBLOCK;
		return 0;
	}
	err = sk->ops->ioctl ? sk->ops->ioctl(sk, req, arg) : -ENOTTY;
	return err < 0 ? (int)fail(err) : err;
}
