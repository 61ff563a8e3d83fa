/* SPDX-License-Identifier: MIT */
/*
 * Reading what a sendpath sink prints (sp-net-sink's JSON line, sp-vhost-vsock's
 * stats): plain numbers by key, and its latency summary and histogram into a row.
 * The sinks' JSON is flat and ours, so a key search is all it takes.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "bench.h"

double bench_json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p ? strtod(p + strlen(pat), NULL) : -1;
}

/*
 * "latency_hist":[[upper_ns,count],...] into row->lat's buckets, for the
 * report's CDF. The sinks' buckets are finer than ours and aligned with them,
 * so each lands whole in one of ours. Anything malformed: no buckets.
 */
static void sink_buckets(const char *json, struct bench_row *row)
{
	const char *p = strstr(json, "\"latency_hist\":[");
	unsigned long long upper, count;
	int used;

	sp_hist_reset(&row->lat);
	if (!p)
		return;
	p += strlen("\"latency_hist\":[");
	if (*p == ']')
		return;
	while (sscanf(p, "[%llu,%llu]%n", &upper, &count, &used) == 2) {
		row->lat.bucket[sp_hist_index(upper)] += count;
		row->lat.count += count;
		p += used;
		if (*p == ']')
			return;
		if (*p++ != ',')
			break;
	}
	sp_hist_reset(&row->lat);
}

bool bench_sink_latency(const char *json, struct bench_row *row)
{
	static const char *const keys[5] = { "p50", "p90", "p99", "p999", "max" };
	unsigned int i;

	if (bench_json_num(json, "samples") <= 0)
		return false;
	row->have_ext_latency = true;
	for (i = 0; i < 5; i++)
		row->ext_lat[i] = (uint64_t)bench_json_num(json, keys[i]);
	row->ext_lat_count = (uint64_t)bench_json_num(json, "samples");
	sink_buckets(json, row);
	return true;
}
