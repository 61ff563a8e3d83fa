/* SPDX-License-Identifier: MIT */
/*
 * The CSV is a contract read by plots/ and by users' scripts: the first
 * thirteen columns never change order; new columns only go at the end.
 */
#include <math.h>
#include <string.h>

#include "bench.h"

#define CSV_HEADER "backend,size,batch,msgs_per_s,gbit_per_s,ns_per_msg,cycles_per_msg," \
	"p50_ns,p99_ns,p999_ns,max_ns,sent,received," \
	"p90_ns,cpu_ns_per_msg,dropped,eagain,calls,seconds,rate,target,call,mode,measured,status,note"

static double per_msg(uint64_t v, uint64_t msgs)
{
	return msgs ? (double)v / (double)msgs : 0;
}

/* Notes are free text: keep them one CSV field and one JSON string. */
static void clean(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i]; i++)
		dst[i] = (src[i] == ',' || src[i] == '"' || src[i] == '\\' || src[i] < ' ') ? ';' : src[i];
	dst[i] = 0;
}

static void latency_fields(FILE *f, const struct bench_row *r)
{
	if (r->have_ext_latency) {
		fprintf(f, "%llu,%llu,%llu,%llu", (unsigned long long)r->ext_lat[0],
			(unsigned long long)r->ext_lat[2], (unsigned long long)r->ext_lat[3],
			(unsigned long long)r->ext_lat[4]);
		return;
	}
	if (!r->have_latency || !r->lat.count) {
		fputs(",,,", f);
		return;
	}
	fprintf(f, "%llu,%llu,%llu,%llu",
		(unsigned long long)sp_hist_quantile(&r->lat, 0.5),
		(unsigned long long)sp_hist_quantile(&r->lat, 0.99),
		(unsigned long long)sp_hist_quantile(&r->lat, 0.999),
		(unsigned long long)r->lat.max);
}

int bench_write_csv(const char *path, const struct bench_row *rows, unsigned int n)
{
	FILE *f = fopen(path, "w");
	char note[sizeof(rows->note)];
	unsigned int i;

	if (!f)
		return -1;
	fprintf(f, "%s\n", CSV_HEADER);
	for (i = 0; i < n; i++) {
		const struct bench_row *r = &rows[i];

		fprintf(f, "%s,%u,%u,%.0f,%.4f,%.2f,%.1f,", r->backend, r->size, r->batch,
			bench_row_msgs_per_s(r), bench_row_gbit_per_s(r),
			per_msg((uint64_t)(r->seconds * 1e9), r->measured), per_msg(r->tsc_cycles, r->measured));
		latency_fields(f, r);
		fprintf(f, ",%llu,%llu,", (unsigned long long)r->sent, (unsigned long long)r->received);
		if (r->have_ext_latency)
			fprintf(f, "%llu", (unsigned long long)r->ext_lat[1]);
		else if (r->have_latency && r->lat.count)
			fprintf(f, "%llu", (unsigned long long)sp_hist_quantile(&r->lat, 0.9));
		clean(note, sizeof(note), r->note);
		fprintf(f, ",%.2f,%llu,%llu,%llu,%.3f,%.0f,%s,%s,%s,%llu,%s,%s\n",
			r->cpu_ns ? per_msg(r->cpu_ns, r->measured) : 0.0,
			(unsigned long long)r->dropped, (unsigned long long)r->eagain,
			(unsigned long long)r->calls, r->seconds, r->rate, r->target, r->call,
			r->mode, (unsigned long long)r->measured, r->status, note);
	}
	return fclose(f);
}

static void json_str(FILE *f, const char *key, const char *v, const char *sep)
{
	fprintf(f, "\"%s\": \"", key);
	for (; v && *v; v++) {
		if (*v == '"' || *v == '\\')
			fprintf(f, "\\%c", *v);
		else if ((unsigned char)*v < ' ')
			fprintf(f, "\\u%04x", (unsigned char)*v);
		else
			fputc(*v, f);
	}
	fprintf(f, "\"%s", sep);
}

/* "buckets": [[upper edge ns, count], ...] of the non-empty buckets: enough for a CDF */
static void json_buckets(FILE *f, const struct sp_hist *h)
{
	unsigned int i;
	bool first = true;

	fputs("\"buckets\": [", f);
	for (i = 0; i < SP_HIST_BUCKETS; i++) {
		if (!h->bucket[i])
			continue;
		fprintf(f, "%s[%llu, %llu]", first ? "" : ", ",
			(unsigned long long)sp_hist_bucket_high(i), (unsigned long long)h->bucket[i]);
		first = false;
	}
	fputs("]", f);
}

