/* conn: one client connection, from its first byte to its close: request heads,
 * decisions, relaying both ways with backpressure, answers of our own, tunnels. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <unistd.h>

#include "dns.h"
#include "policy.h"
#include "proxy_int.h"
#include "tlshello.h"

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, which
 * clash with <netinet/in.h>. */
#define SO_ORIGINAL_DST      80
#define IP6T_SO_ORIGINAL_DST 80

#define PEEK_S     0.25   /* a transparent client silent this long speaks a server-first protocol */
#define LINGER_S   2.0
#define TUNNEL_IDLE_S 3600.

static void exch_end(struct conn *);
static void conn_destroy(struct conn *);
static void exch_free(struct conn *);
static int state_caccept(struct conn *);
static int intercept(struct conn *, struct slice name, const char *host, uint16_t port);
static int state_uhandshake(struct conn *);
static void set_timer(struct conn *, double seconds);

/* --- small helpers --- */

static struct exch *
exch_get(struct conn *cn)
{
	struct proxy *px = cn->cn_px;

	if (cn->cn_ex != NULL)
		return cn->cn_ex;
	if (px->px_nspare > 0)
		cn->cn_ex = px->px_spare[--px->px_nspare];
	else if ((cn->cn_ex = malloc(sizeof(*cn->cn_ex))) == NULL)
		return NULL;
	memset(cn->cn_ex, 0, offsetof(struct exch, ex_req));
	return cn->cn_ex;
}

static void
watch(struct conn *cn, ev_io *w, int fd, int events, bool want)
{
	struct ev_loop *loop = cn->cn_px->px_loop;

	if (want && fd >= 0) {
		if (ev_is_active(w) && w->fd == fd)
			return;
		ev_io_stop(loop, w);
		ev_io_set(w, fd, events);
		ev_io_start(loop, w);
	} else if (ev_is_active(w)) {
		ev_io_stop(loop, w);
	}
}

static void
update_watchers(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;
	bool cr = false, cw = cn->cn_cout.b_len > 0, ur = false, uw = cn->cn_uout.b_len > 0;

	/* Watchers stay on where they can: each change costs an epoll_ctl. */
	switch (cn->cn_state) {
	case CS_HEAD:
	case CS_PEEK:
	case CS_DECIDE:
	case CS_RESOLVE:
		cr = !cn->cn_ceof && !buf_full(&cn->cn_c2u);
		ur = cn->cn_uidle;
		break;
	case CS_LOCAL:
		break;
	case CS_CONNECT:
		cr = !cn->cn_ceof && !buf_full(&cn->cn_c2u);
		uw = true;
		break;
	case CS_EXCHANGE:
		cr = !cn->cn_ceof && !buf_full(&cn->cn_c2u);
		uw = uw || ex->ex_req_ready > 0;
		ur = !ex->ex_resp_done && !cn->cn_ueof && !buf_full(&cn->cn_u2c);
		cw = cw || ex->ex_resp_ready > 0;
		break;
	case CS_TUNNEL:
		cr = !cn->cn_ceof && !buf_full(&cn->cn_c2u);
		uw = cn->cn_c2u.b_len > 0;
		ur = !cn->cn_ueof && !buf_full(&cn->cn_u2c);
		cw = cw || cn->cn_u2c.b_len > 0;
		break;
	case CS_LINGER:
		cr = true;
		break;
	case CS_CACCEPT:
	case CS_UHANDSHAKE:
		break;
	}
	/* TLS may need the other direction to make progress in this one. */
	cr = cr || cn->cn_c_want_r;
	cw = cw || cn->cn_c_want_w;
	ur = ur || cn->cn_u_want_r;
	uw = uw || cn->cn_u_want_w;
	watch(cn, &cn->cn_crio, cn->cn_cfd, EV_READ, cr);
	watch(cn, &cn->cn_cwio, cn->cn_cfd, EV_WRITE, cw);
	watch(cn, &cn->cn_urio, cn->cn_ufd, EV_READ, ur);
	watch(cn, &cn->cn_uwio, cn->cn_ufd, EV_WRITE, uw);
}

/* Reads what FD (through SSL once TLS is on it) has into B. Returns -1 on a hard
 * error; sets *EOF at the end of the stream, *WANTW when TLS must write to go on. */
