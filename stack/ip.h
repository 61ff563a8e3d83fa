/* SPDX-License-Identifier: MIT */
/*
 * IPv4 output under UDP: the interface (one DPDK ethdev), routing to a next
 * hop, neighbours (static and ARP), header building, fragmentation with
 * librte_ip_frag, and the transmit backlog that plays the qdisc.
 *
 * Memory accounting follows the kernel's idea of sk_wmem_alloc: a packet the
 * port did not take at once waits in the backlog charged to its socket until
 * the port takes it (the kernel charges until the device frees it). A send
 * waits (or fails with EAGAIN) while the socket's charge is at or above its
 * SO_SNDBUF.
 */
#ifndef SP_IP_H
#define SP_IP_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_udp.h>

#include "sock.h"

#define SP_BACKLOG      1024    /* packets the port did not take yet (≈ txqueuelen 1000) */
#define SP_NEIGH_MAX    64
#define SP_NEIGH_QLEN   128     /* packets held per unresolved neighbour (≈ unres_qlen) */
#define SP_TX_BURST     64

struct sp_wmem {                /* a socket's charge: bytes of its packets not yet taken */
	int64_t alloc;
};

struct sp_netif_stats {	/* tx_bursts: rte_eth_tx_burst calls that moved packets */
	uint64_t tx_pkts, tx_bytes, tx_bursts, tx_backlogged, tx_drop_backlog_full;
	uint64_t tx_drop_link_down;     /* backlog dropped: the port's link went down */
	uint64_t rx_pkts, rx_arp, rx_icmp, rx_bad, rx_other, arp_req_sent, arp_reply_sent;
	uint64_t neigh_drop, neigh_failed, frag_datagrams, frag_pkts, no_mbuf;
};

struct sp_netif {
	uint16_t port_id;
	struct rte_ether_addr mac;
	uint32_t ip, netmask, gateway;  /* network order */
	uint16_t mtu;
	bool started;
	bool ip_csum_offload;           /* port computes the IPv4 header checksum */
	bool udp_csum_offload;          /* port computes UDP checksums (CHECKSUM_PARTIAL) */
	bool multi_seg;                 /* port takes chained mbufs (fragments) */
	bool can_rx;                    /* the port has a receive queue (ARP works) */
	struct rte_mempool *pool;       /* one mbuf holds any unfragmented packet */
	struct rte_mempool *indirect;   /* fragments point into the datagram's mbufs */
	/* the qdisc: FIFO of packets the port has not taken, with their owners */
	struct rte_mbuf *backlog[SP_BACKLOG];
	struct sp_wmem *owner[SP_BACKLOG];
	unsigned int bl_head, bl_len;
	bool link_down;                 /* as last read, at most once per ms */
	uint64_t link_checked;          /* timer cycles */
	struct sp_netif_stats st;
};

/* The route to daddr: next hop, source, broadcast or not (≈ ip_route_output_flow). */
struct sp_route {
	uint32_t saddr, daddr, nexthop;
	bool broadcast, multicast;
};

extern struct sp_netif *sp_nif;         /* the UDP port, NULL when none */

/* --- interface (ip_out.c) --- */
int sp_netif_open(const struct sp_init_cfg *cfg);
void sp_netif_close(void);
int sp_ip_route(const struct sp_netif *nif, uint32_t daddr, struct sp_route *rt);
/* Truesize charged for one packet of this many bytes. */
uint32_t sp_pkt_truesize(const struct rte_mbuf *m);
/*
 * Hands packets (Ethernet headers complete) to the port: backlog first, then
 * one rte_eth_tx_burst; what the port does not take joins the backlog, still
 * charged to owner. A full backlog drops (the kernel's qdisc drop, counted).
 */
void sp_netif_xmit(struct sp_netif *nif, struct rte_mbuf **pkts, unsigned int n, struct sp_wmem *owner);
/* Only what the port takes now (0 while a backlog waits); the caller keeps the rest. */
unsigned int sp_netif_xmit_now(struct sp_netif *nif, struct rte_mbuf **pkts, unsigned int n);
/* Pushes the backlog to the port; returns packets sent. */
unsigned int sp_netif_flush(struct sp_netif *nif);
/*
 * A port whose link is down (a vhost-user peer that died) will never take
 * its backlog: it is dropped, uncharged and counted, as the kernel's noop
 * qdisc drops for a device without carrier. Returns true when that happened.
 */
bool sp_netif_drop_if_down(struct sp_netif *nif);
/* Forgets a closing socket's charge (its packets still go out). */
void sp_netif_disown(struct sp_netif *nif, struct sp_wmem *owner);

/* One UDP datagram to build: addresses and ports in network order. */
struct sp_udp_dgram {
	const struct sp_route *rt;
	uint16_t sport, dport;
	uint8_t ttl, tos;
	bool df;
	uint16_t ip_id;
	/* payload: head bytes (a cork buffer) then tail bytes from an iterator */
	const void *head;
	size_t head_len;
	struct sp_iov_iter *tail;
	size_t tail_len;
};

