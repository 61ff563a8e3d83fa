/* SPDX-License-Identifier: MIT */
/*
 * AF_VSOCK stream sockets (≈ net/vmw_vsock/af_vsock.c, Linux 6.12): the
 * states, connect's REQUEST/RESPONSE wait, the send loop, shutdown, close
 * and the AF_VSOCK options. Packets are the transport's business
 * (vsock_virtio.c), reached through struct vsock_transport.
 *
 * The kernel sleeps on a wait queue where this code polls: every wait below
 * is "flush what is queued, run sp_progress(), look again", with the same
 * conditions, in the same order, as the kernel's sleeping loops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vsock.h"

#define VSOCK_HASH_SIZE 251
#define NSEC_PER_JIFFY  (1000000000ll / SP_HZ)

static const struct vsock_transport *transport_g2h;
static struct vsock_sock *vsock_hash[VSOCK_HASH_SIZE];
static unsigned int vsock_timers;       /* sockets with a connect or close timer */
static unsigned int vsock_live;         /* allocated, open or closing */
uint64_t vsock_close_timeout_ns = VSOCK_CLOSE_TIMEOUT_NS;
static const struct sp_proto_ops vsock_stream_ops;

/* --- tables (the kernel's bound and connected tables, keyed by local port) --- */

static bool vsock_addr_bound(const struct sockaddr_vm *a)
{
	return a->svm_port != VMADDR_PORT_ANY;
}

static void vsock_addr_init(struct sockaddr_vm *a, unsigned int cid, unsigned int port)
{
	memset(a, 0, sizeof(*a));
	a->svm_family = AF_VSOCK;
	a->svm_cid = cid;
	a->svm_port = port;
}

static struct vsock_sock **vsock_bucket(unsigned int port)
{
	return &vsock_hash[port % VSOCK_HASH_SIZE];
}

static void vsock_hash_add(struct vsock_sock *vsk)
{
	struct vsock_sock **b = vsock_bucket(vsk->local_addr.svm_port);

	vsk->hnext = *b;
	if (*b)
		(*b)->hpprev = &vsk->hnext;
	vsk->hpprev = b;
	*b = vsk;
}

static void vsock_hash_del(struct vsock_sock *vsk)
{
	if (!vsk->hpprev)
		return;
	*vsk->hpprev = vsk->hnext;
	if (vsk->hnext)
		vsk->hnext->hpprev = vsk->hpprev;
	vsk->hnext = NULL;
	vsk->hpprev = NULL;
}

struct vsock_sock *vsock_find_bound_socket(const struct sockaddr_vm *addr)
{
	struct vsock_sock *vsk;

	for (vsk = *vsock_bucket(addr->svm_port); vsk; vsk = vsk->hnext) {
		if (!vsk->in_bound || vsk->local_addr.svm_port != addr->svm_port)
			continue;
		if (vsk->local_addr.svm_cid == addr->svm_cid ||
		    vsk->local_addr.svm_cid == VMADDR_CID_ANY || addr->svm_cid == VMADDR_CID_ANY)
			return vsk;
	}
	return NULL;
}

struct vsock_sock *vsock_find_connected_socket(const struct sockaddr_vm *src,
					       const struct sockaddr_vm *dst)
{
	struct vsock_sock *vsk;

	for (vsk = *vsock_bucket(dst->svm_port); vsk; vsk = vsk->hnext)
		if (vsk->in_connected && vsk->local_addr.svm_port == dst->svm_port &&
		    vsk->remote_addr.svm_cid == src->svm_cid &&
		    vsk->remote_addr.svm_port == src->svm_port)
			return vsk;
	return NULL;
}

void vsock_insert_connected(struct vsock_sock *vsk)
{
	vsk->in_connected = true;
}

void vsock_remove_connected(struct vsock_sock *vsk)
{
	vsk->in_connected = false;
}

