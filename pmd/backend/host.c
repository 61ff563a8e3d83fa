/* SPDX-License-Identifier: MIT */
#include "host.h"

#include <stdlib.h>
#include <string.h>

#include <rte_hash_crc.h>

/* CRC32C, chunking-invariant; rte_hash_crc reads 8 bytes at a time, so start it aligned. */
static inline uint32_t crc32c_update(const uint8_t *p, uint32_t n, uint32_t crc)
{
	while (n && ((uintptr_t)p & 7)) {
		crc = rte_hash_crc_1byte(*p++, crc);
		n--;
	}
	return n ? rte_hash_crc(p, n, crc) : crc;
}

static inline uint32_t conn_bucket(uint64_t cid, uint32_t peer_port, uint32_t local_port)
{
	uint32_t x = peer_port * 2654435761u ^ local_port * 40503u ^ (uint32_t)cid;

	return (x ^ (x >> 16)) % HOST_HASH_BUCKETS;
}

static struct conn *conn_find(struct host *h, const struct vsock_hdr *hdr)
{
	struct conn *c = h->last;

	if (c && c->peer_port == hdr->src_port && c->local_port == hdr->dst_port &&
	    c->peer_cid == hdr->src_cid)
		return c;
	LIST_FOREACH(c, &h->buckets[conn_bucket(hdr->src_cid, hdr->src_port, hdr->dst_port)], hash)
		if (c->peer_cid == hdr->src_cid && c->peer_port == hdr->src_port &&
		    c->local_port == hdr->dst_port)
			return h->last = c;
	return NULL;
}

void host_init(struct host *h, const struct host_cfg *cfg)
{
	memset(h, 0, sizeof(*h));
	h->cfg = *cfg;
	h->reading = true;
	for (int i = 0; i < HOST_HASH_BUCKETS; i++)
		LIST_INIT(&h->buckets[i]);
	TAILQ_INIT(&h->conns);
	TAILQ_INIT(&h->dirty);
	if (h->cfg.msg_size < 16)
		h->cfg.msg_size = 0;    /* a message shorter than a probe carries none */
	host_probe_init(h);
}

void host_conn_free(struct host *h, struct conn *c, const char *how)
{
	struct conn_record *r;

	if (c->is_ctl) {
		h->nctl--;
		goto unlink;
	}
	/* The newest HOST_HISTORY closed connections stay visible to "stats". */
	if (h->history_len == HOST_HISTORY) {
		memmove(&h->history[0], &h->history[1], sizeof(h->history[0]) * (HOST_HISTORY - 1));
		h->history_len--;
	}
	r = &h->history[h->history_len++];
	r->id = c->id;
	r->peer_cid = c->peer_cid;
	r->peer_port = c->peer_port;
	r->local_port = c->local_port;
	r->rx_total = c->rx_total;
	r->tx_total = c->tx_total;
	r->verify_errors = c->verify_errors;
	r->credit_violations = c->credit_violations;
	r->crc = c->crc;
	snprintf(r->how, sizeof(r->how), "%s", how);
	h->n.conns_closed++;
unlink:
	if (h->last == c)
		h->last = NULL;
	LIST_REMOVE(c, hash);
	TAILQ_REMOVE(&h->conns, c, all);
	if (c->on_dirty)
		TAILQ_REMOVE(&h->dirty, c, dirty);
	h->nconns--;
	free(c->echo_buf);
	free(c);
}

void host_fini(struct host *h)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&h->conns)))
		host_conn_free(h, c, "exit");
}

void host_reset(struct host *h)
{
	struct conn *c;

	while ((c = TAILQ_FIRST(&h->conns)))
		host_conn_free(h, c, "reset");
	h->orphan_len = 0;
	h->n.resets++;
}

void host_conn_mark(struct host *h, struct conn *c, uint32_t what)
{
	c->tx_pending |= what;
	if (!c->on_dirty) {
		TAILQ_INSERT_TAIL(&h->dirty, c, dirty);
		c->on_dirty = true;
	}
}

static void orphan_rst(struct host *h, const struct vsock_hdr *in)
{
	struct vsock_hdr *r;

	/* Never answer an RST with an RST. */
	if (in->op == VSOCK_OP_RST)
		return;
	if (h->orphan_len == HOST_ORPHAN_RST) {
		h->n.orphan_rst_dropped++;
		return;
	}
	r = &h->orphan[(h->orphan_head + h->orphan_len++) % HOST_ORPHAN_RST];
	memset(r, 0, sizeof(*r));
	r->src_cid = VSOCK_HOST_CID;
	r->dst_cid = in->src_cid;
	r->src_port = in->dst_port;
	r->dst_port = in->src_port;
	r->type = VSOCK_TYPE_STREAM;
	r->op = VSOCK_OP_RST;
}