static int
fill(int fd, SSL *ssl, struct buf *b, bool *eof, bool *wantw)
{
	*wantw = false;
	for (int i = 0; i < 8; i++) {
		size_t room;
		char *p = buf_space(b, 4096, &room);
		ssize_t n;

		if (p == NULL)
			return 0;
		if (ssl != NULL) {
			int r = SSL_read(ssl, p, room > INT_MAX ? INT_MAX : (int)room);
			if (r > 0) {
				buf_commit(b, (size_t)r);
				continue;
			}
			switch (SSL_get_error(ssl, r)) {
			case SSL_ERROR_WANT_READ:
				return 0;
			case SSL_ERROR_WANT_WRITE:
				*wantw = true;
				return 0;
			case SSL_ERROR_ZERO_RETURN:
				*eof = true;
				return 0;
			default:
				ERR_clear_error();
				*eof = true;
				return -1;
			}
		}
		n = read(fd, p, room);
		if (n > 0) {
			buf_commit(b, (size_t)n);
			if ((size_t)n < room)
				return 0;
			continue;
		}
		if (n == 0) {
			*eof = true;
			return 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		*eof = true;
		return -1;
	}
	return 0;
}

/* Writes OUT first, then the first N bytes of BODY; consumes what was written and
 * adds it to *COUNT. Returns -1 when the peer is gone; sets *WANTR when TLS must read
 * to go on. */
static int
flush(int fd, SSL *ssl, struct buf *out, struct buf *body, size_t *n, bool *wantr,
      uint64_t *count)
{
	*wantr = false;
	/* A head and a small body in one TLS record rather than two. */
	if (ssl != NULL && out->b_len > 0 && *n > 0 && *n <= 16384 &&
	    buf_append(out, body->b_data + body->b_off, *n) == 0) {
		buf_consume(body, *n);
		*n = 0;
	}
	while (out->b_len > 0 || *n > 0) {
		struct iovec iov[2];
		int k = 0;
		ssize_t w;
		size_t from_out;

		if (out->b_len > 0)
			iov[k++] = (struct iovec){ out->b_data + out->b_off, out->b_len };
		if (*n > 0)
			iov[k++] = (struct iovec){ body->b_data + body->b_off, *n };
		if (ssl != NULL) {
			size_t len = iov[0].iov_len > INT_MAX ? INT_MAX : iov[0].iov_len;
			int r = SSL_write(ssl, iov[0].iov_base, (int)len);
			if (r <= 0) {
				switch (SSL_get_error(ssl, r)) {
				case SSL_ERROR_WANT_WRITE:
					return 0;
				case SSL_ERROR_WANT_READ:
					*wantr = true;
					return 0;
				default:
					ERR_clear_error();
					return -1;
				}
			}
			w = r;
		} else {
			w = writev(fd, iov, k);
			if (w < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
		}
		*count += (uint64_t)w;
		from_out = (size_t)w < out->b_len ? (size_t)w : out->b_len;
		buf_consume(out, from_out);
		buf_consume(body, (size_t)w - from_out);
		*n -= (size_t)w - from_out;
	}
	if (out->b_len == 0)
		buf_release(out);
	return 0;
}

/* The two ends, each with its TLS state. */
static int
cfill(struct conn *cn)
{
	return fill(cn->cn_cfd, cn->cn_cssl, &cn->cn_c2u, &cn->cn_ceof, &cn->cn_c_want_w);
}

static int
ufill(struct conn *cn)
{
	return fill(cn->cn_ufd, cn->cn_ussl, &cn->cn_u2c, &cn->cn_ueof, &cn->cn_u_want_w);
}

static int
cflush(struct conn *cn, struct buf *body, size_t *n)
{
	return flush(cn->cn_cfd, cn->cn_cssl, &cn->cn_cout, body, n, &cn->cn_c_want_r,
	             &cn->cn_bytes_down);
}

static int
uflush(struct conn *cn, struct buf *body, size_t *n)
{
	return flush(cn->cn_ufd, cn->cn_ussl, &cn->cn_uout, body, n, &cn->cn_u_want_r,
	             &cn->cn_bytes_up);
}

/* Ends a direction: FIN on plain TCP, close_notify on TLS. */
static void
end_shut(int fd, SSL *ssl)
{
	if (ssl != NULL) {
		SSL_shutdown(ssl);
		ERR_clear_error();
	} else {
		shutdown(fd, SHUT_WR);
	}
}

static void
set_timer(struct conn *cn, double seconds)
{
	struct ev_loop *loop = cn->cn_px->px_loop;

	ev_timer_stop(loop, &cn->cn_timer);
	if (seconds > 0) {
		ev_timer_set(&cn->cn_timer, seconds, 0.);
		ev_timer_start(loop, &cn->cn_timer);
	}
}

static void
safe_copy(char *dst, size_t dstsz, const char *src)
{
	size_t i;

	for (i = 0; src[i] != '\0' && i + 1 < dstsz; i++)
		dst[i] = isprint((unsigned char)src[i]) ? src[i] : '?';
	dst[i] = '\0';
}

/* --- answers of our own --- */

/* Queues a whole response for the client; what happens after it is AFTER. */
static void
respond(struct conn *cn, int status, const char *phrase, const char *reason,
        const char *body, size_t bodylen, enum after_local after)
{
	char head[1024], hdrreason[512];
	int n;

	safe_copy(hdrreason, sizeof(hdrreason), reason);
	n = snprintf(head, sizeof(head),
	             "HTTP/1.1 %d %s\r\n"
	             "Content-Type: text/plain; charset=utf-8\r\n"
	             "Content-Length: %zu\r\n"
	             "X-Httpjail-Reason: %s\r\n"
	             "Connection: %s\r\n\r\n",
	             status, phrase, bodylen, hdrreason,
	             after == AFTER_NEXT ? "keep-alive" : "close");
	buf_append(&cn->cn_cout, head, (size_t)n);
	if (bodylen > 0 && buf_append(&cn->cn_cout, body, bodylen) < 0)
		after = AFTER_CLOSE;
	cn->cn_state = CS_LOCAL;
	cn->cn_after = after;
	if (cn->cn_ex != NULL)
		cn->cn_ex->ex_status = status;
}

/* A request we answer without forwarding: the connection survives only when no body
 * of it is left unread. */
static enum after_local
after_answer(const struct conn *cn)
{
	const struct exch *ex = cn->cn_ex;

	if (ex == NULL || ex->ex_client_close || ex->ex_connect ||
	    ex->ex_req_framing != HTTP_BODY_NONE)
		return AFTER_CLOSE;
	return AFTER_NEXT;
}

void
conn_fail(struct conn *cn, int status, enum end_reason why, const char *detail)
{
	struct exch *ex = cn->cn_ex;
	char body[1024];
	int n;

	if (ex != NULL) {
		ex->ex_failed = true;
		ex->ex_end = why;
	}
	if (cn->cn_ufd >= 0)
		upstream_release(cn, false);
	/* A tunnel or a response already under way has nothing to answer with. */
	if (ex == NULL || ex->ex_resp_head || cn->cn_state == CS_TUNNEL ||
	    (ex->ex_connect && cn->cn_tunnel_open) ||
	    (cn->cn_entrance == PROXY_TRANSPARENT && ex->ex_connect)) {
		conn_close(cn);
		return;
	}
	n = snprintf(body, sizeof(body), "httpjail: %s: %.*s %.*s\n%s\n",
	             end_reason_str(why), (int)ex->ex_rq.rq_method.len,
	             ex->ex_rq.rq_method.ptr, (int)ex->ex_rq.rq_url.len,
	             ex->ex_rq.rq_url.ptr, detail);
	respond(cn, status, status == 504 ? "Gateway Timeout" :
	        status == 400 ? "Bad Request" : status == 403 ? "Forbidden" : "Bad Gateway",
	        end_reason_str(why), body, (size_t)n, after_answer(cn));
	conn_run(cn);
}

static void
bad_request(struct conn *cn, const char *why)
{
	char body[512];
	int n = snprintf(body, sizeof(body), "httpjail: bad request: %s\n", why);

	if (cn->cn_ufd >= 0)
		upstream_release(cn, false);
	respond(cn, 400, "Bad Request", "bad request", body, (size_t)n, AFTER_CLOSE);
}

static void
respond_denied(struct conn *cn, const char *why)
{
	struct exch *ex = cn->cn_ex;
	const struct rule *r = ex->ex_dc.dc_rule;
	char body[8192], reason[512];
	size_t n;

	if (r != NULL && strcmp(why, "rule") == 0)
		snprintf(reason, sizeof(reason), "denied by rule %zu (%s)", rule_index(r) + 1,
		         rule_source(r));
	else if (r != NULL)
		snprintf(reason, sizeof(reason), "%s (rule %zu, %s)", why, rule_index(r) + 1,
		         rule_source(r));
	else
		snprintf(reason, sizeof(reason), "%s", why);
	n = (size_t)snprintf(body, sizeof(body),
	                     "httpjail: request denied: %.*s %.*s\n",
	                     (int)ex->ex_rq.rq_method.len, ex->ex_rq.rq_method.ptr,
	                     (int)ex->ex_rq.rq_url.len, ex->ex_rq.rq_url.ptr);
	if (r != NULL)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "rule %zu %s: %s\n",
		                      rule_index(r) + 1, rule_source(r), rule_text(r));
	else if (strcmp(why, "default deny") == 0)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "no rule allows it\n");
	n += (size_t)snprintf(body + n, sizeof(body) - n, "reason: %s\n", reason);
	if (ex->ex_hooked && ex->ex_hr.hr_outlen > 0 && n < sizeof(body)) {
		size_t k = ex->ex_hr.hr_outlen < sizeof(body) - n ? ex->ex_hr.hr_outlen
		                                                 : sizeof(body) - n;
		memcpy(body + n, ex->ex_hr.hr_out, k);
		n += k;
	}
	if (n > sizeof(body))
		n = sizeof(body);
	respond(cn, 403, "Forbidden", reason, body, n, after_answer(cn));
}

/* --- deciding --- */

static void
report(struct conn *cn, enum verdict v, bool enforced, const char *engine,
       const char *reason)
{
	struct proxy *px = cn->cn_px;
	struct exch *ex = cn->cn_ex;
	struct proxy_event pe = {
		.pe_rq = &ex->ex_rq,
		.pe_verdict = v,
		.pe_enforced = enforced,
		.pe_rule = ex->ex_dc.dc_rule,
		.pe_engine = engine,
		.pe_reason = reason,
		.pe_hook_exit = ex->ex_hooked ? ex->ex_hr.hr_exit : -1,
		.pe_decide_us = (uint64_t)((ev_time() - ex->ex_decide_start) * 1e6),
	};

	if (px->px_opts.po_on_decision != NULL)
		ex->ex_token = px->px_opts.po_on_decision(&pe, px->px_opts.po_arg);
	ex->ex_up0 = cn->cn_bytes_up;
	ex->ex_down0 = cn->cn_bytes_down;
}

static void
allowed(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;

	if (ex->ex_connect && cn->cn_entrance == PROXY_EXPLICIT) {
		/* The upstream first, so that a failure can still be a 502; what the tunnel
		 * carries is known only once the client speaks. */
		snprintf(cn->cn_tunnel_host, sizeof(cn->cn_tunnel_host), "%s", ex->ex_host);
		cn->cn_tunnel_port = ex->ex_port;
	}
	upstream_start(cn);
}

