/* SPDX-License-Identifier: MIT */
/*
 * The scenario side of the framework: every sc_*() call goes to the backend and leaves one
 * trace step, written at once as a JSON line so that a crash or a hang loses nothing before it.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <linux/vm_sockets.h>

#include "sc.h"
#include "sc_runner.h"

#define SC_MAX_FDS	64
#define SC_MAX_STREAMS	16
#define SC_MAX_PC	16
#define SC_PAYLOAD_MAX	(4u << 20)
#define SC_STREAM_MAX	(8u << 20)

struct sc {
	const struct sc_scenario *scn;
	const struct sc_backend *be;
	int out_fd;
	bool stopped;
	int nsock;
	struct { int fd; char label[16]; } fds[SC_MAX_FDS];
	unsigned int nfds;
	uint32_t pattern;		/* where the payload pattern continues */
	unsigned char *payload;
	/* what each stream socket has sent so far, to check what its peer holds */
	struct sc_stream { int fd; unsigned char *buf; size_t len; } streams[SC_MAX_STREAMS];
	int pc_fd[SC_MAX_PC];		/* peer connection -> our socket */
	int last_connected;
};

static volatile sig_atomic_t sigpipe_count;
const char *sc_backend_why;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipe_count++;
}

void sc_install_sigpipe_counter(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
}

uint32_t sc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	const unsigned char *p = buf;

	if (!table[1]) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
	}
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

static struct sc_stream *stream_of(struct sc *s, int fd, bool create)
{
	for (int i = 0; i < SC_MAX_STREAMS; i++)
		if (s->streams[i].buf && s->streams[i].fd == fd)
			return &s->streams[i];
	if (!create)
		return NULL;
	for (int i = 0; i < SC_MAX_STREAMS; i++) {
		if (!s->streams[i].buf) {
			s->streams[i].buf = malloc(SC_STREAM_MAX);
			if (!s->streams[i].buf)
				return NULL;
			s->streams[i].fd = fd;
			s->streams[i].len = 0;
			return &s->streams[i];
		}
	}
	return NULL;
}

/* Appends the first n bytes of the iovecs to what fd has sent (stream sockets only). */
static void sent_iov(struct sc *s, int fd, const struct iovec *iov, size_t iovcnt, size_t n)
{
	struct sc_stream *st;

	if (s->scn->proto != SC_VSOCK || n == 0 || !(st = stream_of(s, fd, true)))
		return;
	for (size_t i = 0; i < iovcnt && n > 0; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;

		if (st->len + k > SC_STREAM_MAX)
			k = SC_STREAM_MAX - st->len;
		memcpy(st->buf + st->len, iov[i].iov_base, k);
		st->len += k;
		n -= k;
	}
}

static void sent_flat(struct sc *s, int fd, const void *buf, ssize_t n)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = n > 0 ? (size_t)n : 0 };

	if (n > 0 && buf)
		sent_iov(s, fd, &iov, 1, (size_t)n);
}

/* The note of a stream peer: how much it read now, and whether what it holds is what we sent. */
static void stream_note(struct sc *s, int pc, struct sc_peer_result *r)
{
	struct sc_stream *st = pc >= 0 && pc < SC_MAX_PC ? stream_of(s, s->pc_fd[pc], false) : NULL;
	const char *data;

	if (!r->has_stream)
		return;
	if (r->stream_total == 0)
		data = "ok";
	else if (!st || r->stream_total > st->len)
		data = "BAD(more than was sent)";
	else
		data = sc_crc32c(~0u, st->buf, r->stream_total) == r->stream_crc ? "ok" : "BAD";
	snprintf(r->note, sizeof(r->note), "bytes=%ld data=%s%s%s%s", r->ret, data,
		 r->eof ? " eof" : "", r->err ? " err=" : "", r->err ? sc_errno_name(r->err) : "");
}

/* --- trace output ------------------------------------------------------------------------ */

