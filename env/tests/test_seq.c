/* SPDX-License-Identifier: MIT */
/* The sink's sequence accounting: what it calls lost, duplicate and reordered. */
#include <criterion/criterion.h>

#include "seq_track.h"

static struct sp_seq s;

static void feed(const uint64_t *seqs, size_t n)
{
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < n; i++)
		sp_seq_account(&s, seqs[i]);
}

#define FEED(...) do { \
	static const uint64_t v_[] = { __VA_ARGS__ }; \
	feed(v_, sizeof(v_) / sizeof(v_[0])); \
} while (0)

Test(seq, in_order_is_clean)
{
	uint64_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < 3 * SP_SEQ_WINDOW; i++)
		sp_seq_account(&s, i);
	cr_expect(sp_seq_clean(&s));
	cr_expect_eq(s.unique, 3 * SP_SEQ_WINDOW);
	cr_expect_eq(sp_seq_lost(&s), 0);
}

Test(seq, gap_is_lost)
{
	FEED(0, 1, 4, 5);
	cr_expect_eq(s.gaps, 1);
	cr_expect_eq(sp_seq_lost(&s), 2);
	cr_expect_eq(s.duplicates, 0);
	cr_expect_eq(s.reordered, 0);
	cr_expect_not(sp_seq_clean(&s));
}

Test(seq, first_frame_missing_is_lost)
{
	FEED(1, 2);
	cr_expect_eq(sp_seq_lost(&s), 1);
	cr_expect_eq(s.gaps, 1);
}

Test(seq, repeat_is_duplicate)
{
	FEED(0, 1, 2, 2, 1, 3);
	cr_expect_eq(s.duplicates, 2);
	cr_expect_eq(s.reordered, 0);
	cr_expect_eq(sp_seq_lost(&s), 0);
	cr_expect_eq(s.unique, 4);
}

Test(seq, late_frame_is_reordered_not_lost)
{
	FEED(0, 2, 1, 3);
	cr_expect_eq(s.reordered, 1);
	cr_expect_eq(s.gaps, 1);
	cr_expect_eq(sp_seq_lost(&s), 0);
	cr_expect_eq(s.duplicates, 0);
	cr_expect_not(sp_seq_clean(&s));
}

/* A slot reused by a newer number must not make an old one look seen. */
Test(seq, window_slots_are_forgotten)
{
	FEED(0, SP_SEQ_WINDOW + 5, 5 + 1);
	cr_expect_eq(s.duplicates, 0);
	cr_expect_eq(s.reordered, 1);
	FEED(0, 1, 2, SP_SEQ_WINDOW + 1, 2);  /* 2 is still inside the window: a repeat */
	cr_expect_eq(s.duplicates, 1);
	FEED(3, SP_SEQ_WINDOW + 2, 3);         /* the oldest number still remembered */
	cr_expect_eq(s.duplicates, 1);
	cr_expect_eq(s.reordered, 0);
	FEED(3, SP_SEQ_WINDOW + 3, 3);         /* one older: can no longer tell */
	cr_expect_eq(s.duplicates, 0);
	cr_expect_eq(s.reordered, 1);
}

Test(seq, too_old_counts_as_late)
{
	FEED(0, 10 * SP_SEQ_WINDOW, 1);
	cr_expect_eq(s.reordered, 1);
	cr_expect_eq(s.duplicates, 0);
	cr_expect_eq(sp_seq_lost(&s), 10 * SP_SEQ_WINDOW - 2);
}
