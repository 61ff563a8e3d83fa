/* SPDX-License-Identifier: MIT */
/*
 * kernel-udp: the kernel's own UDP send path, send() for batch 1 and
 * sendmmsg() for larger batches, to a receiver thread on the peer CPU. The
 * receiver is on loopback, or (--udp-target veth) behind a veth pair between
 * two network namespaces of the benchmark's own, so the datagrams cross a
 * device the way they would leave a machine.
 *
 * Every loss is accounted for: the kernel's per-socket drop counter
 * (SO_RXQ_OVFL) must equal the messages that never arrived.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define RX_VLEN     64
#define MARKER_SEQ  UINT64_MAX

static char ns_snd[32], ns_rcv[32];
static bool have_ns;

struct udp_rx {
	int fd;
	int cpu;
	unsigned int size;
	_Atomic uint64_t first_seq;  /* first measured seq; UINT64_MAX while warming up */
	_Atomic uint64_t end_seq;    /* one past the last measured seq; UINT64_MAX while running */
	_Atomic uint64_t received_all;
	_Atomic int marker_seen;
	_Atomic int quit;
	uint64_t received;           /* in the measured window */
	uint32_t kernel_drops;       /* SO_RXQ_OVFL at the marker */
	uint64_t bad;                /* short or garbled datagrams */
	struct sp_hist *lat;
};

static int run_ip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run_ip(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	strncat(cmd, " >/dev/null 2>&1", sizeof(cmd) - strlen(cmd) - 1);
	return system(cmd) == 0 ? 0 : -1;
}

static void kudp_teardown(void)
{
	if (!have_ns)
		return;
	run_ip("ip netns del %s", ns_snd);
	run_ip("ip netns del %s", ns_rcv);
	have_ns = false;
}

/* Two namespaces, one veth pair: 10.231.0.1 (sender) -> 10.231.0.2 (receiver). */
static int kudp_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	int pid = (int)getpid();

	if (strcmp(cfg->udp_target, "veth"))
		return 0;
	if (geteuid() != 0) {
		snprintf(why, len, "--udp-target veth needs root (network namespaces)");
		return 1;
	}
	snprintf(ns_snd, sizeof(ns_snd), "spb-%d-s", pid);
	snprintf(ns_rcv, sizeof(ns_rcv), "spb-%d-r", pid);
	if (run_ip("ip netns add %s", ns_snd) || run_ip("ip netns add %s", ns_rcv)) {
		snprintf(why, len, "ip netns add failed (iproute2 installed? root?)");
		have_ns = true;
		kudp_teardown();
		return -1;
	}
	have_ns = true;
	if (run_ip("ip -n %s link add spb%ds type veth peer name spb%dr netns %s", ns_snd, pid, pid, ns_rcv) ||
	    run_ip("ip -n %s addr add 10.231.0.1/30 dev spb%ds", ns_snd, pid) ||
	    run_ip("ip -n %s addr add 10.231.0.2/30 dev spb%dr", ns_rcv, pid) ||
	    run_ip("ip -n %s link set spb%ds up", ns_snd, pid) ||
	    run_ip("ip -n %s link set spb%dr up", ns_rcv, pid) ||
	    run_ip("ip -n %s link set lo up", ns_snd) || run_ip("ip -n %s link set lo up", ns_rcv)) {
		snprintf(why, len, "could not build the veth pair between %s and %s", ns_snd, ns_rcv);
		kudp_teardown();
		return -1;
	}
	return 0;
}

static int enter_ns(const char *name)
{
	char path[64];
	int fd, r;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = setns(fd, CLONE_NEWNET);  /* this thread only */
	close(fd);
	return r;
}

static unsigned int kudp_max_size(const struct bench_cfg *cfg)
{
	(void)cfg;
	return BENCH_UDP_MAX;
}

