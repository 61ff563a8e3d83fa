/* SPDX-License-Identifier: MIT */
/*
 * One-way latency at the sink (--msg-size N). A vsock stream has no message
 * boundaries, so the sender and the sink agree on one: the stream is whole
 * messages of N bytes, and each starts with the probe of env/sp_probe.h
 * {u64 seq, u64 tx_stamp} at offset 0 (bench_stamp_batch writes it). The
 * sink follows the message grid across packets: a probe split over two
 * packets is put together, several messages in one packet are each read.
 * tx_stamp is subtracted from the poller's clock of the burst that carried
 * the probe's last byte; 0 means "no stamp" (warm-up) and is only counted.
 */
#include "host.h"

#include <inttypes.h>
#include <string.h>

#include "sp_probe.h"

_Static_assert(sizeof(((struct conn *)0)->probe) == SP_PROBE_LEN, "probe buffer is one probe");

void host_probe_init(struct host *h)
{
	uint64_t hz = h->cfg.stamp_hz;

	memset(&h->probe, 0, sizeof(h->probe));
	/* ns = ticks * 1e9 / hz, as ticks * mult >> 32: one multiply per message */
	h->probe.mult = hz ? (uint64_t)(((__uint128_t)1000000000u << 32) / hz) : (uint64_t)1 << 32;
}

static void probe_account(struct host *h, struct conn *c, const uint8_t *probe)
{
	struct host_probe *pr = &h->probe;
	uint64_t seq = sp_probe_get64(probe);
	uint64_t stamp = sp_probe_get64(probe + SP_PROBE_SEQ_LEN);

	pr->messages++;
	if (seq != c->msg_seq)
		pr->seq_errors++;
	c->msg_seq = seq + 1;
	if (stamp == 0) {
		pr->unstamped++;
		return;
	}
	if (stamp > h->now_stamp) {
		pr->bad_stamps++;
		return;
	}
	sp_hist_add(&pr->lat, (uint64_t)(((__uint128_t)(h->now_stamp - stamp) * pr->mult) >> 32));
}

/* n payload bytes of c's stream, in order, at p. */
void host_probe_rx(struct host *h, struct conn *c, const uint8_t *p, uint32_t n)
{
	const uint32_t size = h->cfg.msg_size;

	while (n) {
		uint32_t k;

		if (c->msg_off == 0 && n >= SP_PROBE_LEN) {
			/* the common case: the whole probe in this piece, read in place */
			probe_account(h, c, p);
			k = n < size ? n : size;
		} else if (c->msg_off < SP_PROBE_LEN) {
			k = SP_PROBE_LEN - c->msg_off;
			k = n < k ? n : k;
			memcpy(c->probe + c->msg_off, p, k);
			if (c->msg_off + k == SP_PROBE_LEN)
				probe_account(h, c, c->probe);
		} else {
			k = size - c->msg_off;
			k = n < k ? n : k;
		}
		c->msg_off += k;
		if (c->msg_off == size)
			c->msg_off = 0;
		p += k;
		n -= k;
	}
}

/* ,"probe":{...},"latency_ns":{...},"latency_hist":[[upper_ns,count],...] */
void host_probe_stats(const struct host *h, FILE *f)
{
	const struct host_probe *pr = &h->probe;
	const char *sep = "";

	if (!h->cfg.msg_size)
		return;
	fprintf(f, ",\"probe\":{\"msg_size\":%u,\"messages\":%" PRIu64 ",\"unstamped\":%" PRIu64
		",\"bad_stamps\":%" PRIu64 ",\"seq_errors\":%" PRIu64 "},\"latency_ns\":",
		h->cfg.msg_size, pr->messages, pr->unstamped, pr->bad_stamps, pr->seq_errors);
	sp_hist_print_json(&pr->lat, f);
	fputs(",\"latency_hist\":[", f);
	for (unsigned int i = 0; i < SP_HIST_BUCKETS; i++) {
		if (!pr->lat.bucket[i])
			continue;
		fprintf(f, "%s[%" PRIu64 ",%" PRIu64 "]", sep, sp_hist_bucket_high(i), pr->lat.bucket[i]);
		sep = ",";
	}
	fputc(']', f);
}