static void json_str(FILE *f, const char *str)
{
	fputc('"', f);
	for (; *str; str++) {
		unsigned char c = (unsigned char)*str;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void emit(struct sc *s, const char *line, size_t len)
{
	while (len > 0) {
		ssize_t w = write(s->out_fd, line, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

static void step(struct sc *s, const char *op, const char *args, long ret, int err, int sigpipes,
		 const char *note)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fputs("{\"op\":", f);
	json_str(f, op);
	fputs(",\"args\":", f);
	json_str(f, args ? args : "");
	fprintf(f, ",\"ret\":%ld,\"errno\":", ret);
	json_str(f, ret < 0 || err ? sc_errno_name(err) : "");
	fprintf(f, ",\"sigpipe\":%d,\"note\":", sigpipes);
	json_str(f, note ? note : "");
	fputs("}\n", f);
	fclose(f);
	emit(s, buf, len);
	free(buf);
}

static void status(struct sc *s, const char *st, const char *reason)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return;
	fputs("{\"status\":", f);
	json_str(f, st);
	fputs(",\"reason\":", f);
	json_str(f, reason ? reason : "");
	fputs("}\n", f);
	fclose(f);
	emit(s, buf, len);
	free(buf);
}

/* --- names --------------------------------------------------------------------------------- */

const char *sc_errno_name(int e)
{
	static const struct { int e; const char *n; } names[] = {
		{ EAGAIN, "EAGAIN" }, { EPIPE, "EPIPE" }, { ENOTCONN, "ENOTCONN" },
		{ EOPNOTSUPP, "EOPNOTSUPP" }, { EMSGSIZE, "EMSGSIZE" },
		{ EDESTADDRREQ, "EDESTADDRREQ" }, { EISCONN, "EISCONN" }, { EACCES, "EACCES" },
		{ EINVAL, "EINVAL" }, { EFAULT, "EFAULT" }, { EBADF, "EBADF" },
		{ ENOTSOCK, "ENOTSOCK" }, { EAFNOSUPPORT, "EAFNOSUPPORT" },
		{ ECONNRESET, "ECONNRESET" }, { ECONNREFUSED, "ECONNREFUSED" },
		{ ETIMEDOUT, "ETIMEDOUT" }, { EINPROGRESS, "EINPROGRESS" }, { EALREADY, "EALREADY" },
		{ EADDRINUSE, "EADDRINUSE" }, { EADDRNOTAVAIL, "EADDRNOTAVAIL" },
		{ ENETUNREACH, "ENETUNREACH" }, { EHOSTUNREACH, "EHOSTUNREACH" },
		{ ENOPROTOOPT, "ENOPROTOOPT" }, { EPROTONOSUPPORT, "EPROTONOSUPPORT" },
		{ ESOCKTNOSUPPORT, "ESOCKTNOSUPPORT" }, { EPROTOTYPE, "EPROTOTYPE" },
		{ EDOM, "EDOM" }, { ENOMEM, "ENOMEM" }, { ENOBUFS, "ENOBUFS" }, { EINTR, "EINTR" },
		{ ENODEV, "ENODEV" }, { ENOSYS, "ENOSYS" }, { EPERM, "EPERM" }, { ENOTTY, "ENOTTY" },
		{ ESHUTDOWN, "ESHUTDOWN" }, { ENOENT, "ENOENT" },
	};
	static char other[24];

	if (e == 0)
		return "0";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == e)
			return names[i].n;
	snprintf(other, sizeof(other), "errno%d", e);
	return other;
}

const char *sc_flags_str(int flags, char *buf, size_t len)
{
	static const struct { int f; const char *n; } names[] = {
		{ MSG_DONTWAIT, "MSG_DONTWAIT" }, { MSG_NOSIGNAL, "MSG_NOSIGNAL" },
		{ MSG_OOB, "MSG_OOB" }, { MSG_MORE, "MSG_MORE" }, { MSG_EOR, "MSG_EOR" },
		{ MSG_CONFIRM, "MSG_CONFIRM" }, { MSG_DONTROUTE, "MSG_DONTROUTE" },
		{ MSG_PEEK, "MSG_PEEK" }, { MSG_WAITALL, "MSG_WAITALL" }, { MSG_TRUNC, "MSG_TRUNC" },
		{ MSG_ZEROCOPY, "MSG_ZEROCOPY" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].f))
			continue;
		flags &= ~names[i].f;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? "|" : "", names[i].n);
	}
	if (flags || !off)
		snprintf(buf + off, off < len ? len - off : 0, "%s%#x", off ? "|" : "", flags);
	return buf;
}