static void vsock_timer_set(uint64_t *t, uint64_t when)
{
	if (!*t && when)
		vsock_timers++;
	else if (*t && !when)
		vsock_timers--;
	*t = when;
}

static void vsock_sock_free(struct vsock_sock *vsk)
{
	vsock_timer_set(&vsk->connect_deadline_ns, 0);
	vsock_timer_set(&vsk->close_deadline_ns, 0);
	vsock_hash_del(vsk);
	if (vsk->transport && vsk->transport->destruct)
		vsk->transport->destruct(vsk);
	free(vsk);
	vsock_live--;
}

unsigned int vsock_live_socks(void)
{
	return vsock_live;
}

/* Leaves the tables but stays hashed (timers walk the hash) until freed. */
void vsock_remove_sock(struct vsock_sock *vsk)
{
	vsk->in_connected = false;
	vsk->in_bound = false;
	/* An orphan whose close is complete has nobody left to free it. */
	if (!vsk->sk && !vsk->close_deadline_ns)
		vsock_sock_free(vsk);
}

void vsock_for_each_connected_socket(const struct vsock_transport *t,
				     void (*fn)(struct vsock_sock *vsk))
{
	struct vsock_sock *vsk, *next;
	unsigned int i;

	for (i = 0; i < VSOCK_HASH_SIZE; i++)
		for (vsk = vsock_hash[i]; vsk; vsk = next) {
			next = vsk->hnext;
			if (vsk->in_connected && vsk->transport == t)
				fn(vsk);
		}
}

void vsock_set_err(struct vsock_sock *vsk, int err)
{
	if (vsk->sk)
		vsk->sk->err = err;
}

int vsock_get_err(const struct vsock_sock *vsk)
{
	return vsk->sk ? vsk->sk->err : 0;
}

void vsock_set_ss(struct vsock_sock *vsk, socket_state ss)
{
	if (vsk->sk)
		vsk->sk->state = ss;
}

int vsock_core_register(const struct vsock_transport *t)
{
	if (transport_g2h && transport_g2h != t)
		return -EBUSY;
	transport_g2h = t;
	return 0;
}

void vsock_core_unregister(const struct vsock_transport *t)
{
	if (transport_g2h == t)
		transport_g2h = NULL;
}

void vsock_flush(void)
{
	if (transport_g2h)
		transport_g2h->flush();
}

/*
 * One round of the wait the kernel sleeps through: hand queued packets to the
 * device, process what came back. false once the deadline has passed.
 */
static __attribute__((noinline)) bool vsock_wait(uint64_t deadline)
{
	vsock_flush();
	if (!sp_progress())
		sched_yield();  /* nothing arrived: let a peer on this core run */
	return deadline == UINT64_MAX || sp_now_ns() < deadline;
}

/*
 * The kernel receives while the caller runs; here nothing arrives unless
 * someone polls. A call that would say EAGAIN looks at the device once
 * first, so that a non-blocking loop without sp_poll() still makes progress.
 */
static __attribute__((noinline)) bool vsock_poll_once(bool *polled)
{
	if (*polled)
		return false;
	*polled = true;
	vsock_flush();
	sp_progress();
	return true;
}

static uint64_t vsock_deadline(int64_t timeout_ns)
{
	uint64_t now = sp_now_ns();

	if (timeout_ns == INT64_MAX || (uint64_t)timeout_ns > UINT64_MAX - now - 1)
		return UINT64_MAX;
	return now + (uint64_t)timeout_ns;
}

static int64_t jiffies_to_ns(int64_t j)
{
	return j > INT64_MAX / NSEC_PER_JIFFY ? INT64_MAX : j * NSEC_PER_JIFFY;
}

/* --- socket(), bind() --- */

