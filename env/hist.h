/* SPDX-License-Identifier: MIT */
/*
 * Log-bucketed histogram of 64-bit values (latencies in ns, sizes, ...).
 *
 * Values below 2^SP_HIST_SUB_BITS are counted exactly; above, every power of
 * two is split into 2^SP_HIST_SUB_BITS equal buckets, so a reported quantile
 * is at most 1/32 (3.1 %) above the true one and never below it. Constant
 * memory (15 KiB), O(1) add, no allocation: fit for a polling loop.
 */
#ifndef SP_HIST_H
#define SP_HIST_H

#include <stdint.h>
#include <stdio.h>

#define SP_HIST_SUB_BITS 5
#define SP_HIST_SUB (1u << SP_HIST_SUB_BITS)
#define SP_HIST_BUCKETS ((64 - SP_HIST_SUB_BITS + 1) * SP_HIST_SUB)

struct sp_hist {
	uint64_t count;
	uint64_t min;
	uint64_t max;
	uint64_t sum;           /* wraps after 2^64: mean is approximate for huge runs */
	uint64_t bucket[SP_HIST_BUCKETS];
};

static inline unsigned int sp_hist_index(uint64_t v)
{
	unsigned int e;

	if (v < SP_HIST_SUB)
		return (unsigned int)v;
	e = 63 - (unsigned int)__builtin_clzll(v);      /* e >= SUB_BITS */
	return ((e - SP_HIST_SUB_BITS + 1) << SP_HIST_SUB_BITS) +
	       (unsigned int)((v >> (e - SP_HIST_SUB_BITS)) & (SP_HIST_SUB - 1));
}

static inline void sp_hist_add(struct sp_hist *h, uint64_t v)
{
	h->bucket[sp_hist_index(v)]++;
	if (h->count == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->count++;
	h->sum += v;
}

void sp_hist_reset(struct sp_hist *h);

/* Adds every sample of src to dst. */
void sp_hist_merge(struct sp_hist *dst, const struct sp_hist *src);

/* Smallest and largest value that falls into bucket idx. */
uint64_t sp_hist_bucket_low(unsigned int idx);
uint64_t sp_hist_bucket_high(unsigned int idx);

/*
 * Value at quantile q (0.5 = median, 0.999 = p99.9): the upper edge of the
 * bucket holding the ceil(q * count)-th smallest sample, capped at max.
 * 0 when the histogram is empty.
 */
uint64_t sp_hist_quantile(const struct sp_hist *h, double q);

/* {"samples":N,"min":..,"mean":..,"p50":..,"p90":..,"p99":..,"p999":..,"max":..} */
void sp_hist_print_json(const struct sp_hist *h, FILE *f);

#endif