/* Descriptors by label: s0, s1 for sockets in creation order, so traces never hold numbers. */
static const char *label(struct sc *s, int fd)
{
	static char num[16];

	for (unsigned int i = s->nfds; i-- > 0;)
		if (s->fds[i].fd == fd)
			return s->fds[i].label;
	snprintf(num, sizeof(num), "fd%d", fd);
	return num;
}

static void set_label(struct sc *s, int fd, const char *name)
{
	if (s->nfds < SC_MAX_FDS) {
		s->fds[s->nfds].fd = fd;
		snprintf(s->fds[s->nfds].label, sizeof(s->fds[0].label), "%s", name);
		s->nfds++;
	}
}

static const char *role_name(int role)
{
	switch (role) {
	case SC_ADDR_PEER: return "peer";
	case SC_ADDR_REFUSED: return "refused";
	case SC_ADDR_BCAST: return "broadcast";
	case SC_ADDR_LOCAL: return "local:0";
	case SC_ADDR_LOCAL_PORT: return "local:fixed";
	case SC_ADDR_PEER_PORT0: return "peer:0";
	default: return "none";
	}
}

/* --- calls ---------------------------------------------------------------------------------- */

#define CALL(s, expr, ret, err, sp) do {		\
	int before_ = sigpipe_count;			\
	errno = 0;					\
	ret = (expr);					\
	err = errno;					\
	sp = sigpipe_count - before_;			\
} while (0)

bool sc_stopped(const struct sc *s)
{
	return s->stopped;
}

void sc_fail(struct sc *s, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (s->stopped)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	status(s, "error", why);
	s->stopped = true;
}

void sc_skip(struct sc *s, const char *why)
{
	if (s->stopped)
		return;
	status(s, "skipped", why);
	s->stopped = true;
}

void sc_note(struct sc *s, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	if (s->stopped)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	step(s, "note", what, 0, 0, 0, NULL);
}

const void *sc_payload(struct sc *s, size_t len)
{
	if (len > SC_PAYLOAD_MAX) {
		sc_fail(s, "payload of %zu bytes is above the framework's %u", len, SC_PAYLOAD_MAX);
		return s->payload;
	}
	for (size_t i = 0; i < len; i++)
		s->payload[i] = (unsigned char)((s->pattern + i) * 131u >> 3);
	s->pattern += (uint32_t)len;
	return s->payload;
}

void sc_msg_one(struct sc *s, struct msghdr *msg, struct iovec *iov, size_t len)
{
	memset(msg, 0, sizeof(*msg));
	iov[0].iov_base = (void *)sc_payload(s, len);
	iov[0].iov_len = len;
	msg->msg_iov = iov;
	msg->msg_iovlen = 1;
}

int sc_socket_raw(struct sc *s, int domain, int type, int protocol)
{
	char args[96];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->socket(domain, type, protocol), ret, err, sp);
	snprintf(args, sizeof(args), "domain=%d type=%#x protocol=%d", domain, type, protocol);
	if (ret >= 0) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", s->nsock++);
		set_label(s, ret, name);
	}
	step(s, "socket", args, ret >= 0 ? 0 : ret, err, sp, ret >= 0 ? label(s, ret) : NULL);
	errno = err;
	return ret;
}

int sc_socket(struct sc *s)
{
	if (s->scn->proto == SC_VSOCK)
		return sc_socket_raw(s, AF_VSOCK, SOCK_STREAM, 0);
	return sc_socket_raw(s, AF_INET, SOCK_DGRAM, 0);
}

