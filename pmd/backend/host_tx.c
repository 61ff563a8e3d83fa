/* SPDX-License-Identifier: MIT */
/*
 * What the host sends, into the buffers the driver posted on the rx queue:
 * RSTs owed to strangers first, then per connection RESPONSE, echoed data
 * within the driver's credit, CREDIT_UPDATE, SHUTDOWN, RST. Every header
 * carries our buf_alloc and fwd_cnt, so every packet returns credit.
 */
#include "host.h"

#include <string.h>

bool host_has_output(const struct host *h)
{
	return h->orphan_len || !TAILQ_EMPTY(&h->dirty);
}

/* Every header advertises credit; remember the most we ever allowed. */
static void advertise(struct conn *c, struct vsock_hdr *o)
{
	uint32_t end = c->cr.fwd_cnt + c->cr.buf_alloc;

	o->fwd_cnt = c->cr.fwd_cnt;
	c->cr.last_fwd_cnt = c->cr.fwd_cnt;
	if ((int32_t)(end - c->credit_end) > 0)
		c->credit_end = end;
}

static void conn_hdr(struct conn *c, struct vsock_hdr *o, uint16_t op)
{
	memset(o, 0, sizeof(*o));
	o->src_cid = VSOCK_HOST_CID;
	o->dst_cid = c->peer_cid;
	o->src_port = c->local_port;
	o->dst_port = c->peer_port;
	o->type = VSOCK_TYPE_STREAM;
	o->op = op;
	o->buf_alloc = c->cr.buf_alloc;
	advertise(c, o);
	c->tx_pending &= ~CONN_TX_CREDIT;
}

/* What may be echoed now: data held, the peer's credit, and it still reading. */
static uint32_t echo_ready(const struct conn *c, const struct host *h)
{
	uint32_t n = c->echo_len, free_ = vsock_peer_free(&c->cr);

	if ((!h->reading && !c->is_ctl) || c->state != CONN_ESTABLISHED || (c->local_shutdown & VSOCK_SHUTDOWN_SEND))
		return 0;
	return n < free_ ? n : free_;
}

/* "send N": our own bytes may go while we have not shut SEND and the driver still reads. */
static uint32_t own_ready(const struct conn *c)
{
	uint32_t free_ = vsock_peer_free(&c->cr);

	if (!c->to_send || (c->local_shutdown & VSOCK_SHUTDOWN_SEND) ||
	    (c->peer_shutdown & VSOCK_SHUTDOWN_RCV))
		return 0;
	return c->to_send < free_ ? (uint32_t)c->to_send : free_;
}

/* Our own data: the --verify pattern at the connection's tx offset, so a driver can check it. */
static uint32_t put_own(struct conn *c, const struct vb_chain *ch, uint32_t n)
{
	uint8_t buf[256];
	uint32_t done = 0;

	while (done < n) {
		uint32_t run = n - done < sizeof(buf) ? n - done : (uint32_t)sizeof(buf);

		for (uint32_t k = 0; k < run; k++)
			buf[k] = vb_pattern_byte(c->tx_total + done + k);
		if (vb_chain_write(ch, sizeof(struct vsock_hdr) + done, buf, run) != run)
			break;
		done += run;
	}
	return done;
}

static uint32_t put_echo(struct conn *c, const struct vb_chain *ch, uint32_t n)
{
	uint32_t off = sizeof(struct vsock_hdr), done = 0;

	while (done < n) {
		uint32_t at = (c->echo_head + done) % c->echo_cap;
		uint32_t run = c->echo_cap - at < n - done ? c->echo_cap - at : n - done;

		if (vb_chain_write(ch, off + done, c->echo_buf + at, run) != run)
			break;
		done += run;
	}
	return done;
}

