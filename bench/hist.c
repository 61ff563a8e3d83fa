/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "hist.h"

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_merge(struct hist *dst, const struct hist *src)
{
	unsigned int i;

	for (i = 0; i < HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min && (!dst->min || src->min < dst->min))
		dst->min = src->min;
}

uint64_t hist_bucket_upper(unsigned int i)
{
	unsigned int e, sub;

	if (i < HIST_SUB)
		return i;
	e = i / HIST_SUB + HIST_SUB_BITS - 1;
	sub = i % HIST_SUB;
	/* members are [(16 + sub) << (e - 4), (17 + sub) << (e - 4)) */
	return (((uint64_t)(HIST_SUB + sub + 1)) << (e - HIST_SUB_BITS)) - 1;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
	uint64_t rank, seen = 0, v;
	unsigned int i;

	if (!h->count)
		return 0;
	if (q >= 1.0)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	for (i = 0; i < HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen > rank) {
			v = hist_bucket_upper(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}