static int vsock_create(struct sp_sock *sk, int protocol)
{
	struct vsock_sock *vsk;

	if (protocol && protocol != PF_VSOCK)
		return -EPROTONOSUPPORT;
	if (sk->type != SOCK_STREAM)
		return -ESOCKTNOSUPPORT;
	vsk = calloc(1, sizeof(*vsk));
	if (!vsk)
		return -ENOMEM;
	vsock_live++;
	vsk->sk = sk;
	vsk->sk_state = VSOCK_TCP_CLOSE;
	vsock_addr_init(&vsk->local_addr, VMADDR_CID_ANY, VMADDR_PORT_ANY);
	vsock_addr_init(&vsk->remote_addr, VMADDR_CID_ANY, VMADDR_PORT_ANY);
	vsk->buffer_size = VSOCK_DEFAULT_BUFFER_SIZE;
	vsk->buffer_min_size = VSOCK_DEFAULT_BUFFER_MIN_SIZE;
	vsk->buffer_max_size = VSOCK_DEFAULT_BUFFER_MAX_SIZE;
	vsk->connect_timeout = VSOCK_DEFAULT_CONNECT_TIMEOUT;
	sk->protocol = 0;       /* the kernel never sets sk_protocol for vsock */
	sk->state = SS_UNCONNECTED;
	sk->ops = &vsock_stream_ops;
	sk->priv = vsk;
	return 0;
}

/* ≈ vsock_addr_cast(): any failure is EINVAL to bind() and connect(). */
static int vsock_addr_cast(const struct sockaddr *addr, socklen_t len, struct sockaddr_vm *out)
{
	if (len < sizeof(*out) || !addr)
		return -EFAULT;
	memcpy(out, addr, sizeof(*out));
	if (out->svm_family != AF_VSOCK)
		return -EAFNOSUPPORT;
	if (out->svm_flags & ~VMADDR_FLAG_TO_HOST)
		return -EINVAL;
	return 0;
}

static bool vsock_find_cid(unsigned int cid)
{
	return transport_g2h && cid == transport_g2h->get_local_cid();
}

static bool capable_net_bind_service(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) != 0)
		return geteuid() == 0;
	return data[CAP_NET_BIND_SERVICE / 32].effective & (1u << (CAP_NET_BIND_SERVICE % 32));
}

static int __vsock_bind(struct vsock_sock *vsk, const struct sockaddr_vm *addr)
{
	static unsigned int port;
	struct sockaddr_vm new_addr;
	unsigned int i;

	if (vsock_addr_bound(&vsk->local_addr))
		return -EINVAL;
	if (addr->svm_cid != VMADDR_CID_ANY && !vsock_find_cid(addr->svm_cid))
		return -EADDRNOTAVAIL;
	if (!port)
		port = VSOCK_LAST_RESERVED_PORT + 1 + (unsigned int)(random() % 0x7ffffc00u);

	vsock_addr_init(&new_addr, addr->svm_cid, addr->svm_port);
	if (addr->svm_port == VMADDR_PORT_ANY) {
		bool found = false;

		for (i = 0; i < 24; i++) {      /* MAX_PORT_RETRIES */
			if (port == VMADDR_PORT_ANY || port <= VSOCK_LAST_RESERVED_PORT)
				port = VSOCK_LAST_RESERVED_PORT + 1;
			new_addr.svm_port = port++;
			if (!vsock_find_bound_socket(&new_addr)) {
				found = true;
				break;
			}
		}
		if (!found)
			return -EADDRNOTAVAIL;
	} else {
		if (addr->svm_port <= VSOCK_LAST_RESERVED_PORT && !capable_net_bind_service())
			return -EACCES;
		if (vsock_find_bound_socket(&new_addr))
			return -EADDRINUSE;
	}
	vsock_addr_init(&vsk->local_addr, new_addr.svm_cid, new_addr.svm_port);
	vsk->in_bound = true;
	vsock_hash_add(vsk);
	return 0;
}

static int vsock_bind(struct sp_sock *sk, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_vm vm;

	if (vsock_addr_cast(addr, len, &vm) != 0)
		return -EINVAL;
	return __vsock_bind(sk->priv, &vm);
}

