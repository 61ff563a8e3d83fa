/* SPDX-License-Identifier: MIT */
/* The latency histogram: quantiles within its stated 1/16 resolution. */
#include <criterion/criterion.h>

#include "hist.h"

static struct hist h;

Test(hist, small_values_are_exact)
{
	hist_reset(&h);
	for (uint64_t v = 0; v < 16; v++)
		hist_add(&h, v);
	cr_assert_eq(hist_quantile(&h, 0.5), 8);
	cr_assert_eq(hist_quantile(&h, 1.0), 15);
}

Test(hist, quantiles_within_one_sixteenth)
{
	hist_reset(&h);
	for (uint64_t v = 1; v <= 100000; v++)
		hist_add(&h, v);
	struct { double q; double want; } c[] = { { 0.5, 50000 }, { 0.9, 90000 }, { 0.99, 99000 }, { 0.999, 99900 } };
	for (unsigned int i = 0; i < 4; i++) {
		double got = (double)hist_quantile(&h, c[i].q);

		cr_assert(got >= c[i].want && got <= c[i].want * (1 + 1.0 / 16) + 1,
			  "q%.3f: got %.0f want %.0f", c[i].q, got, c[i].want);
	}
	cr_assert_eq(hist_quantile(&h, 1.0), 100000);
	cr_assert_eq(h.count, 100000);
}

Test(hist, bucket_edges_cover_every_value)
{
	for (uint64_t v = 1; v < (1ull << 40); v = v * 3 + 1) {
		unsigned int i = hist_index(v);

		cr_assert(i < HIST_BUCKETS);
		cr_assert(hist_bucket_upper(i) >= v, "value %llu above its bucket edge", (unsigned long long)v);
		if (i)
			cr_assert(hist_bucket_upper(i - 1) < v, "value %llu below its bucket", (unsigned long long)v);
	}
}

Test(hist, merge_adds_counts)
{
	static struct hist a, b;

	hist_reset(&a);
	hist_reset(&b);
	hist_add(&a, 100);
	hist_add(&b, 5000);
	hist_merge(&a, &b);
	cr_assert_eq(a.count, 2);
	cr_assert_eq(a.max, 5000);
	cr_assert_eq(a.min, 100);
}
