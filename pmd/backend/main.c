/* SPDX-License-Identifier: MIT */
/*
 * sp-vhost-vsock: a virtio-vsock device (virtio id 19) served over
 * vhost-user, playing the host (CID 2). One polling thread moves packets
 * between the rings and the host logic and serves the control socket; it
 * spins while there is traffic and sleeps on the kick eventfds when idle.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>

#include "ctl.h"
#include "host.h"
#include "sp_env.h"
#include "txq.h"
#include "vhost.h"

#define IDLE_SPIN_US 200
#define CTL_POLL_US 500     /* busy-polling: the control socket's syscalls, at most this often */
#define SLEEP_MS 5

struct backend {
	struct vb_dev dev;
	struct host host;
	struct ctl ctl;
	bool busy_poll;
	struct vb_chain rx_chain;
	unsigned int rx_pushed;
	uint64_t started_ms;
	uint64_t busy_cycles;     /* TSC spent in passes that moved something */
	uint64_t busy_passes;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* host_tx_ops over the rx queue: driver-posted writable buffers. */
static const struct vb_chain *rx_get(void *ctx)
{
	struct backend *b = ctx;
	struct vb_vq *vq = &b->dev.vq[VB_VQ_RX];

	while (vb_vq_avail_count(vq)) {
		enum vb_chain_fault f = vb_vq_pop(vq, &b->dev.mem, true, &b->rx_chain);

		if (f == VB_CHAIN_OK)
			return &b->rx_chain;
		b->dev.bad_chains++;
		if (f != VB_CHAIN_BAD_HEAD) {
			vb_vq_push(vq, b->rx_chain.head, 0);
			b->rx_pushed++;
		}
	}
	return NULL;
}

static void rx_put(void *ctx, const struct vb_chain *c, uint32_t written)
{
	struct backend *b = ctx;

	vb_vq_push(&b->dev.vq[VB_VQ_RX], c->head, written);
	b->rx_pushed++;
}

static unsigned int poll_tx(struct backend *b)
{
	return vb_txq_poll(&b->dev.vq[VB_VQ_TX], &b->dev.mem, &b->host, &b->dev.bad_chains);
}

static unsigned int poll_rx(struct backend *b)
{
	struct host_tx_ops ops = { .get = rx_get, .put = rx_put, .ctx = b };
	unsigned int n;

	if (!host_has_output(&b->host))
		return 0;
	b->rx_pushed = 0;
	n = host_output(&b->host, &ops);
	if (b->rx_pushed)
		vb_vq_flush(&b->dev.vq[VB_VQ_RX]);
	return n;
}

/* One pass over the rings; the device lock is held (the main loop keeps it); returns the work done. */
static unsigned int poll_once(struct backend *b)
{
	struct vb_dev *d = &b->dev;
	unsigned int work = 0;

	if (d->gen != d->seen_gen) {
		if (vb_dev_sync(d))
			host_reset(&b->host);
		if (d->ready) {
			vb_vq_kicks(&d->vq[VB_VQ_TX], false);
			vb_vq_kicks(&d->vq[VB_VQ_RX], false);
		}
	}
	if (d->ready) {
		work += poll_tx(b);
		work += poll_rx(b);
	}
	return work;
}

static void drain(int fd)
{
	eventfd_t v;

	if (fd >= 0)
		(void)eventfd_read(fd, &v);
}

/* Nothing moved for a while: let the driver kick us, and sleep until it does. */
static void idle_sleep(struct backend *b)
{
	struct vb_dev *d = &b->dev;
	struct pollfd p[4 + CTL_MAX_CLIENTS];
	int n = 0, kick_tx = -1, kick_rx = -1;
	bool again = false;

	pthread_mutex_lock(&d->lock);
	if (d->ready && d->gen == d->seen_gen) {
		vb_vq_kicks(&d->vq[VB_VQ_TX], true);
		kick_tx = d->vq[VB_VQ_TX].kickfd;
		again = vb_vq_avail_count(&d->vq[VB_VQ_TX]) != 0;
		if (host_has_output(&b->host)) {
			vb_vq_kicks(&d->vq[VB_VQ_RX], true);
			kick_rx = d->vq[VB_VQ_RX].kickfd;
			again |= vb_vq_avail_count(&d->vq[VB_VQ_RX]) != 0;
		}
	}
	pthread_mutex_unlock(&d->lock);

	if (!again) {
		p[n++] = (struct pollfd){ .fd = d->wakefd, .events = POLLIN };
		if (kick_tx >= 0)
			p[n++] = (struct pollfd){ .fd = kick_tx, .events = POLLIN };
		if (kick_rx >= 0)
			p[n++] = (struct pollfd){ .fd = kick_rx, .events = POLLIN };
		n += ctl_pollfds(&b->ctl, p + n);
		if (poll(p, n, SLEEP_MS) > 0)
			for (int i = 0; i < 3 && i < n; i++)
				if (p[i].revents & POLLIN && (p[i].fd == d->wakefd || p[i].fd == kick_tx ||
							      p[i].fd == kick_rx))
					drain(p[i].fd);
	}

	pthread_mutex_lock(&d->lock);
	if (d->ready && d->gen == d->seen_gen) {
		vb_vq_kicks(&d->vq[VB_VQ_TX], false);
		vb_vq_kicks(&d->vq[VB_VQ_RX], false);
	}
	pthread_mutex_unlock(&d->lock);
}

static void stats_json(struct backend *b, FILE *f)
{
	struct vb_dev *d = &b->dev;
	uint64_t faults[VB_CHAIN__MAX] = { 0 };

	pthread_mutex_lock(&d->lock);
	for (int q = 0; q < VB_NQ; q++)
		for (int i = 0; i < VB_CHAIN__MAX; i++)
			faults[i] += d->vq[q].faults[i];
	fprintf(f, "{\"frontend\":%s,\"device_ready\":%s,\"frontends_accepted\":%" PRIu64
		",\"frontends_refused\":%" PRIu64 ",\"frontends_gone\":%" PRIu64
		",\"config_reads\":%" PRIu64
		",\"bad_chains\":%" PRIu64 ",\"chain_faults\":{",
		d->vid >= 0 ? "true" : "false", d->ready ? "true" : "false",
		d->frontends_accepted, d->frontends_refused, d->frontends_gone, d->config_reads, d->bad_chains);
	pthread_mutex_unlock(&d->lock);
	for (int i = 1; i < VB_CHAIN__MAX; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i > 1 ? "," : "", vb_chain_fault_name(i), faults[i]);
	fprintf(f, "},\"uptime_ms\":%" PRIu64 ",\"busy_passes\":%" PRIu64 ",\"busy_ns\":%" PRIu64 ",",
		now_ms() - b->started_ms, b->busy_passes,
		(uint64_t)((double)b->busy_cycles * 1e9 / (double)rte_get_tsc_hz()));
	host_stats_fields(&b->host, f);
	fprintf(f, "}");
}

/*
 * "transport-reset": VIRTIO_VSOCK_EVENT_TRANSPORT_RESET in the next buffer the
 * driver posted on the event queue, then every connection is forgotten
 * without a packet, as after a migration: the driver resets its sockets.
 * QEMU keeps the event queue to itself, so this works with our driver only.
 */
static void transport_reset(struct backend *b, FILE *reply)
{
	struct vb_dev *d = &b->dev;
	struct vb_vq *vq = &d->vq[VB_VQ_EVENT];
	uint32_t id = htole32(VSOCK_EVENT_TRANSPORT_RESET);
	unsigned int n = b->host.nconns - b->host.nctl;
	enum vb_chain_fault f;
	struct vb_chain c;

	pthread_mutex_lock(&d->lock);
	if (!d->ready || d->gen != d->seen_gen) {
		fputs("err the device is not running", reply);
	} else if (!d->vq_ok[VB_VQ_EVENT] || !d->enabled[VB_VQ_EVENT]) {
		fputs("err the frontend gave no event queue", reply);
	} else if (!vb_vq_avail_count(vq)) {
		fputs("err no event buffer posted", reply);
	} else if ((f = vb_vq_pop(vq, &d->mem, true, &c)) != VB_CHAIN_OK) {
		d->bad_chains++;
		if (f != VB_CHAIN_BAD_HEAD) {
			vb_vq_push(vq, c.head, 0);
			vb_vq_flush(vq);
		}
		fprintf(reply, "err bad event buffer (%s)", vb_chain_fault_name(f));
	} else if (vb_chain_write(&c, 0, &id, sizeof(id)) != sizeof(id)) {
		vb_vq_push(vq, c.head, 0);
		vb_vq_flush(vq);
		fputs("err event buffer shorter than an event", reply);
	} else {
		struct conn *k, *next;

		vb_vq_push(vq, c.head, sizeof(id));
		vb_vq_flush(vq);
		/* a control connection may be carrying this very command: it stays */
		for (k = TAILQ_FIRST(&b->host.conns); k; k = next) {
			next = TAILQ_NEXT(k, all);
			if (!k->is_ctl)
				host_conn_free(&b->host, k, "reset");
		}
		b->host.n.transport_resets_sent++;
		fprintf(reply, "ok %u", n);
	}
	pthread_mutex_unlock(&d->lock);
}

static void ctl_line(void *arg, const char *line, FILE *reply)
{
	struct backend *b = arg;
	char tmp[512];

	while (*line == ' ' || *line == '\t')
		line++;
	if (!strcmp(line, "stats") || !strcmp(line, "stats\r")) {
		stats_json(b, reply);
	} else if (!strcmp(line, "transport-reset") || !strcmp(line, "transport-reset\r")) {
		transport_reset(b, reply);
	} else if (!strcmp(line, "exit") || !strcmp(line, "exit\r")) {
		stop = 1;
		fputs("ok", reply);
	} else {
		host_ctl(&b->host, line, tmp, sizeof(tmp));
		fputs(tmp, reply);
	}
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sp-vhost-vsock [options] [-- EAL options]\n"
		"  --socket PATH       vhost-user socket to serve (default: <run dir>/vsock.sock)\n"
		"  --ctl PATH          control socket (default: <socket>.ctl); --no-ctl for none\n"
		"  --mode sink|echo    consume and count (default), or send everything back\n"
		"  --guest-cid N, --cid N   the driver's CID, answered to GET_CONFIG (default 3)\n"
		"  --port N            accept only this port (default: every port)\n"
		"  --buf-alloc N       receive buffer per connection (default 262144)\n"
		"  --msg-size N        the stream is messages of N >= 16 bytes, each starting with\n"
		"                      {u64 seq, u64 TSC at send}: one-way latency in stats\n"
		"  --no-checksum       count payload without reading it (no crc32c; benchmarks)\n"
		"  --verify            payload must be the pattern byte(i) = i^(i>>8)^(i>>16)^(i>>24)\n"
		"  --expect-bytes N    exit 5 unless exactly N payload bytes were received in all\n"
		"  --max-conns N       connections at once (default 1024)\n"
		"  --ctl-port N        the guest may send control lines to CID 2 port N (replies come back)\n"
		"  --close-timeout MS  RST a peer that lingers after our close (default 8000)\n"
		"  --poll              busy-poll, never sleep (benchmarks)\n"
		"  --no-event-idx, --no-indirect, --no-in-order   withhold a feature\n"
		"  --cpu N             CPU of the polling thread\n"
		"Statistics go to stdout as one JSON line at exit (SIGINT, SIGTERM or 'exit').\n"
		"Exit status: 0 clean, 1 start-up error, 3 credit violations, 4 payload errors,\n"
		"5 byte count differs from --expect-bytes.\n");
}