static void *rx_main(void *arg)
{
	struct udp_rx *rx = arg;
	struct mmsghdr mm[RX_VLEN];
	struct iovec iov[RX_VLEN];
	char ctl[RX_VLEN][CMSG_SPACE(sizeof(uint32_t))];
	size_t bufsz = rx->size + 64;
	char *buf = malloc(bufsz * RX_VLEN);
	unsigned int i;
	int n;

	bench_pin(rx->cpu);
	if (!buf)
		return NULL;
	for (i = 0; i < RX_VLEN; i++) {
		iov[i].iov_base = buf + i * bufsz;
		iov[i].iov_len = bufsz;
	}
	while (!atomic_load(&rx->quit)) {
		for (i = 0; i < RX_VLEN; i++) {
			memset(&mm[i], 0, sizeof(mm[i]));
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_control = ctl[i];
			mm[i].msg_hdr.msg_controllen = sizeof(ctl[i]);
		}
		n = recvmmsg(rx->fd, mm, RX_VLEN, MSG_WAITFORONE, NULL);
		if (n <= 0)
			continue;  /* SO_RCVTIMEO: look at quit again */
		uint64_t now = bench_tsc();
		uint64_t first = atomic_load_explicit(&rx->first_seq, memory_order_acquire);
		uint64_t end = atomic_load_explicit(&rx->end_seq, memory_order_acquire);

		for (i = 0; i < (unsigned int)n; i++) {
			struct bench_stamp st;
			struct cmsghdr *cm;

			if (mm[i].msg_len < sizeof(st) || (mm[i].msg_hdr.msg_flags & MSG_TRUNC)) {
				rx->bad++;
				continue;
			}
			memcpy(&st, iov[i].iov_base, sizeof(st));
			if (st.seq == MARKER_SEQ) {
				for (cm = CMSG_FIRSTHDR(&mm[i].msg_hdr); cm; cm = CMSG_NXTHDR(&mm[i].msg_hdr, cm))
					if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL)
						memcpy(&rx->kernel_drops, CMSG_DATA(cm), sizeof(uint32_t));
				atomic_store(&rx->marker_seen, 1);
				continue;
			}
			atomic_fetch_add_explicit(&rx->received_all, 1, memory_order_relaxed);
			if (st.seq >= first && st.seq < end) {
				rx->received++;
				sp_hist_add(rx->lat, bench_tsc_to_ns(now - st.tsc));
			}
		}
	}
	free(buf);
	return NULL;
}

