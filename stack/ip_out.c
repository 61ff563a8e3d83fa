/* SPDX-License-Identifier: MIT */
/*
 * IPv4 output (≈ net/ipv4/route.c for one interface, ip_output.c, the qdisc):
 * the port, the route to a next hop, Ethernet + IPv4 + UDP headers built in
 * place in the mbuf headroom, checksums by the port or in software, datagrams
 * above the MTU fragmented by librte_ip_frag at the kernel's fragment size,
 * and the transmit backlog.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_ip_frag.h>
#include <rte_udp.h>

#include "ip.h"

#define NB_MBUF         8191
#define NB_TXD          1024
#define NB_RXD          512
#define L2_LEN          sizeof(struct rte_ether_hdr)
#define L3_LEN          sizeof(struct rte_ipv4_hdr)
#define L4_LEN          sizeof(struct rte_udp_hdr)

struct sp_netif *sp_nif;
static struct sp_netif netif;

/* --- the port --- */

/*
 * UDP checksums by the port or by us ($SP_UDP_CSUM=offload|sw overrides).
 * A NIC's offload is free. On virtio and tap the "offload" is software too,
 * only elsewhere: net_tap sums in our own process, and a vhost-user peer
 * parses every NEEDS_CSUM frame (DPDK's vhost computes the sum as well
 * unless its application takes Rx checksum offload). Summing while the
 * payload is copied costs the sender less than that costs the receiver,
 * and the frames are complete for any peer: those default to software.
 */
static bool csum_offload_wanted(const struct rte_eth_dev_info *info)
{
	const char *env = getenv("SP_UDP_CSUM");
	const char *drv = info->driver_name ? info->driver_name : "";

	if (env && !strcmp(env, "sw"))
		return false;
	if (env && !strcmp(env, "offload"))
		return true;
	return strncmp(drv, "net_virtio", 10) && strcmp(drv, "net_tap");
}

int sp_netif_open(const struct sp_init_cfg *cfg)
{
	struct sp_netif *nif = &netif;
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t port = (uint16_t)cfg->udp_port, nb_txd = NB_TXD, nb_rxd = NB_RXD, mtu;
	unsigned int room;
	char name[RTE_MEMPOOL_NAMESIZE];
	int socket, ret;

	if (!rte_eth_dev_is_valid_port(port)) {
		fprintf(stderr, "udp: port %d does not exist\n", cfg->udp_port);
		return -ENXIO;  /* not -ENODEV: that would read as "UDP not configured" */
	}
	memset(nif, 0, sizeof(*nif));
	nif->port_id = port;
	nif->ip = cfg->udp_ip;
	nif->netmask = cfg->udp_netmask ? cfg->udp_netmask : rte_cpu_to_be_32(0xffffff00);
	nif->gateway = cfg->udp_gateway;
	ret = rte_eth_dev_info_get(port, &info);
	if (ret)
		return ret;
	if (cfg->udp_mtu)
		mtu = cfg->udp_mtu;
	else if (rte_eth_dev_get_mtu(port, &mtu) || mtu == 0)
		mtu = RTE_ETHER_MTU;
	if (mtu < 68) {
		fprintf(stderr, "udp: MTU %u is below IPv4's minimum of 68\n", mtu);
		return -EINVAL;
	}
	nif->mtu = mtu;

	socket = rte_eth_dev_socket_id(port);
	if (socket < 0)
		socket = (int)rte_socket_id();
	room = RTE_PKTMBUF_HEADROOM + RTE_MAX(2048u, (unsigned int)mtu + L2_LEN + 4);
	snprintf(name, sizeof(name), "sp_udp_%u", port);
	nif->pool = rte_mempool_lookup(name);
	if (!nif->pool)
		nif->pool = rte_pktmbuf_pool_create(name, NB_MBUF, 256, 0, (uint16_t)room, socket);
	snprintf(name, sizeof(name), "sp_udp_ind_%u", port);
	nif->indirect = rte_mempool_lookup(name);
	if (!nif->indirect)
		nif->indirect = rte_pktmbuf_pool_create(name, NB_MBUF, 256, 0, 0, socket);
	if (!nif->pool || !nif->indirect) {
		fprintf(stderr, "udp: no memory for mbuf pools: %s\n", rte_strerror(rte_errno));
		return -ENOMEM;
	}

	memset(&conf, 0, sizeof(conf));
	/* as the kernel hands CHECKSUM_PARTIAL to a device that has NETIF_F_HW_CSUM */
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
		nif->ip_csum_offload = true;
	}
	if ((info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) && csum_offload_wanted(&info)) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
		nif->udp_csum_offload = true;
	}
	if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) {
		conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
		nif->multi_seg = true;
	}
	nif->can_rx = info.max_rx_queues != 0;
	ret = rte_eth_dev_configure(port, nif->can_rx ? 1 : 0, 1, &conf);
	if (ret) {
		fprintf(stderr, "udp: port %u: configure: %s\n", port, strerror(-ret));
		return ret;
	}
	rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
	if (nif->can_rx) {
		ret = rte_eth_rx_queue_setup(port, 0, nb_rxd, (unsigned int)socket, NULL, nif->pool);
		if (ret) {
			fprintf(stderr, "udp: port %u: rx queue: %s\n", port, strerror(-ret));
			return ret;
		}
	}
	ret = rte_eth_tx_queue_setup(port, 0, nb_txd, (unsigned int)socket, NULL);
	if (!ret)
		ret = rte_eth_dev_start(port);
	if (ret) {
		fprintf(stderr, "udp: port %u: start: %s\n", port, strerror(-ret));
		return ret;
	}
	nif->started = true;
	rte_eth_macaddr_get(port, &nif->mac);
	sp_nif = nif;
	return 0;
}

