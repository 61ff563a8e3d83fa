/* SPDX-License-Identifier: MIT */
/*
 * The UDP checksum sendpath computes while it copies a payload (ip.h,
 * ip_out.c's template path), against DPDK's rte_ipv4_udptcp_cksum: random
 * lengths, odd ones included, source and destination at every alignment,
 * payloads in pieces at odd offsets, and the sum that comes out 0, which
 * must go out as 0xffff (RFC 768: 0 means "no checksum").
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <rte_ip.h>
#include <rte_udp.h>

#include "ip.h"

#define MAXLEN 1600

static uint16_t sp_udp_sum(const struct rte_ipv4_hdr *ip, struct rte_udp_hdr *uh,
			   void *dst, const void *payload, size_t len)
{
	uint64_t sum = sp_csum_partial(&ip->src_addr, 8, rte_cpu_to_be_16(IPPROTO_UDP) + (uint64_t)uh->dgram_len);
	uint16_t c;

	sum = sp_csum_partial(uh, sizeof(*uh), sum);
	sum = sp_csum_copy(dst, payload, len, sum);
	c = (uint16_t)~sp_csum_fold(sum);
	return c ? c : 0xffff;
}

static void headers(struct rte_ipv4_hdr *ip, struct rte_udp_hdr *uh, size_t len, unsigned int seed)
{
	memset(ip, 0, sizeof(*ip));
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->next_proto_id = IPPROTO_UDP;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(20 + 8 + len));
	ip->src_addr = (uint32_t)rand_r(&seed);
	ip->dst_addr = (uint32_t)rand_r(&seed);
	uh->src_port = (uint16_t)rand_r(&seed);
	uh->dst_port = (uint16_t)rand_r(&seed);
	uh->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + len));
	uh->dgram_cksum = 0;
}

Test(csum, copy_and_sum_match_dpdk_at_every_length_and_alignment)
{
	static uint8_t src[MAXLEN + 16], pkt[8 + MAXLEN + 16], out[MAXLEN + 16];
	unsigned int seed = 12345, i;

	for (i = 0; i < 4000; i++) {
		size_t len = i < 200 ? i : (size_t)rand_r(&seed) % MAXLEN;
		unsigned int sa = (unsigned int)rand_r(&seed) % 8, da = (unsigned int)rand_r(&seed) % 8;
		struct rte_ipv4_hdr ip;
		struct rte_udp_hdr *uh = (struct rte_udp_hdr *)pkt;
		uint16_t want, got;
		size_t k;

		for (k = 0; k < len; k++)
			src[sa + k] = (uint8_t)rand_r(&seed);
		headers(&ip, uh, len, seed + i);
		memcpy(pkt + 8, src + sa, len);
		want = rte_ipv4_udptcp_cksum(&ip, pkt);
		got = sp_udp_sum(&ip, uh, out + da, src + sa, len);
		cr_assert_eq(got, want, "len %zu src+%u dst+%u: %#x, DPDK %#x", len, sa, da, got, want);
		cr_assert_eq(memcmp(out + da, src + sa, len), 0, "len %zu: the copy", len);
	}
}

Test(csum, all_ones_and_zero_sums)
{
	static uint8_t pay[64], pkt[8 + 64], out[64];
	struct rte_ipv4_hdr ip;
	struct rte_udp_hdr *uh = (struct rte_udp_hdr *)pkt;
	uint16_t c;

	/* all-0xff data sums to 0xffff ("negative zero"): checksum 0, sent as 0xffff */
	memset(pay, 0xff, sizeof(pay));
	headers(&ip, uh, 2, 7);
	pay[0] = pay[1] = 0;
	c = sp_udp_sum(&ip, uh, out, pay, 2);
	/* choose the 2 payload bytes so the whole sum is 0xffff */
	memcpy(pay, &c, 2);
	memcpy(pkt + 8, pay, 2);
	cr_assert_eq(rte_ipv4_udptcp_cksum(&ip, pkt), 0xffff, "DPDK sends 0 as 0xffff");
	cr_assert_eq(sp_udp_sum(&ip, uh, out, pay, 2), 0xffff, "and so do we");
	/* a sum of zero: all-zero headers and data give 0xffff before the complement */
	memset(&ip, 0, sizeof(ip));
	memset(pkt, 0, sizeof(pkt));
	cr_assert_eq(sp_csum_fold(0), 0);
	cr_assert_eq(sp_csum_fold(0xffffull), 0xffff);
	cr_assert_eq(sp_csum_fold(0x1fffeull), 0xffff, "end-around carry");
	cr_assert_eq(sp_csum_fold(~0ull), 0xffff);
	cr_assert_eq(sp_csum_add(~0ull, 1), 1, "the carry out of 64 bits comes back in");
	cr_assert_eq(sp_csum_fold(sp_csum_add(0xffffffffffff0000ull, 0x20000ull)), 2);
	cr_assert_eq(sp_csum_partial(pay, 0, 42), 42);
}

