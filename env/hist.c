/* SPDX-License-Identifier: MIT */
#include "hist.h"

#include <inttypes.h>
#include <string.h>

void sp_hist_reset(struct sp_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void sp_hist_merge(struct sp_hist *dst, const struct sp_hist *src)
{
	unsigned int i;

	if (src->count == 0)
		return;
	for (i = 0; i < SP_HIST_BUCKETS; i++)
		dst->bucket[i] += src->bucket[i];
	if (dst->count == 0 || src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
	dst->count += src->count;
	dst->sum += src->sum;
}

uint64_t sp_hist_bucket_low(unsigned int idx)
{
	unsigned int group = idx >> SP_HIST_SUB_BITS, sub = idx & (SP_HIST_SUB - 1);

	if (group == 0)
		return idx;
	return (uint64_t)(SP_HIST_SUB + sub) << (group - 1);
}

uint64_t sp_hist_bucket_high(unsigned int idx)
{
	unsigned int group = idx >> SP_HIST_SUB_BITS;

	if (group == 0)
		return idx;
	return sp_hist_bucket_low(idx) + ((uint64_t)1 << (group - 1)) - 1;
}

uint64_t sp_hist_quantile(const struct sp_hist *h, double q)
{
	uint64_t rank, seen = 0, high;
	unsigned int i;

	if (h->count == 0)
		return 0;
	if (q <= 0)
		return h->min;
	if (q >= 1)
		return h->max;
	rank = (uint64_t)(q * (double)h->count);
	if ((double)rank < q * (double)h->count)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		seen += h->bucket[i];
		if (seen >= rank) {
			high = sp_hist_bucket_high(i);
			return high < h->max ? high : h->max;
		}
	}
	return h->max;
}

void sp_hist_print_json(const struct sp_hist *h, FILE *f)
{
	fprintf(f, "{\"samples\":%" PRIu64 ",\"min\":%" PRIu64 ",\"mean\":%" PRIu64
		",\"p50\":%" PRIu64 ",\"p90\":%" PRIu64 ",\"p99\":%" PRIu64
		",\"p999\":%" PRIu64 ",\"max\":%" PRIu64 "}",
		h->count, h->count ? h->min : 0, h->count ? h->sum / h->count : 0,
		sp_hist_quantile(h, 0.50), sp_hist_quantile(h, 0.90),
		sp_hist_quantile(h, 0.99), sp_hist_quantile(h, 0.999), h->max);
}
