/* upstream: where an allowed request goes: a pooled connection, a --resolve pin, an
 * address literal or a c-ares lookup; each address checked, then tried in turn. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy_int.h"

bool
upstream_is_loop(const struct proxy *px, const struct sockaddr *sa)
{
	for (size_t i = 0; sa != NULL && i < px->px_nlisteners; i++) {
		const struct sockaddr *ls = (const struct sockaddr *)&px->px_listeners[i].ls_addr;
		const struct sockaddr_in *l4 = (const void *)ls;
		const struct sockaddr_in6 *l6 = (const void *)ls;
		if (addr_equal(sa, ls))
			return true;
		/* A listener on the wildcard address answers on every address of the host. */
		if (sa->sa_family == ls->sa_family &&
		    ((ls->sa_family == AF_INET && l4->sin_addr.s_addr == INADDR_ANY &&
		      l4->sin_port == ((const struct sockaddr_in *)sa)->sin_port) ||
		     (ls->sa_family == AF_INET6 &&
		      IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr) &&
		      l6->sin6_port == ((const struct sockaddr_in6 *)sa)->sin6_port)) &&
		    addr_classify(sa, px->px_local) != ADDR_PUBLIC)
			return true;
	}
	return false;
}

void
upstream_release(struct conn *cn, bool reusable)
{
	struct ev_loop *loop = cn->cn_px->px_loop;
	struct exch *ex = cn->cn_ex;

	ev_io_stop(loop, &cn->cn_urio);
	ev_io_stop(loop, &cn->cn_uwio);
	if (cn->cn_ufd >= 0) {
		if (reusable && cn->cn_uidle) {
			pool_put(cn->cn_px, cn->cn_ukey, cn->cn_ufd, cn->cn_ussl);
		} else if (reusable && ex != NULL && !cn->cn_ueof) {
			pool_put(cn->cn_px, ex->ex_key, cn->cn_ufd, cn->cn_ussl);
		} else {
			SSL_free(cn->cn_ussl);
			close(cn->cn_ufd);
		}
	}
	cn->cn_ufd = -1;
	cn->cn_ussl = NULL;
	cn->cn_u_want_r = cn->cn_u_want_w = false;
	cn->cn_uidle = false;
	cn->cn_ueof = cn->cn_ushut = false;
	buf_release(&cn->cn_u2c);
}

static void
give_up(struct conn *cn, bool refused_private)
{
	struct exch *ex = cn->cn_ex;
	char detail[1024];

	if (refused_private) {
		snprintf(detail, sizeof(detail), "refusing to connect to %s: %s (set "
		         "upstream.allow_private or pin it with --resolve)", ex->ex_hostport,
		         ex->ex_why);
		conn_fail(cn, 502, END_PRIVATE_ADDR, detail);
		return;
	}
	snprintf(detail, sizeof(detail), "cannot connect to %s: %s", ex->ex_hostport, ex->ex_why);
	conn_fail(cn, strstr(ex->ex_why, "timed out") ? 504 : 502,
	          strstr(ex->ex_why, "timed out") ? END_UPSTREAM_TIMEOUT : END_UPSTREAM_CONNECT,
	          detail);
}

void
upstream_connect_next(struct conn *cn)
{
	struct proxy *px = cn->cn_px;
	struct exch *ex = cn->cn_ex;
	bool refused_private = false;

	if (cn->cn_ufd >= 0) {
		ev_io_stop(px->px_loop, &cn->cn_uwio);
		SSL_free(cn->cn_ussl);
		cn->cn_ussl = NULL;
		close(cn->cn_ufd);
		cn->cn_ufd = -1;
	}
	while (ex->ex_next_addr < ex->ex_naddrs) {
		struct sockaddr *sa = (struct sockaddr *)&ex->ex_addrs[ex->ex_next_addr++];
		enum addr_class c = addr_classify(sa, px->px_local);
		socklen_t len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
		                                         : sizeof(struct sockaddr_in6);
		char text[64];
		int fd, one = 1;

		addr_format(sa, text, sizeof(text));
		if (upstream_is_loop(px, sa)) {
			snprintf(ex->ex_why, sizeof(ex->ex_why), "%s is this proxy (a loop)", text);
			conn_fail(cn, 403, END_LOOP, ex->ex_why);
			return;
		}
		/* Synthetic addresses mean nothing outside the jail: never dialled. */
		if (c == ADDR_SYNTHETIC || (c != ADDR_PUBLIC && !ex->ex_pinned &&
		    !policy_allow_private(px->px_pol->pr_policy))) {
			snprintf(ex->ex_why, sizeof(ex->ex_why), "it resolves to %s, %s",
			         text, addr_class_phrase(c));
			refused_private = true;
			continue;
		}
		refused_private = false;
		fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			snprintf(ex->ex_why, sizeof(ex->ex_why), "%s: %s", text, strerror(errno));
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(fd, sa, len) == 0) {
			cn->cn_ufd = fd;
			conn_upstream_ready(cn);
			return;
		}
		if (errno == EINPROGRESS) {
			cn->cn_ufd = fd;
			cn->cn_state = CS_CONNECT;
			ev_timer_stop(px->px_loop, &cn->cn_timer);
			ev_timer_set(&cn->cn_timer, px->px_opts.po_connect_ms / 1e3, 0.);
			ev_timer_start(px->px_loop, &cn->cn_timer);
			conn_run(cn);
			return;
		}
		snprintf(ex->ex_why, sizeof(ex->ex_why), "%s: %s", text, strerror(errno));
		close(fd);
	}
	give_up(cn, refused_private);
}