/*
 * Builds the datagram's packets (one, or fragments) with their Ethernet
 * headers except the destination MAC. Returns the count (<= max) or -errno
 * (-ENOBUFS: no mbufs; -EFAULT: a bad user buffer).
 */
int sp_ip_udp_build(struct sp_netif *nif, const struct sp_udp_dgram *d,
		    struct rte_mbuf **pkts, unsigned int max);
/* Most packets one datagram becomes on this interface. */
unsigned int sp_ip_max_frags(const struct sp_netif *nif);

/*
 * Internet checksum pieces (RFC 1071). A partial sum is a one's complement
 * sum of 64-bit words as they lie in memory (the carry out of each add goes
 * back in); folded to 16 bits it is the one's complement sum of the 16-bit
 * words in network order, since 2^16, 2^32 and 2^48 are 1 modulo 0xffff.
 */
static inline uint64_t sp_csum_add(uint64_t sum, uint64_t v)
{
	uint64_t r;

	return __builtin_add_overflow(sum, v, &r) ? r + 1 : r;
}

static inline uint16_t sp_csum_fold(uint64_t sum)
{
	uint32_t s = (uint32_t)sum, h = (uint32_t)(sum >> 32);

	s += h;
	s += s < h;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* The last len < 8 bytes at s as a little-endian word, zero-padded (the odd byte's pad too). */
static inline uint64_t sp_csum_tail(const uint8_t *s, size_t len)
{
	uint64_t v = 0;

	memcpy(&v, s, len);
	return v;
}

/*
 * Copies len bytes from src to dst and adds them to sum, as if they started
 * at an even offset of the checksummed data: one pass, no second read.
 */
static inline uint64_t sp_csum_copy(void *dst, const void *src, size_t len, uint64_t sum)
{
	const uint8_t *s = src;
	uint8_t *d = dst;
	uint64_t sum2 = 0;

	/*
	 * Two carry chains, so one add need not wait for the other; 8-byte
	 * loads kept apart (the empty asm), because a sender that just wrote
	 * the message in 8-byte pieces stalls a merged 16-byte load: the
	 * store buffer cannot forward to it.
	 */
	for (; len >= 16; len -= 16, s += 16, d += 16) {
		uint64_t a, b;

		memcpy(&a, s, 8);
		memcpy(&b, s + 8, 8);
		__asm__("" : "+r"(a), "+r"(b));
		memcpy(d, &a, 8);
		memcpy(d + 8, &b, 8);
		sum = sp_csum_add(sum, a);
		sum2 = sp_csum_add(sum2, b);
	}
	sum = sp_csum_add(sum, sum2);
	if (len >= 8) {
		uint64_t a;

		memcpy(&a, s, 8);
		memcpy(d, &a, 8);
		sum = sp_csum_add(sum, a);
		len -= 8, s += 8, d += 8;
	}
	if (len) {
		memcpy(d, s, len);
		sum = sp_csum_add(sum, sp_csum_tail(s, len));
	}
	return sum;
}

/* The partial sum of len bytes at p (even offset). */
static inline uint64_t sp_csum_partial(const void *p, size_t len, uint64_t sum)
{
	const uint8_t *s = p;

	for (; len >= 8; len -= 8, s += 8) {
		uint64_t a;

		memcpy(&a, s, 8);
		sum = sp_csum_add(sum, a);
	}
	if (len)
		sum = sp_csum_add(sum, sp_csum_tail(s, len));
	return sum;
}

/*
 * A connected socket's headers, built once (≈ the kernel's cached route and
 * neighbour header, hh_cache): Ethernet with both addresses, IPv4 and UDP
 * with lengths, id and checksums left zero, and the partial sums that do not
 * change between its datagrams. Stale when the neighbour table changed
 * (neigh_gen) or the socket changed what it holds (the socket drops it).
 */
#define SP_UDP_HDRS_LEN (sizeof(struct rte_ether_hdr) + 20 + 8)

struct sp_udp_tmpl {
	uint8_t hdr[SP_UDP_HDRS_LEN];
	bool valid;
	uint32_t neigh_gen;
	uint64_t ip_sum;                /* the IPv4 header as it stands */
	uint64_t ph_sum;                /* pseudo-header addresses and protocol */
	uint64_t port_sum;              /* the UDP ports */
};

/*
 * Fills t for datagrams on route rt; false when the next hop is not
 * resolved yet (the slow path queues for ARP).
 */
bool sp_udp_tmpl_build(const struct sp_netif *nif, const struct sp_route *rt, uint16_t sport,
		       uint16_t dport, uint8_t ttl, uint8_t tos, bool df, struct sp_udp_tmpl *t);
/*
 * One datagram that fits the MTU, into m (empty, from nif->pool), from the
 * template: the payload (iov, len bytes in all) copied and summed, headers
 * copied, then length, id and checksums patched. -EFAULT for a NULL iov_base.
 * Inline: it is the whole per-datagram work of a connected send.
 */
static inline int sp_ip_udp_build_tmpl(const struct sp_netif *nif, const struct sp_udp_tmpl *t,
				       uint16_t ip_id, const struct iovec *iov, size_t iovlen,
				       size_t len, struct rte_mbuf *m)
{
	char *p = rte_pktmbuf_mtod(m, char *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(p + sizeof(struct rte_ether_hdr));
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)(ip + 1);
	char *dst = (char *)(uh + 1);
	uint16_t tot = (uint16_t)(20 + 8 + len), ulen_be;
	uint64_t sum = 0;
	size_t off = 0, i;

	if (iovlen == 1 && iov[0].iov_len >= len && iov[0].iov_base) {
		/* one buffer, the common case */
		if (nif->udp_csum_offload)
			memcpy(dst, iov[0].iov_base, len);
		else
			sum = sp_csum_copy(dst, iov[0].iov_base, len, 0);
		off = len;
		iovlen = 0;
	}
	for (i = 0; i < iovlen && off < len; i++) {
		size_t n = RTE_MIN(iov[i].iov_len, len - off);

		if (!n)
			continue;
		if (!iov[i].iov_base)
			return -EFAULT;
		if (nif->udp_csum_offload) {
			memcpy(dst + off, iov[i].iov_base, n);
		} else {
			uint64_t s = sp_csum_copy(dst + off, iov[i].iov_base, n, 0);

			/* a piece at an odd offset has its bytes the other way round in each word */
			sum = sp_csum_add(sum, (off & 1) ? rte_bswap16(sp_csum_fold(s)) : s);
		}
		off += n;
	}
	if (off != len)
		return -EFAULT;
	memcpy(p, t->hdr, SP_UDP_HDRS_LEN);
	ip->total_length = rte_cpu_to_be_16(tot);
	ip->packet_id = rte_cpu_to_be_16(ip_id);
	ulen_be = rte_cpu_to_be_16((uint16_t)(8 + len));
	uh->dgram_len = ulen_be;
	m->data_len = (uint16_t)(sizeof(struct rte_ether_hdr) + tot);
	m->pkt_len = m->data_len;
	m->l2_len = sizeof(struct rte_ether_hdr);
	m->l3_len = 20;
	m->ol_flags |= RTE_MBUF_F_TX_IPV4;
	if (nif->ip_csum_offload)
		m->ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	else
		ip->hdr_checksum = (uint16_t)~sp_csum_fold(sp_csum_add(t->ip_sum,
								   (uint32_t)ip->total_length + ip->packet_id));
	if (nif->udp_csum_offload) {
		m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
		uh->dgram_cksum = sp_csum_fold(sp_csum_add(t->ph_sum, ulen_be));        /* pseudo-header only */
	} else {
		uint16_t c = (uint16_t)~sp_csum_fold(sp_csum_add(sp_csum_add(sum, t->ph_sum),
								 t->port_sum + 2 * (uint64_t)ulen_be));

		uh->dgram_cksum = c ? c : 0xffff;
	}
	return 0;
}

/* --- receive (ip_in.c), only what the send path must hear --- */
/* An IPv4 frame (Ethernet header at the data start) for this interface. */
void sp_ip_rcv(struct sp_netif *nif, struct rte_mbuf *m);
/* An ICMP error about a UDP datagram we sent (udp.c, ≈ __udp4_lib_err); addresses and ports network order. */
void sp_udp_err(uint32_t saddr, uint16_t sport, uint32_t daddr, uint16_t dport, int type, int code);

/* --- neighbours (neigh.c) --- */
extern uint32_t sp_neigh_gen;          /* changes whenever any entry does */
int sp_neigh_add(uint32_t ip, const struct rte_ether_addr *mac);       /* static entry */
/* The destination MAC for rt when it is known now (no ARP needed). */
bool sp_neigh_resolved(const struct sp_route *rt, struct rte_ether_addr *mac);
int sp_neigh_from_env(void);    /* $SP_NEIGH="IP=MAC,..." static entries; -EINVAL when unreadable */
void sp_neigh_flush(void);
/*
 * Resolves the next hop of n built packets: fills destination MACs of those
 * that can go now and compacts them at the front (returned count); the rest
 * wait in the neighbour's queue for an ARP reply (≈ neigh_resolve_output).
 */
unsigned int sp_neigh_output(struct sp_netif *nif, const struct sp_route *rt,
			     struct rte_mbuf **pkts, unsigned int n);
/* Receive processing on the port: ARP requests and replies, retries. Returns work done. */
int sp_neigh_progress(struct sp_netif *nif);

#endif