static int vsock_auto_bind(struct vsock_sock *vsk)
{
	struct sockaddr_vm any;

	if (vsock_addr_bound(&vsk->local_addr))
		return 0;
	vsock_addr_init(&any, VMADDR_CID_ANY, VMADDR_PORT_ANY);
	return __vsock_bind(vsk, &any);
}

/* ≈ vsock_assign_transport(): one guest-to-host transport serves every CID here. */
static int vsock_assign_transport(struct vsock_sock *vsk)
{
	const struct vsock_transport *t = transport_g2h;
	int err;

	if (vsk->transport) {
		if (vsk->transport == t)
			return 0;
		vsk->transport->destruct(vsk);
		vsk->transport = NULL;
	}
	if (!t)
		return -ENODEV;
	err = t->init(vsk);
	if (err)
		return err;
	vsk->transport = t;
	return 0;
}

/* --- connect() --- */

static int vsock_connect(struct sp_sock *sk, const struct sockaddr *addr, socklen_t alen, int flags)
{
	struct vsock_sock *vsk = sk->priv;
	const struct vsock_transport *transport;
	struct sockaddr_vm remote;
	uint64_t deadline;
	int err;

	switch (sk->state) {
	case SS_CONNECTED:
		return -EISCONN;
	case SS_DISCONNECTING:
		return -EINVAL;
	case SS_CONNECTING:
		/* Wait on for the connection started before, or say it is under way. */
		err = -EALREADY;
		if (flags & O_NONBLOCK)
			return err;
		break;
	default:
		if (vsk->sk_state == VSOCK_TCP_LISTEN || vsock_addr_cast(addr, alen, &remote) != 0)
			return -EINVAL;
		vsk->remote_addr = remote;
		err = vsock_assign_transport(vsk);
		if (err)
			return err;
		transport = vsk->transport;
		err = vsock_auto_bind(vsk);
		if (err)
			return err;
		vsk->sk_state = VSOCK_TCP_SYN_SENT;
		err = transport->connect(vsk);
		if (err < 0)
			return err;
		/* sk_err may be left from an earlier, failed attempt. */
		sk->err = 0;
		sk->state = SS_CONNECTING;
		err = -EINPROGRESS;
	}

	deadline = vsock_deadline(jiffies_to_ns(vsk->connect_timeout));
	while (vsk->sk_state != VSOCK_TCP_ESTABLISHED &&
	       vsk->sk_state != VSOCK_TCP_CLOSING && sk->err == 0) {
		if (flags & O_NONBLOCK) {
			/* connect_work: the attempt times out even if nobody waits for it. */
			vsock_flush();
			vsock_timer_set(&vsk->connect_deadline_ns, deadline);
			return err;
		}
		if (!vsock_wait(deadline) && vsk->sk_state != VSOCK_TCP_ESTABLISHED) {
			vsk->sk_state = VSOCK_TCP_CLOSE;
			sk->state = SS_UNCONNECTED;
			if (vsk->transport->cancel_pkt)
				vsk->transport->cancel_pkt(vsk);
			return -ETIMEDOUT;
		}
	}
	if (sk->err) {
		/* Reported by connect() and taken: SO_ERROR says 0 afterwards (6.1 and 6.12 alike). */
		vsk->sk_state = VSOCK_TCP_CLOSE;
		sk->state = SS_UNCONNECTED;
		return sp_sock_error(sk);
	}
	return 0;
}

/* ≈ vsock_connect_timeout(), the delayed work a non-blocking connect leaves behind. */
static void vsock_connect_timeout(struct vsock_sock *vsk)
{
	if (vsk->sk_state == VSOCK_TCP_SYN_SENT && vsk->sk_shutdown != VSOCK_SHUTDOWN_MASK) {
		vsk->sk_state = VSOCK_TCP_CLOSE;
		vsock_set_ss(vsk, SS_UNCONNECTED);
		vsock_set_err(vsk, ETIMEDOUT);
		if (vsk->transport && vsk->transport->cancel_pkt)
			vsk->transport->cancel_pkt(vsk);
	}
}

