/* SPDX-License-Identifier: MIT */
/*
 * The probe a sender puts into each test frame, read back by sp-net-sink.
 *
 * At byte offset OFF of the frame (default SP_PROBE_OFF = 42, the first
 * payload byte after Ethernet 14 + IPv4 20 + UDP 8 without options):
 *
 *   OFF + 0   u64 little-endian  seq       0, 1, 2, ... one per frame, per sender
 *   OFF + 8   u64 little-endian  tx_stamp  when the sender filled the frame;
 *                                          0 = no stamp. Unit chosen on the sink's
 *                                          command line: TSC cycles (rte_rdtsc) or
 *                                          CLOCK_MONOTONIC ns. Same machine only.
 *
 * Neither field needs alignment. Frames shorter than OFF + 8 carry no probe;
 * frames shorter than OFF + 16 carry no stamp.
 */
#ifndef SP_PROBE_H
#define SP_PROBE_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define SP_PROBE_OFF 42
#define SP_PROBE_SEQ_LEN 8
#define SP_PROBE_LEN 16

static inline void sp_probe_write(void *at, uint64_t seq, uint64_t tx_stamp)
{
	uint64_t v[2] = { seq, tx_stamp };

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v[0] = __builtin_bswap64(seq);
	v[1] = __builtin_bswap64(tx_stamp);
#endif
	memcpy(at, v, sizeof(v));
}

static inline uint64_t sp_probe_get64(const void *at)
{
	uint64_t v;

	memcpy(&v, at, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

/* The ns clock of the probe: CLOCK_MONOTONIC, comparable across processes. */
static inline uint64_t sp_probe_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#endif
