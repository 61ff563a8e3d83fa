/* SPDX-License-Identifier: MIT */
/*
 * Neighbours (≈ net/core/neighbour.c + net/ipv4/arp.c, reduced): static
 * entries from configuration, and ARP on ports that can receive. A packet for
 * an unresolved next hop waits in the entry's queue (the kernel's arp_queue,
 * oldest dropped first) while requests go out once a second, three times
 * (mcast_solicit); then the entry fails and its queue is dropped, as the
 * kernel drops it. The send that queued the packet has already succeeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>

#include "ip.h"

#define ARP_RETRANS_NS  1000000000ull
#define ARP_PROBES      3

enum neigh_state { NUD_NONE, NUD_INCOMPLETE, NUD_REACHABLE, NUD_FAILED, NUD_PERMANENT };

struct neigh {
	uint32_t ip;                    /* network order; 0: free slot */
	struct rte_ether_addr mac;
	enum neigh_state state;
	unsigned int probes;
	uint64_t next_probe_ns;
	struct rte_mbuf *queue[SP_NEIGH_QLEN];
	unsigned int qlen;
};

static struct neigh neighs[SP_NEIGH_MAX];
static unsigned int nr_incomplete;
/* Bumped on every change of any entry: header templates built before are stale. */
uint32_t sp_neigh_gen = 1;

static struct neigh *neigh_lookup(uint32_t ip)
{
	unsigned int i;

	for (i = 0; i < SP_NEIGH_MAX; i++)
		if (neighs[i].ip == ip)
			return &neighs[i];
	return NULL;
}

static void neigh_drop_queue(struct neigh *n)
{
	if (n->qlen)
		rte_pktmbuf_free_bulk(n->queue, n->qlen);
	n->qlen = 0;
}

static void neigh_set_state(struct neigh *n, enum neigh_state st)
{
	sp_neigh_gen++;
	if (n->state == NUD_INCOMPLETE && st != NUD_INCOMPLETE)
		nr_incomplete--;
	else if (n->state != NUD_INCOMPLETE && st == NUD_INCOMPLETE)
		nr_incomplete++;
	n->state = st;
}

/* A new entry, or the least useful one recycled (a failed one first). */
static struct neigh *neigh_create(uint32_t ip)
{
	struct neigh *victim = NULL;
	unsigned int i;

	for (i = 0; i < SP_NEIGH_MAX; i++) {
		struct neigh *n = &neighs[i];

		if (!n->ip) {
			victim = n;
			break;
		}
		if (!victim && (n->state == NUD_FAILED || n->state == NUD_REACHABLE))
			victim = n;
	}
	if (!victim)
		return NULL;
	neigh_drop_queue(victim);
	neigh_set_state(victim, NUD_NONE);
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	sp_neigh_gen++;
	return victim;
}

int sp_neigh_add(uint32_t ip, const struct rte_ether_addr *mac)
{
	struct neigh *n = neigh_lookup(ip);

	if (!ip || !mac)
		return -EINVAL;
	if (!n)
		n = neigh_create(ip);
	if (!n)
		return -ENOSPC;
	rte_ether_addr_copy(mac, &n->mac);
	neigh_set_state(n, NUD_PERMANENT);
	if (sp_nif && n->qlen) {
		unsigned int i;

		for (i = 0; i < n->qlen; i++)
			rte_ether_addr_copy(mac, &rte_pktmbuf_mtod(n->queue[i], struct rte_ether_hdr *)->dst_addr);
		sp_netif_xmit(sp_nif, n->queue, n->qlen, NULL);
		n->qlen = 0;
	}
	return 0;
}