static void
on_resolved(const struct sockaddr_storage *addrs, size_t n, const char *err, void *arg)
{
	struct conn *cn = arg;
	struct exch *ex = cn->cn_ex;
	char detail[512];

	conn_enter(cn);
	ex->ex_resolve = NULL;
	if (n == 0) {
		snprintf(detail, sizeof(detail), "cannot resolve %s: %s", ex->ex_host, err);
		conn_fail(cn, 502, END_UPSTREAM_RESOLVE, detail);
	} else {
		memcpy(ex->ex_addrs, addrs, n * sizeof(*addrs));
		ex->ex_naddrs = n;
		ex->ex_next_addr = 0;
		upstream_connect_next(cn);
	}
	conn_leave(cn);
}

void
upstream_start(struct conn *cn)
{
	struct proxy *px = cn->cn_px;
	struct exch *ex = cn->cn_ex;
	const char *host = ex->ex_host;
	uint16_t port = ex->ex_port;
	socklen_t len;
	int fd;

	cn->cn_state = CS_RESOLVE;
	ex->ex_naddrs = ex->ex_next_addr = 0;
	ex->ex_pinned = false;
	/* Decrypted HTTPS goes on encrypted; a kept connection must have been TLS too. */
	ex->ex_tls_up = cn->cn_https && !ex->ex_connect;
	{
		size_t k = ex->ex_tls_up ? 4 : 0, n = strlen(ex->ex_hostport);
		memcpy(ex->ex_key, "tls:", k);
		memcpy(ex->ex_key + k, ex->ex_hostport, n + 1);
	}
	if (cn->cn_uidle) {
		/* Kept from the last request, or opened for the CONNECT this tunnel is. */
		if ((!ex->ex_connect || cn->cn_tunnel_open) &&
		    strcmp(cn->cn_ukey, ex->ex_key) == 0) {
			cn->cn_uidle = false;
			ex->ex_reused = true;
			conn_upstream_ready(cn);
			return;
		}
		upstream_release(cn, true);
	}
	/* A tunnel's bytes need a connection of their own; HTTP may reuse one. */
	if (!ex->ex_connect && (fd = pool_take(px, ex->ex_key, &cn->cn_ussl)) >= 0) {
		cn->cn_ufd = fd;
		ex->ex_reused = true;
		conn_upstream_ready(cn);
		return;
	}
	/* A tcp connection goes where it was going, unless that was one of the jail's
	 * synthetic addresses: then the name it stands for is looked up for real. */
	if (cn->cn_tunnel_port == 0 && cn->cn_has_dst && ex->ex_rq.rq_kind == REQ_TCP &&
	    addr_classify((struct sockaddr *)&cn->cn_dst, NULL) != ADDR_SYNTHETIC) {
		ex->ex_addrs[0] = cn->cn_dst;
		ex->ex_naddrs = 1;
		upstream_connect_next(cn);
		return;
	}
	for (size_t i = 0; i < px->px_opts.po_npins; i++) {
		const struct proxy_pin *pp = &px->px_opts.po_pins[i];
		if (pp->pp_port == port && strcmp(pp->pp_host, host) == 0) {
			ex->ex_addrs[ex->ex_naddrs++] = pp->pp_addr;
			ex->ex_pinned = true;
			if (ex->ex_naddrs == RESOLVE_MAX_ADDRS)
				break;
		}
	}
	if (ex->ex_naddrs == 0 && addr_parse(host, port, &ex->ex_addrs[0], &len) == 0)
		ex->ex_naddrs = 1;
	if (ex->ex_naddrs > 0) {
		upstream_connect_next(cn);
		return;
	}
	ex->ex_resolve = resolve_start(px->px_resolver, host, port, on_resolved, cn);
	if (ex->ex_resolve == NULL)
		conn_fail(cn, 502, END_UPSTREAM_RESOLVE, "out of memory");
	else
		conn_run(cn);
}
