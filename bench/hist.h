/* SPDX-License-Identifier: MIT */
/*
 * Log-bucketed latency histogram: 16 linear sub-buckets per power of two, so
 * every recorded value is known to within 1/16 (6.25 %) from 16 ns to hours,
 * in a fixed 6 KiB that a sender and a peer can fill without allocating.
 */
#ifndef SP_BENCH_HIST_H
#define SP_BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 4
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP  48
#define HIST_BUCKETS  ((HIST_MAX_EXP - HIST_SUB_BITS + 2) * HIST_SUB)

struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t min;
	uint64_t sum;
	uint64_t bucket[HIST_BUCKETS];
};

static inline unsigned int hist_index(uint64_t v)
{
	unsigned int e;

	if (v < HIST_SUB)
		return (unsigned int)v;
	e = 63 - (unsigned int)__builtin_clzll(v);
	if (e > HIST_MAX_EXP)
		return HIST_BUCKETS - 1;
	return (e - HIST_SUB_BITS + 1) * HIST_SUB + (unsigned int)((v >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1));
}

static inline void hist_add(struct hist *h, uint64_t v)
{
	h->bucket[hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	if (!h->min || v < h->min)
		h->min = v;
}

void hist_reset(struct hist *h);
void hist_merge(struct hist *dst, const struct hist *src);
/* Smallest value not exceeded by this bucket's members. */
uint64_t hist_bucket_upper(unsigned int i);
/* Value at quantile q (0..1): the upper edge of the bucket holding it, capped at max. */
uint64_t hist_quantile(const struct hist *h, double q);

#endif