int sc_addr_fill(enum sc_proto proto, const struct sc_addr_map *map, enum sc_addr_role role,
		 struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (proto == SC_VSOCK) {
		struct sockaddr_vm *vm = (struct sockaddr_vm *)ss;

		vm->svm_family = AF_VSOCK;
		*len = sizeof(*vm);
		switch (role) {
		case SC_ADDR_PEER: vm->svm_cid = map->peer_cid; vm->svm_port = map->port; break;
		case SC_ADDR_REFUSED: vm->svm_cid = map->peer_cid; vm->svm_port = map->port + 1; break;
		case SC_ADDR_LOCAL: vm->svm_cid = VMADDR_CID_ANY; vm->svm_port = VMADDR_PORT_ANY; break;
		case SC_ADDR_LOCAL_PORT: vm->svm_cid = VMADDR_CID_ANY; vm->svm_port = map->port + 2; break;
		case SC_ADDR_PEER_PORT0: vm->svm_cid = map->peer_cid; vm->svm_port = 0; break;
		default: errno = EINVAL; return -1;
		}
		return 0;
	}
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	in->sin_family = AF_INET;
	*len = sizeof(*in);
	in->sin_addr.s_addr = map->peer_ip;
	switch (role) {
	case SC_ADDR_PEER: in->sin_port = htons(map->port); break;
	case SC_ADDR_REFUSED: in->sin_port = htons(map->port + 1); break;
	case SC_ADDR_BCAST: in->sin_addr.s_addr = map->bcast_ip; in->sin_port = htons(map->port); break;
	case SC_ADDR_LOCAL: in->sin_addr.s_addr = map->local_ip; in->sin_port = 0; break;
	case SC_ADDR_LOCAL_PORT:
		in->sin_addr.s_addr = map->local_ip;
		in->sin_port = htons(map->port + 2);
		break;
	case SC_ADDR_PEER_PORT0: in->sin_port = 0; break;
	default: errno = EINVAL; return -1;
	}
	return 0;
}

void sc_addr_of(struct sc *s, enum sc_addr_role role, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	*len = 0;
	if (s->be->addr((enum sc_addr_role)role, ss, len) < 0)
		sc_fail(s, "backend has no %s address", role_name(role));
}

struct sockaddr *sc_wide_addr(struct sc *s, enum sc_addr_role role)
{
	static union { struct sockaddr_storage ss; char bytes[8192]; } wide;
	socklen_t len;

	memset(&wide, 0, sizeof(wide));
	sc_addr_of(s, role, &wide.ss, &len);
	return (struct sockaddr *)&wide;
}

int sc_bind_raw(struct sc *s, int fd, const struct sockaddr *addr, socklen_t len, const char *what)
{
	char args[128];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->bind(fd, addr, len), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s", label(s, fd), what);
	step(s, "bind", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_bind(struct sc *s, int fd, enum sc_addr_role role)
{
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, role, &ss, &len);
	return sc_bind_raw(s, fd, (struct sockaddr *)&ss, len, role_name(role));
}

int sc_connect_raw(struct sc *s, int fd, const struct sockaddr *addr, socklen_t len, const char *what)
{
	char args[128];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->connect(fd, addr, len), ret, err, sp);
	if (ret == 0 || err == EINPROGRESS)
		s->last_connected = fd;
	snprintf(args, sizeof(args), "%s %s", label(s, fd), what);
	step(s, "connect", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_connect(struct sc *s, int fd, enum sc_addr_role role)
{
	struct sockaddr_storage ss;
	socklen_t len;

	sc_addr_of(s, role, &ss, &len);
	return sc_connect_raw(s, fd, (struct sockaddr *)&ss, len, role_name(role));
}

ssize_t sc_send_buf(struct sc *s, int fd, const void *buf, size_t len, int flags, const char *what)
{
	char args[160], fl[96];
	ssize_t ret;
	int err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->send(fd, buf, len, flags), ret, err, sp);
	snprintf(args, sizeof(args), "%s %slen=%zu flags=%s", label(s, fd), what ? what : "", len,
		 sc_flags_str(flags, fl, sizeof(fl)));
	sent_flat(s, fd, buf, ret);
	step(s, "send", args, (long)ret, err, sp, NULL);
	errno = err;
	return ret;
}

ssize_t sc_send(struct sc *s, int fd, size_t len, int flags)
{
	const void *buf = sc_payload(s, len);

	return sc_send_buf(s, fd, buf, len, flags, NULL);
}

ssize_t sc_sendto_raw(struct sc *s, int fd, const void *buf, size_t len, int flags,
		      const struct sockaddr *addr, socklen_t alen, const char *what)
{
	char args[192], fl[96];
	ssize_t ret;
	int err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->sendto(fd, buf, len, flags, addr, alen), ret, err, sp);
	snprintf(args, sizeof(args), "%s len=%zu flags=%s to=%s", label(s, fd), len,
		 sc_flags_str(flags, fl, sizeof(fl)), what);
	sent_flat(s, fd, buf, ret);
	step(s, "sendto", args, (long)ret, err, sp, NULL);
	errno = err;
	return ret;
}