static int vsock_getname(struct sp_sock *sk, struct sockaddr *addr, int peer)
{
	struct vsock_sock *vsk = sk->priv;

	if (peer && sk->state != SS_CONNECTED)
		return -ENOTCONN;
	memcpy(addr, peer ? &vsk->remote_addr : &vsk->local_addr, sizeof(struct sockaddr_vm));
	return sizeof(struct sockaddr_vm);
}

/* --- send --- */

/* ≈ sk_stream_error(): a pending error wins over EPIPE; EPIPE raises SIGPIPE. */
static ssize_t vsock_stream_error(struct sp_sock *sk, int flags, ssize_t err)
{
	if (err != -EPIPE)
		return err;
	err = sp_sock_error(sk);
	return err ? err : sp_sock_epipe(-EPIPE, flags);
}

/*
 * The send loop proper, from the first wait on: wait for credit (or buffers),
 * take what the credit allows, come back for the rest. total_written is what
 * went before the loop began.
 */
static __attribute__((noinline)) ssize_t vsock_send_loop(struct vsock_sock *vsk, struct sp_msg *m,
							 struct sp_iov_iter *it, size_t total_written)
{
	struct sp_sock *sk = vsk->sk;
	const struct vsock_transport *transport = vsk->transport;
	size_t len = m->len;
	uint64_t deadline = 0;  /* read the clock only when a wait begins */
	int nonblock = -1;      /* known once a wait is near */
	bool polled = false;
	ssize_t err = 0;

	while (total_written < len) {
		ssize_t written;

		/* Wait for credit: the peer's buffer has no room for another byte. */
		while (transport->stream_has_space(vsk) == 0 && sk->err == 0 &&
		       !(sk->shutdown & SP_SEND_SHUTDOWN) &&
		       !(vsk->peer_shutdown & SP_RCV_SHUTDOWN)) {
			if (nonblock < 0)
				nonblock = sp_sock_sndtimeo_ns(sk, m->flags) == 0;
			if (nonblock) {
				if (vsock_poll_once(&polled))
					continue;
				err = -EAGAIN;
				goto out_err;
			}
			if (!deadline)
				deadline = vsock_deadline(sp_sock_sndtimeo_ns(sk, m->flags));
			if (!vsock_wait(deadline)) {
				err = -EAGAIN;  /* SO_SNDTIMEO ran out */
				goto out_err;
			}
		}
		/* Checked after the wait too: it may have ended for these. */
		if (sk->err) {
			err = -sk->err;
			goto out_err;
		} else if ((sk->shutdown & SP_SEND_SHUTDOWN) ||
			   (vsk->peer_shutdown & SP_RCV_SHUTDOWN)) {
			err = -EPIPE;
			goto out_err;
		}

		/* Takes only what the credit allows; the loop comes back for the rest. */
		written = transport->stream_enqueue(vsk, it, len - total_written);
		if (written < 0) {
			err = written;
			goto out_err;
		}
		if (written == 0) {
			/* Credit but no buffers (never in the kernel): wait as for credit. */
			if (nonblock < 0)
				nonblock = sp_sock_sndtimeo_ns(sk, m->flags) == 0;
			if (!nonblock && !deadline)
				deadline = vsock_deadline(sp_sock_sndtimeo_ns(sk, m->flags));
			if (nonblock ? !vsock_poll_once(&polled) : !vsock_wait(deadline)) {
				err = -EAGAIN;
				goto out_err;
			}
			continue;
		}
		total_written += (size_t)written;
	}

out_err:
	if (total_written > 0)
		err = (ssize_t)total_written;
	return vsock_stream_error(sk, m->flags, err);
}

/*
 * ≈ vsock_connectible_sendmsg(). Packets are queued in the transport, not
 * flushed: the caller flushes once for the whole call or vector.
 */
