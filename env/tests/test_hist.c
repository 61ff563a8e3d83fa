/* SPDX-License-Identifier: MIT */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "hist.h"

static struct sp_hist h;

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

Test(hist, empty_is_zero)
{
	sp_hist_reset(&h);
	cr_expect_eq(sp_hist_quantile(&h, 0.5), 0);
	cr_expect_eq(sp_hist_quantile(&h, 0.999), 0);
}

Test(hist, small_values_are_exact)
{
	uint64_t v;

	sp_hist_reset(&h);
	for (v = 1; v <= 10; v++)
		sp_hist_add(&h, v);
	cr_expect_eq(sp_hist_quantile(&h, 0.5), 5);
	cr_expect_eq(sp_hist_quantile(&h, 0.9), 9);
	cr_expect_eq(sp_hist_quantile(&h, 0.99), 10);
	cr_expect_eq(h.min, 1);
	cr_expect_eq(h.max, 10);
}

Test(hist, buckets_tile_the_range)
{
	unsigned int i;

	cr_expect_eq(sp_hist_bucket_low(0), 0);
	for (i = 1; i < SP_HIST_BUCKETS; i++)
		cr_assert_eq(sp_hist_bucket_low(i), sp_hist_bucket_high(i - 1) + 1, "bucket %u", i);
	cr_expect_eq(sp_hist_bucket_high(SP_HIST_BUCKETS - 1), UINT64_MAX);
	cr_expect_eq(sp_hist_index(UINT64_MAX), SP_HIST_BUCKETS - 1);
	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		cr_assert_eq(sp_hist_index(sp_hist_bucket_low(i)), i);
		cr_assert_eq(sp_hist_index(sp_hist_bucket_high(i)), i);
	}
}

/* Quantiles of a long-tailed sample: never below the truth, at most 1/32 above. */
Test(hist, quantiles_within_bound)
{
	static const double qs[] = { 0.5, 0.9, 0.99, 0.999 };
	enum { N = 100000 };
	uint64_t *v = malloc(N * sizeof(*v)), truth, got;
	unsigned int i;

	cr_assert_not_null(v);
	srand(7);
	sp_hist_reset(&h);
	for (i = 0; i < N; i++) {
		v[i] = 500 + (uint64_t)rand() % 2000 + ((uint64_t)rand() % 100 == 0 ? (uint64_t)rand() % 1000000 : 0);
		sp_hist_add(&h, v[i]);
	}
	qsort(v, N, sizeof(*v), cmp_u64);
	for (i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		truth = v[(size_t)(qs[i] * N + 0.999999) - 1];
		got = sp_hist_quantile(&h, qs[i]);
		cr_expect_geq(got, truth, "q%.3f: %lu < %lu", qs[i], (unsigned long)got, (unsigned long)truth);
		cr_expect_leq((double)got, (double)truth * (1 + 1.0 / SP_HIST_SUB) + 1,
			      "q%.3f: %lu vs %lu", qs[i], (unsigned long)got, (unsigned long)truth);
	}
	cr_expect_eq(sp_hist_quantile(&h, 1.0), v[N - 1]);
	cr_expect_eq(h.count, N);
	free(v);
}

Test(hist, merge_adds_samples)
{
	static struct sp_hist a, b;

	sp_hist_reset(&a);
	sp_hist_reset(&b);
	sp_hist_add(&a, 100);
	sp_hist_add(&b, 7);
	sp_hist_add(&b, 100000);
	sp_hist_merge(&a, &b);
	cr_expect_eq(a.count, 3);
	cr_expect_eq(a.min, 7);
	cr_expect_eq(a.max, 100000);
	cr_expect_eq(sp_hist_quantile(&a, 0.5), sp_hist_bucket_high(sp_hist_index(100)));
}
