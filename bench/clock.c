/* SPDX-License-Identifier: MIT */
/* Time for the benchmark: the TSC (invariant on the machines we measure), calibrated once. */
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static double tsc_hz;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t bench_thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* 40 ms against CLOCK_MONOTONIC_RAW: good to ~0.01 %, far below run-to-run noise. */
void bench_clock_init(void)
{
	struct timespec req = { 0, 40 * 1000 * 1000 };
	uint64_t n0, n1, t0, t1;

	n0 = bench_now_ns();
	t0 = bench_tsc();
	nanosleep(&req, NULL);
	n1 = bench_now_ns();
	t1 = bench_tsc();
	tsc_hz = (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}

double bench_tsc_hz(void)
{
	if (tsc_hz == 0)
		bench_clock_init();
	return tsc_hz;
}

int bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* One TSC read per batch: latency is measured from the call that hands the batch over. */
void bench_stamp_batch(void **bufs, unsigned int n, uint64_t *seq)
{
	struct bench_stamp st = { .tsc = bench_tsc() };
	unsigned int i;

	for (i = 0; i < n; i++) {
		st.seq = (*seq)++;
		memcpy(bufs[i], &st, sizeof(st));
	}
}

void bench_pace(uint64_t t0_tsc, uint64_t msgs_so_far, double rate)
{
	uint64_t due;

	if (rate <= 0)
		return;
	due = t0_tsc + (uint64_t)((double)msgs_so_far * bench_tsc_hz() / rate);
	while (bench_tsc() < due && !bench_stop)
		__builtin_ia32_pause();
}

double bench_row_msgs_per_s(const struct bench_row *r)
{
	return r->seconds > 0 ? (double)r->measured / r->seconds : 0;
}

double bench_row_gbit_per_s(const struct bench_row *r)
{
	return bench_row_msgs_per_s(r) * r->size * 8 / 1e9;
}