static ssize_t vsock_connectible_sendmsg(struct vsock_sock *vsk, struct sp_msg *m)
{
	struct sp_sock *sk = vsk->sk;
	const struct vsock_transport *transport = vsk->transport;
	struct sp_iov_iter it;
	ssize_t err = 0, written;

	if (m->flags & MSG_OOB)
		return -EOPNOTSUPP;

	/* Callers should not give a destination to a connection oriented socket. */
	if (m->namelen) {
		err = vsk->sk_state == VSOCK_TCP_ESTABLISHED ? -EISCONN : -EOPNOTSUPP;
		goto out;
	}
	/* Send only while neither side has shut this direction down. */
	if ((sk->shutdown & SP_SEND_SHUTDOWN) || (vsk->peer_shutdown & SP_RCV_SHUTDOWN)) {
		err = -EPIPE;
		goto out;
	}
	if (!transport || vsk->sk_state != VSOCK_TCP_ESTABLISHED ||
	    !vsock_addr_bound(&vsk->local_addr)) {
		err = -ENOTCONN;
		goto out;
	}
	if (!vsock_addr_bound(&vsk->remote_addr)) {
		err = -EDESTADDRREQ;
		goto out;
	}

	sp_iter_init(&it, m);
	/*
	 * The loop's first round when it waits for nothing: there is credit and
	 * no error (the shutdown checks above still hold), and the transport
	 * takes the whole message. Anything else goes on in the loop.
	 */
	if (__builtin_expect(m->len && sk->err == 0 && transport->stream_has_space(vsk) != 0, 1)) {
		written = transport->stream_enqueue(vsk, &it, m->len);
		if (__builtin_expect(written == (ssize_t)m->len, 1))
			return written;
		if (written < 0)
			return vsock_stream_error(sk, m->flags, written);
		return vsock_send_loop(vsk, m, &it, (size_t)written);
	}
	return vsock_send_loop(vsk, m, &it, 0);
out:
	return vsock_stream_error(sk, m->flags, err);
}

static ssize_t vsock_sendmsg(struct sp_sock *sk, struct sp_msg *m)
{
	m->ret = vsock_connectible_sendmsg(sk->priv, m);
	vsock_flush();
	return m->ret;
}

/* The vector's packets are queued message after message and leave in one burst. */
static unsigned int vsock_sendmmsg(struct sp_sock *sk, struct sp_msg *m, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		m[i].ret = vsock_connectible_sendmsg(sk->priv, &m[i]);
		if (m[i].ret < 0 || (size_t)m[i].ret < m[i].len) {
			i++;
			break;
		}
	}
	vsock_flush();
	return i;
}

/* --- receive (≈ vsock_connectible_recvmsg, __vsock_stream_recvmsg) --- */

static int64_t vsock_rcvtimeo_ns(const struct sp_sock *sk, int flags)
{
	if (flags & MSG_DONTWAIT)
		return 0;
	return sk->rcvtimeo == SP_TIMEO_MAX ? INT64_MAX : jiffies_to_ns(sk->rcvtimeo);
}

static ssize_t vsock_wait_data(struct vsock_sock *vsk, uint64_t deadline, bool nonblock)
{
	struct sp_sock *sk = vsk->sk;
	bool polled = false;
	int64_t data;

	for (;;) {
		data = vsk->transport->stream_has_data(vsk);
		if (data != 0)
			break;
		if (sk->err != 0 || (sk->shutdown & SP_RCV_SHUTDOWN) ||
		    (vsk->peer_shutdown & SP_SEND_SHUTDOWN))
			break;
		if (nonblock ? !vsock_poll_once(&polled) : !vsock_wait(deadline))
			return -EAGAIN;
	}
	return data < 0 ? -ENOMEM : data;
}