/* Sends one packet of c: 1 sent, 2 sent and c freed (its RST), 0 nothing to send, -1 no driver buffer. */
static int conn_output_one(struct host *h, struct conn *c, const struct host_tx_ops *ops)
{
	const struct vb_chain *ch;
	struct vsock_hdr o;
	uint32_t echo = echo_ready(c, h), own = echo ? 0 : own_ready(c), len = 0;
	uint16_t op;

	if (c->tx_pending & CONN_TX_RESPONSE)
		op = VSOCK_OP_RESPONSE;
	else if (echo || own)
		op = VSOCK_OP_RW;
	else if (c->tx_pending & CONN_TX_CREDIT)
		op = VSOCK_OP_CREDIT_UPDATE;
	else if (c->tx_pending & CONN_TX_CREDIT_REQ)
		op = VSOCK_OP_CREDIT_REQUEST;
	else if ((c->tx_pending & CONN_TX_SHUTDOWN) &&
		 !(c->to_send && (c->shutdown_pending & VSOCK_SHUTDOWN_SEND)))
		op = VSOCK_OP_SHUTDOWN;     /* SHUTDOWN(SEND) goes after the last of our data */
	else if (c->tx_pending & CONN_TX_RST)
		op = VSOCK_OP_RST;
	else
		return 0;

	ch = ops->get(ops->ctx);
	if (!ch)
		return -1;
	if (ch->len < sizeof(o)) {
		ops->put(ops->ctx, ch, 0);
		h->n.proto_errors++;
		return 1;
	}
	conn_hdr(c, &o, op);
	switch (op) {
	case VSOCK_OP_RESPONSE:
		c->tx_pending &= ~CONN_TX_RESPONSE;
		break;
	case VSOCK_OP_RW:
		len = ch->len - sizeof(o);
		if (own) {
			len = len < own ? len : own;
			len = len < VSOCK_MAX_PKT_PAYLOAD ? len : VSOCK_MAX_PKT_PAYLOAD;
			len = put_own(c, ch, len);
			o.len = len;
			c->to_send -= len;
			c->cr.tx_cnt += len;
			c->tx_total += len;
			h->n.tx_bytes += len;
			break;
		}
		len = len < echo ? len : echo;
		len = len < VSOCK_MAX_PKT_PAYLOAD ? len : VSOCK_MAX_PKT_PAYLOAD;
		len = put_echo(c, ch, len);
		o.len = len;
		c->echo_head = (c->echo_head + len) % c->echo_cap;
		c->echo_len -= len;
		c->cr.tx_cnt += len;
		c->tx_total += len;
		if (c->is_ctl)
			break;
		h->n.tx_bytes += len;
		/* Echoing is this peer's way of reading. */
		c->cr.rx_bytes -= len;
		c->cr.fwd_cnt += len;
		advertise(c, &o);
		break;
	case VSOCK_OP_CREDIT_REQUEST:
		c->tx_pending &= ~CONN_TX_CREDIT_REQ;
		h->n.credit_requests_sent++;
		break;
	case VSOCK_OP_SHUTDOWN:
		o.flags = c->shutdown_pending;
		c->local_shutdown |= c->shutdown_pending;
		c->shutdown_pending = 0;
		c->tx_pending &= ~CONN_TX_SHUTDOWN;
		break;
	default:
		break;
	}
	vb_pkt_put_hdr(ch, &o);
	ops->put(ops->ctx, ch, sizeof(o) + len);
	h->n.tx_pkts++;
	if (op == VSOCK_OP_RST) {
		h->n.rst_sent++;
		host_conn_free(h, c, c->state == CONN_CLOSING ? "closed" : "rst_sent");
		return 2;
	} else if (op == VSOCK_OP_RW) {
		host_conn_check_eof(h, c);
	}
	return 1;
}

unsigned int host_output(struct host *h, const struct host_tx_ops *ops)
{
	unsigned int sent = 0;
	struct conn *c;

	while (h->orphan_len) {
		const struct vb_chain *ch = ops->get(ops->ctx);

		if (!ch)
			return sent;
		if (vb_pkt_put_hdr(ch, &h->orphan[h->orphan_head]) == 0) {
			ops->put(ops->ctx, ch, 0);
			continue;
		}
		ops->put(ops->ctx, ch, sizeof(struct vsock_hdr));
		h->orphan_head = (h->orphan_head + 1) % HOST_ORPHAN_RST;
		h->orphan_len--;
		h->n.tx_pkts++;
		h->n.rst_sent++;
		sent++;
	}
	while ((c = TAILQ_FIRST(&h->dirty))) {
		int r;

		/* Off the list while it sends; marking it again puts it back. */
		TAILQ_REMOVE(&h->dirty, c, dirty);
		c->on_dirty = false;
		do {
			r = conn_output_one(h, c, ops);
			if (r > 0)
				sent++;
		} while (r == 1);
		if (r < 0) {
			/* Out of driver buffers: keep the connection first in line. */
			if (c->on_dirty)
				TAILQ_REMOVE(&h->dirty, c, dirty);
			TAILQ_INSERT_HEAD(&h->dirty, c, dirty);
			c->on_dirty = true;
			break;
		}
	}
	return sent;
}