static void
decided(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;
	struct proxy *px = cn->cn_px;
	bool enforced = !px->px_opts.po_dry_run;
	char reason[256];

	if (strcmp(ex->ex_dc.dc_reason, "hook error") == 0)
		snprintf(reason, sizeof(reason), "hook error: %s", ex->ex_hr.hr_reason);
	else
		snprintf(reason, sizeof(reason), "%s", ex->ex_dc.dc_reason);
	report(cn, ex->ex_dc.dc_verdict, enforced, "policy", reason);
	/* TLS and other bytes decided by host alone have no HTTP to answer in. */
	if (ex->ex_dc.dc_verdict == VERDICT_DENY && enforced && ex->ex_connect &&
	    (cn->cn_entrance == PROXY_TRANSPARENT || cn->cn_tunnel_open)) {
		ex->ex_failed = true;
		ex->ex_end = END_DENIED;
		conn_close(cn);
		return;
	}
	if (ex->ex_dc.dc_verdict == VERDICT_DENY && enforced) {
		ex->ex_failed = true;
		ex->ex_end = END_DENIED;
		respond_denied(cn, strcmp(reason, "default") == 0 ? "default deny" : reason);
		return;
	}
	allowed(cn);
}

static void decide_continue(struct conn *, enum decide_status);

static void
on_hook(const struct hook_result *res, void *arg)
{
	struct conn *cn = arg;
	struct exch *ex = cn->cn_ex;
	enum decide_status st;

	conn_enter(cn);
	ex->ex_hook = NULL;
	ex->ex_hr = *res;
	ex->ex_hooked = true;
	st = policy_decide_hooked(ex->ex_pol->pr_policy, ex->ex_pol->pr_scratch, &ex->ex_rq,
	                          res->hr_status == HOOK_MATCH,
	                          res->hr_status == HOOK_ERROR, &ex->ex_dc);
	decide_continue(cn, st);
	conn_leave(cn);
}

static void
decide_continue(struct conn *cn, enum decide_status st)
{
	struct exch *ex = cn->cn_ex;
	struct proxy *px = cn->cn_px;

	while (st == DECIDE_HOOK) {
		ex->ex_hook = hook_start(px->px_hooks, rule_sh(ex->ex_dc.dc_rule), &ex->ex_rq,
		                         on_hook, cn, &ex->ex_hr);
		if (ex->ex_hook != NULL) {
			cn->cn_state = CS_DECIDE;
			return;
		}
		ex->ex_hooked = true;
		st = policy_decide_hooked(ex->ex_pol->pr_policy, ex->ex_pol->pr_scratch,
		                          &ex->ex_rq, ex->ex_hr.hr_status == HOOK_MATCH,
		                          ex->ex_hr.hr_status == HOOK_ERROR, &ex->ex_dc);
	}
	decided(cn);
}

/* Whether HOST:PORT names one of our own listening sockets. */
static bool
names_us(const struct proxy *px, const char *host, uint16_t port)
{
	struct sockaddr_storage ss;
	socklen_t len;

	/* Names are checked again once resolved, address by address. */
	if (addr_parse(host, port, &ss, &len) < 0)
		return false;
	return upstream_is_loop(px, (struct sockaddr *)&ss);
}

static void
decide_start(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;
	struct proxy *px = cn->cn_px;

	ex->ex_decide_start = ev_time();
	memset(&ex->ex_dc, 0, sizeof(ex->ex_dc));
	if (names_us(px, ex->ex_host, ex->ex_port)) {
		ex->ex_dc.dc_verdict = VERDICT_DENY;
		ex->ex_failed = true;
		ex->ex_end = END_LOOP;
		report(cn, VERDICT_DENY, true, "loop", "loop");
		respond_denied(cn, "loop");
		return;
	}
	if (px->px_opts.po_log_only) {
		report(cn, VERDICT_ALLOW, false, "log-only", "log-only");
		allowed(cn);
		return;
	}
	/* A decision of its own for each: the policy in force now. */
	if (ex->ex_pol != NULL)
		polref_put(ex->ex_pol);
	ex->ex_pol = px->px_pol;
	ex->ex_pol->pr_refs++;
	decide_continue(cn, policy_decide(ex->ex_pol->pr_policy, ex->ex_pol->pr_scratch,
	                                  &ex->ex_rq, 0, &ex->ex_dc));
}

/* --- requests --- */

static int
build_request(struct conn *cn, const char *method, const char *scheme, struct slice host,
              uint16_t port, struct slice path, struct slice query)
{
	struct exch *ex = cn->cn_ex;
	struct errbuf err;

	if (request_build(&ex->ex_rq, slice_cstr(method), slice_cstr(scheme), host, port,
	                  path, query, ex->ex_rqbuf, sizeof(ex->ex_rqbuf), &err) < 0) {
		bad_request(cn, err.msg);
		return -1;
	}
	ex->ex_rq.rq_requester = slice_cstr(cn->cn_peer_text);
	ex->ex_port = port;
	/* Once per request: plain copies, no printf. */
	{
		struct slice h = ex->ex_rq.rq_host;
		bool v6 = memchr(h.ptr, ':', h.len) != NULL;
		char *p = ex->ex_hostport, digits[6];
		size_t nd = 0;
		uint16_t v = port;

		if (h.len >= sizeof(ex->ex_host)) {
			bad_request(cn, "host name too long");
			return -1;
		}
		memcpy(ex->ex_host, h.ptr, h.len);
		ex->ex_host[h.len] = '\0';
		do {
			digits[nd++] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0);
		if (v6)
			*p++ = '[';
		memcpy(p, h.ptr, h.len);
		p += h.len;
		if (v6)
			*p++ = ']';
		*p++ = ':';
		while (nd > 0)
			*p++ = digits[--nd];
		*p = '\0';
	}
	return 0;
}

/* Splits a Host header value into host and port (DEFPORT when absent). */
static int
split_host(struct slice hv, struct slice *host, uint16_t *port, uint16_t defport)
{
	const char *p = hv.ptr, *end = hv.ptr + hv.len, *colon;
	unsigned long v = 0;

	*port = defport;
	if (hv.len > 0 && *p == '[') {
		const char *rb = memchr(p, ']', hv.len);
		if (rb == NULL)
			return -1;
		*host = (struct slice){ p + 1, (size_t)(rb - p - 1) };
		colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
		if (rb + 1 < end && colon == NULL)
			return -1;
	} else {
		colon = memchr(p, ':', hv.len);
		*host = (struct slice){ p, colon ? (size_t)(colon - p) : hv.len };
	}
	if (colon != NULL) {
		if (colon + 1 == end || end - colon > 6)
			return -1;
		for (const char *q = colon + 1; q < end; q++) {
			if (!isdigit((unsigned char)*q))
				return -1;
			v = v * 10 + (unsigned)(*q - '0');
		}
		if (v == 0 || v > 65535)
			return -1;
		*port = (uint16_t)v;
	}
	return host->len > 0 ? 0 : -1;
}

static void
misdirected(struct conn *cn, struct slice host)
{
	char body[600];
	int n = snprintf(body, sizeof(body), "httpjail: misdirected request: Host '%.*s' is "
	                 "not %s:%u, the name this TLS connection is for\n", (int)host.len,
	                 host.ptr, cn->cn_sni, (unsigned)cn->cn_tunnel_port);

	respond(cn, 421, "Misdirected Request", end_reason_str(END_MISDIRECTED), body,
	        (size_t)n, AFTER_CLOSE);
}

