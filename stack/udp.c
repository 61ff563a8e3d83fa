/* SPDX-License-Identifier: MIT */
/*
 * UDP over IPv4 (≈ net/ipv4/udp.c, the datagram half of af_inet.c and
 * ip_sockglue.c). udp_sendmsg makes the kernel's checks in the kernel's
 * order: autobind, length above 65535, MSG_OOB, a pending cork, the address,
 * control messages, the route, broadcast, the size against the MTU, the send
 * buffer, the copy. sendmmsg builds every datagram of the vector into one
 * array and hands it to the port in one rte_eth_tx_burst.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_pause.h>
#include <rte_random.h>

#include "ip.h"

#define UDP_MAX_PAYLOAD (0xffff - 20 - 8)       /* 65507 */
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

struct udp_sock {
	struct sp_sock *sk;
	struct udp_sock *next;          /* all UDP sockets, for port lookups */
	struct sp_wmem wmem;
	uint32_t rcv_saddr, saddr;      /* bound address, source address (network order) */
	uint16_t sport;                 /* network order; 0: not bound (inet_num == 0) */
	uint32_t daddr;
	uint16_t dport;
	bool connected;                 /* sk_state == TCP_ESTABLISHED */
	struct sp_route dst;            /* the connected route (sk_dst_cache) */
	bool bindaddr_lock, bindport_lock;
	int uc_ttl, mc_ttl;             /* -1: sysctl ip_default_ttl */
	uint8_t tos;
	int pmtudisc;
	uint16_t inet_id;
	bool corkflag;                  /* UDP_CORK */
	/* a datagram being corked (up->pending and inet->cork) */
	bool pending;
	struct sp_route cork_rt;
	uint16_t cork_dport;
	uint8_t cork_ttl;               /* 0: the socket's at push time (cork->ttl) */
	int cork_tos;                   /* -1: the socket's at push time (cork->tos) */
	bool cork_connected;
	char *cork_buf;
	size_t cork_len;                /* payload bytes so far */
	struct sp_udp_tmpl tmpl;        /* the connected route's headers; dropped when they change */
};

/* What one send puts on the wire, gathered for one burst (≈ a batch of skbs). */
struct txbuf {
	struct rte_mbuf **pkts;
	unsigned int n, cap;
	int64_t charge;                 /* truesize of pkts[0..n) */
	unsigned int flushes;           /* times it went to the port */
};

/* sendmmsg: where each message's packets end in the txbuf, and whether it closed a cork. */
static uint32_t mmsg_end[UIO_MAXIOV];
static bool mmsg_corked[UIO_MAXIOV];

static struct udp_sock *udp_socks;
static struct txbuf tb;
/* mbufs taken from the pool in bulk, for the template path */
#define UDP_STASH 32
static struct rte_mbuf *stash[UDP_STASH];
static unsigned int stash_n;
static uint16_t ip_ident;               /* __ip_select_ident, without the hash */
static int default_ttl = 64;
static int port_lo = 32768, port_hi = 60999;

static inline struct udp_sock *udp_sk(struct sp_sock *sk)
{
	return sk->priv;
}

static void read_sysctls(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");

	if (f) {
		if (fscanf(f, "%d %d", &port_lo, &port_hi) != 2 || port_lo < 1 || port_hi < port_lo)
			port_lo = 32768, port_hi = 60999;
		fclose(f);
	}
	f = fopen("/proc/sys/net/ipv4/ip_default_ttl", "r");
	if (f) {
		if (fscanf(f, "%d", &default_ttl) != 1)
			default_ttl = 64;
		fclose(f);
	}
}

/* --- ports (≈ udp_lib_get_port) --- */

static bool port_conflict(const struct udp_sock *us, uint16_t port, uint32_t addr)
{
	const struct udp_sock *o;

	for (o = udp_socks; o; o = o->next) {
		if (o == us || o->sport != port)
			continue;
		if (o->sk->reuseaddr && us->sk->reuseaddr)
			continue;
		if (!o->rcv_saddr || !addr || o->rcv_saddr == addr)
			return true;
	}
	return false;
}

static int udp_get_port(struct udp_sock *us, uint16_t snum)
{
	int range = port_hi - port_lo + 1, i, start;

	if (snum) {
		if (port_conflict(us, rte_cpu_to_be_16(snum), us->rcv_saddr))
			return -EADDRINUSE;
		us->sport = rte_cpu_to_be_16(snum);
		return 0;
	}
	start = (int)(rte_rand() % (uint64_t)range);
	for (i = 0; i < range; i++) {
		uint16_t p = rte_cpu_to_be_16((uint16_t)(port_lo + (start + i) % range));

		if (!port_conflict(us, p, us->rcv_saddr)) {
			us->sport = p;
			return 0;
		}
	}
	return -EADDRINUSE;
}

