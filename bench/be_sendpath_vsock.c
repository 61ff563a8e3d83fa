/* SPDX-License-Identifier: MIT */
/*
 * sendpath-vsock: sendpath's vsock stream (sp_send / sp_sendmmsg) through
 * the virtio-vsock poll-mode driver into sp-vhost-vsock (pmd/backend) in
 * sink mode, busy-polling on the peer CPU: the host side consumes the bytes
 * and returns credit as the kernel's host does.
 *
 * Each point runs in a process of its own (EAL starts once per process).
 * A stream has no message boundaries at the peer: messages are counted in
 * bytes (bytes / size) and checked against the bytes the device consumed.
 * Latency: the sink is told the message size (--msg-size) and reads the
 * probe {seq, TSC at send} at the start of every size bytes of the stream;
 * the sender keeps that grid by sending every message whole. The sink's
 * histogram comes back in its statistics (pmd/backend/README.md).
 * The sink runs --no-checksum: it counts bytes and reads the probes but no
 * other payload (a crc32c of every byte runs at ~7 GB/s on one core, which
 * would be the ceiling of 64 KiB messages, not the send path).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sendpath.h>

#include "bench.h"
#include "hist.h"
#include "proc.h"
#include "sp_env.h"

#define VSOCK_PORT 5201

static char dev_bin[512];

static int spvsock_setup(const struct bench_cfg *cfg, char *why, size_t len)
{
	snprintf(dev_bin, sizeof(dev_bin), "%s/pmd/backend/sp-vhost-vsock", cfg->build_dir);
	if (access(dev_bin, X_OK)) {
		snprintf(why, len, "peer %s not built", dev_bin);
		return 1;
	}
	return 0;
}

static void nap(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* The sender, in the point's own process: writes the row to fd_out and exits. */
static void sender_main(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row,
			const char *sock, int fd_out)
{
	struct sp_init_cfg ic = { .start_eal = true, .name = "bench-vsock", .mem_mb = 256,
				  .udp_port = -1, .vsock_dev = "virtio_vsock0" };
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_HOST, .svm_port = VSOCK_PORT };
	unsigned int batch = pt->batch, i, done, off;
	bool mmsg = batch > 1 || cfg->force_mmsg;
	int flags = MSG_NOSIGNAL | (cfg->dontwait ? MSG_DONTWAIT : 0), fd = -1, n, efd;
	struct mmsghdr *mm = calloc(batch, sizeof(*mm));
	struct iovec *iov = calloc(batch, sizeof(*iov));
	void **bufs = calloc(batch, sizeof(*bufs));
	char *mem = calloc(batch, pt->size), vdev[256], elog[64];
	uint64_t bytes = 0, first = 0, seq = 0, t_start, t_warm, t_end, t0 = 0, cpu0 = 0;
	bool measuring = false;
	ssize_t w;

	snprintf(elog, sizeof(elog), "/tmp/sp-bench-vsock-tx-%d.log", (int)getpid());
	efd = open(elog, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (efd >= 0) {  /* EAL chatter stays out of the progress lines */
		dup2(efd, 2);
		unlink(elog);
	}
	signal(SIGPIPE, SIG_IGN);
	if (!mm || !iov || !bufs || !mem) {
		snprintf(row->note, sizeof(row->note), "out of memory");
		goto out;
	}
	snprintf(vdev, sizeof(vdev), "virtio_vsock0,path=%s,cid=3", sock);
	ic.cpu = cfg->sender_cpu;
	ic.vdevs[0] = vdev;
	if (getenv("SP_LOG_LEVEL") == NULL)
		setenv("SP_LOG_LEVEL", "*:error", 0);
	if (sp_init(&ic)) {
		snprintf(row->note, sizeof(row->note), "sp_init failed: %s", strerror(errno));
		goto out;
	}
	fd = sp_socket(AF_VSOCK, SOCK_STREAM, 0);  /* sendpath's, never the kernel's */
	if (fd < 0 || sp_connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		snprintf(row->note, sizeof(row->note), "sp_socket/sp_connect: %s", strerror(errno));
		goto fini;
	}
	/* a blocking send gives up after 1 s: a peer that died (or Ctrl-C) never hangs the run */
	if (sp_setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ 1, 0 }, sizeof(struct timeval)))
		snprintf(row->note, sizeof(row->note), "SO_SNDTIMEO not set: %s", strerror(errno));
	for (i = 0; i < batch; i++) {
		bufs[i] = mem + (size_t)i * pt->size;
		memset(bufs[i], 0x5a, pt->size);
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = pt->size;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	t_start = bench_tsc();
	t_warm = t_start + (uint64_t)(cfg->warmup * bench_tsc_hz());
	t_end = t_warm + (uint64_t)(cfg->duration * bench_tsc_hz());
	for (;;) {
		uint64_t now = bench_tsc();

		if (!measuring && now >= t_warm) {
			measuring = true;
			t0 = now;
			cpu0 = bench_thread_cpu_ns();
			first = bytes;
		}
		if (measuring && (now >= t_end || bench_stop))
			break;
		bench_pace(t_start, bytes / pt->size, cfg->rate);  /* the warm-up is paced too */
		bench_stamp_batch(bufs, batch, &seq);
		if (!measuring && pt->size >= BENCH_HDR_LEN)  /* warm-up messages carry no stamp */
			for (i = 0; i < batch; i++)
				memset((char *)bufs[i] + 8, 0, 8);
		/*
		 * The whole batch goes, each message whole: the sink finds a probe every
		 * size bytes of the stream, so a message the stream took in part is
		 * finished before the next one starts.
		 */
		for (done = 0, off = 0; done < batch;) {
			if (off) {
				w = sp_send(fd, (char *)bufs[done] + off, pt->size - off, flags);
				if (w > 0) {
					bytes += (uint64_t)w;
					off += (unsigned int)w;
					if (off == pt->size) {
						off = 0;
						done++;
					}
				}
			} else if (mmsg) {
				n = sp_sendmmsg(fd, mm + done, batch - done, flags);
				w = n;
				for (i = done; n > 0 && i < done + (unsigned int)n; i++)
					bytes += mm[i].msg_len;
				if (n > 0) {
					done += (unsigned int)n;
					if (mm[done - 1].msg_len < pt->size)
						off = mm[--done].msg_len;
				}
			} else {
				w = sp_send(fd, bufs[0], pt->size, flags);
				if (w > 0) {
					bytes += (uint64_t)w;
					if ((unsigned int)w < pt->size)
						off = (unsigned int)w;
					else
						done++;
				}
			}
			if (measuring)
				row->calls++;
			if (w > 0)
				continue;
			if (errno == EAGAIN) {
				if (measuring)
					row->eagain++;
				sp_poll();
				if (bench_stop)
					break;
				continue;
			}
			snprintf(row->note, sizeof(row->note), "sp_send: %s", strerror(errno));
			goto fini;
		}
	}
	row->tsc_cycles = bench_tsc() - t0;
	row->cpu_ns = bench_thread_cpu_ns() - cpu0;
	row->seconds = (double)row->tsc_cycles / bench_tsc_hz();
	row->measured = (bytes - first) / pt->size;
	row->sent = bytes;  /* bytes, whole run: turned into messages by the parent */
	/* the device has to take the rest before the port stops */
	sp_shutdown(fd, SHUT_WR);
	for (uint64_t stop = bench_tsc() + bench_tsc_hz() / 2; bench_tsc() < stop;)
		sp_poll();
	sp_close(fd);
	snprintf(row->status, sizeof(row->status), "ok");
fini:
	sp_fini();
out:
	if (write(fd_out, row, sizeof(*row)) != (ssize_t)sizeof(*row))
		_exit(2);
	_exit(0);
}