/* A complete request head is in the client buffer: work out where it goes and ask. */
static void
exch_start(struct conn *cn, size_t headlen)
{
	struct exch *ex = cn->cn_ex;
	struct http_req *rq = &ex->ex_req;
	char method[32], authority[300];
	const char *scheme = "http";
	struct slice host;
	uint16_t port = 80;
	ssize_t n;

	/* The head is in: a hook or a lookup keeps its own time from here. */
	set_timer(cn, 0);
	if (rq->hr_method.len >= sizeof(method)) {
		bad_request(cn, "method too long");
		return;
	}
	memcpy(method, rq->hr_method.ptr, rq->hr_method.len);
	method[rq->hr_method.len] = '\0';
	ex->ex_req_framing = rq->hr_framing;
	ex->ex_req_left = rq->hr_length;
	http_chunked_init(&ex->ex_req_chunk);
	ex->ex_client_close = !rq->hr_keep_alive;
	ex->ex_upgrade = rq->hr_upgrade;

	switch (rq->hr_form) {
	case HTTP_TARGET_AUTHORITY:
		if (cn->cn_entrance != PROXY_EXPLICIT || cn->cn_tunnel_port != 0) {
			bad_request(cn, "CONNECT is only for the proxy port");
			return;
		}
		ex->ex_connect = true;
		scheme = "https";
		host = rq->hr_host;
		port = rq->hr_port;
		if (build_request(cn, method, scheme, host, port, SLICE_LIT("/"),
		                  SLICE_LIT("")) < 0)
			return;
		buf_consume(&cn->cn_c2u, headlen);
		/* A passthrough host is never decrypted: its CONNECT is decided now, so a
		 * denial can still be a 403. */
		if (cn->cn_px->px_opts.po_intercept &&
		    !policy_tls_passthrough(cn->cn_px->px_pol->pr_policy, ex->ex_rq.rq_host)) {
			/* No decision of its own: every request inside is decided instead. */
			static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
			snprintf(cn->cn_tunnel_host, sizeof(cn->cn_tunnel_host), "%s", ex->ex_host);
			cn->cn_tunnel_port = ex->ex_port;
			cn->cn_tunnel_open = true;
			buf_append(&cn->cn_cout, ok, sizeof(ok) - 1);
			cn->cn_state = CS_LOCAL;
			cn->cn_after = AFTER_PEEK;
			return;
		}
		cn->cn_tunnel_decided = true;
		decide_start(cn);
		return;
	case HTTP_TARGET_ABSOLUTE:
		if (cn->cn_tunnel_port != 0 || cn->cn_entrance != PROXY_EXPLICIT) {
			bad_request(cn, "absolute-form target where an origin-form one belongs");
			return;
		}
		if (rq->hr_scheme.len != 4 && !(rq->hr_scheme.len == 2 &&
		    strncasecmp(rq->hr_scheme.ptr, "ws", 2) == 0)) {
			bad_request(cn, "an https:// target needs CONNECT");
			return;
		}
		scheme = rq->hr_scheme.len == 2 ? "ws" : "http";
		host = rq->hr_host;
		port = rq->hr_port ? rq->hr_port : 80;
		break;
	case HTTP_TARGET_ORIGIN:
		if (cn->cn_tunnel_port != 0) {
			/* Inside a CONNECT tunnel or intercepted TLS: the place is the tunnel's. */
			host = slice_cstr(cn->cn_tunnel_host);
			port = cn->cn_tunnel_port;
			if (cn->cn_https) {
				struct slice hh;
				uint16_t hp;
				scheme = "https";
				/* A Host that is not the name the TLS was for must not ride it. */
				if (split_host(rq->hr_host_header, &hh, &hp, port) < 0 || hp != port ||
				    !slice_caseeq(hh, slice_cstr(cn->cn_sni)) ||
				    !slice_caseeq(hh, host)) {
					misdirected(cn, rq->hr_host_header);
					return;
				}
			}
		} else {
			uint16_t defport = 80;
			if (cn->cn_has_dst)
				defport = ntohs(((struct sockaddr_in *)&cn->cn_dst)->sin_port);
			if (rq->hr_host_header.len == 0 ||
			    split_host(rq->hr_host_header, &host, &port, defport) < 0) {
				bad_request(cn, "origin-form request without a usable Host");
				return;
			}
		}
		break;
	default:
		bad_request(cn, "asterisk-form requests are not forwarded");
		return;
	}
	if (build_request(cn, method, scheme, host, port, rq->hr_path, rq->hr_query) < 0)
		return;
	/* The Host sent upstream: host[:port], the port left out when it is the default. */
	memcpy(authority, ex->ex_hostport, strlen(ex->ex_hostport) + 1);
	if (port == request_default_port(slice_cstr(scheme)))
		*strrchr(authority, ':') = '\0';
	{
		size_t room;
		/* Most heads fit the first block; the rare large one gets the maximum. */
		char *out = buf_space(&cn->cn_uout, headlen + 512, &room);
		n = out ? http_write_request_head(rq, slice_cstr(authority), ex->ex_upgrade,
		                                  out, room) : -1;
		if (n < 0 && (out = buf_space(&cn->cn_uout, HTTP_MAX_HEAD, &room)) != NULL)
			n = http_write_request_head(rq, slice_cstr(authority), ex->ex_upgrade,
			                            out, room);
		if (n < 0) {
			bad_request(cn, "request head too large to forward");
			return;
		}
		buf_commit(&cn->cn_uout, (size_t)n);
	}
	buf_consume(&cn->cn_c2u, headlen);
	if (ex->ex_req_framing == HTTP_BODY_NONE)
		ex->ex_req_done = true;
	decide_start(cn);
}

static int
state_head(struct conn *cn)
{
	struct slice d = buf_data(&cn->cn_c2u);
	struct exch *ex;
	const char *why = NULL;
	ssize_t n;

	if (d.len == 0) {
		if (cn->cn_ceof) {
			conn_close(cn);
			return -1;
		}
		return 0;
	}
	/* The whole head must come within the head timeout of its first byte: a client
	 * dribbling bytes (slowloris) does not push the deadline. */
	if (cn->cn_ex == NULL)
		set_timer(cn, cn->cn_px->px_opts.po_head_ms / 1e3);
	if ((ex = exch_get(cn)) == NULL) {
		conn_close(cn);
		return -1;
	}
	n = http_parse_request(d.ptr, d.len, &ex->ex_req, &why);
	if (n == 0) {
		if (cn->cn_ceof) {
			conn_close(cn);
			return -1;
		}
		return 0;
	}
	if (n < 0) {
		bad_request(cn, why);
		return 1;
	}
	exch_start(cn, (size_t)n);
	return 1;
}

/* --- transparent connections and tunnels: what is this? --- */

static bool
looks_http(struct slice d)
{
	size_t i;

	for (i = 0; i < d.len && i < 16; i++) {
		unsigned char c = (unsigned char)d.ptr[i];
		if (c == ' ')
			return i > 0;
		if (!isupper(c) && c != '-' && c != '_')
			return false;
	}
	return false;
}

static bool
could_be_http(struct slice d)
{
	for (size_t i = 0; i < d.len && i < 16; i++)
		if (!isupper((unsigned char)d.ptr[i]) && d.ptr[i] != '-' && d.ptr[i] != '_')
			return false;
	return d.len < 16;
}

/* A fresh exchange for a connection known only by host and port. */
static int
tunnel_exchange(struct conn *cn, const char *scheme, struct slice host, uint16_t port)
{
	struct exch *ex;

	exch_free(cn);
	if ((ex = exch_get(cn)) == NULL) {
		conn_close(cn);
		return -1;
	}
	ex->ex_connect = true;
	ex->ex_req_done = true;
	if (cn->cn_carry_token != 0) {
		ex->ex_token = cn->cn_carry_token;
		ex->ex_up0 = cn->cn_carry_up0;
		ex->ex_down0 = cn->cn_carry_down0;
		ex->ex_status = 200;
		cn->cn_carry_token = 0;
	}
	return build_request(cn, "CONNECT", scheme, host, port,
	                     strcmp(scheme, "tcp") ? SLICE_LIT("/") : SLICE_LIT(""),
	                     SLICE_LIT(""));
}

/* Decides a connection by host and port alone: TLS by its server name, other bytes
 * as tcp://HOST:PORT. */
static void
peek_decide(struct conn *cn, const char *scheme, struct slice host, uint16_t port)
{
	if (tunnel_exchange(cn, scheme, host, port) == 0)
		decide_start(cn);
}