/* ≈ inet_autobind; the kernel turns its failure into EAGAIN. */
static int udp_autobind(struct udp_sock *us)
{
	if (us->sport)
		return 0;
	return udp_get_port(us, 0) ? -EAGAIN : 0;
}

/* --- bind, connect, names --- */

static bool addr_is_ours(uint32_t a)
{
	uint32_t h = rte_be_to_cpu_32(a);
	struct sp_route rt;

	if (!a || (sp_nif && a == sp_nif->ip) || (h & 0xf0000000) == 0xe0000000 || h == 0xffffffff)
		return true;
	return sp_nif && !sp_ip_route(sp_nif, a, &rt) && rt.broadcast;
}

static int udp_bind(struct sp_sock *sk, const struct sockaddr *uaddr, socklen_t len)
{
	struct udp_sock *us = udp_sk(sk);
	struct sockaddr_in sin;
	uint16_t snum;
	uint32_t h;
	int err;

	if (len < sizeof(sin))
		return -EINVAL;
	memcpy(&sin, uaddr, sizeof(sin));
	if (sin.sin_family != AF_INET &&
	    (sin.sin_family != AF_UNSPEC || sin.sin_addr.s_addr != htonl(INADDR_ANY)))
		return -EAFNOSUPPORT;
	if (!addr_is_ours(sin.sin_addr.s_addr))
		return -EADDRNOTAVAIL;
	if (us->connected || us->sport)
		return -EINVAL;
	snum = ntohs(sin.sin_port);
	us->rcv_saddr = us->saddr = sin.sin_addr.s_addr;
	h = rte_be_to_cpu_32(sin.sin_addr.s_addr);
	if ((h & 0xf0000000) == 0xe0000000 || (h && us->saddr != (sp_nif ? sp_nif->ip : 0)))
		us->saddr = 0;                  /* multicast or broadcast: use the device's */
	err = udp_get_port(us, snum);
	if (err) {
		us->rcv_saddr = us->saddr = 0;
		return err;
	}
	us->tmpl.valid = false;
	us->bindaddr_lock = sin.sin_addr.s_addr != 0;
	us->bindport_lock = snum != 0;
	us->daddr = 0;
	us->dport = 0;
	return 0;
}

/* ≈ __udp_disconnect */
static int udp_disconnect(struct udp_sock *us)
{
	us->connected = false;
	us->tmpl.valid = false;
	us->sk->state = SS_UNCONNECTED;
	us->daddr = 0;
	us->dport = 0;
	if (!us->bindaddr_lock)
		us->rcv_saddr = us->saddr = 0;
	if (!us->bindport_lock)
		us->sport = 0;
	return 0;
}