/* Payload in pieces, as a message's iovecs: the template path sums each piece on its own. */
Test(csum, template_build_matches_dpdk_with_odd_pieces)
{
	static uint8_t buf[RTE_PKTMBUF_HEADROOM + 2048], src[MAXLEN];
	struct sp_netif nif;
	struct sp_route rt = { .broadcast = true };
	struct sp_udp_tmpl t;
	unsigned int seed = 99, i;

	memset(&nif, 0, sizeof(nif));
	nif.mtu = 1500;
	for (i = 0; i < 500; i++) {
		struct rte_mbuf m;
		struct iovec iov[6];
		size_t len = (size_t)rand_r(&seed) % 1400, off = 0, n = 0;
		struct rte_ipv4_hdr *ip;
		struct rte_udp_hdr *uh;
		uint16_t got, want;

		rt.saddr = (uint32_t)rand_r(&seed);
		rt.daddr = (uint32_t)rand_r(&seed);
		cr_assert(sp_udp_tmpl_build(&nif, &rt, (uint16_t)rand_r(&seed), (uint16_t)rand_r(&seed),
					    64, 0, i & 1, &t));
		for (size_t k = 0; k < len; k++)
			src[k] = (uint8_t)rand_r(&seed);
		while (off < len && n < 5) {
			size_t piece = n == 4 ? len - off : RTE_MIN(len - off, (size_t)rand_r(&seed) % 9);

			iov[n].iov_base = src + off;
			iov[n++].iov_len = piece;
			off += piece;
		}
		iov[n].iov_base = src + off;    /* the rest, maybe nothing */
		iov[n++].iov_len = len - off;
		memset(&m, 0, sizeof(m));
		m.buf_addr = buf;
		m.buf_len = sizeof(buf);
		m.data_off = RTE_PKTMBUF_HEADROOM;
		m.nb_segs = 1;
		cr_assert_eq(sp_ip_udp_build_tmpl(&nif, &t, (uint16_t)i, iov, n, len, &m), 0);
		cr_assert_eq(m.data_len, 14 + 20 + 8 + len);
		ip = (struct rte_ipv4_hdr *)(buf + RTE_PKTMBUF_HEADROOM + 14);
		uh = (struct rte_udp_hdr *)(ip + 1);
		{
			uint16_t ipsum = ip->hdr_checksum;

			ip->hdr_checksum = 0;
			cr_assert_eq(rte_ipv4_cksum(ip), ipsum, "IPv4 header checksum, datagram %u", i);
			ip->hdr_checksum = ipsum;
		}
		got = uh->dgram_cksum;
		uh->dgram_cksum = 0;
		want = rte_ipv4_udptcp_cksum(ip, uh);
		cr_assert_eq(got, want, "len %zu in %zu pieces: %#x, DPDK %#x", len, n, got, want);
		cr_assert_eq(memcmp(uh + 1, src, len), 0);
	}
	/* a NULL base in a piece that has bytes is EFAULT */
	{
		struct rte_mbuf m;
		struct iovec bad[2] = { { src, 4 }, { NULL, 4 } };

		memset(&m, 0, sizeof(m));
		m.buf_addr = buf;
		m.data_off = RTE_PKTMBUF_HEADROOM;
		cr_assert_eq(sp_ip_udp_build_tmpl(&nif, &t, 0, bad, 2, 8, &m), -EFAULT);
	}
}
