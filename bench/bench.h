/* SPDX-License-Identifier: MIT */
/*
 * sp-bench: one program, several send paths side by side. Each backend is an
 * ops table; the driver (sp_bench.c) walks the sweep and hands every backend
 * the same points, so rows of the CSV compare like with like.
 */
#ifndef SP_BENCH_H
#define SP_BENCH_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "hist.h"

#define BENCH_MAX_SIZES   32
#define BENCH_MAX_BATCHES 16
#define BENCH_MAX_BATCH   1024   /* UIO_MAXIOV */
#define BENCH_UDP_MAX     65507  /* largest IPv4 UDP payload */
#define BENCH_HDR_LEN     16     /* payload starts with seq (8) and TSC at send (8) */

/* Every message carries where it stands and when it left. */
struct bench_stamp {
	uint64_t seq;
	uint64_t tsc;
};

struct bench_cfg {
	unsigned int sizes[BENCH_MAX_SIZES];
	unsigned int nr_sizes;
	unsigned int batches[BENCH_MAX_BATCHES];
	unsigned int nr_batches;
	double duration;        /* seconds measured per point */
	double warmup;          /* seconds sent and discarded before measuring */
	double rate;            /* messages/s offered; 0 = as fast as the path goes */
	int sender_cpu;
	int peer_cpu;
	bool dontwait;          /* MSG_DONTWAIT instead of blocking sends */
	bool force_mmsg;        /* sendmmsg even for batch 1 */
	const char *udp_target; /* kernel-udp: "lo" or "veth" */
	const char *build_dir;  /* where peer programs live */
	const char *testpmd;    /* dpdk-testpmd binary */
	unsigned int vsock_buf; /* sendpath-vsock peer's buf_alloc; 0 = its default (the kernel's 256 KiB) */
	bool verbose;
};

/* One row of the CSV contract (see docs/benchmarks.md). */
struct bench_row {
	char backend[24];
	char target[16];        /* where the messages go: lo, veth, vhost-user, ... */
	char call[12];          /* send, sendmmsg, txonly */
	char status[12];        /* ok, partial */
	char mode[10];          /* block, dontwait */
	unsigned int size;
	unsigned int batch;
	double rate;
	double seconds;         /* measured interval */
	uint64_t measured;      /* messages sent in the measured interval: the rates divide this */
	uint64_t sent;          /* messages sent, as the peer can check them (see the backend) */
	uint64_t received;      /* messages the peer counted of those */
	uint64_t dropped;       /* messages the path itself says it dropped */
	uint64_t eagain;
	uint64_t calls;
	uint64_t tsc_cycles;    /* sender TSC over the interval */
	uint64_t cpu_ns;        /* sender thread CPU time over the interval */
	bool have_latency;
	struct sp_hist lat;        /* one-way latency, ns */
	bool have_ext_latency;  /* percentiles from a peer that keeps its own histogram */
	uint64_t ext_lat[5];    /* p50, p90, p99, p99.9, max (ns) */
	uint64_t ext_lat_count;
	char note[128];
};

struct bench_point {
	unsigned int size;
	unsigned int batch;
	unsigned int index;     /* position in the whole run, for the progress line */
	unsigned int total;
};

struct bench_backend {
	const char *name;
	const char *about;      /* one line for the report */
	/* 0 ready, >0 skipped (why in buf), <0 failed (why in buf). */
	int (*setup)(const struct bench_cfg *cfg, char *why, size_t len);
	/* Largest message size the path carries; sizes above are clamped or skipped. */
	unsigned int (*max_size)(const struct bench_cfg *cfg);
	/* Runs one point; 0 ok, <0 failed (row->note says why). */
	int (*run)(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row);
	void (*teardown)(void);
};

extern const struct bench_backend bench_kernel_udp;
extern const struct bench_backend bench_kernel_vsock;
extern const struct bench_backend bench_dpdk_txonly;
extern const struct bench_backend bench_sendpath_udp;
extern const struct bench_backend bench_sendpath_vsock;

/* Set by SIGINT/SIGTERM: the current point ends early, no new point starts. */
extern volatile sig_atomic_t bench_stop;

/* clock.c */
static inline uint64_t bench_tsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
void bench_clock_init(void);
double bench_tsc_hz(void);
uint64_t bench_now_ns(void);
uint64_t bench_thread_cpu_ns(void);
int bench_pin(int cpu);
static inline uint64_t bench_tsc_to_ns(uint64_t cycles)
{
	return (uint64_t)((double)cycles * 1e9 / bench_tsc_hz());
}

/* Fills the stamp of every message of a batch. */
void bench_stamp_batch(void **bufs, unsigned int n, uint64_t *seq);

/* Offered-rate pacing: waits until batch k of a run at `rate` msgs/s is due. */
void bench_pace(uint64_t t0_tsc, uint64_t msgs_so_far, double rate);

/* Derived numbers of a row. */
double bench_row_msgs_per_s(const struct bench_row *r);
double bench_row_gbit_per_s(const struct bench_row *r);

/* machine.c / output.c */
struct bench_machine {
	char cpu_model[96];
	int cpus_online;
	char kernel[160];
	char dpdk_version[32];
	bool hugepages;
	char hugepages_note[96];
	double tsc_ghz;
	char hostname[64];
	char date[32];
	char loadavg[64];       /* /proc/loadavg at start: others' work on a shared machine */
};
void bench_machine_describe(struct bench_machine *m, const struct bench_cfg *cfg);
double bench_memcpy_gbit(unsigned int block, double seconds);

struct bench_backend_status {
	const char *name;
	const char *about;
	char status[12];        /* ok, skipped, failed, not-run, interrupted */
	char why[160];
	unsigned int rows;
};

int bench_write_csv(const char *path, const struct bench_row *rows, unsigned int n);
int bench_write_json(const char *path, const struct bench_machine *m, const struct bench_cfg *cfg,
		     const char *cmdline, double memcpy_gbit,
		     const struct bench_backend_status *st, unsigned int nst,
		     const struct bench_row *rows, unsigned int n);

/* A sendpath sink's JSON: a number by key (-1 when absent); its latency summary
 * (samples, p50..max, latency_hist) into the row, false when it has no samples. */
double bench_json_num(const char *json, const char *key);
bool bench_sink_latency(const char *json, struct bench_row *row);

#endif
