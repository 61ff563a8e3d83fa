/* SPDX-License-Identifier: MIT */
/*
 * The vsock stream socket's options, ioctls and readiness (≈ the
 * setsockopt/getsockopt/ioctl/poll parts of net/vmw_vsock/af_vsock.c, 6.12).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vsock.h"

#define USEC_PER_SEC 1000000ll

/* --- options (≈ vsock_connectible_setsockopt/getsockopt) --- */

static void vsock_update_buffer_size(struct vsock_sock *vsk, uint64_t val)
{
	if (val > vsk->buffer_max_size)
		val = vsk->buffer_max_size;
	if (val < vsk->buffer_min_size)
		val = vsk->buffer_min_size;
	if (val != vsk->buffer_size && vsk->transport && vsk->transport->notify_buffer_size) {
		vsk->transport->notify_buffer_size(vsk, &val);
		vsock_flush();
	}
	vsk->buffer_size = val;
}

int vsock_setsockopt(struct sp_sock *sk, int level, int name, const void *val, socklen_t len)
{
	struct vsock_sock *vsk = sk->priv;
	struct { int64_t sec, usec; } tv;
	uint64_t v;

	if (level != AF_VSOCK)  /* SOL_SOCKET options socket.c does not know land here too */
		return -ENOPROTOOPT;

	switch (name) {
	case SO_VM_SOCKETS_BUFFER_SIZE:
	case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
	case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
		if ((int)len < (int)sizeof(v))
			return -EINVAL;
		if (!val || !sp_access_ok(val, sizeof(v)))
			return -EFAULT;
		memcpy(&v, val, sizeof(v));
		if (name == SO_VM_SOCKETS_BUFFER_SIZE) {
			vsock_update_buffer_size(vsk, v);
		} else {
			if (name == SO_VM_SOCKETS_BUFFER_MAX_SIZE)
				vsk->buffer_max_size = v;
			else
				vsk->buffer_min_size = v;
			vsock_update_buffer_size(vsk, vsk->buffer_size);
		}
		return 0;
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
		/* Both are a 16-byte timeval on x86-64. */
		if ((int)len < (int)sizeof(tv))
			return -EINVAL;
		if (!val || !sp_access_ok(val, sizeof(tv)))
			return -EFAULT;
		memcpy(&tv, val, sizeof(tv));
		if (tv.sec >= 0 && tv.usec < USEC_PER_SEC && tv.sec < INT64_MAX / SP_HZ - 1) {
			uint64_t per = USEC_PER_SEC / SP_HZ;

			/* (unsigned long)tv_usec, as the kernel rounds it */
			vsk->connect_timeout = tv.sec * SP_HZ +
				(int64_t)(((uint64_t)tv.usec + per - 1) / per);
			if (vsk->connect_timeout == 0)
				vsk->connect_timeout = VSOCK_DEFAULT_CONNECT_TIMEOUT;
			return 0;
		}
		return -ERANGE;
	default:
		return -ENOPROTOOPT;
	}
}

int vsock_getsockopt(struct sp_sock *sk, int level, int name, void *val, socklen_t *lenp)
{
	struct vsock_sock *vsk = sk->priv;
	union { uint64_t val64; struct { int64_t sec, usec; } tv; } v;
	int len, lv;

	if (level != AF_VSOCK)
		return -ENOPROTOOPT;
	if (!lenp || !sp_access_ok(lenp, sizeof(*lenp)))
		return -EFAULT;
	len = (int)*lenp;
	memset(&v, 0, sizeof(v));
	switch (name) {
	case SO_VM_SOCKETS_BUFFER_SIZE:
		v.val64 = vsk->buffer_size;
		lv = sizeof(v.val64);
		break;
	case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
		v.val64 = vsk->buffer_max_size;
		lv = sizeof(v.val64);
		break;
	case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
		v.val64 = vsk->buffer_min_size;
		lv = sizeof(v.val64);
		break;
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
	case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW:
		/* sock_get_timeout(): jiffies back to a timeval */
		v.tv.sec = vsk->connect_timeout / SP_HZ;
		v.tv.usec = (vsk->connect_timeout % SP_HZ) * USEC_PER_SEC / SP_HZ;
		lv = sizeof(v.tv);
		break;
	default:
		return -ENOPROTOOPT;
	}
	if (len < lv)
		return -EINVAL;
	if (len > lv)
		len = lv;
	if (!val || !sp_access_ok(val, (size_t)len))
		return -EFAULT;
	memcpy(val, &v, (size_t)len);
	*lenp = (socklen_t)len;
	return 0;
}