ssize_t sc_sendto(struct sc *s, int fd, size_t len, int flags, enum sc_addr_role role)
{
	struct sockaddr_storage ss;
	socklen_t alen;
	const void *buf;

	sc_addr_of(s, role, &ss, &alen);
	buf = sc_payload(s, len);
	return sc_sendto_raw(s, fd, buf, len, flags, (struct sockaddr *)&ss, alen, role_name(role));
}

ssize_t sc_sendmsg_raw(struct sc *s, int fd, const struct msghdr *msg, int flags, const char *what)
{
	char args[192], fl[96];
	ssize_t ret;
	int err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->sendmsg(fd, msg, flags), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s flags=%s", label(s, fd), what,
		 sc_flags_str(flags, fl, sizeof(fl)));
	if (ret > 0 && msg)
		sent_iov(s, fd, msg->msg_iov, msg->msg_iovlen, (size_t)ret);
	step(s, "sendmsg", args, (long)ret, err, sp, NULL);
	errno = err;
	return ret;
}

/* Builds iovecs over one payload; the payload pattern runs on across them. */
static int fill_iov(struct sc *s, struct iovec *iov, const size_t *lens, int n, char *desc,
		    size_t dlen)
{
	size_t total = 0, off = 0;
	const unsigned char *p;

	for (int i = 0; i < n; i++)
		total += lens[i];
	p = sc_payload(s, total);
	off = (size_t)snprintf(desc, dlen, "iov=[");
	for (int i = 0; i < n; i++) {
		iov[i].iov_base = (void *)p;
		iov[i].iov_len = lens[i];
		p += lens[i];
		if (off < dlen)
			off += (size_t)snprintf(desc + off, dlen - off, "%s%zu", i ? "," : "", lens[i]);
	}
	if (off < dlen)
		snprintf(desc + off, dlen - off, "]");
	return 0;
}

ssize_t sc_sendmsg_iov(struct sc *s, int fd, const size_t *lens, int n, int role, int flags)
{
	struct iovec iov[64];
	struct sockaddr_storage ss;
	struct msghdr msg;
	char desc[160];
	socklen_t alen = 0;

	if (n > 64)
		n = 64;
	memset(&msg, 0, sizeof(msg));
	fill_iov(s, iov, lens, n, desc, sizeof(desc));
	if (role >= 0) {
		sc_addr_of(s, (enum sc_addr_role)role, &ss, &alen);
		msg.msg_name = &ss;
		msg.msg_namelen = alen;
		snprintf(desc + strlen(desc), sizeof(desc) - strlen(desc), " to=%s", role_name(role));
	}
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;
	return sc_sendmsg_raw(s, fd, &msg, flags, desc);
}

int sc_sendmmsg_raw(struct sc *s, int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
		    const char *what)
{
	char args[192], fl[96], note[256];
	size_t off = 0;
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->sendmmsg(fd, vec, vlen, flags), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s vlen=%u flags=%s", label(s, fd), what, vlen,
		 sc_flags_str(flags, fl, sizeof(fl)));
	note[0] = '\0';
	if (vec && vlen <= 16) {
		off = (size_t)snprintf(note, sizeof(note), "msg_len=[");
		for (unsigned int i = 0; i < vlen && off < sizeof(note); i++)
			off += (size_t)snprintf(note + off, sizeof(note) - off, "%s%u", i ? "," : "",
						vec[i].msg_len);
		if (off < sizeof(note))
			snprintf(note + off, sizeof(note) - off, "]");
	}
	for (int i = 0; vec && i < ret; i++)
		sent_iov(s, fd, vec[i].msg_hdr.msg_iov, vec[i].msg_hdr.msg_iovlen, vec[i].msg_len);
	step(s, "sendmmsg", args, ret, err, sp, note);
	errno = err;
	return ret;
}