static int
state_peek(struct conn *cn, bool timed_out)
{
	struct slice d = buf_data(&cn->cn_c2u);
	char dst[256] = "";
	uint16_t dport = 0;

	if (cn->cn_has_dst) {
		/* The address as a host: no brackets, no port. */
		if (cn->cn_dst.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&cn->cn_dst)->sin6_addr, dst,
			          sizeof(dst));
		else
			inet_ntop(AF_INET, &((struct sockaddr_in *)&cn->cn_dst)->sin_addr, dst,
			          sizeof(dst));
		dport = ntohs(((struct sockaddr_in *)&cn->cn_dst)->sin_port);
		/* In the jail, destinations are the stub's synthetic addresses: their names. */
		if (cn->cn_px->px_opts.po_dns != NULL) {
			const char *name = dns_name_of(cn->cn_px->px_opts.po_dns,
			                               (struct sockaddr *)&cn->cn_dst);
			if (name != NULL)
				snprintf(dst, sizeof(dst), "%s", name);
		}
	}
	if (d.len > 0 && looks_http(d)) {
		cn->cn_state = CS_HEAD;
		return 1;
	}
	if (d.len > 0 && (unsigned char)d.ptr[0] == 0x16 &&
	    !(cn->cn_tunnel_port != 0 && cn->cn_tunnel_decided)) {
		struct slice sni, name;
		const char *why;
		const char *host = cn->cn_tunnel_port ? cn->cn_tunnel_host : NULL;
		uint16_t port = cn->cn_tunnel_port ? cn->cn_tunnel_port : dport ? dport : 443;

		switch (tlshello_parse((const uint8_t *)d.ptr, d.len, &sni, &why)) {
		case TLSHELLO_MORE:
			if (!cn->cn_ceof && !buf_full(&cn->cn_c2u))
				return 0;
			/* FALLTHROUGH */
		case TLSHELLO_BAD:
			conn_close(cn);
			return -1;
		case TLSHELLO_DONE:
			break;
		}
		if (sni.len == 0 && host == NULL && !cn->cn_has_dst) {
			conn_close(cn);
			return -1;
		}
		name = sni.len ? sni : host ? slice_cstr(host) : slice_cstr(dst);
		if (cn->cn_px->px_opts.po_intercept &&
		    !policy_tls_passthrough(cn->cn_px->px_pol->pr_policy, name) &&
		    (host == NULL || !policy_tls_passthrough(cn->cn_px->px_pol->pr_policy,
		                                             slice_cstr(host)))) {
			char hostbuf[256];
			snprintf(hostbuf, sizeof(hostbuf), "%.*s", (int)name.len, name.ptr);
			return intercept(cn, name, host ? host : hostbuf, port);
		}
		/* Not decrypted: decided on the host, as CONNECT, then relayed blind. */
		peek_decide(cn, "https", host ? slice_cstr(host) : name, port);
		return 1;
	}
	if (cn->cn_tunnel_port != 0) {
		/* Neither HTTP nor TLS to decrypt inside CONNECT: relay it blind, after a
		 * decision of its own unless CONNECT had one. An upstream that speaks first
		 * settles what it is too. */
		bool upstream_spoke = cn->cn_u2c.b_len > 0 || cn->cn_ueof;
		if (d.len == 0 && !timed_out && !cn->cn_ceof && !upstream_spoke)
			return 0;
		if (d.len > 0 && could_be_http(d) && !timed_out && !cn->cn_ceof &&
		    !upstream_spoke)
			return 0;
		if (!cn->cn_tunnel_decided) {
			peek_decide(cn, "tcp", slice_cstr(cn->cn_tunnel_host), cn->cn_tunnel_port);
			return 1;
		}
		if (tunnel_exchange(cn, "https", slice_cstr(cn->cn_tunnel_host),
		                    cn->cn_tunnel_port) < 0)
			return -1;
		upstream_start(cn);
		return 1;
	}
	if (d.len > 0 && could_be_http(d) && !timed_out && !cn->cn_ceof)
		return 0;
	if (d.len == 0 && !timed_out && !cn->cn_ceof)
		return 0;
	if (!cn->cn_has_dst) {
		conn_close(cn);
		return -1;
	}
	peek_decide(cn, "tcp", slice_cstr(dst), dport);
	return 1;
}

/* --- TLS --- */

/* Returns 1 when done, 0 to wait (watchers set from the wants), -1 on failure. */
static int
handshake(SSL *ssl, bool *want_r, bool *want_w)
{
	int r = SSL_do_handshake(ssl);

	*want_r = *want_w = false;
	if (r == 1)
		return 1;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		*want_r = true;
		return 0;
	case SSL_ERROR_WANT_WRITE:
		*want_w = true;
		return 0;
	default:
		return -1;
	}
}

/*
 * Terminates the client's TLS with a leaf for NAME; requests inside go to HOST:PORT.
 * The ClientHello was read already: OpenSSL gets it from memory, then the socket.
 */
static int
intercept(struct conn *cn, struct slice name, const char *host, uint16_t port)
{
	struct slice d = buf_data(&cn->cn_c2u);
	struct errbuf err;
	BIO *mem;

	snprintf(cn->cn_sni, sizeof(cn->cn_sni), "%.*s", (int)name.len, name.ptr);
	cn->cn_cssl = tls_server_ssl(cn->cn_px->px_tls, cn->cn_cfd, slice_cstr(cn->cn_sni),
	                             &err);
	if (cn->cn_cssl == NULL || (mem = BIO_new(BIO_s_mem())) == NULL) {
		conn_close(cn);
		return -1;
	}
	BIO_write(mem, d.ptr, (int)d.len);
	BIO_set_mem_eof_return(mem, -1);
	SSL_set0_rbio(cn->cn_cssl, mem);
	buf_consume(&cn->cn_c2u, d.len);
	if (host != cn->cn_tunnel_host)
		snprintf(cn->cn_tunnel_host, sizeof(cn->cn_tunnel_host), "%s", host);
	cn->cn_tunnel_port = port;
	cn->cn_state = CS_CACCEPT;
	set_timer(cn, cn->cn_px->px_opts.po_head_ms / 1e3);
	return 1;
}

static int
state_caccept(struct conn *cn)
{
	int rc = handshake(cn->cn_cssl, &cn->cn_c_want_r, &cn->cn_c_want_w);
	BIO *rbio = SSL_get_rbio(cn->cn_cssl);

	/* The buffered ClientHello is used up: the rest comes from the socket. */
	if (rc == 0 && cn->cn_c_want_r && BIO_method_type(rbio) == BIO_TYPE_MEM &&
	    BIO_ctrl_pending(rbio) == 0) {
		BIO *sock = BIO_new_socket(cn->cn_cfd, BIO_NOCLOSE);
		if (sock == NULL) {
			conn_close(cn);
			return -1;
		}
		SSL_set0_rbio(cn->cn_cssl, sock);
		return 1;
	}
	if (rc < 0) {
		/* The command did not take our certificate, or spoke no TLS. */
		ERR_clear_error();
		conn_close(cn);
		return -1;
	}
	if (rc == 0)
		return 0;
	cn->cn_https = true;
	cn->cn_state = CS_HEAD;
	set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	return 1;
}

static int
state_uhandshake(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;
	char why[256], detail[700];
	int rc = handshake(cn->cn_ussl, &cn->cn_u_want_r, &cn->cn_u_want_w);

	if (rc == 0)
		return 0;
	if (rc < 0) {
		tls_client_error(cn->cn_ussl, why, sizeof(why));
		snprintf(detail, sizeof(detail), "TLS with %.300s failed: %.200s", ex->ex_hostport, why);
		conn_fail(cn, 502, END_UPSTREAM_TLS, detail);
		return -1;
	}
	tls_client_keep(cn->cn_px->px_tls, cn->cn_ussl, ex->ex_host);
	cn->cn_state = CS_EXCHANGE;
	set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	return 1;
}

/* --- relaying --- */

/* Marks how much of B's front belongs to the body being relayed. Returns -1 on bad
 * chunked framing. */
static int
scan_body(struct buf *b, enum http_framing framing, uint64_t *left,
          struct http_chunked *ck, size_t *ready, bool *done, bool eof)
{
	size_t have = b->b_len - *ready;
	const char *why;

	if (*done || have == 0) {
		if (framing == HTTP_BODY_CLOSE && eof)
			*done = true;
		return 0;
	}
	switch (framing) {
	case HTTP_BODY_NONE:
		*done = true;
		break;
	case HTTP_BODY_LENGTH: {
		uint64_t n = have < *left ? have : *left;
		*ready += (size_t)n;
		*left -= n;
		*done = *left == 0;
		break;
	}
	case HTTP_BODY_CHUNKED: {
		ssize_t n = http_chunked_feed(ck, b->b_data + b->b_off + *ready, have, done, &why);
		if (n < 0)
			return -1;
		*ready += (size_t)n;
		break;
	}
	case HTTP_BODY_CLOSE:
		*ready += have;
		*done = eof;
		break;
	}
	return 0;
}