void sp_netif_close(void)
{
	struct sp_netif *nif = sp_nif;

	if (!nif)
		return;
	sp_netif_flush(nif);
	while (nif->bl_len) {
		rte_pktmbuf_free(nif->backlog[nif->bl_head]);
		nif->bl_head = (nif->bl_head + 1) % SP_BACKLOG;
		nif->bl_len--;
	}
	sp_neigh_flush();
	if (nif->started) {
		rte_eth_dev_stop(nif->port_id);
		nif->started = false;
	}
	sp_nif = NULL;
}

/* --- routing --- */

int sp_ip_route(const struct sp_netif *nif, uint32_t daddr, struct sp_route *rt)
{
	uint32_t d = rte_be_to_cpu_32(daddr), mask = rte_be_to_cpu_32(nif->netmask);
	uint32_t self = rte_be_to_cpu_32(nif->ip);

	memset(rt, 0, sizeof(*rt));
	rt->saddr = nif->ip;
	rt->daddr = daddr;
	rt->nexthop = daddr;
	if (d == 0xffffffff) {
		rt->broadcast = true;
	} else if ((d & 0xf0000000) == 0xe0000000) {
		rt->multicast = true;
	} else if (d == 0 || d == self || (d >> 24) == 127) {
		/* the kernel loops these back to itself; there is no loopback here */
		return -ENETUNREACH;
	} else if ((d & mask) == (self & mask)) {
		if (mask < 0xfffffffe && d == (self | ~mask))
			rt->broadcast = true;
	} else if (nif->gateway) {
		rt->nexthop = nif->gateway;
	} else {
		return -ENETUNREACH;
	}
	return 0;
}

/* --- building --- */

uint32_t sp_pkt_truesize(const struct rte_mbuf *m)
{
	return (uint32_t)(m->nb_segs * (m->buf_len + sizeof(struct rte_mbuf)));
}

unsigned int sp_ip_max_frags(const struct sp_netif *nif)
{
	unsigned int frag = ((unsigned int)nif->mtu - L3_LEN) & ~7u;

	return (65535 - L3_LEN + frag - 1) / frag;
}

static void ip_hdr_fill(struct rte_ipv4_hdr *ip, const struct sp_udp_dgram *d, size_t ulen)
{
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = d->tos;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(L3_LEN + ulen));
	ip->packet_id = rte_cpu_to_be_16(d->ip_id);
	ip->fragment_offset = d->df ? rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG) : 0;
	ip->time_to_live = d->ttl;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = d->rt->saddr;
	ip->dst_addr = d->rt->daddr;
}