static void json_row(FILE *f, const struct bench_row *r)
{
	fputs("    {", f);
	json_str(f, "backend", r->backend, ", ");
	json_str(f, "target", r->target, ", ");
	json_str(f, "call", r->call, ", ");
	json_str(f, "mode", r->mode, ", ");
	json_str(f, "status", r->status, ", ");
	fprintf(f, "\"size\": %u, \"batch\": %u, \"rate\": %.0f, \"seconds\": %.4f, ",
		r->size, r->batch, r->rate, r->seconds);
	fprintf(f, "\"sent\": %llu, \"received\": %llu, \"dropped\": %llu, \"eagain\": %llu, \"calls\": %llu, ",
		(unsigned long long)r->sent, (unsigned long long)r->received,
		(unsigned long long)r->dropped, (unsigned long long)r->eagain,
		(unsigned long long)r->calls);
	fprintf(f, "\"msgs_per_s\": %.0f, \"gbit_per_s\": %.4f, \"ns_per_msg\": %.2f, "
		"\"cycles_per_msg\": %.1f, \"cpu_ns_per_msg\": %.2f, ",
		bench_row_msgs_per_s(r), bench_row_gbit_per_s(r),
		per_msg((uint64_t)(r->seconds * 1e9), r->measured), per_msg(r->tsc_cycles, r->measured),
		per_msg(r->cpu_ns, r->measured));
	fprintf(f, "\"measured\": %llu, ", (unsigned long long)r->measured);
	json_str(f, "note", r->note, ", ");
	if (r->have_ext_latency) {
		/* the peer's own histogram: its percentiles, and its buckets when it gave them */
		fprintf(f, "\"latency\": {\"count\": %llu, \"p50_ns\": %llu, \"p90_ns\": %llu, "
			"\"p99_ns\": %llu, \"p999_ns\": %llu, \"max_ns\": %llu, \"source\": \"peer\"",
			(unsigned long long)r->ext_lat_count, (unsigned long long)r->ext_lat[0],
			(unsigned long long)r->ext_lat[1], (unsigned long long)r->ext_lat[2],
			(unsigned long long)r->ext_lat[3], (unsigned long long)r->ext_lat[4]);
		if (r->lat.count) {
			fputs(", ", f);
			json_buckets(f, &r->lat);
		}
		fputs("}}", f);
		return;
	}
	if (!r->have_latency || !r->lat.count) {
		fputs("\"latency\": null}", f);
		return;
	}
	fprintf(f, "\"latency\": {\"count\": %llu, \"min_ns\": %llu, \"mean_ns\": %.1f, "
		"\"p50_ns\": %llu, \"p90_ns\": %llu, \"p99_ns\": %llu, \"p999_ns\": %llu, \"max_ns\": %llu, ",
		(unsigned long long)r->lat.count, (unsigned long long)r->lat.min,
		(double)r->lat.sum / (double)r->lat.count,
		(unsigned long long)sp_hist_quantile(&r->lat, 0.5),
		(unsigned long long)sp_hist_quantile(&r->lat, 0.9),
		(unsigned long long)sp_hist_quantile(&r->lat, 0.99),
		(unsigned long long)sp_hist_quantile(&r->lat, 0.999),
		(unsigned long long)r->lat.max);
	json_buckets(f, &r->lat);
	fputs("}}", f);
}

int bench_write_json(const char *path, const struct bench_machine *m, const struct bench_cfg *cfg,
		     const char *cmdline, double memcpy_gbit,
		     const struct bench_backend_status *st, unsigned int nst,
		     const struct bench_row *rows, unsigned int n)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f)
		return -1;
	fputs("{\n  \"machine\": {", f);
	json_str(f, "cpu_model", m->cpu_model, ", ");
	fprintf(f, "\"cpus_online\": %d, ", m->cpus_online);
	json_str(f, "kernel", m->kernel, ", ");
	json_str(f, "dpdk_version", m->dpdk_version, ", ");
	fprintf(f, "\"hugepages\": %s, ", m->hugepages ? "true" : "false");
	json_str(f, "hugepages_note", m->hugepages_note, ", ");
	fprintf(f, "\"tsc_ghz\": %.4f, ", m->tsc_ghz);
	json_str(f, "hostname", m->hostname, ", ");
	json_str(f, "loadavg", m->loadavg, ", ");
	json_str(f, "date", m->date, "},\n");
	fputs("  ", f);
	json_str(f, "command", cmdline, ",\n");
	fprintf(f, "  \"config\": {\"duration_s\": %.3f, \"warmup_s\": %.3f, \"rate\": %.0f, "
		"\"sender_cpu\": %d, \"peer_cpu\": %d, \"mode\": \"%s\", \"udp_target\": \"%s\"},\n",
		cfg->duration, cfg->warmup, cfg->rate, cfg->sender_cpu, cfg->peer_cpu,
		cfg->dontwait ? "dontwait" : "block", cfg->udp_target);
	fprintf(f, "  \"memcpy\": {\"block\": 65536, \"gbit_per_s\": %.3f},\n",
		isfinite(memcpy_gbit) ? memcpy_gbit : 0.0);
	fputs("  \"backends\": [\n", f);
	for (i = 0; i < nst; i++) {
		fputs("    {", f);
		json_str(f, "name", st[i].name, ", ");
		json_str(f, "about", st[i].about, ", ");
		json_str(f, "status", st[i].status, ", ");
		json_str(f, "why", st[i].why, ", ");
		fprintf(f, "\"rows\": %u}%s\n", st[i].rows, i + 1 < nst ? "," : "");
	}
	fputs("  ],\n  \"rows\": [\n", f);
	for (i = 0; i < n; i++) {
		json_row(f, &rows[i]);
		fputs(i + 1 < n ? ",\n" : "\n", f);
	}
	fputs("  ]\n}\n", f);
	return fclose(f);
}