static int
response_head(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;
	struct slice d = buf_data(&cn->cn_u2c);
	const char *why = NULL;
	struct http_resp *rs = &ex->ex_resp;
	size_t room;
	char *out;
	ssize_t n, w;
	bool close;

	n = d.len ? http_parse_response(d.ptr, d.len, ex->ex_rq.rq_method, rs, &why) : 0;
	if (n == 0) {
		if (buf_full(&cn->cn_u2c))
			why = "response head too large";
		else if (cn->cn_ueof)
			why = NULL;
		else
			return 0;
	}
	if (n <= 0) {
		/* A reused connection the server had already closed: try a fresh one. */
		if (why == NULL && ex->ex_reused && !ex->ex_retried && d.len == 0 &&
		    ex->ex_head_copy != NULL &&
		    buf_append(&cn->cn_uout, ex->ex_head_copy, ex->ex_head_len) == 0) {
			ex->ex_retried = true;
			upstream_release(cn, false);
			ex->ex_reused = false;
			cn->cn_state = CS_RESOLVE;
			upstream_start(cn);
			return 1;
		}
		conn_fail(cn, 502, why ? END_UPSTREAM_BAD : END_UPSTREAM_CLOSED,
		          why ? why : "the upstream closed the connection before answering");
		return -1;
	}
	ex->ex_resp_started = true;
	if (rs->hs_status == 101 && !ex->ex_upgrade) {
		conn_fail(cn, 502, END_UPSTREAM_BAD, "101 Switching Protocols without an Upgrade request");
		return -1;
	}
	close = ex->ex_client_close || rs->hs_framing == HTTP_BODY_CLOSE;
	out = buf_space(&cn->cn_cout, (size_t)n + 64, &room);
	w = out ? http_write_response_head(rs, close && rs->hs_status >= 200, out, room) : -1;
	if (w < 0) {
		conn_fail(cn, 502, END_UPSTREAM_BAD, "response head too large");
		return -1;
	}
	buf_commit(&cn->cn_cout, (size_t)w);
	buf_consume(&cn->cn_u2c, (size_t)n);
	ex->ex_status = rs->hs_status;
	if (rs->hs_status == 101) {
		ex->ex_resp_head = ex->ex_resp_done = true;
		cn->cn_state = CS_TUNNEL;
		set_timer(cn, TUNNEL_IDLE_S);
		return 1;
	}
	if (rs->hs_status < 200)
		return 1;   /* 100 Continue and friends: forwarded, the real answer follows */
	ex->ex_resp_head = true;
	ex->ex_client_close = close;
	ex->ex_resp_framing = rs->hs_framing;
	ex->ex_resp_left = rs->hs_length;
	http_chunked_init(&ex->ex_resp_chunk);
	if (rs->hs_framing == HTTP_BODY_NONE ||
	    (rs->hs_framing == HTTP_BODY_LENGTH && rs->hs_length == 0))
		ex->ex_resp_done = true;
	set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	return 1;
}

static int
state_exchange(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;

	if (!ex->ex_req_done &&
	    scan_body(&cn->cn_c2u, ex->ex_req_framing, &ex->ex_req_left, &ex->ex_req_chunk,
	              &ex->ex_req_ready, &ex->ex_req_done, cn->cn_ceof) < 0) {
		conn_close(cn);
		return -1;
	}
	if (!ex->ex_req_done && cn->cn_ceof && ex->ex_req_ready == 0) {
		conn_close(cn);
		return -1;
	}
	if (uflush(cn, &cn->cn_c2u, &ex->ex_req_ready) < 0) {
		if (!ex->ex_resp_started) {
			conn_fail(cn, 502, END_UPSTREAM_CLOSED, "the upstream closed the connection");
			return -1;
		}
		ex->ex_req_done = true;
	}
	/* The upstream's time to answer counts from the end of the request. */
	if (ex->ex_req_done && ex->ex_req_ready == 0 && cn->cn_uout.b_len == 0 &&
	    !ex->ex_resp_head && !ex->ex_waiting) {
		ex->ex_waiting = true;
		set_timer(cn, cn->cn_px->px_opts.po_response_ms / 1e3);
	}
	if (!ex->ex_resp_head) {
		int rc = response_head(cn);
		if (rc != 0 || cn->cn_state != CS_EXCHANGE)
			return rc;
	}
	if (scan_body(&cn->cn_u2c, ex->ex_resp_framing, &ex->ex_resp_left, &ex->ex_resp_chunk,
	              &ex->ex_resp_ready, &ex->ex_resp_done, cn->cn_ueof) < 0 ||
	    cflush(cn, &cn->cn_u2c, &ex->ex_resp_ready) < 0) {
		conn_close(cn);
		return -1;
	}
	if (!ex->ex_resp_done) {
		if (cn->cn_ueof && ex->ex_resp_ready == 0) {
			conn_close(cn);   /* cut short: the client sees the connection end */
			return -1;
		}
		return 0;
	}
	if (cn->cn_cout.b_len > 0 || ex->ex_resp_ready > 0)
		return 0;
	/* The answer is out. */
	if (!ex->ex_req_done) {
		conn_close(cn);
		return -1;
	}
	if (ex->ex_resp.hs_keep_alive && ex->ex_resp_framing != HTTP_BODY_CLOSE &&
	    cn->cn_u2c.b_len == 0 && !cn->cn_ueof) {
		/* Kept on this connection: its next request most likely goes there too. */
		cn->cn_uidle = true;
		memcpy(cn->cn_ukey, ex->ex_key, strlen(ex->ex_key) + 1);
		buf_release(&cn->cn_u2c);
	} else {
		upstream_release(cn, false);
	}
	if (ex->ex_client_close) {
		conn_close(cn);
		return -1;
	}
	exch_end(cn);
	return 1;
}

static int
state_tunnel(struct conn *cn)
{
	size_t n = cn->cn_c2u.b_len;

	if (uflush(cn, &cn->cn_c2u, &n) < 0) {
		conn_close(cn);
		return -1;
	}
	n = cn->cn_u2c.b_len;
	if (cflush(cn, &cn->cn_u2c, &n) < 0) {
		conn_close(cn);
		return -1;
	}
	/* Half-close passes through: each side learns the other is done sending. */
	if (cn->cn_ceof && cn->cn_c2u.b_len == 0 && !cn->cn_ushut) {
		end_shut(cn->cn_ufd, cn->cn_ussl);
		cn->cn_ushut = true;
	}
	if (cn->cn_ueof && cn->cn_u2c.b_len == 0 && cn->cn_cout.b_len == 0 && !cn->cn_cshut) {
		end_shut(cn->cn_cfd, cn->cn_cssl);
		cn->cn_cshut = true;
	}
	if (cn->cn_cshut && cn->cn_ushut) {
		conn_close(cn);
		return -1;
	}
	return 0;
}

static int
state_local(struct conn *cn)
{
	size_t none = 0;

	if (cflush(cn, &cn->cn_c2u, &none) < 0) {
		conn_close(cn);
		return -1;
	}
	if (cn->cn_cout.b_len > 0)
		return 0;
	switch (cn->cn_after) {
	case AFTER_NEXT:
		exch_end(cn);
		return 1;
	case AFTER_PEEK:
		if (cn->cn_ex != NULL && cn->cn_ex->ex_token != 0) {
			cn->cn_carry_token = cn->cn_ex->ex_token;
			cn->cn_carry_up0 = cn->cn_ex->ex_up0;
			cn->cn_carry_down0 = cn->cn_ex->ex_down0;
			cn->cn_ex->ex_token = 0;
		}
		exch_free(cn);
		cn->cn_state = CS_PEEK;
		set_timer(cn, PEEK_S);
		return 1;
	case AFTER_TUNNEL:
		cn->cn_state = CS_TUNNEL;
		return 1;
	case AFTER_CLOSE:
		break;
	}
	/* Closing at once could turn unread request bytes into a reset that destroys
	 * the answer in flight: send FIN, then drain for a moment. */
	end_shut(cn->cn_cfd, cn->cn_cssl);
	cn->cn_cshut = true;
	if (cn->cn_ufd >= 0)
		upstream_release(cn, false);
	cn->cn_state = CS_LINGER;
	set_timer(cn, LINGER_S);
	return 0;
}