static void udp_hdr_fill(struct rte_udp_hdr *uh, const struct sp_udp_dgram *d, size_t ulen)
{
	uh->src_port = d->sport;
	uh->dst_port = d->dport;
	uh->dgram_len = rte_cpu_to_be_16((uint16_t)ulen);
	uh->dgram_cksum = 0;
}

static void eth_hdr_fill(struct rte_ether_hdr *eh, const struct sp_netif *nif)
{
	memset(&eh->dst_addr, 0, sizeof(eh->dst_addr));
	rte_ether_addr_copy(&nif->mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
}

/* Payload bytes into dst: the head (cork) first, then the iterator. */
static int payload_copy(const struct sp_udp_dgram *d, size_t *done, char *dst, size_t n)
{
	size_t off = *done, k = 0;

	if (off < d->head_len) {
		k = RTE_MIN(n, d->head_len - off);
		memcpy(dst, (const char *)d->head + off, k);
	}
	if (k < n) {
		ssize_t r = sp_iter_copy(d->tail, dst + k, n - k);

		if (r != (ssize_t)(n - k))
			return -EFAULT;
	}
	*done = off + n;
	return 0;
}

/* A datagram that fits the MTU: one mbuf, checksums by the port when it can. */
static int build_one(struct sp_netif *nif, const struct sp_udp_dgram *d, struct rte_mbuf **pkts)
{
	size_t plen = d->head_len + d->tail_len, ulen = L4_LEN + plen, done = 0;
	struct rte_mbuf *m = rte_pktmbuf_alloc(nif->pool);
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *uh;
	char *p;

	if (!m) {
		nif->st.no_mbuf++;
		return -ENOBUFS;
	}
	p = rte_pktmbuf_append(m, (uint16_t)(L2_LEN + L3_LEN + ulen));
	ip = (struct rte_ipv4_hdr *)(p + L2_LEN);
	uh = (struct rte_udp_hdr *)(ip + 1);
	if (payload_copy(d, &done, (char *)(uh + 1), plen)) {
		rte_pktmbuf_free(m);
		return -EFAULT;
	}
	eth_hdr_fill((struct rte_ether_hdr *)p, nif);
	ip_hdr_fill(ip, d, ulen);
	udp_hdr_fill(uh, d, ulen);
	m->l2_len = L2_LEN;
	m->l3_len = L3_LEN;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	if (nif->ip_csum_offload)
		m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	if (nif->udp_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		uh->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	} else {
		/* pseudo-header: addresses, protocol, length; then header and payload */
		uint64_t sum = sp_csum_partial(&ip->src_addr, 8, rte_cpu_to_be_16(IPPROTO_UDP) +
					       (uint64_t)uh->dgram_len);
		uint16_t c = (uint16_t)~sp_csum_fold(sp_csum_partial(uh, ulen, sum));

		uh->dgram_cksum = c ? c : 0xffff;       /* 0 would say "no checksum" */
	}
	pkts[0] = m;
	return 1;
}

/* --- the connected socket's template --- */

bool sp_udp_tmpl_build(const struct sp_netif *nif, const struct sp_route *rt, uint16_t sport,
		       uint16_t dport, uint8_t ttl, uint8_t tos, bool df, struct sp_udp_tmpl *t)
{
	struct rte_ether_hdr *eh = (struct rte_ether_hdr *)t->hdr;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eh + 1);
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(ip + 1);
	struct sp_udp_dgram d = { .rt = rt, .sport = sport, .dport = dport, .ttl = ttl, .tos = tos, .df = df };

	memset(t, 0, sizeof(*t));
	t->neigh_gen = sp_neigh_gen;
	eth_hdr_fill(eh, nif);
	if (!sp_neigh_resolved(rt, &eh->dst_addr))
		return false;
	ip_hdr_fill(ip, &d, 0);
	ip->total_length = 0;           /* per datagram, as are id and the checksums */
	udp_hdr_fill(uh, &d, 0);
	t->ip_sum = sp_csum_partial(ip, L3_LEN, 0);
	t->ph_sum = sp_csum_partial(&ip->src_addr, 8, rte_cpu_to_be_16(IPPROTO_UDP));
	t->port_sum = (uint64_t)sport + dport;
	t->valid = true;
	return true;
}