/* ≈ inet_dgram_connect + __ip4_datagram_connect */
static int udp_connect(struct sp_sock *sk, const struct sockaddr *uaddr, socklen_t len, int flags)
{
	struct udp_sock *us = udp_sk(sk);
	struct sockaddr_in sin;
	struct sp_route rt;
	int err;

	if (len < sizeof(sa_family_t))
		return -EINVAL;
	memset(&sin, 0, sizeof(sin));
	memcpy(&sin, uaddr, len < sizeof(sin) ? len : sizeof(sin));
	if (sin.sin_family == AF_UNSPEC)
		return udp_disconnect(us);
	if (udp_autobind(us))
		return -EAGAIN;
	if (len < sizeof(sin))
		return -EINVAL;
	if (sin.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	if (!sp_nif)
		return -ENETUNREACH;
	err = sp_ip_route(sp_nif, sin.sin_addr.s_addr, &rt);
	if (err)
		return err;
	if (rt.broadcast && !sk->broadcast)
		return -EACCES;
	if (!us->saddr)
		us->saddr = rt.saddr;
	if (!us->rcv_saddr)
		us->rcv_saddr = rt.saddr;
	us->daddr = sin.sin_addr.s_addr;
	us->dport = sin.sin_port;
	us->dst = rt;
	us->dst.saddr = us->saddr;
	us->tmpl.valid = false;         /* built on the first send */
	us->connected = true;
	sk->state = SS_CONNECTED;
	us->inet_id = (uint16_t)rte_rand();
	return 0;
}

static int udp_getname(struct sp_sock *sk, struct sockaddr *addr, int peer)
{
	struct udp_sock *us = udp_sk(sk);
	struct sockaddr_in *sin = (struct sockaddr_in *)addr;

	sin->sin_family = AF_INET;
	if (peer) {
		if (!us->dport || !us->connected)
			return -ENOTCONN;
		sin->sin_port = us->dport;
		sin->sin_addr.s_addr = us->daddr;
	} else {
		sin->sin_port = us->sport;
		sin->sin_addr.s_addr = us->rcv_saddr;
	}
	return sizeof(*sin);
}

/* ≈ inet_shutdown: an unconnected socket says ENOTCONN and is shut down all the same. */
static int udp_shutdown(struct sp_sock *sk, int how)
{
	struct udp_sock *us = udp_sk(sk);

	how++;
	if ((how & ~(SP_RCV_SHUTDOWN | SP_SEND_SHUTDOWN)) || !how)
		return -EINVAL;
	sk->shutdown |= how;
	return us->connected ? 0 : -ENOTCONN;
}

/* --- the send path --- */

/* Per-call IP settings (≈ struct ipcm_cookie). */
struct ipc {
	int ttl, tos;
	uint32_t saddr;
};

/* ≈ udp_cmsg_send + ip_cmsg_send for what a datagram sender can ask. */
static int udp_cmsg(const struct sp_msg *m, struct ipc *ipc)
{
	const char *base = m->control, *end = base + m->controllen;
	const struct cmsghdr *c;
	int val;

	for (c = m->controllen >= sizeof(*c) ? (const struct cmsghdr *)base : NULL; c;) {
		if (c->cmsg_len < sizeof(*c) || c->cmsg_len > (size_t)(end - (const char *)c))
			return -EINVAL;
		if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_SEGMENT) {
			if (c->cmsg_len != CMSG_LEN(sizeof(uint16_t)))
				return -EINVAL;
			return -EOPNOTSUPP;     /* no GSO here: see docs/differences-udp.md */
		} else if (c->cmsg_level == SOL_SOCKET) {
			return -EINVAL;         /* SO_TIMESTAMPING, SO_MARK, SCM_TXTIME: not carried */
		} else if (c->cmsg_level == SOL_IP) {
			switch (c->cmsg_type) {
			case IP_TTL:
				if (c->cmsg_len != CMSG_LEN(sizeof(int)))
					return -EINVAL;
				memcpy(&val, CMSG_DATA(c), sizeof(val));
				if (val < 1 || val > 255)
					return -EINVAL;
				ipc->ttl = val;
				break;
			case IP_TOS:
				if (c->cmsg_len == CMSG_LEN(sizeof(int)))
					memcpy(&val, CMSG_DATA(c), sizeof(val));
				else if (c->cmsg_len == CMSG_LEN(sizeof(uint8_t)))
					val = *(const uint8_t *)CMSG_DATA(c);
				else
					return -EINVAL;
				if (val < 0 || val > 255)
					return -EINVAL;
				ipc->tos = val;
				break;
			case IP_PKTINFO: {
				struct in_pktinfo pi;

				if (c->cmsg_len != CMSG_LEN(sizeof(pi)))
					return -EINVAL;
				memcpy(&pi, CMSG_DATA(c), sizeof(pi));
				ipc->saddr = pi.ipi_spec_dst.s_addr;
				break;
			}
			default:
				return -EINVAL;
			}
		}
		/* CMSG_NXTHDR on the caller's buffer */
		{
			size_t step = CMSG_ALIGN(c->cmsg_len);
			const char *next = (const char *)c + step;

			c = (next + sizeof(*c) <= end) ? (const struct cmsghdr *)next : NULL;
		}
	}
	return 0;
}

static int txbuf_flush(struct udp_sock *us)
{
	if (tb.n) {
		sp_netif_xmit(sp_nif, tb.pkts, tb.n, us ? &us->wmem : NULL);
		tb.n = 0;
		tb.charge = 0;
		tb.flushes++;
	}
	return 0;
}

/*
 * The kernel's device drains its queue by itself; ours drains when polled.
 * Before a send returns, what the port did not take is offered again for a
 * short, bounded time; the rest goes on the next send or sp_poll.
 */
#define UDP_TX_RETRY_NS 20000

static void udp_push_backlog(void)
{
	uint64_t deadline;

	if (!sp_nif || !sp_nif->bl_len)
		return;
	deadline = sp_now_ns() + UDP_TX_RETRY_NS;
	while (sp_netif_flush(sp_nif), sp_nif->bl_len && sp_now_ns() < deadline)
		rte_pause();
}

/*
 * ≈ sock_alloc_send_pskb's checks: pending error, SEND_SHUTDOWN, then room
 * in the send buffer, waiting by polling for as long as SO_SNDTIMEO allows.
 */