static int open_pair(const struct bench_cfg *cfg, int *tx, int *rx, char *why, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct timeval tv = { 0, 20000 };
	socklen_t alen = sizeof(a);
	int one = 1, big = 64 << 20;
	bool veth = !strcmp(cfg->udp_target, "veth");

	*tx = *rx = -1;
	if (veth && enter_ns(ns_rcv)) {
		snprintf(why, len, "cannot enter namespace %s: %s", ns_rcv, strerror(errno));
		return -1;
	}
	*rx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = inet_addr(veth ? "10.231.0.2" : "127.0.0.1");
	if (*rx < 0 || bind(*rx, (struct sockaddr *)&a, sizeof(a)) || getsockname(*rx, (struct sockaddr *)&a, &alen)) {
		snprintf(why, len, "receiver socket: %s", strerror(errno));
		return -1;
	}
	/* A deep queue so that losses mean the receiver fell behind, not a small default buffer. */
	if (setsockopt(*rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)))
		setsockopt(*rx, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	setsockopt(*rx, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	setsockopt(*rx, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (veth && enter_ns(ns_snd)) {
		snprintf(why, len, "cannot enter namespace %s: %s", ns_snd, strerror(errno));
		return -1;
	}
	*tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (*tx < 0 || connect(*tx, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(why, len, "sender socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int kudp_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	struct udp_rx rx = { .cpu = cfg->peer_cpu, .size = pt->size };
	unsigned int batch = pt->batch, i;
	bool mmsg = batch > 1 || cfg->force_mmsg;
	int flags = cfg->dontwait ? MSG_DONTWAIT : 0, tx = -1, n;
	struct mmsghdr *mm = calloc(batch, sizeof(*mm));
	struct iovec *iov = calloc(batch, sizeof(*iov));
	void **bufs = calloc(batch, sizeof(*bufs));
	char *mem = calloc(batch, pt->size);
	uint64_t seq = 0, t_start, t_warm, t_end, t0 = 0, cpu0 = 0, sent_all = 0, last, deadline;
	pthread_t thr;
	int ret = -1;

	snprintf(row->target, sizeof(row->target), "%s", cfg->udp_target);
	snprintf(row->call, sizeof(row->call), "%s", mmsg ? "sendmmsg" : "send");
	rx.lat = &row->lat;
	atomic_init(&rx.first_seq, UINT64_MAX);
	atomic_init(&rx.end_seq, UINT64_MAX);
	if (!mm || !iov || !bufs || !mem) {
		snprintf(row->note, sizeof(row->note), "out of memory");
		goto out;
	}
	bench_pin(cfg->sender_cpu);
	if (open_pair(cfg, &tx, &rx.fd, row->note, sizeof(row->note)))
		goto out;
	for (i = 0; i < batch; i++) {
		bufs[i] = mem + (size_t)i * pt->size;
		memset(bufs[i], 0xa5, pt->size);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = pt->size;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	if (pthread_create(&thr, NULL, rx_main, &rx)) {
		snprintf(row->note, sizeof(row->note), "no receiver thread");
		goto out;
	}

	t_start = bench_tsc();
	t_warm = t_start + (uint64_t)(cfg->warmup * bench_tsc_hz());
	t_end = t_warm + (uint64_t)(cfg->duration * bench_tsc_hz());
	for (bool measuring = false;;) {
		uint64_t now = bench_tsc();
		unsigned int done = 0;

		if (!measuring && now >= t_warm) {
			measuring = true;
			atomic_store_explicit(&rx.first_seq, seq, memory_order_release);
			t0 = now;
			cpu0 = bench_thread_cpu_ns();
			sent_all = seq;
		}
		if (measuring && (now >= t_end || bench_stop))
			break;
		bench_pace(t_start, seq, cfg->rate);  /* the warm-up is paced too */
		bench_stamp_batch(bufs, batch, &seq);
		/* messages not taken by the call are sent again, with the same seq, next round */
		while (done < batch) {
			if (mmsg)
				n = sendmmsg(tx, mm + done, batch - done, flags);
			else
				n = send(tx, bufs[0], pt->size, flags) < 0 ? -1 : 1;
			if (measuring)
				row->calls++;
			if (n > 0) {
				done += (unsigned int)n;
				continue;
			}
			if (errno == EAGAIN || errno == ENOBUFS) {
				if (measuring)
					row->eagain++;
				if (bench_stop)
					break;
				continue;
			}
			snprintf(row->note, sizeof(row->note), "send: %s", strerror(errno));
			goto stop_rx;
		}
		seq -= batch - done;
	}
	row->tsc_cycles = bench_tsc() - t0;
	row->cpu_ns = bench_thread_cpu_ns() - cpu0;
	row->seconds = (double)row->tsc_cycles / bench_tsc_hz();
	row->sent = seq - sent_all;
	row->measured = row->sent;
	atomic_store_explicit(&rx.end_seq, seq, memory_order_release);

	/* let the receiver drain, then a marker carries the kernel's drop count */
	deadline = bench_tsc() + (uint64_t)(2 * bench_tsc_hz());
	do {
		struct timespec ms = { 0, 10 * 1000 * 1000 };

		last = atomic_load(&rx.received_all);
		nanosleep(&ms, NULL);
	} while (last != atomic_load(&rx.received_all) && bench_tsc() < deadline);
	{
		struct bench_stamp marker = { .seq = MARKER_SEQ };
		char *m = calloc(1, pt->size);

		if (m) {
			memcpy(m, &marker, sizeof(marker));
			for (i = 0; i < 50 && !atomic_load(&rx.marker_seen); i++) {
				struct timespec ms = { 0, 10 * 1000 * 1000 };

				send(tx, m, pt->size, 0);
				nanosleep(&ms, NULL);
			}
			free(m);
		}
	}
	ret = 0;
stop_rx:
	atomic_store(&rx.quit, 1);
	pthread_join(thr, NULL);
	row->received = rx.received;
	row->have_latency = true;
	if (ret == 0) {
		uint64_t missing_all = seq - atomic_load(&rx.received_all);

		row->dropped = row->sent - row->received;
		if (!atomic_load(&rx.marker_seen))
			snprintf(row->note, sizeof(row->note), "no drop count from the kernel (marker lost)");
		else if (missing_all != rx.kernel_drops)
			snprintf(row->note, sizeof(row->note), "%llu messages lost unaccounted (kernel counted %u drops)",
				 (unsigned long long)(missing_all - rx.kernel_drops), rx.kernel_drops);
		else if (rx.kernel_drops)
			snprintf(row->note, sizeof(row->note), "receiver overrun: kernel dropped %u (all accounted)",
				 rx.kernel_drops);
		if (rx.bad)
			snprintf(row->note, sizeof(row->note), "%llu garbled datagrams", (unsigned long long)rx.bad);
	}
out:
	if (tx >= 0)
		close(tx);
	if (rx.fd > 0)
		close(rx.fd);
	free(mm);
	free(iov);
	free(bufs);
	free(mem);
	return ret;
}

const struct bench_backend bench_kernel_udp = {
	.name = "kernel-udp",
	.about = "Linux UDP: send() for batch 1, sendmmsg() above; receiver thread on loopback or across a veth pair",
	.setup = kudp_setup,
	.max_size = kudp_max_size,
	.run = kudp_run,
	.teardown = kudp_teardown,
};