/* The public face of sp_neigh_add (sendpath.h): errno, and addresses ARP never resolves refused. */
int sp_neigh_add_static(struct in_addr ip, const uint8_t mac[6])
{
	struct rte_ether_addr ea;
	uint32_t h = ntohl(ip.s_addr);
	int err;

	if (!sp_nif) {
		errno = ENODEV;
		return -1;
	}
	if (!mac || h == INADDR_ANY || h == INADDR_BROADCAST || IN_MULTICAST(h)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(ea.addr_bytes, mac, RTE_ETHER_ADDR_LEN);
	err = sp_neigh_add(ip.s_addr, &ea);
	if (err) {
		errno = -err;
		return -1;
	}
	return 0;
}

/* $SP_NEIGH: "10.0.0.2=02:00:00:00:00:02,10.0.0.3=..." static entries at start. */
int sp_neigh_from_env(void)
{
	const char *env = getenv("SP_NEIGH");
	char item[64];

	while (env && *env) {
		size_t n = strcspn(env, ", ");
		struct rte_ether_addr mac;
		struct in_addr ip;
		char *eq;

		if (n == 0 || n >= sizeof(item))
			goto bad;
		memcpy(item, env, n);
		item[n] = '\0';
		eq = strchr(item, '=');
		if (!eq)
			goto bad;
		*eq = '\0';
		if (inet_pton(AF_INET, item, &ip) != 1 || rte_ether_unformat_addr(eq + 1, &mac))
			goto bad;
		if (sp_neigh_add(ip.s_addr, &mac))
			return -ENOSPC;
		env += n;
		env += strspn(env, ", ");
	}
	return 0;
bad:
	fprintf(stderr, "udp: SP_NEIGH: cannot read \"%.*s\" (want IP=MAC[,IP=MAC...])\n",
		(int)strcspn(env, ", "), env);
	return -EINVAL;
}

void sp_neigh_flush(void)
{
	unsigned int i;

	for (i = 0; i < SP_NEIGH_MAX; i++) {
		neigh_drop_queue(&neighs[i]);
		neigh_set_state(&neighs[i], NUD_NONE);
		memset(&neighs[i], 0, sizeof(neighs[i]));
	}
	sp_neigh_gen++;
}

static void arp_send(struct sp_netif *nif, uint16_t op, uint32_t tip, const struct rte_ether_addr *tha)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(nif->pool);
	struct rte_ether_hdr *eh;
	struct rte_arp_hdr *arp;

	if (!m) {
		nif->st.no_mbuf++;
		return;
	}
	eh = (struct rte_ether_hdr *)rte_pktmbuf_append(m, sizeof(*eh) + sizeof(*arp));
	arp = (struct rte_arp_hdr *)(eh + 1);
	if (tha && op == RTE_ARP_OP_REPLY)
		rte_ether_addr_copy(tha, &eh->dst_addr);
	else
		memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
	rte_ether_addr_copy(&nif->mac, &eh->src_addr);
	eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	rte_ether_addr_copy(&nif->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = nif->ip;
	if (tha)
		rte_ether_addr_copy(tha, &arp->arp_data.arp_tha);
	else
		memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
	arp->arp_data.arp_tip = tip;
	if (op == RTE_ARP_OP_REQUEST)
		nif->st.arp_req_sent++;
	else
		nif->st.arp_reply_sent++;
	sp_netif_xmit(nif, &m, 1, NULL);
}

static void fill_dst(struct rte_mbuf **pkts, unsigned int n, const struct rte_ether_addr *mac)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		rte_ether_addr_copy(mac, &rte_pktmbuf_mtod(pkts[i], struct rte_ether_hdr *)->dst_addr);
}

bool sp_neigh_resolved(const struct sp_route *rt, struct rte_ether_addr *mac)
{
	const struct neigh *ne;

	if (rt->broadcast) {
		memset(mac, 0xff, sizeof(*mac));
		return true;
	}
	if (rt->multicast) {
		uint32_t g = rte_be_to_cpu_32(rt->daddr);

		*mac = (struct rte_ether_addr){ { 0x01, 0x00, 0x5e, (uint8_t)((g >> 16) & 0x7f),
						  (uint8_t)(g >> 8), (uint8_t)g } };
		return true;
	}
	ne = neigh_lookup(rt->nexthop);
	if (!ne || (ne->state != NUD_REACHABLE && ne->state != NUD_PERMANENT))
		return false;
	rte_ether_addr_copy(&ne->mac, mac);
	return true;
}

unsigned int sp_neigh_output(struct sp_netif *nif, const struct sp_route *rt,
			     struct rte_mbuf **pkts, unsigned int n)
{
	struct rte_ether_addr mac;
	struct neigh *ne;
	unsigned int i;