static int udp_wait_wmem(struct udp_sock *us, int flags)
{
	struct sp_sock *sk = us->sk;
	int64_t timeo;
	uint64_t deadline = 0;
	int err;

	err = sp_sock_error(sk);
	if (err)
		return err;
	if (sk->shutdown & SP_SEND_SHUTDOWN)
		return -EPIPE;
	/*
	 * A vector waits in the txbuf for one burst. While the port takes all
	 * (no backlog) it will take the txbuf too (udp_sendmmsg checks again
	 * what it did not); once it refuses, the txbuf is headed for the
	 * backlog and counts against the send buffer now.
	 */
	if (us->wmem.alloc + (sp_nif->bl_len ? tb.charge : 0) < sk->sndbuf)
		return 0;
	txbuf_flush(us);
	sp_netif_flush(sp_nif);
	sp_netif_drop_if_down(sp_nif);
	if (us->wmem.alloc < sk->sndbuf)
		return 0;
	timeo = sp_sock_sndtimeo_ns(sk, flags);
	if (!timeo)
		return -EAGAIN;
	if (timeo != INT64_MAX)
		deadline = sp_now_ns() + (uint64_t)timeo;
	while (us->wmem.alloc >= sk->sndbuf) {
		sp_progress();
		sp_netif_flush(sp_nif);
		sp_netif_drop_if_down(sp_nif);  /* a dead port: the kernel drops, never waits */
		/* sock_alloc_send_pskb looks at these on every round of its wait */
		err = sp_sock_error(sk);
		if (err)
			return err;
		if (sk->shutdown & SP_SEND_SHUTDOWN)
			return -EPIPE;
		if (deadline && sp_now_ns() >= deadline)
			return -EAGAIN;
		rte_pause();
	}
	return 0;
}

static void ipc_defaults(const struct udp_sock *us, struct ipc *ipc)
{
	ipc->ttl = -1;
	ipc->tos = -1;
	ipc->saddr = us->saddr;
}

/* DF and the largest datagram the IP layer takes (ip_dont_fragment, ip_sk_ignore_df). */
static size_t max_ulen(const struct udp_sock *us)
{
	if (us->pmtudisc < IP_PMTUDISC_DO || us->pmtudisc == IP_PMTUDISC_OMIT)
		return 0xffff - 20;
	return (size_t)sp_nif->mtu - 20;
}

static bool want_df(const struct udp_sock *us, size_t ulen)
{
	return us->pmtudisc == IP_PMTUDISC_DO || us->pmtudisc == IP_PMTUDISC_PROBE ||
	       (us->pmtudisc == IP_PMTUDISC_WANT && ulen + 20 <= sp_nif->mtu);
}

/* ≈ ip_select_ident_segs */
static uint16_t select_ident(struct udp_sock *us, bool df)
{
	if (us->connected)
		return ++us->inet_id;
	if (df)
		return 0;
	return ++ip_ident;
}

/* Builds one datagram into the txbuf and resolves its neighbour. */
static int udp_emit(struct udp_sock *us, const struct sp_route *rt, uint16_t dport,
		    int ttl, int tos, bool connected, const void *head, size_t head_len,
		    struct sp_iov_iter *tail, size_t tail_len)
{
	struct sp_netif *nif = sp_nif;
	size_t ulen = 8 + head_len + tail_len;
	unsigned int need = ulen + 20 <= nif->mtu ? 1 : sp_ip_max_frags(nif);
	struct sp_udp_dgram d = {
		.rt = rt, .sport = us->sport, .dport = dport,
		.head = head, .head_len = head_len, .tail = tail, .tail_len = tail_len,
	};
	int n;

	if (tb.n + need > tb.cap)
		txbuf_flush(us);
	if (ttl < 0)
		ttl = rt->multicast ? us->mc_ttl : (us->uc_ttl < 0 ? default_ttl : us->uc_ttl);
	d.ttl = (uint8_t)ttl;
	d.tos = (uint8_t)(tos < 0 ? us->tos : tos);
	d.df = want_df(us, ulen);
	(void)connected;
	d.ip_id = select_ident(us, d.df);
	n = sp_ip_udp_build(nif, &d, tb.pkts + tb.n, tb.cap - tb.n);
	if (n < 0)
		return n;
	n = (int)sp_neigh_output(nif, rt, tb.pkts + tb.n, (unsigned int)n);
	for (int i = 0; i < n; i++)
		tb.charge += sp_pkt_truesize(tb.pkts[tb.n + i]);
	tb.n += (unsigned int)n;
	return 0;
}

static void udp_flush_pending(struct udp_sock *us)
{
	us->pending = false;
	us->cork_len = 0;
}

/* ≈ udp_push_pending_frames: the corked bytes become one datagram. */
static int udp_push_pending(struct udp_sock *us, struct sp_iov_iter *tail, size_t tail_len)
{
	int err;

	err = udp_emit(us, &us->cork_rt, us->cork_dport, us->cork_ttl ? us->cork_ttl : -1,
		       us->cork_tos, us->cork_connected, us->cork_buf, us->cork_len, tail, tail_len);
	udp_flush_pending(us);
	return err;
}

static struct rte_mbuf *stash_get(void)
{
	if (!stash_n) {
		if (rte_pktmbuf_alloc_bulk(sp_nif->pool, stash, UDP_STASH))
			return NULL;
		stash_n = UDP_STASH;
	}
	return stash[--stash_n];
}

