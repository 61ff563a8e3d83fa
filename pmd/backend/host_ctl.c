/* SPDX-License-Identifier: MIT */
/*
 * The scripted peer: one text line in, one line out. Commands act on every
 * open connection, on those whose host-side port is P with a trailing
 * "port P", or on the K-th accepted one (from 0) with "conn K"; mode switches (refuse, stop-reading, buf-alloc) also hold for
 * connections made later. The same lines may come from the guest itself on
 * the --ctl-port connection (host_ctl_rx), replies going back on it.
 */
#include "host.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 6

static int split(char *s, char **argv)
{
	int n = 0;

	for (char *t = strtok(s, " \t\r\n"); t && n < MAX_ARGS; t = strtok(NULL, " \t\r\n"))
		argv[n++] = t;
	return n;
}

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	*v = strtoull(s, &end, 0);
	return *end == '\0';
}

/* Which connections a command is for: all, those on our port P, or the K-th accepted. */
struct sel {
	int64_t port;             /* -1: any */
	int64_t conn;             /* -1: any */
};

/* Strips a trailing "port P" or "conn K"; returns -1 on a malformed one. */
static int take_sel(int *argc, char **argv, struct sel *sel)
{
	uint64_t v;

	sel->port = sel->conn = -1;
	if (*argc >= 3 && (!strcmp(argv[*argc - 2], "port") || !strcmp(argv[*argc - 2], "conn"))) {
		if (!parse_u64(argv[*argc - 1], &v) || v > UINT32_MAX)
			return -1;
		if (argv[*argc - 2][0] == 'p')
			sel->port = (int64_t)v;
		else
			sel->conn = (int64_t)v;
		*argc -= 2;
	}
	return 0;
}

static bool match(const struct conn *c, const struct sel *sel)
{
	/* Commands are for the scripted connections, never the one that carries them. */
	return !c->is_ctl && (sel->port < 0 || c->local_port == (uint32_t)sel->port) &&
	       (sel->conn < 0 || c->id == (uint64_t)sel->conn);
}

static void consume_now(struct host *h, struct conn *c, uint64_t n)
{
	if (n > c->cr.rx_bytes)
		n = c->cr.rx_bytes;
	if (c->echo_buf) {
		uint32_t k = n < c->echo_len ? (uint32_t)n : c->echo_len;

		c->echo_head = (c->echo_head + k) % c->echo_cap;
		c->echo_len -= k;
	}
	host_conn_consume(h, c, n);
}

void host_ctl(struct host *h, const char *line, char *reply, size_t len)
{
	char buf[256], *argv[MAX_ARGS];
	struct conn *c;
	int argc, count = 0;
	struct sel sel;
	uint64_t v = 0;

	snprintf(buf, sizeof(buf), "%s", line);
	argc = split(buf, argv);
	if (argc == 0) {
		snprintf(reply, len, "err empty command");
		return;
	}
	if (take_sel(&argc, argv, &sel) < 0) {
		snprintf(reply, len, "err bad port or conn");
		return;
	}

	if (!strcmp(argv[0], "refuse") && argc == 2 &&
	    (!strcmp(argv[1], "on") || !strcmp(argv[1], "off"))) {
		h->refuse = !strcmp(argv[1], "on");
		snprintf(reply, len, "ok");
	} else if (!strcmp(argv[0], "stop-reading") && argc == 1) {
		h->reading = false;
		snprintf(reply, len, "ok");
	} else if (!strcmp(argv[0], "resume") && argc == 1) {
		h->reading = true;
		TAILQ_FOREACH(c, &h->conns, all) {
			if (c->is_ctl)
				continue;
			c->to_read = 0;
			if (c->echo_buf)
				host_conn_mark(h, c, 0);
			else
				host_conn_consume(h, c, c->cr.rx_bytes);
		}
		snprintf(reply, len, "ok");
	} else if (!strcmp(argv[0], "read") && argc == 2 && parse_u64(argv[1], &v)) {
		uint64_t done = 0;

		TAILQ_FOREACH(c, &h->conns, all) {
			uint64_t now;

			if (!match(c, &sel))
				continue;
			now = v < c->cr.rx_bytes ? v : c->cr.rx_bytes;
			consume_now(h, c, now);
			/* The rest is read as it arrives. */
			c->to_read += v - now;
			done += now;
		}
		snprintf(reply, len, "ok %" PRIu64, done);
	} else if (!strcmp(argv[0], "shutdown") && argc == 2) {
		uint32_t f = !strcmp(argv[1], "rcv") ? VSOCK_SHUTDOWN_RCV :
			     !strcmp(argv[1], "send") ? VSOCK_SHUTDOWN_SEND :
			     !strcmp(argv[1], "both") ? VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND : 0;

		if (!f) {
			snprintf(reply, len, "err shutdown takes rcv, send or both");
			return;
		}
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel) && c->state == CONN_ESTABLISHED) {
				c->shutdown_pending |= f;
				host_conn_mark(h, c, CONN_TX_SHUTDOWN);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "send") && argc == 2 && parse_u64(argv[1], &v) &&
		   v <= UINT32_MAX) {
		/* our own data to the driver, as a peer's write(): it goes within the driver's credit */
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel) && !(c->local_shutdown & VSOCK_SHUTDOWN_SEND) &&
			    !(c->shutdown_pending & VSOCK_SHUTDOWN_SEND)) {
				c->to_send += v;
				host_conn_mark(h, c, 0);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "rst") && argc == 1) {
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel)) {
				host_conn_mark(h, c, CONN_TX_RST);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "close") && argc == 1) {
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel) && c->state == CONN_ESTABLISHED) {
				host_conn_close(h, c);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "credit-update") && argc == 1) {
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel)) {
				host_conn_mark(h, c, CONN_TX_CREDIT);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "credit-request") && argc == 1) {
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel) && c->state == CONN_ESTABLISHED) {
				host_conn_mark(h, c, CONN_TX_CREDIT_REQ);
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else if (!strcmp(argv[0], "buf-alloc") && argc == 2 && parse_u64(argv[1], &v) &&
		   v <= UINT32_MAX / 2) {
		if (sel.port < 0 && sel.conn < 0)
			h->cfg.buf_alloc = (uint32_t)v;
		TAILQ_FOREACH(c, &h->conns, all)
			if (match(c, &sel)) {
				if (host_conn_set_buf_alloc(h, c, (uint32_t)v) < 0) {
					snprintf(reply, len, "err out of memory");
					return;
				}
				count++;
			}
		snprintf(reply, len, "ok %d", count);
	} else {
		snprintf(reply, len, "err unknown command '%s' (refuse on|off, stop-reading, read N, "
			 "resume, send N, shutdown rcv|send|both, rst, close, credit-update, credit-request, "
			 "buf-alloc N, transport-reset, stats, exit; optional trailing 'port P' or 'conn K')", argv[0]);
	}
}