/* Runs the states until nothing moves. Never frees CN: a close inside only marks it. */
static void
machine(struct conn *cn)
{
	for (int guard = 0; guard < 64 && !cn->cn_dead; guard++) {
		int rc;

		cn->cn_again = false;
		/* Bytes OpenSSL decrypted already raise no event on the socket. */
		if (cn->cn_cssl != NULL && cn->cn_state != CS_CACCEPT &&
		    SSL_pending(cn->cn_cssl) > 0 && !buf_full(&cn->cn_c2u) && cfill(cn) < 0)
			conn_close(cn);
		if (cn->cn_ussl != NULL && cn->cn_state != CS_UHANDSHAKE && !cn->cn_uidle &&
		    SSL_pending(cn->cn_ussl) > 0 && !buf_full(&cn->cn_u2c) && ufill(cn) < 0)
			conn_close(cn);
		if (cn->cn_dead)
			break;
		switch (cn->cn_state) {
		case CS_CACCEPT:
			rc = state_caccept(cn);
			break;
		case CS_UHANDSHAKE:
			rc = state_uhandshake(cn);
			break;
		case CS_HEAD:
			rc = state_head(cn);
			break;
		case CS_PEEK:
			rc = state_peek(cn, false);
			break;
		case CS_EXCHANGE:
			rc = state_exchange(cn);
			break;
		case CS_TUNNEL:
			rc = state_tunnel(cn);
			break;
		case CS_LOCAL:
			rc = state_local(cn);
			break;
		case CS_LINGER:
			cn->cn_c2u.b_len = 0;
			buf_release(&cn->cn_c2u);
			if (cn->cn_ceof)
				conn_close(cn);
			rc = 0;
			break;
		default:
			rc = 0;
			break;
		}
		if (rc <= 0 && !cn->cn_again)
			break;
	}
}

/*
 * Every entry from the event loop is bracketed by conn_enter() and conn_leave(): a
 * close deep inside (a failed write under a decision under a read) then only marks
 * the connection, and its memory stays valid until the outermost frame is done.
 */
void
conn_enter(struct conn *cn)
{
	cn->cn_running++;
}

void
conn_leave(struct conn *cn)
{
	if (--cn->cn_running > 0)
		return;
	if (!cn->cn_dead) {
		cn->cn_running++;
		machine(cn);
		cn->cn_running--;
	}
	if (cn->cn_dead)
		conn_destroy(cn);
	else
		update_watchers(cn);
}

void
conn_run(struct conn *cn)
{
	if (cn->cn_running > 0) {
		cn->cn_again = true;
		return;
	}
	conn_enter(cn);
	conn_leave(cn);
}

/* Tells whoever took the decision's token how the exchange ended. */
static void
exch_report_end(struct conn *cn, struct exch *ex)
{
	struct proxy *px = cn->cn_px;
	struct proxy_end pn = {
		.pn_token = ex->ex_token,
		.pn_status = ex->ex_status,
		.pn_bytes_up = cn->cn_bytes_up - ex->ex_up0,
		.pn_bytes_down = cn->cn_bytes_down - ex->ex_down0,
		.pn_end = ex->ex_end,
	};

	/* Ended without a failure of its own: complete, or cut short by one side. */
	if (!ex->ex_failed)
		pn.pn_end = ex->ex_resp_done || cn->cn_state == CS_TUNNEL ? END_OK :
		            cn->cn_ueof ? END_UPSTREAM_CLOSED : END_CLIENT_CLOSED;
	px->px_opts.po_on_end(&pn, px->px_opts.po_arg);
}

static void
exch_free(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;

	if (ex == NULL)
		return;
	if (ex->ex_token != 0 && cn->cn_px->px_opts.po_on_end != NULL)
		exch_report_end(cn, ex);
	if (ex->ex_hook != NULL)
		hook_cancel(ex->ex_hook);
	if (ex->ex_resolve != NULL)
		resolve_cancel(ex->ex_resolve);
	if (ex->ex_pol != NULL)
		polref_put(ex->ex_pol);
	free(ex->ex_head_copy);
	if (cn->cn_px->px_nspare < sizeof(cn->cn_px->px_spare) / sizeof(ex)) {
		cn->cn_px->px_spare[cn->cn_px->px_nspare++] = ex;
	} else {
		free(ex);
		proxy_trim_later(cn->cn_px);
	}
	cn->cn_ex = NULL;
}

/* The exchange is over and the connection stays: wait for the next request. */
static void
exch_end(struct conn *cn)
{
	exch_free(cn);
	cn->cn_state = CS_HEAD;
	if (cn->cn_c2u.b_len == 0)
		buf_release(&cn->cn_c2u);
	buf_release(&cn->cn_u2c);
	set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	proxy_check_drained(cn->cn_px);
}

/* --- events --- */

static void
on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;

	(void)loop;
	(void)revents;
	conn_enter(cn);
	if (cn->cn_state == CS_CACCEPT)
		;   /* the handshake reads for itself */
	else if (cfill(cn) < 0 && cn->cn_state != CS_LINGER)
		conn_close(cn);
	else if (cn->cn_state == CS_TUNNEL)
		set_timer(cn, TUNNEL_IDLE_S);
	else if (cn->cn_state == CS_EXCHANGE && !cn->cn_ex->ex_waiting)
		set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	conn_leave(cn);
}

static void
on_upstream_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;

	(void)loop;
	(void)revents;
	conn_enter(cn);
	if (cn->cn_uidle && !(cn->cn_state == CS_PEEK && cn->cn_tunnel_port != 0)) {
		/* An idle upstream that speaks has closed or is broken: forget it. */
		upstream_release(cn, false);
	} else if (cn->cn_state == CS_UHANDSHAKE) {
		;   /* the handshake reads for itself */
	} else if (ufill(cn) < 0 && cn->cn_u2c.b_len == 0 && cn->cn_state == CS_TUNNEL)
		conn_close(cn);
	else if (cn->cn_state == CS_TUNNEL)
		set_timer(cn, TUNNEL_IDLE_S);
	else if (cn->cn_state == CS_EXCHANGE && cn->cn_ex->ex_resp_head)
		set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	conn_leave(cn);
}

static void
on_write(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *cn = w->data;

	(void)loop;
	(void)revents;
	conn_enter(cn);
	if (cn->cn_state == CS_CONNECT && w == &cn->cn_uwio) {
		int err = 0;
		socklen_t len = sizeof(err);
		getsockopt(cn->cn_ufd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			snprintf(cn->cn_ex->ex_why, sizeof(cn->cn_ex->ex_why), "%s", strerror(err));
			upstream_connect_next(cn);
		} else {
			conn_upstream_ready(cn);
		}
	} else if (cn->cn_state == CS_EXCHANGE && cn->cn_ex->ex_resp_head) {
		/* A slow reader of a long body: each write that moves resets the clock. */
		set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	} else if (cn->cn_state == CS_TUNNEL) {
		set_timer(cn, TUNNEL_IDLE_S);
	}
	conn_leave(cn);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *cn = w->data;
	struct exch *ex = cn->cn_ex;

	(void)loop;
	(void)revents;
	conn_enter(cn);
	if (cn->cn_state == CS_PEEK) {
		state_peek(cn, true);
	} else if (cn->cn_state == CS_CONNECT) {
		snprintf(ex->ex_why, sizeof(ex->ex_why), "connection timed out");
		upstream_connect_next(cn);
	} else if (cn->cn_state == CS_UHANDSHAKE) {
		conn_fail(cn, 504, END_UPSTREAM_TIMEOUT, "the upstream's TLS handshake timed out");
	} else if (cn->cn_state == CS_EXCHANGE && !ex->ex_resp_head && ex->ex_waiting) {
		conn_fail(cn, 504, END_UPSTREAM_TIMEOUT, "no response from the upstream in time");
	} else {
		conn_close(cn);
	}
	conn_leave(cn);
}