int sc_sendmmsg(struct sc *s, int fd, const size_t *lens, unsigned int n, int role, int flags)
{
	static struct mmsghdr vec[1024];
	static struct iovec iov[1024];
	struct sockaddr_storage ss;
	socklen_t alen = 0;
	size_t total = 0;
	const unsigned char *p;
	char desc[160];
	size_t off;

	if (n > 1024)
		n = 1024;
	for (unsigned int i = 0; i < n; i++)
		total += lens[i];
	if (role >= 0)
		sc_addr_of(s, (enum sc_addr_role)role, &ss, &alen);
	p = sc_payload(s, total);
	memset(vec, 0, sizeof(vec[0]) * n);
	off = (size_t)snprintf(desc, sizeof(desc), "msgs=[");
	for (unsigned int i = 0; i < n; i++) {
		iov[i].iov_base = (void *)p;
		iov[i].iov_len = lens[i];
		p += lens[i];
		vec[i].msg_hdr.msg_iov = &iov[i];
		vec[i].msg_hdr.msg_iovlen = 1;
		vec[i].msg_len = 0xdead;	/* shows whether the call wrote it */
		if (role >= 0) {
			vec[i].msg_hdr.msg_name = &ss;
			vec[i].msg_hdr.msg_namelen = alen;
		}
		if (i < 8 && off < sizeof(desc))
			off += (size_t)snprintf(desc + off, sizeof(desc) - off, "%s%zu", i ? "," : "",
						lens[i]);
	}
	if (off < sizeof(desc))
		snprintf(desc + off, sizeof(desc) - off, "%s]%s%s", n > 8 ? ",..." : "",
			 role >= 0 ? " to=" : "", role >= 0 ? role_name(role) : "");
	return sc_sendmmsg_raw(s, fd, vec, n, flags, desc);
}