/*
 * A datagram above the MTU: the whole IPv4 datagram in a chain, the UDP
 * checksum over all of it, then librte_ip_frag cuts it at the kernel's
 * fragment size ((mtu - 20) & ~7) and we put Ethernet headers in front.
 */
static int build_fragments(struct sp_netif *nif, const struct sp_udp_dgram *d,
			   struct rte_mbuf **pkts, unsigned int max)
{
	size_t plen = d->head_len + d->tail_len, ulen = L4_LEN + plen, done = 0;
	uint16_t frag_mtu = (uint16_t)((((unsigned int)nif->mtu - L3_LEN) & ~7u) + L3_LEN);
	struct rte_mbuf *head, *last;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *uh;
	uint16_t sum = 0;
	uint32_t c;
	int n, i;

	head = rte_pktmbuf_alloc(nif->pool);
	if (!head)
		goto nomem;
	ip = (struct rte_ipv4_hdr *)rte_pktmbuf_append(head, L3_LEN + L4_LEN);
	uh = (struct rte_udp_hdr *)(ip + 1);
	ip_hdr_fill(ip, d, ulen);
	udp_hdr_fill(uh, d, ulen);
	last = head;
	while (done < plen) {
		uint16_t room = rte_pktmbuf_tailroom(last);
		size_t n_copy;

		if (room == 0) {
			struct rte_mbuf *seg = rte_pktmbuf_alloc(nif->pool);

			if (!seg) {
				rte_pktmbuf_free(head);
				goto nomem;
			}
			last->next = seg;
			head->nb_segs++;
			last = seg;
			continue;
		}
		n_copy = RTE_MIN((size_t)room, plen - done);
		if (payload_copy(d, &done, rte_pktmbuf_mtod_offset(last, char *, last->data_len), n_copy)) {
			rte_pktmbuf_free(head);
			return -EFAULT;
		}
		last->data_len = (uint16_t)(last->data_len + n_copy);
		head->pkt_len += (uint32_t)n_copy;
	}
	rte_raw_cksum_mbuf(head, L3_LEN, (uint32_t)ulen, &sum);
	c = (uint32_t)sum + rte_ipv4_phdr_cksum(ip, 0);
	c = (c & 0xffff) + (c >> 16);
	c = (c & 0xffff) + (c >> 16);
	uh->dgram_cksum = (uint16_t)~c ? (uint16_t)~c : 0xffff;

	n = rte_ipv4_fragment_packet(head, pkts, (uint16_t)max, frag_mtu, nif->pool, nif->indirect);
	rte_pktmbuf_free(head);         /* the fragments hold their own references */
	if (n < 0) {
		nif->st.no_mbuf++;
		return n == -ENOMEM ? -ENOBUFS : n;
	}
	for (i = 0; i < n; i++) {
		struct rte_mbuf *f = pkts[i];
		struct rte_ether_hdr *eh;
		struct rte_ipv4_hdr *fip;

		if (!nif->multi_seg && rte_pktmbuf_linearize(f)) {
			rte_pktmbuf_free_bulk(pkts, (unsigned int)n);
			return -ENOBUFS;
		}
		fip = rte_pktmbuf_mtod(f, struct rte_ipv4_hdr *);
		fip->hdr_checksum = 0;
		fip->hdr_checksum = rte_ipv4_cksum(fip);
		eh = (struct rte_ether_hdr *)rte_pktmbuf_prepend(f, L2_LEN);
		eth_hdr_fill(eh, nif);
		f->ol_flags = 0;
	}
	nif->st.frag_datagrams++;
	nif->st.frag_pkts += (uint64_t)n;
	return n;
nomem:
	nif->st.no_mbuf++;
	return -ENOBUFS;
}

int sp_ip_udp_build(struct sp_netif *nif, const struct sp_udp_dgram *d,
		    struct rte_mbuf **pkts, unsigned int max)
{
	size_t tot = L3_LEN + L4_LEN + d->head_len + d->tail_len;

	if (max == 0)
		return -ENOBUFS;
	if (tot <= nif->mtu)
		return build_one(nif, d, pkts);
	return build_fragments(nif, d, pkts, max);
}