void
conn_upstream_ready(struct conn *cn)
{
	struct exch *ex = cn->cn_ex;

	/* A kept connection may have been closed by the server in the meantime; a
	 * request without a body can then be sent again on a fresh one. */
	if (ex->ex_reused && !ex->ex_retried && ex->ex_req_framing == HTTP_BODY_NONE &&
	    ex->ex_head_copy == NULL && cn->cn_uout.b_len > 0) {
		struct slice h = buf_data(&cn->cn_uout);
		if ((ex->ex_head_copy = malloc(h.len)) != NULL) {
			memcpy(ex->ex_head_copy, h.ptr, h.len);
			ex->ex_head_len = h.len;
		}
	}

	if (ex->ex_tls_up && cn->cn_ussl == NULL) {
		struct errbuf err;
		char detail[1200];
		cn->cn_ussl = tls_client_ssl(cn->cn_px->px_tls, cn->cn_ufd, ex->ex_host, &err);
		if (cn->cn_ussl == NULL) {
			snprintf(detail, sizeof(detail), "TLS with %.300s: %.800s", ex->ex_hostport, err.msg);
			conn_fail(cn, 502, END_UPSTREAM_TLS, detail);
			return;
		}
		cn->cn_state = CS_UHANDSHAKE;
		set_timer(cn, cn->cn_px->px_opts.po_connect_ms / 1e3);
		conn_run(cn);
		return;
	}
	if (ex->ex_connect && cn->cn_tunnel_port != 0 && !cn->cn_tunnel_open) {
		static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
		/* Kept for the tunnel: blind, or the connection of the requests inside. */
		cn->cn_tunnel_open = true;
		cn->cn_uidle = true;
		memcpy(cn->cn_ukey, ex->ex_key, strlen(ex->ex_key) + 1);
		buf_append(&cn->cn_cout, ok, sizeof(ok) - 1);
		cn->cn_state = CS_LOCAL;
		cn->cn_after = AFTER_PEEK;
	} else if (ex->ex_connect) {
		cn->cn_state = CS_TUNNEL;
		set_timer(cn, TUNNEL_IDLE_S);
	} else {
		cn->cn_state = CS_EXCHANGE;
		set_timer(cn, cn->cn_px->px_opts.po_idle_ms / 1e3);
	}
	conn_run(cn);
}

/* Whether LOCAL, an accepted socket's address, is LS's own (any address when LS
 * listens on all of them). */
static bool
listener_addr(const struct sockaddr_storage *local, const struct listener *ls)
{
	const struct sockaddr_storage *la = &ls->ls_addr;

	if (local->ss_family != la->ss_family)
		return false;
	if (la->ss_family == AF_INET) {
		const struct sockaddr_in *l = (const void *)local, *b = (const void *)la;
		return l->sin_port == b->sin_port &&
		       (b->sin_addr.s_addr == htonl(INADDR_ANY) ||
		        l->sin_addr.s_addr == b->sin_addr.s_addr);
	}
	const struct sockaddr_in6 *l = (const void *)local, *b = (const void *)la;
	return l->sin6_port == b->sin6_port &&
	       (IN6_IS_ADDR_UNSPECIFIED(&b->sin6_addr) ||
	        memcmp(&l->sin6_addr, &b->sin6_addr, 16) == 0);
}

/* The original destination of a connection sent to the transparent port: conntrack's
 * record when NAT redirected it; without one, the socket's own address when TPROXY
 * delivered it (the jail's way). None when it was made to our own port directly. */
static void
original_dst(struct conn *cn, const struct listener *ls)
{
	struct sockaddr_storage ss, local;
	socklen_t len = sizeof(ss), llen = sizeof(local);
	int rc;

	if (getsockname(cn->cn_cfd, (struct sockaddr *)&local, &llen) < 0)
		return;
	memset(&ss, 0, sizeof(ss));
	if (ls->ls_addr.ss_family == AF_INET6)
		rc = getsockopt(cn->cn_cfd, IPPROTO_IPV6, IP6T_SO_ORIGINAL_DST, &ss, &len);
	else
		rc = getsockopt(cn->cn_cfd, SOL_IP, SO_ORIGINAL_DST, &ss, &len);
	if (rc == 0 && !addr_equal((struct sockaddr *)&ss, (struct sockaddr *)&local)) {
		cn->cn_dst = ss;
		cn->cn_has_dst = true;
	} else if (rc < 0 && !listener_addr(&local, ls)) {
		cn->cn_dst = local;
		cn->cn_has_dst = true;
	}
}

void
conn_accept(struct proxy *px, struct listener *ls, int fd,
            const struct sockaddr_storage *peer)
{
	struct conn *cn = calloc(1, sizeof(*cn));
	int one = 1;

	if (cn == NULL || px->px_draining) {
		free(cn);
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cn->cn_px = px;
	cn->cn_entrance = ls->ls_kind;
	cn->cn_cfd = fd;
	cn->cn_ufd = -1;
	cn->cn_peer = *peer;
	addr_format((const struct sockaddr *)peer, cn->cn_peer_text, sizeof(cn->cn_peer_text));
	*strrchr(cn->cn_peer_text, ':') = '\0';
	buf_init(&cn->cn_c2u, IO_BUF_MAX + HTTP_MAX_HEAD);
	buf_init(&cn->cn_u2c, IO_BUF_MAX + HTTP_MAX_HEAD);
	buf_init(&cn->cn_cout, OUT_BUF_MAX);
	buf_init(&cn->cn_uout, OUT_BUF_MAX);
	ev_io_init(&cn->cn_crio, on_client_read, fd, EV_READ);
	ev_io_init(&cn->cn_cwio, on_write, fd, EV_WRITE);
	ev_io_init(&cn->cn_urio, on_upstream_read, -1, EV_READ);
	ev_io_init(&cn->cn_uwio, on_write, -1, EV_WRITE);
	ev_timer_init(&cn->cn_timer, on_timer, 0., 0.);
	cn->cn_crio.data = cn->cn_cwio.data = cn->cn_urio.data = cn->cn_uwio.data = cn;
	cn->cn_timer.data = cn;
	LIST_INSERT_HEAD(&px->px_conns, cn, cn_entry);
	px->px_nconns++;
	if (ls->ls_kind == PROXY_TRANSPARENT) {
		original_dst(cn, ls);
		cn->cn_state = CS_PEEK;
		set_timer(cn, PEEK_S);
	} else {
		cn->cn_state = CS_HEAD;
		set_timer(cn, px->px_opts.po_head_ms / 1e3);
	}
	conn_run(cn);
}

void
conn_close(struct conn *cn)
{
	cn->cn_dead = true;
	if (cn->cn_running == 0)
		conn_destroy(cn);
}

static void
conn_destroy(struct conn *cn)
{
	struct proxy *px = cn->cn_px;
	struct ev_loop *loop = px->px_loop;

	ev_io_stop(loop, &cn->cn_crio);
	ev_io_stop(loop, &cn->cn_cwio);
	ev_io_stop(loop, &cn->cn_urio);
	ev_io_stop(loop, &cn->cn_uwio);
	ev_timer_stop(loop, &cn->cn_timer);
	exch_free(cn);
	if (cn->cn_carry_token != 0 && px->px_opts.po_on_end != NULL) {
		struct proxy_end pn = { cn->cn_carry_token, 200, cn->cn_bytes_up - cn->cn_carry_up0,
		                        cn->cn_bytes_down - cn->cn_carry_down0, END_OK };
		px->px_opts.po_on_end(&pn, px->px_opts.po_arg);
	}
	if (cn->cn_ufd >= 0) {
		ev_io_stop(loop, &cn->cn_urio);
		if (cn->cn_uidle) {
			pool_put(px, cn->cn_ukey, cn->cn_ufd, cn->cn_ussl);
		} else {
			SSL_free(cn->cn_ussl);
			close(cn->cn_ufd);
		}
	}
	SSL_free(cn->cn_cssl);
	close(cn->cn_cfd);
	buf_release(&cn->cn_c2u);
	buf_release(&cn->cn_u2c);
	buf_release(&cn->cn_cout);
	buf_release(&cn->cn_uout);
	LIST_REMOVE(cn, cn_entry);
	px->px_nconns--;
	free(cn);
	proxy_check_drained(px);
}
