/* SPDX-License-Identifier: MIT */
/*
 * Sequence accounting for one sender whose frames are numbered 0, 1, 2, ...
 * (the probe of sp_probe.h): gaps, duplicates and reordering.
 *
 * The last SP_SEQ_WINDOW numbers behind the highest one seen are remembered,
 * so a number that comes again is told from one that comes late. Older than
 * that, a number is taken as late (reordered), never as a duplicate.
 * lost = numbers below the highest seen that never came.
 */
#ifndef SP_SEQ_TRACK_H
#define SP_SEQ_TRACK_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define SP_SEQ_WINDOW (1u << 16)

struct sp_seq {
	uint64_t next;          /* highest seq seen + 1 */
	uint64_t unique;        /* distinct seqs seen */
	uint64_t gaps;          /* times a seq skipped ahead */
	uint64_t duplicates;
	uint64_t reordered;     /* frames that came after a higher seq */
	uint64_t seen[SP_SEQ_WINDOW / 64];
};

static inline bool sp_seq_test_set(struct sp_seq *s, uint64_t seq)
{
	uint64_t bit = 1ull << (seq & 63), *w = &s->seen[(seq % SP_SEQ_WINDOW) / 64];
	bool was = *w & bit;

	*w |= bit;
	return was;
}

static inline void sp_seq_forget(struct sp_seq *s, uint64_t seq)
{
	s->seen[(seq % SP_SEQ_WINDOW) / 64] &= ~(1ull << (seq & 63));
}

static inline void sp_seq_account(struct sp_seq *s, uint64_t seq)
{
	uint64_t q;

	if (seq >= s->next) {
		if (seq > s->next)
			s->gaps++;
		/* The slots of next..seq held numbers that now fall out of the window. */
		if (seq - s->next >= SP_SEQ_WINDOW)
			memset(s->seen, 0, sizeof(s->seen));
		else
			for (q = s->next; q <= seq; q++)
				sp_seq_forget(s, q);
		sp_seq_test_set(s, seq);
		s->next = seq + 1;
		s->unique++;
	} else if (s->next - seq > SP_SEQ_WINDOW) {
		s->reordered++;         /* too old to tell: assume late, not repeated */
		s->unique++;
	} else if (sp_seq_test_set(s, seq)) {
		s->duplicates++;
	} else {
		s->reordered++;
		s->unique++;
	}
}

static inline uint64_t sp_seq_lost(const struct sp_seq *s)
{
	return s->next > s->unique ? s->next - s->unique : 0;
}

/* Every number 0..next-1 came exactly once, in order. */
static inline bool sp_seq_clean(const struct sp_seq *s)
{
	return s->unique == s->next && s->duplicates == 0 && s->reordered == 0;
}

#endif