static int echo_reserve(struct conn *c, uint32_t cap)
{
	uint8_t *nb;

	if (cap <= c->echo_cap)
		return 0;
	nb = malloc(cap);
	if (!nb)
		return -1;
	/* Unwrap the FIFO into the new buffer. */
	for (uint32_t i = 0; i < c->echo_len; i++)
		nb[i] = c->echo_buf[(c->echo_head + i) % c->echo_cap];
	free(c->echo_buf);
	c->echo_buf = nb;
	c->echo_cap = cap;
	c->echo_head = 0;
	return 0;
}

#define CTL_OUT_CAP (256u * 1024)

static struct conn *conn_new(struct host *h, const struct vsock_hdr *hdr, bool ctl)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->id = ctl ? ~0ull : h->n.conns_accepted;
	c->peer_cid = hdr->src_cid;
	c->peer_port = hdr->src_port;
	c->local_port = hdr->dst_port;
	c->state = CONN_ESTABLISHED;
	c->cr.buf_alloc = h->cfg.buf_alloc;
	c->crc = ~0u;
	/* Nothing is allowed before our RESPONSE tells the driver our buffer. */
	c->credit_end = 0;
	c->is_ctl = ctl;
	if ((ctl || h->cfg.mode == HOST_ECHO) && echo_reserve(c, ctl ? CTL_OUT_CAP : h->cfg.buf_alloc) < 0) {
		free(c);
		return NULL;
	}
	LIST_INSERT_HEAD(&h->buckets[conn_bucket(c->peer_cid, c->peer_port, c->local_port)], c, hash);
	TAILQ_INSERT_TAIL(&h->conns, c, all);
	h->nconns++;
	h->nctl += ctl;
	return c;
}

/* Our buffer shrank or grew: the echo FIFO must hold what the driver may send. */
int host_conn_set_buf_alloc(struct host *h, struct conn *c, uint32_t buf_alloc)
{
	if (h->cfg.mode == HOST_ECHO && !c->is_ctl && echo_reserve(c, buf_alloc) < 0)
		return -1;
	c->cr.buf_alloc = buf_alloc;
	/* Linux announces a new buffer size with a CREDIT_UPDATE at once. */
	host_conn_mark(h, c, CONN_TX_CREDIT);
	return 0;
}

/* The "application" reads n bytes: fwd_cnt moves, and credit goes back by the kernel's rule. */
void host_conn_consume(struct host *h, struct conn *c, uint64_t n)
{
	if (n > c->cr.rx_bytes)
		n = c->cr.rx_bytes;
	c->cr.rx_bytes -= (uint32_t)n;
	c->cr.fwd_cnt += (uint32_t)n;
	if (vsock_credit_update_due(&c->cr))
		host_conn_mark(h, c, CONN_TX_CREDIT);
	/* Reading the last byte after the peer's SHUTDOWN(SEND) is reading EOF. */
	host_conn_check_eof(h, c);
}