/* Queues bytes for the driver on a control connection; a reply that does not fit is replaced. */
static void ctl_out(struct host *h, struct conn *c, const char *s, size_t n)
{
	static const char too_big[] = "err reply does not fit the connection's buffer\n";

	if (c->echo_len + n > c->echo_cap) {
		s = too_big;
		n = sizeof(too_big) - 1;
		if (c->echo_len + n > c->echo_cap)
			return;
	}
	for (size_t k = 0; k < n; k++)
		c->echo_buf[(c->echo_head + c->echo_len + k) % c->echo_cap] = (uint8_t)s[k];
	c->echo_len += (uint32_t)n;
	host_conn_mark(h, c, 0);
}

static void ctl_run(struct host *h, struct conn *c)
{
	char *out = NULL, reply[512];
	size_t len = 0;
	FILE *f;

	c->line[c->line_len] = '\0';
	if (c->line_len && c->line[c->line_len - 1] == '\r')
		c->line[c->line_len - 1] = '\0';
	if (c->line_len == sizeof(c->line) - 1) {
		ctl_out(h, c, "err line too long\n", 18);
		return;
	}
	f = open_memstream(&out, &len);
	if (!f)
		return;
	if (h->ctl_fn) {
		h->ctl_fn(h->ctl_arg, c->line, f);
	} else if (!strcmp(c->line, "stats")) {
		fputc('{', f);
		host_stats_fields(h, f);
		fputc('}', f);
	} else {
		host_ctl(h, c->line, reply, sizeof(reply));
		fputs(reply, f);
	}
	fputc('\n', f);
	fclose(f);
	ctl_out(h, c, out, len);
	free(out);
}

/* A control connection: its payload is command lines, read at once. */
void host_ctl_rx(struct host *h, struct conn *c, const struct vb_chain *ch, uint32_t len)
{
	uint32_t off = sizeof(struct vsock_hdr), total = len;

	for (uint16_t i = 0; i < ch->nseg && len; i++) {
		const struct vb_seg *s = &ch->seg[i];
		uint32_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		n = s->len - off < len ? s->len - off : len;
		for (uint32_t k = 0; k < n; k++) {
			char ch_ = (char)s->base[off + k];

			if (ch_ == '\n') {
				ctl_run(h, c);
				c->line_len = 0;
			} else if (c->line_len < sizeof(c->line) - 1) {
				c->line[c->line_len++] = ch_;
			}
		}
		off = 0;
		len -= n;
	}
	c->rx_cnt += total;
	c->cr.rx_bytes += total;
	c->rx_total += total;
	host_conn_consume(h, c, total);
}

static const char *state_name(const struct conn *c)
{
	return c->state == CONN_ESTABLISHED ? "established" : "closing";
}

/* "0x1234abcd", or null when payload is not checksummed */
static const char *crc_str(const struct host *h, uint32_t v, char *buf)
{
	if (h->cfg.no_checksum)
		return "null";
	snprintf(buf, 16, "\"0x%08x\"", v);
	return buf;
}