ssize_t sc_recv(struct sc *s, int fd, size_t len, int flags)
{
	static unsigned char buf[1 << 16];
	char args[128], fl[96];
	ssize_t ret;
	int err, sp;

	if (s->stopped)
		return -1;
	if (len > sizeof(buf))
		len = sizeof(buf);
	CALL(s, s->be->recv(fd, buf, len, flags), ret, err, sp);
	snprintf(args, sizeof(args), "%s len=%zu flags=%s", label(s, fd), len,
		 sc_flags_str(flags, fl, sizeof(fl)));
	step(s, "recv", args, (long)ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_shutdown(struct sc *s, int fd, int how)
{
	static const char *const hows[] = { "SHUT_RD", "SHUT_WR", "SHUT_RDWR" };
	char args[64];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->shutdown(fd, how), ret, err, sp);
	if (how >= 0 && how <= 2)
		snprintf(args, sizeof(args), "%s %s", label(s, fd), hows[how]);
	else
		snprintf(args, sizeof(args), "%s how=%d", label(s, fd), how);
	step(s, "shutdown", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_close(struct sc *s, int fd)
{
	char args[32];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->close(fd), ret, err, sp);
	snprintf(args, sizeof(args), "%s", label(s, fd));
	step(s, "close", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_setsockopt(struct sc *s, int fd, int level, int name, const void *val, socklen_t len,
		  const char *what)
{
	char args[128];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->setsockopt(fd, level, name, val, len), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s optlen=%u", label(s, fd), what, (unsigned int)len);
	step(s, "setsockopt", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_set_int(struct sc *s, int fd, int level, int name, int v, const char *what)
{
	char desc[96];

	snprintf(desc, sizeof(desc), "%s=%d", what, v);
	return sc_setsockopt(s, fd, level, name, &v, sizeof(v), desc);
}

int sc_set_sndtimeo(struct sc *s, int fd, long ms)
{
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	char desc[64];

	snprintf(desc, sizeof(desc), "SO_SNDTIMEO=%ldms", ms);
	return sc_setsockopt(s, fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv), desc);
}

int sc_getsockopt_int(struct sc *s, int fd, int level, int name, const char *what)
{
	char args[96], note[32];
	int v = 0, ret, err, sp;
	socklen_t len = sizeof(v);

	if (s->stopped)
		return -1;
	CALL(s, s->be->getsockopt(fd, level, name, &v, &len), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s", label(s, fd), what);
	snprintf(note, sizeof(note), "value=%d", ret == 0 ? v : 0);
	step(s, "getsockopt", args, ret, err, sp, note);
	errno = err;
	return ret == 0 ? v : -1;
}

int sc_set_nonblock(struct sc *s, int fd, bool on)
{
	char args[64];
	int fl, ret, err, sp;

	if (s->stopped)
		return -1;
	fl = s->be->fcntl(fd, F_GETFL, 0);
	if (fl < 0)
		fl = 0;
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	CALL(s, s->be->fcntl(fd, F_SETFL, fl), ret, err, sp);
	snprintf(args, sizeof(args), "%s F_SETFL %s", label(s, fd), on ? "O_NONBLOCK" : "0");
	step(s, "fcntl", args, ret, err, sp, NULL);
	errno = err;
	return ret;
}

int sc_ioctl(struct sc *s, int fd, unsigned long req, const char *what)
{
	char args[64], note[32];
	int v = 0, ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->ioctl(fd, req, &v), ret, err, sp);
	snprintf(args, sizeof(args), "%s %s", label(s, fd), what);
	snprintf(note, sizeof(note), "value=%d", ret == 0 ? v : 0);
	step(s, "ioctl", args, ret, err, sp, note);
	errno = err;
	return ret == 0 ? v : -1;
}

int sc_bad_fd(struct sc *s)
{
	int fd = s->be->bad_fd();

	set_label(s, fd, "badfd");
	return fd;
}

int sc_notsock_fd(struct sc *s)
{
	int fd = s->be->notsock_fd();

	if (fd < 0)
		sc_fail(s, "backend has no non-socket descriptor");
	else
		set_label(s, fd, "notsock");
	return fd;
}

/* --- peer ------------------------------------------------------------------------------------ */

static bool peer_unsupported(struct sc *s, int ret, int err, const char *what)
{
	char why[96];

	if (ret >= 0 || err != ENOSYS)
		return false;
	snprintf(why, sizeof(why), "backend %s cannot %s", s->be->name, what);
	sc_skip(s, why);
	return true;
}

int sc_peer_listen(struct sc *s, unsigned int buf_size)
{
	char args[48];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_listen(buf_size), ret, err, sp);
	if (peer_unsupported(s, ret, err, "listen"))
		return -1;
	if (ret < 0)
		sc_fail(s, "peer cannot listen: %s", strerror(err));
	snprintf(args, sizeof(args), "buf=%u", buf_size);
	step(s, "peer.listen", args, ret, err, sp, NULL);
	return ret;
}

int sc_peer_bind_only(struct sc *s)
{
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_bind_only(), ret, err, sp);
	if (peer_unsupported(s, ret, err, "bind without listening"))
		return -1;
	step(s, "peer.bind_only", "refused port", ret, err, sp, NULL);
	return ret;
}

int sc_peer_accept(struct sc *s)
{
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_accept(), ret, err, sp);
	if (peer_unsupported(s, ret, err, "accept"))
		return -1;
	if (ret >= 0 && ret < SC_MAX_PC)
		s->pc_fd[ret] = s->last_connected;
	step(s, "peer.accept", "", ret, err, sp, NULL);
	return ret;
}

long sc_peer_read_wait(struct sc *s, int pc, size_t max, int wait_ms)
{
	struct sc_peer_result r;
	char args[64];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	memset(&r, 0, sizeof(r));
	CALL(s, s->be->peer_read(pc, max, wait_ms, &r), ret, err, sp);
	if (peer_unsupported(s, ret, err, "read"))
		return -1;
	snprintf(args, sizeof(args), "pc%d max=%zu", pc, max);
	stream_note(s, pc, &r);
	step(s, "peer.read", args, r.ret, r.err, sp, r.note);
	return r.ret;
}

long sc_peer_read(struct sc *s, int pc, size_t max)
{
	/* datagrams are in the receiver's queue when send returns (or a tap hop later) */
	return sc_peer_read_wait(s, pc, max, s->scn->proto == SC_UDP ?
				 (sc_read_wait_ms < 300 ? sc_read_wait_ms : 300) : sc_read_wait_ms);
}

int sc_peer_read_async(struct sc *s, int pc, size_t n)
{
	char args[64];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_read_async(pc, n), ret, err, sp);
	if (peer_unsupported(s, ret, err, "read in the background"))
		return -1;
	snprintf(args, sizeof(args), "pc%d n=%zu", pc, n);
	step(s, "peer.read_async", args, ret, err, sp, NULL);
	return ret;
}

long sc_peer_join(struct sc *s, int pc)
{
	struct sc_peer_result r;
	char args[16];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	memset(&r, 0, sizeof(r));
	CALL(s, s->be->peer_join(pc, &r), ret, err, sp);
	if (peer_unsupported(s, ret, err, "join"))
		return -1;
	snprintf(args, sizeof(args), "pc%d", pc);
	stream_note(s, pc, &r);
	step(s, "peer.join", args, r.ret, r.err, sp, r.note);
	return r.ret;
}

int sc_peer_send(struct sc *s, int pc, size_t n)
{
	char args[48];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_send(pc, n), ret, err, sp);
	if (peer_unsupported(s, ret, err, "send"))
		return -1;
	snprintf(args, sizeof(args), "pc%d n=%zu", pc, n);
	step(s, "peer.send", args, ret, err, sp, NULL);
	return ret;
}