/* The device-wide "rx_bytes" (the first one, before the per-connection list). */
static long long device_rx_bytes(const char *text)
{
	const char *p = strstr(text, "\"rx_pkts\":");

	p = p ? strstr(p, "\"rx_bytes\":") : NULL;
	return p ? strtoll(p + 11, NULL, 10) : -1;
}

/* Packets the device took (RW and control alike): a stream may carry several sends per packet. */
static long long device_rx_pkts(const char *text)
{
	const char *p = strstr(text, "\"rx_pkts\":");

	return p ? strtoll(p + 10, NULL, 10) : -1;
}

/* The sink's probe counters and latency percentiles into the row; false when it has none. */
static bool sink_latency(const char *text, struct bench_row *row)
{
	const char *probe = strstr(text, "\"probe\":{");
	const char *lat = strstr(text, "\"latency_ns\":{");

	return probe && lat && bench_sink_latency(lat, row);
}

static int spvsock_run(const struct bench_cfg *cfg, const struct bench_point *pt, struct bench_row *row)
{
	char name[64], sock[128], ctl[140], log[128], cpu[16], msg[16], buf_alloc[16] = "", *text = NULL;
	char *argv[24];
	int a = 0, p[2], ret = -1;
	long long rx;
	pid_t dev, tx;
	bool sent_whole;

	snprintf(row->target, sizeof(row->target), "vhost-user");
	snprintf(row->call, sizeof(row->call), "%s", pt->batch > 1 || cfg->force_mmsg ? "sendmmsg" : "send");
	snprintf(name, sizeof(name), "bench-vsock-%d-%u.sock", (int)getpid(), pt->index);
	if (!sp_env_run_path(name, sock, sizeof(sock)))
		return -1;
	snprintf(ctl, sizeof(ctl), "%s.ctl", sock);
	snprintf(log, sizeof(log), "/tmp/sp-bench-vsock-%d.log", (int)getpid());
	snprintf(cpu, sizeof(cpu), "%d", cfg->peer_cpu);
	argv[a++] = dev_bin;
	argv[a++] = "--socket";
	argv[a++] = sock;
	argv[a++] = "--ctl";
	argv[a++] = ctl;
	argv[a++] = "--mode";
	argv[a++] = "sink";
	argv[a++] = "--cid";
	argv[a++] = "3";
	argv[a++] = "--poll";
	argv[a++] = "--no-checksum";  /* the peer counts; reading every byte (crc32c) would cap 64 KiB */
	argv[a++] = "--cpu";
	argv[a++] = cpu;
	if (cfg->vsock_buf) {   /* the peer's buffer (buf_alloc), as a receiver's SO_VM_SOCKETS_BUFFER_SIZE */
		snprintf(buf_alloc, sizeof(buf_alloc), "%u", cfg->vsock_buf);
		argv[a++] = "--buf-alloc";
		argv[a++] = buf_alloc;
	}
	if (pt->size >= BENCH_HDR_LEN) {  /* the sink reads a probe every size bytes */
		snprintf(msg, sizeof(msg), "%u", pt->size);
		argv[a++] = "--msg-size";
		argv[a++] = msg;
	}
	argv[a] = NULL;
	unlink(sock);
	unlink(ctl);
	dev = proc_spawn(argv, log, NULL);
	/* the control socket appears once the device is served */
	if (!proc_wait_path(ctl, dev, 20)) {
		text = proc_slurp(log);
		snprintf(row->note, sizeof(row->note), "sp-vhost-vsock did not start: %.80s", text ? text : "");
		goto out;
	}
	nap(0.05);
	if (pipe(p) < 0)
		goto out;
	tx = fork();
	if (tx == 0) {
		close(p[0]);
		sender_main(cfg, pt, row, sock, p[1]);
	}
	close(p[1]);
	sent_whole = proc_read_result(tx, p[0], row, sizeof(*row));
	proc_stop(dev, SIGINT, 10);
	dev = -1;
	if (!sent_whole) {
		snprintf(row->note, sizeof(row->note), "the sender process died");
		goto out;
	}
	if (strcmp(row->status, "ok"))
		goto out;
	text = proc_slurp(log);
	rx = text ? device_rx_bytes(text) : -1;
	if (rx < 0) {
		snprintf(row->note, sizeof(row->note), "sp-vhost-vsock gave no statistics");
		goto out;
	}
	sink_latency(text, row);
	if ((uint64_t)rx != row->sent)
		snprintf(row->note, sizeof(row->note), "bytes: sent %llu, device consumed %lld",
			 (unsigned long long)row->sent, rx);
	else if (bench_json_num(text, "seq_errors") > 0 || bench_json_num(text, "bad_stamps") > 0)
		snprintf(row->note, sizeof(row->note), "sink: %.0f probes out of sequence, %.0f bad stamps",
			 bench_json_num(text, "seq_errors"), bench_json_num(text, "bad_stamps"));
	else
		snprintf(row->note, sizeof(row->note), "stream: msgs = bytes/size; %lld packets at the device, "
			 "sink busy %.0f ns/packet%s%s; %s", device_rx_pkts(text),
			 device_rx_pkts(text) > 0 ? bench_json_num(text, "busy_ns") / (double)device_rx_pkts(text) : 0,
			 cfg->vsock_buf ? ", peer buf_alloc " : "", buf_alloc,
			 row->have_ext_latency ? "latency from the sink's probes" : "no latency (no stamped message)");
	/* whole messages; a last partial one counts on both sides alike */
	row->received = (uint64_t)rx / pt->size;
	row->sent /= pt->size;
	ret = 0;
out:
	if (dev > 0)
		proc_stop(dev, SIGINT, 5);
	unlink(log);
	unlink(sock);
	unlink(ctl);
	free(text);
	return ret;
}

const struct bench_backend bench_sendpath_vsock = {
	.name = "sendpath-vsock",
	.about = "sendpath vsock stream (sp_send / sp_sendmmsg) over the virtio-vsock PMD -> sp-vhost-vsock sink (busy-polling)",
	.setup = spvsock_setup,
	.run = spvsock_run,
};
