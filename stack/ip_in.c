/* SPDX-License-Identifier: MIT */
/*
 * IPv4 receive, only as far as the send path must listen (≈ ip_rcv + icmp_rcv
 * + icmp_unreach): ICMP errors about datagrams we sent reach the UDP socket
 * that sent them, which is how a connected socket learns ECONNREFUSED. Any
 * other IPv4 frame is counted and dropped; a malformed one is counted as bad.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "ip.h"

/* An IPv4 header we accept: version 4, sane lengths, good checksum. */
static bool ip_hdr_ok(const struct rte_ipv4_hdr *ip, uint32_t avail, uint32_t *hlen)
{
	uint32_t ihl = (ip->version_ihl & 0x0f) * 4u;

	if (avail < sizeof(*ip) || (ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || ihl > avail)
		return false;
	*hlen = ihl;
	return true;
}

void sp_ip_rcv(struct sp_netif *nif, struct rte_mbuf *m)
{
	uint32_t len = rte_pktmbuf_data_len(m) - (uint32_t)sizeof(struct rte_ether_hdr);
	const struct rte_ipv4_hdr *ip = rte_pktmbuf_mtod_offset(m, const struct rte_ipv4_hdr *,
								 sizeof(struct rte_ether_hdr));
	const struct rte_ipv4_hdr *inner;
	const struct rte_icmp_hdr *icmp;
	const struct rte_udp_hdr *uh;
	uint32_t hlen, ihlen, tot;

	if (rte_pktmbuf_data_len(m) < sizeof(struct rte_ether_hdr) || !ip_hdr_ok(ip, len, &hlen) ||
	    rte_raw_cksum(ip, hlen) != 0xffff) {
		nif->st.rx_bad++;
		return;
	}
	tot = rte_be_to_cpu_16(ip->total_length);
	if (tot < hlen || tot > len) {
		nif->st.rx_bad++;
		return;
	}
	if (ip->dst_addr != nif->ip || ip->next_proto_id != IPPROTO_ICMP ||
	    (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))) {
		nif->st.rx_other++;     /* not for the send path (no reassembly of ICMP either) */
		return;
	}
	icmp = (const struct rte_icmp_hdr *)((const char *)ip + hlen);
	if (tot - hlen < sizeof(*icmp) || rte_raw_cksum(icmp, tot - hlen) != 0xffff) {
		nif->st.rx_bad++;
		return;
	}
	nif->st.rx_icmp++;
	if (icmp->icmp_type != 3 && icmp->icmp_type != 11 && icmp->icmp_type != 12)
		return;                 /* only errors concern a sender */
	/* the offending datagram's IP header and first 8 bytes follow */
	inner = (const struct rte_ipv4_hdr *)(icmp + 1);
	if (!ip_hdr_ok(inner, tot - hlen - (uint32_t)sizeof(*icmp), &ihlen) ||
	    tot - hlen - sizeof(*icmp) < ihlen + sizeof(*uh) || inner->next_proto_id != IPPROTO_UDP) {
		nif->st.rx_bad += inner->next_proto_id == IPPROTO_UDP;
		return;
	}
	uh = (const struct rte_udp_hdr *)((const char *)inner + ihlen);
	sp_udp_err(inner->src_addr, uh->src_port, inner->dst_addr, uh->dst_port,
		   icmp->icmp_type, icmp->icmp_code);
}