void host_conn_close(struct host *h, struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	/* As close() in the kernel: SHUTDOWN both ways, RST if the peer lingers. */
	c->state = CONN_CLOSING;
	c->close_deadline_ms = h->now_ms + h->cfg.close_timeout_ms;
	if ((c->local_shutdown | c->shutdown_pending) != (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
		c->shutdown_pending |= (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND) & ~c->local_shutdown;
		host_conn_mark(h, c, CONN_TX_SHUTDOWN);
	}
	if (c->peer_shutdown == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		host_conn_mark(h, c, CONN_TX_RST);
}

/* The peer will send nothing more and we hold nothing unread: the reader sees EOF. */
void host_conn_check_eof(struct host *h, struct conn *c)
{
	if (!(c->peer_shutdown & VSOCK_SHUTDOWN_SEND) || c->cr.rx_bytes || c->echo_len)
		return;
	if (c->peer_shutdown == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
		/* The kernel resets at once when the peer shut both ways and nothing is unread. */
		host_conn_mark(h, c, CONN_TX_RST);
	else
		host_conn_close(h, c);
}

static void conn_rx_payload(struct host *h, struct conn *c, const struct vb_chain *ch, uint32_t len)
{
	uint32_t off = sizeof(struct vsock_hdr);
	uint64_t pos = c->rx_total;

	for (uint16_t i = 0; i < ch->nseg && len; i++) {
		const struct vb_seg *s = &ch->seg[i];
		const uint8_t *p;
		uint32_t n;

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		p = s->base + off;
		n = s->len - off < len ? s->len - off : len;
		off = 0;
		if (!h->cfg.no_checksum)
			c->crc = crc32c_update(p, n, c->crc);
		if (h->cfg.msg_size)
			host_probe_rx(h, c, p, n);
		if (h->cfg.verify)
			for (uint32_t k = 0; k < n; k++)
				if (p[k] != vb_pattern_byte(pos + k)) {
					if (!c->verify_errors)
						c->first_verify_error = pos + k;
					c->verify_errors++;
					h->n.verify_errors++;
				}
		if (c->echo_buf) {
			for (uint32_t k = 0; k < n; k++)
				c->echo_buf[(c->echo_head + c->echo_len + k) % c->echo_cap] = p[k];
			c->echo_len += n;
		}
		pos += n;
		len -= n;
	}
}

static void conn_rx_rw(struct host *h, struct conn *c, const struct vsock_hdr *hdr,
		       const struct vb_chain *ch)
{
	uint32_t len = hdr->len;

	if (!len)
		return;
	if ((int32_t)(c->rx_cnt + len - c->credit_end) > 0 ||
	    (!c->is_ctl && c->echo_buf && c->echo_len + len > c->echo_cap)) {
		/* The driver sent past the credit we gave it: counted, and dropped as the kernel drops it. */
		c->credit_violations++;
		h->n.credit_violations++;
		return;
	}
	if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
		h->n.proto_errors++;
		return;
	}
	if (c->is_ctl) {
		host_ctl_rx(h, c, ch, len);
		return;
	}
	conn_rx_payload(h, c, ch, len);
	c->rx_cnt += len;
	c->cr.rx_bytes += len;
	c->rx_total += len;
	h->n.rx_bytes += len;

	if (c->state == CONN_CLOSING) {
		host_conn_consume(h, c, len);
		c->echo_len = 0;
		return;
	}
	if (h->cfg.mode == HOST_ECHO) {
		if (h->reading)
			host_conn_mark(h, c, 0);
		return;
	}
	if (h->reading) {
		host_conn_consume(h, c, len);
	} else if (c->to_read) {
		uint64_t n = c->to_read < c->cr.rx_bytes ? c->to_read : c->cr.rx_bytes;

		c->to_read -= n;
		host_conn_consume(h, c, n);
	}
}

static bool port_listens(const struct host *h, uint32_t port)
{
	return !h->cfg.listen_port || h->cfg.listen_port == port;
}

void host_recv(struct host *h, const struct vsock_hdr *hdr, const struct vb_chain *ch)
{
	struct conn *c;

	h->n.rx_pkts++;
	if (hdr->src_cid != h->cfg.guest_cid) {
		/* A driver may not speak for another CID: dropped, as vhost-vsock does. */
		h->n.bad_src_cid++;
		return;
	}
	if (hdr->dst_cid != VSOCK_HOST_CID) {
		h->n.bad_dst_cid++;
		orphan_rst(h, hdr);
		return;
	}
	c = conn_find(h, hdr);
	if (!c) {
		if (hdr->op != VSOCK_OP_REQUEST) {
			orphan_rst(h, hdr);
			return;
		}
		bool ctl = h->cfg.ctl_port && hdr->dst_port == h->cfg.ctl_port;

		/* The control port listens whatever the scripted peer refuses. */
		if ((!ctl && (h->refuse || !port_listens(h, hdr->dst_port))) ||
		    h->nconns >= h->cfg.max_conns || !(c = conn_new(h, hdr, ctl))) {
			h->n.conns_refused++;
			orphan_rst(h, hdr);
			return;
		}
		if (!ctl)
			h->n.conns_accepted++;
		vsock_credit_update_from(&c->cr, hdr);
		host_conn_mark(h, c, CONN_TX_RESPONSE);
		return;
	}

	vsock_credit_update_from(&c->cr, hdr);
	if (c->to_send)
		host_conn_mark(h, c, 0);        /* the driver's credit may have moved: our data can go */
	switch (hdr->op) {
	case VSOCK_OP_RW:
		conn_rx_rw(h, c, hdr, ch);
		break;
	case VSOCK_OP_CREDIT_UPDATE:
		h->n.credit_updates_received++;
		/* More room at the peer: echo may have something to send. */
		if (c->echo_len)
			host_conn_mark(h, c, 0);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		host_conn_mark(h, c, CONN_TX_CREDIT);
		break;
	case VSOCK_OP_SHUTDOWN:
		c->peer_shutdown |= hdr->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
		if (c->peer_shutdown & VSOCK_SHUTDOWN_RCV)
			c->echo_len = 0;
		host_conn_check_eof(h, c);
		break;
	case VSOCK_OP_RST:
		h->n.rst_received++;
		host_conn_free(h, c, "peer_rst");
		break;
	default:
		/* REQUEST on a live connection, or a RESPONSE we never asked for. */
		h->n.proto_errors++;
		host_conn_mark(h, c, CONN_TX_RST);
		break;
	}
}

void host_recv_bad(struct host *h, const struct vsock_hdr *hdr, enum vb_pkt_fault f)
{
	struct conn *c;

	h->n.rx_pkts++;
	h->n.bad_hdr[f < VB_PKT__MAX ? f : 0]++;
	if (f == VB_PKT_SHORT || hdr->src_cid != h->cfg.guest_cid)
		return;
	c = conn_find(h, hdr);
	if (c)
		host_conn_mark(h, c, CONN_TX_RST);
	else
		orphan_rst(h, hdr);
}

void host_tick(struct host *h, uint64_t now_ms)
{
	struct conn *c;

	h->now_ms = now_ms;
	TAILQ_FOREACH(c, &h->conns, all)
		if (c->state == CONN_CLOSING && now_ms >= c->close_deadline_ms &&
		    !(c->tx_pending & CONN_TX_RST))
			host_conn_mark(h, c, CONN_TX_RST);
}