void host_stats_fields(const struct host *h, FILE *f)
{
	const struct host_counters *n = &h->n;
	const struct conn *c;
	bool first = true;
	char crc[16];

	fprintf(f, "\"mode\":\"%s\",\"guest_cid\":%" PRIu64 ",\"refuse\":%s,\"reading\":%s,"
		"\"buf_alloc\":%u,\"checksum\":%s,",
		h->cfg.mode == HOST_ECHO ? "echo" : "sink", h->cfg.guest_cid,
		h->refuse ? "true" : "false", h->reading ? "true" : "false", h->cfg.buf_alloc,
		h->cfg.no_checksum ? "false" : "true");
	fprintf(f, "\"rx_pkts\":%" PRIu64 ",\"tx_pkts\":%" PRIu64 ",\"rx_bytes\":%" PRIu64
		",\"tx_bytes\":%" PRIu64 ",", n->rx_pkts, n->tx_pkts, n->rx_bytes, n->tx_bytes);
	fprintf(f, "\"conns_open\":%u,\"conns_accepted\":%" PRIu64 ",\"conns_refused\":%" PRIu64
		",\"conns_closed\":%" PRIu64 ",", h->nconns - h->nctl, n->conns_accepted, n->conns_refused,
		n->conns_closed);
	fprintf(f, "\"credit_violations\":%" PRIu64 ",\"verify_errors\":%" PRIu64
		",\"bad_src_cid\":%" PRIu64 ",\"bad_dst_cid\":%" PRIu64 ",\"proto_errors\":%" PRIu64
		",\"rst_sent\":%" PRIu64 ",\"rst_received\":%" PRIu64 ",\"orphan_rst_dropped\":%" PRIu64
		",\"resets\":%" PRIu64 ",",
		n->credit_violations, n->verify_errors, n->bad_src_cid, n->bad_dst_cid,
		n->proto_errors, n->rst_sent, n->rst_received, n->orphan_rst_dropped,
		n->resets);
	fprintf(f, "\"credit_requests_sent\":%" PRIu64 ",\"credit_updates_received\":%" PRIu64
		",\"transport_resets_sent\":%" PRIu64 ",", n->credit_requests_sent,
		n->credit_updates_received, n->transport_resets_sent);
	fprintf(f, "\"bad_hdr\":{");
	for (int i = 1; i < VB_PKT__MAX; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", vb_pkt_fault_name(i), n->bad_hdr[i]);
	fprintf(f, "},\"conns\":[");
	TAILQ_FOREACH(c, &h->conns, all) {
		if (c->is_ctl)
			continue;
		fprintf(f, "%s{\"id\":%" PRIu64 ",\"peer_cid\":%" PRIu64 ",\"peer_port\":%u,\"local_port\":%u,"
			"\"state\":\"%s\",\"to_send\":%" PRIu64 ",\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64
			",\"unread\":%u,\"crc32c\":%s,\"buf_alloc\":%u,\"fwd_cnt\":%u,"
			"\"peer_buf_alloc\":%u,\"peer_fwd_cnt\":%u,\"peer_shutdown\":%u,"
			"\"local_shutdown\":%u,\"credit_violations\":%" PRIu64
			",\"verify_errors\":%" PRIu64 "}",
			first ? "" : ",", c->id, c->peer_cid, c->peer_port, c->local_port, state_name(c), c->to_send,
			c->rx_total, c->tx_total, c->cr.rx_bytes, crc_str(h, c->crc, crc), c->cr.buf_alloc,
			c->cr.fwd_cnt, c->cr.peer_buf_alloc, c->cr.peer_fwd_cnt, c->peer_shutdown,
			c->local_shutdown, c->credit_violations, c->verify_errors);
		first = false;
	}
	fprintf(f, "],\"closed\":[");
	for (uint32_t i = 0; i < h->history_len; i++) {
		const struct conn_record *r = &h->history[i];

		fprintf(f, "%s{\"id\":%" PRIu64 ",\"peer_cid\":%" PRIu64 ",\"peer_port\":%u,\"local_port\":%u,"
			"\"rx_bytes\":%" PRIu64 ",\"tx_bytes\":%" PRIu64 ",\"crc32c\":%s,"
			"\"credit_violations\":%" PRIu64 ",\"verify_errors\":%" PRIu64 ",\"how\":\"%s\"}",
			i ? "," : "", r->id, r->peer_cid, r->peer_port, r->local_port, r->rx_total,
			r->tx_total, crc_str(h, r->crc, crc), r->credit_violations, r->verify_errors, r->how);
	}
	fprintf(f, "]");
	host_probe_stats(h, f);
}

int host_exit_code(const struct host *h)
{
	if (h->n.credit_violations)
		return 3;
	if (h->n.verify_errors)
		return 4;
	return 0;
}