/*
 * ≈ vsock_ioctl(). SIOCOUTQ is 6.12's; SIOCINQ came with a later kernel
 * (6.12 answers ENOTTY) and is served the way that kernel serves it.
 */
int vsock_ioctl(struct sp_sock *sk, unsigned long req, void *arg)
{
	struct vsock_sock *vsk = sk->priv;
	const struct vsock_transport *transport = vsk->transport;
	int64_t n;
	int v;

	switch (req) {
	case SIOCOUTQ:
		if (!transport || !transport->unsent_bytes)
			return -EOPNOTSUPP;
		if (vsk->sk_state == VSOCK_TCP_LISTEN)
			return -EINVAL;
		n = transport->unsent_bytes(vsk);
		break;
	case SIOCINQ:
		if (!transport)
			return -EOPNOTSUPP;
		if (vsk->sk_state == VSOCK_TCP_LISTEN)
			return -EINVAL;
		n = transport->stream_has_data(vsk);
		break;
	default:
		return -ENOTTY;
	}
	if (n < 0)
		return (int)n;
	if (!arg || !sp_access_ok(arg, sizeof(int)))
		return -EFAULT;
	v = (int)n;
	memcpy(arg, &v, sizeof(v));
	return 0;
}

/* ≈ vsock_poll() for a connectible socket. */
unsigned int vsock_poll(struct sp_sock *sk)
{
	struct vsock_sock *vsk = sk->priv;
	const struct vsock_transport *t = vsk->transport;
	unsigned int mask = 0;

	if (sk->err)
		mask |= POLLERR;
	if (sk->shutdown == VSOCK_SHUTDOWN_MASK ||
	    ((sk->shutdown & SP_SEND_SHUTDOWN) && (vsk->peer_shutdown & SP_SEND_SHUTDOWN)))
		mask |= POLLHUP;
	if ((sk->shutdown & SP_RCV_SHUTDOWN) || (vsk->peer_shutdown & SP_SEND_SHUTDOWN))
		mask |= POLLRDHUP;
	if (t && vsk->sk_state == VSOCK_TCP_ESTABLISHED && t->stream_has_data(vsk) > 0)
		mask |= POLLIN | POLLRDNORM;
	if (vsk->sock_done || (sk->shutdown & SP_RCV_SHUTDOWN) ||
	    (vsk->peer_shutdown & SP_SEND_SHUTDOWN))
		mask |= POLLIN | POLLRDNORM;
	if (vsk->sk_state == VSOCK_TCP_CLOSE && sk->state == SS_CONNECTING)
		mask |= POLLOUT | POLLWRNORM;   /* a failed connect is "writable" with an error */
	if (t && vsk->sk_state == VSOCK_TCP_ESTABLISHED && !(sk->shutdown & SP_SEND_SHUTDOWN) &&
	    t->stream_has_space(vsk) > 0)
		mask |= POLLOUT | POLLWRNORM;
	if ((vsk->sk_state == VSOCK_TCP_CLOSE || vsk->sk_state == VSOCK_TCP_CLOSING) &&
	    !(sk->shutdown & SP_SEND_SHUTDOWN))
		mask |= POLLOUT | POLLWRNORM;
	return mask;
}
