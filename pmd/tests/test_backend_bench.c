/* SPDX-License-Identifier: MIT */
/*
 * sendpath-vsock's one-way latency, end to end: sp-bench drives the driver
 * into sp-vhost-vsock --msg-size, which reads the probe at every message
 * start. Every message must be found (samples = received, warm-up off), in
 * sequence, and the percentiles must be ordered. Nothing asserts speed.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "peer.h"

#define MAX_ROWS 16

struct row {
	unsigned long size, batch;
	unsigned long long p50, p90, p99, p999, max, sent, received, count;
	bool have_p50;
	char note[160];
};

static char dir[] = "/tmp/sp-vsock-lat-XXXXXX";
static struct sp_peer sp_bench;

static void make_dir(void)
{
	cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Runs sp-bench on sendpath-vsock with args (words separated by spaces); its exit code. */
static int bench(const char *args)
{
	const char *exe = getenv("SP_BENCH");
	char words[256], *save;
	char *argv[32] = { "timeout", "120", (char *)exe, "--backends", "sendpath-vsock", "--memcpy", "0",
			   "--warmup", "0", "--out", dir };
	int argc = 11;

	cr_assert_not_null(exe, "SP_BENCH not set (run through meson test)");
	snprintf(words, sizeof(words), "%s", args);
	for (char *w = strtok_r(words, " ", &save); w && argc < 31; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	sp_peer_start(&sp_bench, "vsock-lat", argv);
	return sp_peer_reap(&sp_bench, sp_peer_now() + 130);
}

/* The CSV by column name; then each row's latency sample count from bench.json, in row order. */
static int read_rows(struct row *rows)
{
	char path[256], line[2048], *hdr[40], *f, *save, *json = NULL, *p;
	static char header[2048];
	int n = 0, nh = 0, k = 0;
	size_t cap = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "%s/bench.csv", dir);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "no %s", path);
	cr_assert_not_null(fgets(header, sizeof(header), fp));
	header[strcspn(header, "\n")] = 0;
	for (f = strtok_r(header, ",", &save); f && nh < 40; f = strtok_r(NULL, ",", &save))
		hdr[nh++] = f;
	while (n < MAX_ROWS && fgets(line, sizeof(line), fp)) {
		struct row *r = &rows[n++];
		int col = 0;

		memset(r, 0, sizeof(*r));
		line[strcspn(line, "\n")] = 0;
		for (p = line; p && col < nh; col++) {
			char *comma = strchr(p, ',');

			if (comma)
				*comma = 0;
			if (!strcmp(hdr[col], "size")) r->size = strtoul(p, NULL, 10);
			else if (!strcmp(hdr[col], "batch")) r->batch = strtoul(p, NULL, 10);
			else if (!strcmp(hdr[col], "p50_ns")) { r->p50 = strtoull(p, NULL, 10); r->have_p50 = *p; }
			else if (!strcmp(hdr[col], "p90_ns")) r->p90 = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "p99_ns")) r->p99 = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "p999_ns")) r->p999 = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "max_ns")) r->max = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "sent")) r->sent = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "received")) r->received = strtoull(p, NULL, 10);
			else if (!strcmp(hdr[col], "note")) memcpy(r->note, p, strnlen(p, sizeof(r->note) - 1));
			p = comma ? comma + 1 : NULL;
		}
	}
	fclose(fp);

	snprintf(path, sizeof(path), "%s/bench.json", dir);
	fp = fopen(path, "r");
	cr_assert_not_null(fp, "no %s", path);
	cr_assert_gt(getdelim(&json, &cap, '\0', fp), 0);
	fclose(fp);
	for (p = json; k < n && (p = strstr(p, "\"latency\": ")); k++) {
		p += strlen("\"latency\": ");
		if (!strncmp(p, "{\"count\": ", 10))
			rows[k].count = strtoull(p + 10, NULL, 10);
	}
	free(json);
	return n;
}

static void expect_latency(const char *args, int points)
{
	struct row rows[MAX_ROWS];
	int n;

	make_dir();
	cr_assert_eq(bench(args), 0, "sp-bench %s failed: %s", args, sp_peer_slurp(sp_bench.err));
	n = read_rows(rows);
	cr_assert_eq(n, points);
	for (int i = 0; i < n; i++) {
		struct row *r = &rows[i];

		cr_expect(r->have_p50, "size %lu batch %lu: no latency (%s)", r->size, r->batch, r->note);
		cr_expect_gt(r->received, 0);
		cr_expect_eq(r->sent, r->received, "size %lu batch %lu: %s", r->size, r->batch, r->note);
		cr_expect_eq(r->count, r->received, "size %lu batch %lu: %llu samples for %llu messages (%s)",
			     r->size, r->batch, r->count, r->received, r->note);
		cr_expect(r->p50 > 0 && r->p50 <= r->p90 && r->p90 <= r->p99 && r->p99 <= r->p999 &&
			  r->p999 <= r->max, "size %lu batch %lu: p50 %llu p90 %llu p99 %llu p99.9 %llu max %llu",
			  r->size, r->batch, r->p50, r->p90, r->p99, r->p999, r->max);
		cr_expect(!strstr(r->note, "out of sequence") && !strstr(r->note, "bytes:"),
			  "size %lu batch %lu: %s", r->size, r->batch, r->note);
	}
	remove_dir();
	sp_peer_drop(&sp_bench);
}

Test(vsock_latency, columns_filled_and_ordered)
{
	expect_latency("--sizes 64,1500 --batches 1,32 --duration 0.2", 4);
}

/* MSG_DONTWAIT takes messages in part: the sender finishes each, so the sink's grid holds. */
Test(vsock_latency, dontwait_partial_messages_keep_the_grid)
{
	expect_latency("--dontwait --sizes 4096,65536 --batches 8 --duration 0.2", 2);
}

Test(vsock_latency, paced_low_load)
{
	expect_latency("--sizes 64 --batches 1 --rate 10000 --duration 0.3", 1);
}