/* --- the backlog (≈ qdisc) and the port --- */

static void owner_uncharge(struct sp_wmem *owner, const struct rte_mbuf *m)
{
	if (owner)
		owner->alloc -= sp_pkt_truesize(m);
}

unsigned int sp_netif_flush(struct sp_netif *nif)
{
	unsigned int sent = 0;

	while (nif->bl_len) {
		unsigned int head = nif->bl_head;
		unsigned int run = RTE_MIN(nif->bl_len, SP_BACKLOG - head);
		uint16_t k, i;

		k = rte_eth_tx_burst(nif->port_id, 0, &nif->backlog[head], (uint16_t)RTE_MIN(run, 65535u));
		nif->st.tx_bursts += k != 0;
		for (i = 0; i < k; i++) {
			nif->st.tx_bytes += nif->backlog[head + i]->pkt_len;
			owner_uncharge(nif->owner[head + i], nif->backlog[head + i]);
		}
		nif->st.tx_pkts += k;
		nif->bl_head = (head + k) % SP_BACKLOG;
		nif->bl_len -= k;
		sent += k;
		if (k < run)
			break;
	}
	return sent;
}

unsigned int sp_netif_xmit_now(struct sp_netif *nif, struct rte_mbuf **pkts, unsigned int n)
{
	unsigned int i = 0;

	if (nif->bl_len)
		sp_netif_flush(nif);
	if (nif->bl_len)
		return 0;       /* order: nothing passes the backlog */
	/* the common case: one burst for the whole vector */
	while (i < n) {
		uint16_t k = rte_eth_tx_burst(nif->port_id, 0, pkts + i, (uint16_t)RTE_MIN(n - i, 65535u));
		uint16_t j;

		nif->st.tx_bursts += k != 0;
		for (j = 0; j < k; j++)
			nif->st.tx_bytes += pkts[i + j]->pkt_len;
		nif->st.tx_pkts += k;
		i += k;
		if (k == 0)
			break;
	}
	return i;
}

void sp_netif_xmit(struct sp_netif *nif, struct rte_mbuf **pkts, unsigned int n, struct sp_wmem *owner)
{
	unsigned int i = sp_netif_xmit_now(nif, pkts, n);

	for (; i < n; i++) {
		if (nif->bl_len == SP_BACKLOG) {
			/* the qdisc drops; the kernel's UDP does not report it either */
			rte_pktmbuf_free(pkts[i]);
			nif->st.tx_drop_backlog_full++;
			continue;
		}
		unsigned int tail = (nif->bl_head + nif->bl_len) % SP_BACKLOG;

		nif->backlog[tail] = pkts[i];
		nif->owner[tail] = owner;
		if (owner)
			owner->alloc += sp_pkt_truesize(pkts[i]);
		nif->bl_len++;
		nif->st.tx_backlogged++;
	}
}

bool sp_netif_drop_if_down(struct sp_netif *nif)
{
	uint64_t now = rte_get_timer_cycles();
	struct rte_eth_link link;

	if (!nif->bl_len)
		return false;
	/* reading the link may cost a system call (virtio-user peeks at its socket) */
	if (now - nif->link_checked >= rte_get_timer_hz() / 1000) {
		nif->link_checked = now;
		if (rte_eth_link_get_nowait(nif->port_id, &link) == 0)
			nif->link_down = link.link_status == RTE_ETH_LINK_DOWN;
	}
	if (!nif->link_down)
		return false;
	while (nif->bl_len) {
		unsigned int at = nif->bl_head;

		owner_uncharge(nif->owner[at], nif->backlog[at]);
		rte_pktmbuf_free(nif->backlog[at]);
		nif->bl_head = (at + 1) % SP_BACKLOG;
		nif->bl_len--;
		nif->st.tx_drop_link_down++;
	}
	return true;
}

void sp_netif_disown(struct sp_netif *nif, struct sp_wmem *owner)
{
	unsigned int i;

	for (i = 0; i < nif->bl_len; i++) {
		unsigned int at = (nif->bl_head + i) % SP_BACKLOG;

		if (nif->owner[at] == owner)
			nif->owner[at] = NULL;
	}
}