/* The template for the connected route, (re)built when stale; false: not usable now. */
static bool udp_tmpl_ready(struct udp_sock *us)
{
	const struct sp_route *rt = &us->dst;
	int ttl;

	if (us->tmpl.valid && us->tmpl.neigh_gen == sp_neigh_gen)
		return true;
	ttl = rt->multicast ? us->mc_ttl : (us->uc_ttl < 0 ? default_ttl : us->uc_ttl);
	/* the template only serves datagrams that fit the MTU: DF as want_df says for those */
	return sp_udp_tmpl_build(sp_nif, rt, us->sport, us->dport, (uint8_t)ttl, us->tos,
				 us->pmtudisc != IP_PMTUDISC_DONT && us->pmtudisc != IP_PMTUDISC_OMIT,
				 &us->tmpl);
}

/*
 * The common case of a connected socket, from its template: no address, no
 * control messages, no cork, fits the MTU, nothing to wait for. Each check
 * udp_send_one would make passes here or the message goes there, so the
 * answer is the same; only the work differs. The socket's half of the checks
 * holds for a whole vector until a message takes the slow path.
 */
static bool udp_fast_sock(struct udp_sock *us)
{
	const struct sp_sock *sk = us->sk;

	return us->connected && !us->pending && !us->corkflag && sp_nif && !sk->err &&
	       !(sk->shutdown & SP_SEND_SHUTDOWN) && (!us->dst.broadcast || sk->broadcast) &&
	       udp_tmpl_ready(us);
}

/* The message's half, after udp_fast_sock; false: take the slow path. */
static bool udp_send_fast(struct udp_sock *us, struct sp_msg *m, ssize_t *ret)
{
	struct sp_netif *nif = sp_nif;
	struct rte_mbuf *mb;

	if (m->name || m->controllen || (m->flags & (MSG_MORE | MSG_OOB)) || m->len + 28 > nif->mtu ||
	    us->wmem.alloc + (nif->bl_len ? tb.charge : 0) >= us->sk->sndbuf || tb.n + 1 > tb.cap)
		return false;
	mb = stash_get();
	if (!mb)
		return false;           /* the slow path says ENOBUFS */
	if (sp_ip_udp_build_tmpl(nif, &us->tmpl, (uint16_t)(us->inet_id + 1), m->iov, m->iovlen,
				 m->len, mb)) {
		stash[stash_n++] = mb;  /* untouched but for data: still fresh */
		return false;           /* a bad buffer: the slow path says EFAULT */
	}
	us->inet_id++;
	tb.pkts[tb.n++] = mb;
	tb.charge += sp_pkt_truesize(mb);
	*ret = (ssize_t)m->len;
	return true;
}

/*
 * One message into the txbuf; the caller sends the txbuf. ≈ udp_sendmsg.
 * Callers try udp_send_fast first.
 */
static ssize_t udp_send_one(struct udp_sock *us, struct sp_msg *m)
{
	struct sp_sock *sk = us->sk;
	size_t len = m->len;
	bool corkreq = us->corkflag || (m->flags & MSG_MORE);
	struct sp_iov_iter it;
	struct sockaddr_in sin;
	struct sp_route rt;
	struct ipc ipc;
	uint32_t daddr;
	uint16_t dport;
	bool connected = false;
	int err;

	if (udp_autobind(us))                   /* inet_send_prepare */
		return -EAGAIN;
	if (len > 0xffff)
		return -EMSGSIZE;
	if (m->flags & MSG_OOB)
		return -EOPNOTSUPP;
	if (us->pending)
		goto append;

	if (m->name) {
		if (m->namelen < sizeof(sin))
			return -EINVAL;
		memcpy(&sin, m->name, sizeof(sin));
		if (sin.sin_family != AF_INET && sin.sin_family != AF_UNSPEC)
			return -EAFNOSUPPORT;
		daddr = sin.sin_addr.s_addr;
		dport = sin.sin_port;
		if (dport == 0)
			return -EINVAL;
	} else {
		if (!us->connected)
			return -EDESTADDRREQ;
		daddr = us->daddr;
		dport = us->dport;
		connected = true;
	}
	ipc_defaults(us, &ipc);
	if (m->controllen) {
		err = udp_cmsg(m, &ipc);
		if (err)
			return err;
	}
	if (!sp_nif)
		return -ENETUNREACH;
	if (connected && !m->controllen) {
		rt = us->dst;           /* the fast path for connected sockets, as sk_dst_check */
	} else {
		err = sp_ip_route(sp_nif, daddr, &rt);
		if (err)
			return err;
		if (ipc.saddr) {
			if (!addr_is_ours(ipc.saddr))
				return -EINVAL;
			rt.saddr = ipc.saddr;
		}
	}
	if (rt.broadcast && !sk->broadcast)
		return -EACCES;

	if (!corkreq) {
		/* ip_make_skb: size, then buffer space, then the copy */
		if (8 + len > max_ulen(us))
			return -EMSGSIZE;
		err = udp_wait_wmem(us, m->flags);
		if (err)
			return err;
		sp_iter_init(&it, m);
		err = udp_emit(us, &rt, dport, ipc.ttl, ipc.tos, connected, NULL, 0, &it, len);
		return err ? err : (ssize_t)len;
	}
	us->pending = true;
	us->cork_rt = rt;
	us->cork_dport = dport;
	us->cork_ttl = (uint8_t)(ipc.ttl < 0 ? 0 : ipc.ttl);
	us->cork_tos = ipc.tos;
	us->cork_connected = connected;
	us->cork_len = 0;
append:
	/* ≈ ip_append_data: an error drops everything corked so far */
	if (8 + us->cork_len + len > max_ulen(us)) {
		udp_flush_pending(us);
		return -EMSGSIZE;
	}
	/* the kernel allocates (and may wait or fail) for the first piece; later
	 * pieces go into the corked skb's room */
	if (!us->cork_len) {
		err = udp_wait_wmem(us, m->flags);
		if (err) {
			udp_flush_pending(us);
			return err;
		}
	}
	sp_iter_init(&it, m);
	if (!corkreq)
		return udp_push_pending(us, &it, len) ?: (ssize_t)len;
	if (sp_iter_copy(&it, us->cork_buf + us->cork_len, len) != (ssize_t)len) {
		udp_flush_pending(us);
		return -EFAULT;
	}
	us->cork_len += len;
	return (ssize_t)len;
}