	if (rt->broadcast) {
		memset(&mac, 0xff, sizeof(mac));
		fill_dst(pkts, n, &mac);
		return n;
	}
	if (rt->multicast) {
		/* RFC 1112: 01:00:5e + the low 23 bits of the group */
		uint32_t g = rte_be_to_cpu_32(rt->daddr);

		mac = (struct rte_ether_addr){ { 0x01, 0x00, 0x5e, (uint8_t)((g >> 16) & 0x7f),
						 (uint8_t)(g >> 8), (uint8_t)g } };
		fill_dst(pkts, n, &mac);
		return n;
	}
	ne = neigh_lookup(rt->nexthop);
	if (ne && (ne->state == NUD_REACHABLE || ne->state == NUD_PERMANENT)) {
		fill_dst(pkts, n, &ne->mac);
		return n;
	}
	if (!ne)
		ne = neigh_create(rt->nexthop);
	if (!ne || !nif->can_rx) {
		/* no entry to wait in, or no way to hear a reply: dropped, as a failed neighbour drops */
		rte_pktmbuf_free_bulk(pkts, n);
		nif->st.neigh_drop += n;
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (ne->qlen == SP_NEIGH_QLEN) {
			rte_pktmbuf_free(ne->queue[0]);
			memmove(ne->queue, ne->queue + 1, (SP_NEIGH_QLEN - 1) * sizeof(ne->queue[0]));
			ne->qlen--;
			nif->st.neigh_drop++;
		}
		ne->queue[ne->qlen++] = pkts[i];
	}
	if (ne->state != NUD_INCOMPLETE) {
		neigh_set_state(ne, NUD_INCOMPLETE);
		ne->probes = 1;
		ne->next_probe_ns = sp_now_ns() + ARP_RETRANS_NS;
		arp_send(nif, RTE_ARP_OP_REQUEST, rt->nexthop, NULL);
	}
	return 0;
}

/* The sender of any ARP for us is learned; a reply resolves what waits. */
static void arp_rcv(struct sp_netif *nif, struct rte_mbuf *m)
{
	struct rte_arp_hdr *arp;
	struct neigh *ne;
	uint16_t op;

	if (m->data_len < sizeof(struct rte_ether_hdr) + sizeof(*arp))
		return;
	arp = rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, sizeof(struct rte_ether_hdr));
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4)
		return;
	op = rte_be_to_cpu_16(arp->arp_opcode);
	ne = neigh_lookup(arp->arp_data.arp_sip);
	if (!ne && arp->arp_data.arp_tip == nif->ip && arp->arp_data.arp_sip)
		ne = neigh_create(arp->arp_data.arp_sip);
	if (ne && ne->state != NUD_PERMANENT && rte_is_unicast_ether_addr(&arp->arp_data.arp_sha)) {
		rte_ether_addr_copy(&arp->arp_data.arp_sha, &ne->mac);
		neigh_set_state(ne, NUD_REACHABLE);
		if (ne->qlen) {
			fill_dst(ne->queue, ne->qlen, &ne->mac);
			sp_netif_xmit(nif, ne->queue, ne->qlen, NULL);
			ne->qlen = 0;
		}
	}
	if (op == RTE_ARP_OP_REQUEST && arp->arp_data.arp_tip == nif->ip && nif->ip)
		arp_send(nif, RTE_ARP_OP_REPLY, arp->arp_data.arp_sip, &arp->arp_data.arp_sha);
}

static void neigh_timers(struct sp_netif *nif)
{
	uint64_t now = sp_now_ns();
	unsigned int i;

	for (i = 0; i < SP_NEIGH_MAX && nr_incomplete; i++) {
		struct neigh *ne = &neighs[i];

		if (ne->state != NUD_INCOMPLETE || now < ne->next_probe_ns)
			continue;
		if (ne->probes >= ARP_PROBES) {
			nif->st.neigh_failed++;
			nif->st.neigh_drop += ne->qlen;
			neigh_drop_queue(ne);
			neigh_set_state(ne, NUD_FAILED);
			continue;
		}
		ne->probes++;
		ne->next_probe_ns = now + ARP_RETRANS_NS;
		arp_send(nif, RTE_ARP_OP_REQUEST, ne->ip, NULL);
	}
}

int sp_neigh_progress(struct sp_netif *nif)
{
	struct rte_mbuf *rx[SP_TX_BURST];
	uint16_t n = 0, i;

	if (nif->can_rx) {
		n = rte_eth_rx_burst(nif->port_id, 0, rx, SP_TX_BURST);
		for (i = 0; i < n; i++) {
			struct rte_ether_hdr *eh = rte_pktmbuf_mtod(rx[i], struct rte_ether_hdr *);

			nif->st.rx_pkts++;
			if (rx[i]->data_len >= sizeof(*eh) &&
			    eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
				nif->st.rx_arp++;
				arp_rcv(nif, rx[i]);
			} else if (rx[i]->data_len >= sizeof(*eh) &&
				   eh->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
				sp_ip_rcv(nif, rx[i]);  /* ICMP errors for our sockets */
			} else {
				nif->st.rx_other++;
			}
			rte_pktmbuf_free(rx[i]);
		}
	}
	if (nr_incomplete)
		neigh_timers(nif);
	return n;
}