static ssize_t vsock_recvmsg(struct sp_sock *sk, struct sp_msg *m, struct msghdr *msg)
{
	struct vsock_sock *vsk = sk->priv;
	const struct vsock_transport *transport = vsk->transport;
	size_t len = m->len, copied = 0, target;
	struct sp_iov_iter it;
	uint64_t deadline;
	bool nonblock;
	ssize_t err;

	if (msg)
		msg->msg_namelen = 0;   /* a stream reports no source address */
	if (!transport || vsk->sk_state != VSOCK_TCP_ESTABLISHED)
		return vsk->sock_done ? 0 : -ENOTCONN;
	if (m->flags & MSG_OOB)
		return -EOPNOTSUPP;
	/* Data may still be queued after the peer shut down: peer_shutdown is not checked here. */
	if (sk->shutdown & SP_RCV_SHUTDOWN)
		return 0;
	if (!len)
		return 0;

	target = (m->flags & MSG_WAITALL) ? len : 1;    /* sock_rcvlowat(), SO_RCVLOWAT = 1 */
	if (target >= transport->stream_rcvhiwat(vsk))
		return -ENOMEM;
	nonblock = vsock_rcvtimeo_ns(sk, m->flags) == 0;
	deadline = vsock_deadline(vsock_rcvtimeo_ns(sk, m->flags));
	sp_iter_init(&it, m);

	for (;;) {
		ssize_t read;

		err = vsock_wait_data(vsk, deadline, nonblock);
		if (err <= 0)
			break;
		read = transport->stream_dequeue(vsk, &it, len - copied, m->flags);
		if (read < 0) {
			err = read;
			break;
		}
		copied += (size_t)read;
		if ((size_t)read >= target || (m->flags & MSG_PEEK))
			break;
		target -= (size_t)read;
	}
	if (sk->err)
		err = -sk->err;
	else if (sk->shutdown & SP_RCV_SHUTDOWN)
		err = 0;
	if (copied > 0)
		err = (ssize_t)copied;
	vsock_flush();  /* a CREDIT_UPDATE the read triggered */
	return err;
}

/* --- shutdown(), close() --- */

static int vsock_shutdown(struct sp_sock *sk, int how)
{
	struct vsock_sock *vsk = sk->priv;
	int mode = how + 1;     /* SHUT_RD/WR/RDWR -> RCV_SHUTDOWN/SEND_SHUTDOWN bits */

	if ((mode & ~VSOCK_SHUTDOWN_MASK) || !mode)
		return -EINVAL;
	if (sk->state == SS_UNCONNECTED)
		return -ENOTCONN;
	sk->state = SS_DISCONNECTING;

	mode &= VSOCK_SHUTDOWN_MASK;
	sk->shutdown |= mode;
	vsk->sk_shutdown = sk->shutdown;
	vsk->sock_done = false;
	if (vsk->transport) {
		vsk->transport->shutdown(vsk, mode);
		vsock_flush();
	}
	return 0;
}

/*
 * ≈ __vsock_release(): the transport says whether the socket can go now or
 * lingers (SHUTDOWN sent, waiting for the peer's RST, at most
 * VSOCK_CLOSE_TIMEOUT). A lingering socket has lost its descriptor.
 */
static void vsock_release(struct sp_sock *sk)
{
	struct vsock_sock *vsk = sk->priv;
	bool gone = true;

	if (!vsk)
		return;
	sk->priv = NULL;
	vsk->sk_shutdown = sk->shutdown;
	vsk->sk = NULL;
	vsock_timer_set(&vsk->connect_deadline_ns, 0);
	if (vsk->transport)
		gone = vsk->transport->release(vsk);
	vsk->sk_shutdown = VSOCK_SHUTDOWN_MASK;
	vsock_flush();
	if (gone)
		vsock_remove_sock(vsk);         /* frees it: it has no descriptor left */
}

void vsock_close_timer(struct vsock_sock *vsk, bool arm)
{
	vsock_timer_set(&vsk->close_deadline_ns, arm ? sp_now_ns() + vsock_close_timeout_ns : 0);
}