static ssize_t udp_sendmsg(struct sp_sock *sk, struct sp_msg *m)
{
	struct udp_sock *us = udp_sk(sk);
	ssize_t ret;

	if (!udp_fast_sock(us) || !udp_send_fast(us, m, &ret))
		ret = udp_send_one(us, m);
	txbuf_flush(us);
	udp_push_backlog();
	return ret;
}

/*
 * After the burst: what the port did not take would be charged to the send
 * buffer, so each such datagram passes the check the kernel makes when it
 * allocates it (room, or wait as SO_SNDTIMEO allows). The first that fails
 * ends the vector there, as __sys_sendmmsg ends: it and every later one are
 * dropped unsent. Messages before base already went out in an earlier flush.
 */
static unsigned int udp_mmsg_burst(struct udp_sock *us, struct sp_msg *m, unsigned int base, unsigned int k)
{
	struct rte_mbuf **p = tb.pkts;
	unsigned int total = tb.n, taken, j, start, i;
	int err;

	if (!total)
		return k;
	tb.n = 0;
	tb.charge = 0;
	tb.flushes++;
	taken = sp_netif_xmit_now(sp_nif, p, total);
	for (j = base; j < k && taken < total; j++) {
		start = j == base ? 0 : mmsg_end[j - 1];
		if (mmsg_end[j] <= taken || start == mmsg_end[j])
			continue;               /* on the port already, or no packets */
		if (start < taken) {
			start = taken;          /* the port took part of it: the rest follows */
		} else if (!mmsg_corked[j] && m[j].ret >= 0) {
			err = udp_wait_wmem(us, m[j].flags);
			if (err) {
				for (i = start; i < total; i++)
					rte_pktmbuf_free(p[i]);
				m[j].ret = err;
				if (us->pending)        /* a cork a later message began */
					udp_flush_pending(us);
				return j + 1;
			}
		}
		sp_netif_xmit(sp_nif, p + start, mmsg_end[j] - start, &us->wmem);
	}
	return k;
}

/* The whole vector in one burst; stops at the first failure as __sys_sendmmsg does. */
static unsigned int udp_sendmmsg(struct sp_sock *sk, struct sp_msg *m, unsigned int n)
{
	struct udp_sock *us = udp_sk(sk);
	unsigned int i, base = 0, flushes;
	bool fast = udp_fast_sock(us);

	for (i = 0; i < n; i++) {
		mmsg_corked[i] = us->pending;
		flushes = tb.flushes;
		if (!fast || !udp_send_fast(us, &m[i], &m[i].ret)) {
			m[i].ret = udp_send_one(us, &m[i]);
			fast = udp_fast_sock(us);       /* it may have polled, corked, failed */
		}
		if (tb.flushes != flushes)
			base = i;       /* earlier messages went to the port or the backlog */
		mmsg_end[i] = tb.n;
		if (m[i].ret < 0) {
			i++;
			break;
		}
	}
	i = udp_mmsg_burst(us, m, base, i);
	udp_push_backlog();
	return i;
}

/* --- ICMP errors (≈ __udp4_lib_err) --- */

/* icmp_err_convert[]: destination unreachable codes, their errno and whether they are fatal. */
static const struct { int err; bool fatal; } unreach[16] = {
	{ ENETUNREACH, false }, { EHOSTUNREACH, false }, { ENOPROTOOPT, true }, { ECONNREFUSED, true },
	{ EMSGSIZE, false }, { EOPNOTSUPP, false }, { ENETUNREACH, true }, { EHOSTDOWN, true },
	{ ENONET, true }, { ENETUNREACH, true }, { EHOSTUNREACH, true }, { ENETUNREACH, false },
	{ EHOSTUNREACH, false }, { EHOSTUNREACH, true }, { EHOSTUNREACH, true }, { EHOSTUNREACH, true },
};