int sc_peer_shutdown(struct sc *s, int pc, int how)
{
	static const char *const hows[] = { "SHUT_RD", "SHUT_WR", "SHUT_RDWR" };
	char args[48];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_shutdown(pc, how), ret, err, sp);
	if (peer_unsupported(s, ret, err, "shut down"))
		return -1;
	snprintf(args, sizeof(args), "pc%d %s", pc, how >= 0 && how <= 2 ? hows[how] : "?");
	step(s, "peer.shutdown", args, ret, err, sp, NULL);
	return ret;
}

int sc_peer_close(struct sc *s, int pc)
{
	char args[32];
	int ret, err, sp;

	if (s->stopped)
		return -1;
	CALL(s, s->be->peer_close(pc), ret, err, sp);
	if (peer_unsupported(s, ret, err, "close"))
		return -1;
	if (pc < 0)
		snprintf(args, sizeof(args), "listener");
	else
		snprintf(args, sizeof(args), "pc%d", pc);
	step(s, "peer.close", args, ret, err, sp, NULL);
	return ret;
}

void sc_settle(struct sc *s)
{
	if (!s->stopped)
		s->be->settle();
}

int sc_connected(struct sc *s, unsigned int peer_buf, int *pc)
{
	int fd = sc_socket(s);

	if (fd < 0) {
		sc_fail(s, "socket failed: %s", sc_errno_name(errno));
		return -1;
	}
	if (sc_peer_listen(s, peer_buf) < 0)
		return -1;
	if (sc_connect(s, fd, SC_ADDR_PEER) < 0) {
		sc_fail(s, "connect failed: %s", sc_errno_name(errno));
		return -1;
	}
	if (s->scn->proto == SC_VSOCK) {
		int p = sc_peer_accept(s);

		if (p < 0) {
			sc_fail(s, "peer accept failed");
			return -1;
		}
		if (pc)
			*pc = p;
	} else if (pc) {
		*pc = 0;
	}
	return fd;
}

/* --- one run ---------------------------------------------------------------------------------- */

int sc_run(const struct sc_scenario *scn, const struct sc_backend *be, unsigned int port_base,
	   int out_fd)
{
	struct sc *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->scn = scn;
	s->be = be;
	s->out_fd = out_fd;
	s->payload = malloc(SC_PAYLOAD_MAX);
	if (!s->payload) {
		free(s);
		return -1;
	}
	if (be->init(scn->proto, port_base) < 0) {
		char why[128];

		snprintf(why, sizeof(why), "%s: %s", be->name,
			 errno == ENOSYS && sc_backend_why ? sc_backend_why : strerror(errno));
		if (errno == ENOSYS)
			sc_skip(s, why);
		else
			sc_fail(s, "%s", why);
	} else {
		scn->run(s);
		be->fini();
	}
	if (!s->stopped)
		status(s, "ok", NULL);
	for (int i = 0; i < SC_MAX_STREAMS; i++)
		free(s->streams[i].buf);
	free(s->payload);
	free(s);
	return 0;
}