static const struct sp_proto_ops vsock_stream_ops = {
	.bind = vsock_bind,
	.connect = vsock_connect,
	.getname = vsock_getname,
	.sendmsg = vsock_sendmsg,
	.sendmmsg = vsock_sendmmsg,
	.recvmsg = vsock_recvmsg,
	.shutdown = vsock_shutdown,
	.release = vsock_release,
	.setsockopt = vsock_setsockopt,
	.getsockopt = vsock_getsockopt,
	.ioctl = vsock_ioctl,
	.poll = vsock_poll,
};

/* --- the family --- */

static void vsock_run_timers(void)
{
	struct vsock_sock *vsk, *next;
	uint64_t now = sp_now_ns();
	unsigned int i;

	for (i = 0; i < VSOCK_HASH_SIZE && vsock_timers; i++)
		for (vsk = vsock_hash[i]; vsk; vsk = next) {
			next = vsk->hnext;
			if (vsk->connect_deadline_ns && now >= vsk->connect_deadline_ns) {
				vsock_timer_set(&vsk->connect_deadline_ns, 0);
				vsock_connect_timeout(vsk);
			}
			if (vsk->close_deadline_ns && now >= vsk->close_deadline_ns) {
				vsock_timer_set(&vsk->close_deadline_ns, 0);
				vsk->transport->close_timeout(vsk);
			}
		}
}

static int vsock_family_progress(void)
{
	int work = transport_g2h ? transport_g2h->progress() : 0;

	if (vsock_timers)
		vsock_run_timers();
	return work;
}

static int vsock_family_init(const struct sp_init_cfg *cfg)
{
	if (transport_g2h)      /* a test's transport, registered before sp_init */
		return 0;
	if (!cfg->vsock_dev)
		return -ENODEV;
	return vsock_virtio_init(cfg->vsock_dev);
}

/*
 * What close() left to send still goes out, as the kernel keeps sending after
 * close: the device gets until the deadline to use every packet (and the
 * peers to answer our SHUTDOWNs) before it is torn down. false: time ran out.
 */
static bool vsock_drain(uint64_t deadline)
{
	const struct vsock_transport *t = transport_g2h;

	if (!t || !t->tx_pending)
		return true;
	for (;;) {
		t->flush();
		if (!t->progress() && t->tx_pending())
			sched_yield();
		if (!t->tx_pending())
			return true;
		if (sp_now_ns() >= deadline)
			return false;
	}
}

/* Sockets still closing get their RST now: nobody will poll for the peer's. */
static void vsock_family_fini(void)
{
	uint64_t deadline = sp_now_ns() + VSOCK_FINI_DRAIN_NS;
	struct vsock_sock *vsk, *next;
	unsigned int i;

	if (!vsock_drain(deadline))
		fprintf(stderr, "vsock: the device did not take every packet within %llu ms; the rest is lost\n",
			(unsigned long long)(VSOCK_FINI_DRAIN_NS / 1000000));

	for (i = 0; i < VSOCK_HASH_SIZE; i++)
		for (vsk = vsock_hash[i]; vsk; vsk = next) {
			next = vsk->hnext;
			if (!vsk->sk && vsk->close_deadline_ns) {
				vsock_timer_set(&vsk->close_deadline_ns, 0);
				vsk->transport->close_timeout(vsk);
			}
		}
	vsock_flush();
	vsock_drain(deadline);  /* the RSTs too, while time is left */
	if (transport_g2h && transport_g2h->fini)
		transport_g2h->fini();
}

const struct sp_family sp_vsock_family = {
	.name = "vsock",
	.domain = AF_VSOCK,
	.type = SOCK_STREAM,
	.protocol = PF_VSOCK,
	.create = vsock_create,
	.init = vsock_family_init,
	.fini = vsock_family_fini,
	.progress = vsock_family_progress,
};