/* The socket the datagram came from: its port, and a connected one only to its peer. */
static struct udp_sock *udp_err_lookup(uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport)
{
	struct udp_sock *us, *best = NULL;
	int best_score = -1;

	for (us = udp_socks; us; us = us->next) {
		int score = 0;

		if (us->sport != sport || (us->rcv_saddr && us->rcv_saddr != saddr))
			continue;
		if (us->connected) {
			if (us->daddr != daddr || us->dport != dport)
				continue;
			score += 4;
		}
		score += us->rcv_saddr ? 2 : 0;
		if (score > best_score) {
			best = us;
			best_score = score;
		}
	}
	return best;
}

void sp_udp_err(uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport, int type, int code)
{
	struct udp_sock *us = udp_err_lookup(saddr, sport, daddr, dport);
	bool harderr = false;
	int err;

	if (!us)
		return;
	switch (type) {
	case 3:         /* destination unreachable */
		if (code == 4) {
			/* fragmentation needed: the kernel also lowers the path MTU; our MTU is fixed */
			if (us->pmtudisc == IP_PMTUDISC_DONT)
				return;
			err = EMSGSIZE;
			harderr = true;
		} else if (code < 16) {
			err = unreach[code].err;
			harderr = unreach[code].fatal;
		} else {
			err = EHOSTUNREACH;
		}
		break;
	case 11:        /* time exceeded */
		err = EHOSTUNREACH;
		break;
	case 12:        /* parameter problem */
		err = EPROTO;
		harderr = true;
		break;
	default:
		return;
	}
	/* without IP_RECVERR only hard errors, and only on a connected socket, are reported */
	if (!harderr || !us->connected)
		return;
	us->sk->err = err;
}

/* --- options --- */

static int udp_setsockopt(struct sp_sock *sk, int level, int name, const void *optval, socklen_t optlen)
{
	struct udp_sock *us = udp_sk(sk);
	int val = 0;

	if (level == SOL_UDP) {
		if (optlen < sizeof(int))
			return -EINVAL;
		if (!optval)
			return -EFAULT;
		memcpy(&val, optval, sizeof(val));
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		if (val) {
			us->corkflag = true;
		} else {
			us->corkflag = false;
			if (us->pending) {
				struct sp_msg none = { 0 };
				struct sp_iov_iter it;

				sp_iter_init(&it, &none);
				udp_push_pending(us, &it, 0);
				txbuf_flush(us);
			}
		}
		return 0;
	}
	if (level != SOL_IP)
		return -ENOPROTOOPT;
	us->tmpl.valid = false;         /* TTL, TOS, DF live in the template */
	if (optlen >= sizeof(int)) {
		if (!optval)
			return -EFAULT;
		memcpy(&val, optval, sizeof(val));
	} else if (optlen >= 1) {
		if (!optval)
			return -EFAULT;
		val = *(const unsigned char *)optval;
	}
	switch (name) {
	case IP_TOS:
		us->tos = (uint8_t)val;
		return 0;
	case IP_TTL:
		if (optlen < 1 || (val != -1 && (val < 1 || val > 255)))
			return -EINVAL;
		us->uc_ttl = val;
		return 0;
	case IP_MULTICAST_TTL:
		if (optlen < 1)
			return -EINVAL;
		if (val == -1)
			val = 1;
		if (val < 0 || val > 255)
			return -EINVAL;
		us->mc_ttl = val;
		return 0;
	case IP_MTU_DISCOVER:
		if (val < IP_PMTUDISC_DONT || val > IP_PMTUDISC_OMIT)
			return -EINVAL;
		us->pmtudisc = val;
		return 0;
	default:
		return -ENOPROTOOPT;
	}
}

static int udp_getsockopt(struct sp_sock *sk, int level, int name, void *optval, socklen_t *optlen)
{
	struct udp_sock *us = udp_sk(sk);
	int len, val;

	if (!optlen)
		return -EFAULT;
	len = (int)*optlen;
	if (level == SOL_UDP) {
		len = (unsigned int)len < sizeof(int) ? len : (int)sizeof(int);
		if (name != UDP_CORK)
			return -ENOPROTOOPT;
		val = us->corkflag;
		if (len && !optval)
			return -EFAULT;
		memcpy(optval, &val, (size_t)len);
		*optlen = (socklen_t)len;
		return 0;
	}
	if (level != SOL_IP)
		return -ENOPROTOOPT;
	if (len < 0)
		return -EINVAL;
	switch (name) {
	case IP_TOS:
		val = us->tos;
		break;
	case IP_TTL:
		val = us->uc_ttl < 0 ? default_ttl : us->uc_ttl;
		break;
	case IP_MULTICAST_TTL:
		val = us->mc_ttl;
		break;
	case IP_MTU_DISCOVER:
		val = us->pmtudisc;
		break;
	case IP_MTU:
		if (!us->connected || !sp_nif)
			return -ENOTCONN;
		val = sp_nif->mtu;
		break;
	default:
		return -ENOPROTOOPT;
	}
	if (len > 0 && len < (int)sizeof(int) && val >= 0 && val <= 255) {
		unsigned char uc = (unsigned char)val;

		if (!optval)
			return -EFAULT;
		*optlen = 1;
		memcpy(optval, &uc, 1);
		return 0;
	}
	len = len < (int)sizeof(int) ? len : (int)sizeof(int);
	if (len && !optval)
		return -EFAULT;
	*optlen = (socklen_t)len;
	memcpy(optval, &val, (size_t)len);
	return 0;
}