static bool num_arg(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	if (errno || *end || *s == '-' || *v > max) {
		fprintf(stderr, "sp-vhost-vsock: bad number '%s'\n", s);
		return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "ctl", required_argument, NULL, 'c' },
		{ "no-ctl", no_argument, NULL, 'C' },
		{ "mode", required_argument, NULL, 'm' },
		{ "guest-cid", required_argument, NULL, 'g' },
		{ "cid", required_argument, NULL, 'g' },
		{ "expect-bytes", required_argument, NULL, 'x' },
		{ "port", required_argument, NULL, 'p' },
		{ "buf-alloc", required_argument, NULL, 'b' },
		{ "verify", no_argument, NULL, 'v' },
		{ "msg-size", required_argument, NULL, 'z' },
		{ "no-checksum", no_argument, NULL, 'K' },
		{ "max-conns", required_argument, NULL, 'M' },
		{ "close-timeout", required_argument, NULL, 't' },
		{ "ctl-port", required_argument, NULL, 'T' },
		{ "poll", no_argument, NULL, 'P' },
		{ "no-event-idx", no_argument, NULL, 'E' },
		{ "no-indirect", no_argument, NULL, 'I' },
		{ "no-in-order", no_argument, NULL, 'O' },
		{ "cpu", required_argument, NULL, 'u' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct backend b;
	struct host_cfg hc = {
		.mode = HOST_SINK, .guest_cid = 3, .buf_alloc = VSOCK_DEFAULT_BUF_ALLOC,
		.max_conns = 1024, .close_timeout_ms = 8000,
	};
	struct vb_dev_opts dopts = { 0 };
	struct sp_env_cfg env = { .name = "vhost", .cpu = -1, .mem_mb = 64 };
	char sock[108], ctlpath[128];
	const char *sock_arg = NULL, *ctl_arg = NULL;
	bool no_ctl = false;
	int64_t expect_bytes = -1;
	uint64_t v, last_work, last_pass, last_ctl, idle_cycles, ctl_cycles;
	unsigned int work;
	struct sigaction sa = { .sa_handler = on_signal };
	int o, rc;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 's': sock_arg = optarg; break;
		case 'c': ctl_arg = optarg; break;
		case 'C': no_ctl = true; break;
		case 'm':
			if (!strcmp(optarg, "sink"))
				hc.mode = HOST_SINK;
			else if (!strcmp(optarg, "echo"))
				hc.mode = HOST_ECHO;
			else {
				fprintf(stderr, "sp-vhost-vsock: mode is sink or echo\n");
				return 1;
			}
			break;
		case 'g':
			if (!num_arg(optarg, UINT32_MAX, &v) || v <= VSOCK_HOST_CID) {
				fprintf(stderr, "sp-vhost-vsock: guest CID must be above 2\n");
				return 1;
			}
			hc.guest_cid = v;
			break;
		case 'p': if (!num_arg(optarg, UINT32_MAX, &v)) return 1; hc.listen_port = (uint32_t)v; break;
		case 'b': if (!num_arg(optarg, UINT32_MAX / 2, &v)) return 1; hc.buf_alloc = (uint32_t)v; break;
		case 'v': hc.verify = true; break;
		case 'K': hc.no_checksum = true; break;
		case 'z':
			if (!num_arg(optarg, UINT32_MAX, &v) || v < 16) {
				fprintf(stderr, "sp-vhost-vsock: --msg-size must be at least 16 (the probe)\n");
				return 1;
			}
			hc.msg_size = (uint32_t)v;
			break;
		case 'x': if (!num_arg(optarg, UINT64_MAX - 1, &v)) return 1; expect_bytes = (int64_t)v; break;
		case 'M': if (!num_arg(optarg, 1 << 20, &v) || !v) return 1; hc.max_conns = (uint32_t)v; break;
		case 'T': if (!num_arg(optarg, UINT32_MAX, &v) || !v) return 1; hc.ctl_port = (uint32_t)v; break;
		case 't': if (!num_arg(optarg, 3600000, &v)) return 1; hc.close_timeout_ms = (uint32_t)v; break;
		case 'P': b.busy_poll = true; break;
		case 'E': dopts.no_event_idx = true; break;
		case 'I': dopts.no_indirect = true; break;
		case 'O': dopts.no_in_order = true; break;
		case 'u': if (!num_arg(optarg, 4095, &v)) return 1; env.cpu = (int)v; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 1;
		}
	}
	env.extra_argc = argc - optind;
	env.extra_argv = argv + optind;

	if (sock_arg) {
		if (strlen(sock_arg) >= sizeof(sock)) {
			fprintf(stderr, "sp-vhost-vsock: socket path too long\n");
			return 1;
		}
		strcpy(sock, sock_arg);
	} else if (!sp_env_run_path("vsock.sock", sock, sizeof(sock))) {
		fprintf(stderr, "sp-vhost-vsock: no run directory for the socket\n");
		return 1;
	}
	snprintf(ctlpath, sizeof(ctlpath), "%s", ctl_arg ? ctl_arg : sock);
	if (!ctl_arg)
		strncat(ctlpath, ".ctl", sizeof(ctlpath) - strlen(ctlpath) - 1);

	if (sp_env_clear_stale_socket(sock) < 0 ||
	    (!no_ctl && sp_env_clear_stale_socket(ctlpath) < 0))
		return 1;
	if (sp_env_init(&env) < 0)
		return 1;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	hc.stamp_hz = rte_get_tsc_hz();
	host_init(&b.host, &hc);
	b.host.ctl_fn = ctl_line;
	b.host.ctl_arg = &b;
	b.ctl.lfd = -1;
	b.started_ms = now_ms();
	b.host.now_ms = b.started_ms;
	if (!no_ctl && ctl_open(&b.ctl, ctlpath, ctl_line, &b) < 0) {
		sp_env_fini();
		return 1;
	}
	dopts.path = sock;
	dopts.guest_cid = hc.guest_cid;
	if (vb_dev_start(&b.dev, &dopts) < 0) {
		ctl_close(&b.ctl);
		sp_env_fini();
		return 1;
	}
	fprintf(stderr, "sp-vhost-vsock: serving %s (guest cid %" PRIu64 ", %s)%s%s\n", sock,
		hc.guest_cid, hc.mode == HOST_ECHO ? "echo" : "sink", no_ctl ? "" : ", control ",
		no_ctl ? "" : ctlpath);

	last_work = last_pass = last_ctl = rte_get_tsc_cycles();
	idle_cycles = rte_get_tsc_hz() / 1000000 * IDLE_SPIN_US;
	ctl_cycles = rte_get_tsc_hz() / 1000000 * CTL_POLL_US;
	/*
	 * The device lock is held while the rings are polled and let go only to
	 * serve the control socket, to sleep, or when the vhost thread asks for it
	 * (vb_dev_yield): not a lock and an unlock per pass.
	 */
	pthread_mutex_lock(&b.dev.lock);
	for (unsigned int iter = 0; !stop; iter++) {
		uint64_t now;
		bool idle;

		vb_dev_yield(&b.dev);
		work = poll_once(&b);
		now = rte_get_tsc_cycles();
		if (work) {
			b.busy_cycles += now - last_pass;
			b.busy_passes++;
			last_work = now;
		}
		last_pass = now;
		if (work && (iter % 256))
			continue;
		idle = now - last_work > idle_cycles;
		/*
		 * Busy-polling, the control socket (an accept4 and a read: syscalls) is
		 * looked at every CTL_POLL_US, so a packet seldom waits behind one;
		 * otherwise every 256 passes, and whenever idle.
		 */
		if (b.busy_poll ? now - last_ctl > ctl_cycles : ((iter & 255) == 0 || idle)) {
			last_ctl = now;
			pthread_mutex_unlock(&b.dev.lock);
			ctl_serve(&b.ctl);
			host_tick(&b.host, now_ms());
			pthread_mutex_lock(&b.dev.lock);
			last_pass = rte_get_tsc_cycles();
		}
		if (idle && !b.busy_poll) {
			pthread_mutex_unlock(&b.dev.lock);
			idle_sleep(&b);
			pthread_mutex_lock(&b.dev.lock);
			last_pass = rte_get_tsc_cycles();
		}
	}
	pthread_mutex_unlock(&b.dev.lock);

	vb_dev_stop(&b.dev);
	stats_json(&b, stdout);
	fputc('\n', stdout);
	fflush(stdout);
	rc = host_exit_code(&b.host);
	if (!rc && expect_bytes >= 0 && b.host.n.rx_bytes != (uint64_t)expect_bytes) {
		fprintf(stderr, "sp-vhost-vsock: received %" PRIu64 " payload bytes, expected %" PRId64 "\n",
			b.host.n.rx_bytes, expect_bytes);
		rc = 5;
	}
	host_fini(&b.host);
	ctl_close(&b.ctl);
	sp_env_fini();
	return rc;
}
