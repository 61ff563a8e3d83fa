/* SPDX-License-Identifier: MIT */
/*
 * The sink's hot path. A burst is taken in groups: first every chain of the
 * group is walked and checked and its header's cache lines are prefetched,
 * then the headers are parsed and handed to the host. The header and the
 * first payload bytes were just written by the driver on another core: their
 * misses overlap across the group instead of stalling one packet at a time.
 * Payload is never copied: the host reads it where the driver put it.
 */
#include "txq.h"

#include <rte_cycles.h>
#include <rte_prefetch.h>

#define TXQ_GROUP 16

unsigned int vb_txq_poll(struct vb_vq *vq, const struct vb_mem *mem, struct host *h,
			 uint64_t *bad_chains)
{
	struct vb_chain c[TXQ_GROUP];
	enum vb_chain_fault f[TXQ_GROUP];
	uint16_t n = vb_vq_avail_count(vq);
	struct vsock_hdr hdr;

	if (n > VB_TXQ_BURST)
		n = VB_TXQ_BURST;
	if (!n)
		return 0;
	if (h->cfg.msg_size)
		/* once per burst, as tx_stamp is per batch; fenced: never read before the avail index was */
		h->now_stamp = rte_rdtsc_precise();
	for (uint16_t done = 0; done < n;) {
		uint16_t k = n - done < TXQ_GROUP ? n - done : TXQ_GROUP;

		for (uint16_t j = 0; j < k; j++) {
			f[j] = vb_vq_pop(vq, mem, false, &c[j]);
			if (f[j] == VB_CHAIN_OK && c[j].nseg) {
				rte_prefetch0(c[j].seg[0].base);
				rte_prefetch0(c[j].seg[0].base + 64);
			}
		}
		for (uint16_t j = 0; j < k; j++) {
			enum vb_pkt_fault pf;

			if (f[j] != VB_CHAIN_OK) {
				(*bad_chains)++;
				if (f[j] != VB_CHAIN_BAD_HEAD)
					vb_vq_push(vq, c[j].head, 0);
				continue;
			}
			pf = vb_pkt_parse(&c[j], &hdr);
			if (pf == VB_PKT_OK)
				host_recv(h, &hdr, &c[j]);
			else
				host_recv_bad(h, &hdr, pf);
			vb_vq_push(vq, c[j].head, 0);
		}
		done += k;
	}
	vb_vq_flush(vq);
	return n;
}
