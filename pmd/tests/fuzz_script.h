/* SPDX-License-Identifier: MIT */
/*
 * A fuzz input read as a script: little-endian numbers taken from the front,
 * zeros once it runs out, so every input is a whole (if short) script.
 */
#ifndef SP_FUZZ_SCRIPT_H
#define SP_FUZZ_SCRIPT_H

#include <stddef.h>
#include <stdint.h>

struct fuzz_script {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fuzz_take(struct fuzz_script *s, unsigned int nbytes)
{
	uint64_t v = 0;

	for (unsigned int i = 0; i < nbytes; i++) {
		v |= (uint64_t)(s->left ? *s->p : 0) << (8 * i);
		if (s->left) {
			s->p++;
			s->left--;
		}
	}
	return v;
}

#endif