static int udp_ioctl(struct sp_sock *sk, unsigned long req, void *arg)
{
	struct udp_sock *us = udp_sk(sk);
	int v;

	switch (req) {
	case SIOCOUTQ:
		v = (int)us->wmem.alloc;
		break;
	case SIOCINQ:
		v = 0;                  /* nothing is received on this stack's UDP sockets */
		break;
	default:
		return -ENOTTY;
	}
	if (!arg || !sp_access_ok(arg, sizeof(int)))
		return -EFAULT;
	memcpy(arg, &v, sizeof(v));
	return 0;
}

static unsigned int udp_poll(struct sp_sock *sk)
{
	struct udp_sock *us = udp_sk(sk);

	return us->wmem.alloc < sk->sndbuf ? POLLOUT : 0;
}

static void udp_release(struct sp_sock *sk)
{
	struct udp_sock *us = udp_sk(sk), **pp;

	if (!us)
		return;
	if (sp_nif)
		sp_netif_disown(sp_nif, &us->wmem);
	for (pp = &udp_socks; *pp; pp = &(*pp)->next)
		if (*pp == us) {
			*pp = us->next;
			break;
		}
	free(us->cork_buf);
	free(us);
	sk->priv = NULL;
}

static const struct sp_proto_ops udp_ops = {
	.bind = udp_bind,
	.connect = udp_connect,
	.getname = udp_getname,
	.sendmsg = udp_sendmsg,
	.sendmmsg = udp_sendmmsg,
	.shutdown = udp_shutdown,
	.release = udp_release,
	.setsockopt = udp_setsockopt,
	.getsockopt = udp_getsockopt,
	.ioctl = udp_ioctl,
	.poll = udp_poll,
};

/* --- the family --- */

static int udp_create(struct sp_sock *sk, int protocol)
{
	struct udp_sock *us;

	if (protocol < 0 || protocol >= IPPROTO_MAX)
		return -EINVAL;
	if (protocol && protocol != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	us = calloc(1, sizeof(*us));
	if (!us)
		return -ENOMEM;
	us->cork_buf = malloc(0x10000);
	if (!us->cork_buf) {
		free(us);
		return -ENOMEM;
	}
	us->sk = sk;
	us->uc_ttl = -1;
	us->mc_ttl = 1;
	us->pmtudisc = IP_PMTUDISC_WANT;        /* ip_no_pmtu_disc = 0 */
	sk->protocol = IPPROTO_UDP;
	sk->ops = &udp_ops;
	sk->priv = us;
	us->next = udp_socks;
	udp_socks = us;
	return 0;
}

static int udp_init(const struct sp_init_cfg *cfg)
{
	int err;

	if (cfg->udp_port < 0 || (cfg->udp_port == 0 && cfg->udp_ip == 0))
		return -ENODEV;                 /* no UDP configured */
	read_sysctls();
	err = sp_netif_open(cfg);
	if (!err)
		err = sp_neigh_from_env();
	if (err) {
		sp_netif_close();
		return err;
	}
	/* a whole sendmmsg vector of single-packet datagrams is one burst */
	tb.cap = UIO_MAXIOV + sp_ip_max_frags(sp_nif);
	tb.pkts = calloc(tb.cap, sizeof(*tb.pkts));
	if (!tb.pkts) {
		sp_netif_close();
		return -ENOMEM;
	}
	tb.n = 0;
	tb.charge = 0;
	ip_ident = (uint16_t)rte_rand();
	return 0;
}

static void udp_fini(void)
{
	if (stash_n)
		rte_pktmbuf_free_bulk(stash, stash_n);
	stash_n = 0;
	sp_netif_close();
	free(tb.pkts);
	tb.pkts = NULL;
	tb.cap = 0;
}

static int udp_progress(void)
{
	if (!sp_nif)
		return 0;
	return (int)sp_netif_flush(sp_nif) + sp_neigh_progress(sp_nif);
}

const struct sp_family sp_udp_family = {
	.name = "udp",
	.domain = AF_INET,
	.type = SOCK_DGRAM,
	.protocol = IPPROTO_UDP,
	.create = udp_create,
	.init = udp_init,
	.fini = udp_fini,
	.progress = udp_progress,
};
