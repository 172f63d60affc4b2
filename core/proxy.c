/* proxy: listeners, the pool of idle upstream connections, and the proxy's life. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "proxy_int.h"

#define POOL_IDLE_S 30.

const char *
end_reason_str(enum end_reason r)
{
	switch (r) {
	case END_OK:               return "ok";
	case END_DENIED:           return "denied";
	case END_HOOK_ERROR:       return "hook error";
	case END_PATTERN_ERROR:    return "pattern error";
	case END_LOOP:             return "loop";
	case END_BAD_REQUEST:      return "bad request";
	case END_UPSTREAM_RESOLVE: return "upstream name not resolved";
	case END_UPSTREAM_CONNECT: return "upstream connection failed";
	case END_UPSTREAM_TIMEOUT: return "upstream timed out";
	case END_UPSTREAM_BAD:     return "bad upstream response";
	case END_UPSTREAM_TLS:     return "upstream TLS failed";
	case END_MISDIRECTED:      return "misdirected request";
	case END_UPSTREAM_CLOSED:  return "upstream closed the connection";
	case END_PRIVATE_ADDR:     return "private address";
	case END_CLIENT_CLOSED:    return "client closed";
	case END_TIMEOUT:          return "timeout";
	}
	return "?";
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *ls = w->data;

	(void)loop;
	(void)revents;
	/* Bounded per wake-up so one busy listener cannot starve established connections. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(ls->ls_fd, (struct sockaddr *)&peer, &len,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;
		conn_accept(ls->ls_px, ls, fd, &peer);
	}
}

/* BORROWED, or OWNED (then freed with the last reference); NULL: out of memory. */
static struct polref *
polref_new(const struct policy *borrowed, struct policy *owned)
{
	struct polref *pr = calloc(1, sizeof(*pr));

	if (pr == NULL)
		return NULL;
	pr->pr_policy = owned ? owned : borrowed;
	if ((pr->pr_scratch = policy_scratch_new(pr->pr_policy)) == NULL) {
		free(pr);
		return NULL;
	}
	pr->pr_owned = owned;
	pr->pr_refs = 1;
	return pr;
}

void
polref_put(struct polref *pr)
{
	if (--pr->pr_refs > 0)
		return;
	policy_scratch_free(pr->pr_scratch);
	policy_free(pr->pr_owned);
	free(pr);
}

int
proxy_set_policy(struct proxy *px, struct policy *fresh, struct errbuf *err)
{
	struct polref *pr = polref_new(NULL, fresh);

	if (pr == NULL) {
		policy_free(fresh);
		errbuf_set(err, "out of memory");
		return -1;
	}
	polref_put(px->px_pol);
	px->px_pol = pr;
	return 0;
}

struct proxy *
proxy_new(struct ev_loop *loop, const struct proxy_opts *opts, struct errbuf *err)
{
	struct proxy *px = calloc(1, sizeof(*px));
	struct hook_opts ho = { 0 };

	if (px == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	px->px_loop = loop;
	px->px_opts = *opts;
	px->px_tls = opts->po_tls;
	if (px->px_opts.po_connect_ms == 0)
		px->px_opts.po_connect_ms = 10000;
	if (px->px_opts.po_response_ms == 0)
		px->px_opts.po_response_ms = 60000;
	if (px->px_opts.po_head_ms == 0)
		px->px_opts.po_head_ms = 10000;
	if (px->px_opts.po_idle_ms == 0)
		px->px_opts.po_idle_ms = 60000;
	LIST_INIT(&px->px_conns);
	TAILQ_INIT(&px->px_pool);
	ho.ho_timeout_ms = policy_hook_timeout_ms(opts->po_policy);
	ho.ho_cache_ms = policy_hook_cache_ms(opts->po_policy);
	ho.ho_run_id = opts->po_run_id;
	if ((px->px_resolver = resolver_new(loop, err)) == NULL)
		goto fail;
	if ((px->px_local = addr_local_new(err)) == NULL)
		goto fail;
	if ((px->px_hooks = hook_runner_new(loop, &ho)) == NULL ||
	    (px->px_pol = polref_new(opts->po_policy, NULL)) == NULL) {
		errbuf_set(err, "out of memory");
		goto fail;
	}
	return px;
fail:
	proxy_free(px);
	return NULL;
}

int
proxy_listen(struct proxy *px, enum proxy_entrance kind, const char *text,
             struct errbuf *err)
{
	struct listener *ls;
	char host[128];
	const char *colon = strrchr(text, ':');
	unsigned long port;
	char *end;
	socklen_t len;
	int one = 1;

	if (px->px_nlisteners == MAX_LISTENERS) {
		errbuf_set(err, "%s: too many listening addresses", text);
		return -1;
	}
	ls = &px->px_listeners[px->px_nlisteners];
	if (colon == NULL || colon == text || (size_t)(colon - text) >= sizeof(host)) {
		errbuf_set(err, "%s: expected ADDR:PORT, e.g. 127.0.0.1:8080", text);
		return -2;
	}
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || colon[1] == '\0' || port > 65535) {
		errbuf_set(err, "%s: bad port", text);
		return -2;
	}
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	if (addr_parse(host, (uint16_t)port, &ls->ls_addr, &len) < 0) {
		errbuf_set(err, "%s: '%s' is not an IP address", text, host);
		return -2;
	}
	ls->ls_fd = socket(ls->ls_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ls->ls_fd < 0) {
		errbuf_set(err, "%s: socket: %s", text, strerror(errno));
		return -1;
	}
	setsockopt(ls->ls_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls->ls_fd, (struct sockaddr *)&ls->ls_addr, len) < 0 ||
	    listen(ls->ls_fd, 1024) < 0) {
		errbuf_set(err, "%s: %s", text, strerror(errno));
		close(ls->ls_fd);
		return -1;
	}
	len = sizeof(ls->ls_addr);
	getsockname(ls->ls_fd, (struct sockaddr *)&ls->ls_addr, &len);
	ls->ls_px = px;
	ls->ls_kind = kind;
	ev_io_init(&ls->ls_io, on_accept, ls->ls_fd, EV_READ);
	ls->ls_io.data = ls;
	ev_io_start(px->px_loop, &ls->ls_io);
	px->px_nlisteners++;
	return 0;
}

int
proxy_listen_fd(struct proxy *px, enum proxy_entrance kind, int fd, struct errbuf *err)
{
	struct listener *ls;
	socklen_t len = sizeof(ls->ls_addr);

	if (px->px_nlisteners == MAX_LISTENERS) {
		errbuf_set(err, "too many listening sockets");
		close(fd);
		return -1;
	}
	ls = &px->px_listeners[px->px_nlisteners];
	if (getsockname(fd, (struct sockaddr *)&ls->ls_addr, &len) < 0) {
		errbuf_set(err, "getsockname: %s", strerror(errno));
		close(fd);
		return -1;
	}
	ls->ls_fd = fd;
	ls->ls_px = px;
	ls->ls_kind = kind;
	ev_io_init(&ls->ls_io, on_accept, fd, EV_READ);
	ls->ls_io.data = ls;
	ev_io_start(px->px_loop, &ls->ls_io);
	px->px_nlisteners++;
	return 0;
}

void
proxy_set_dns(struct proxy *px, struct dns *dns)
{
	px->px_opts.po_dns = dns;
}

int
proxy_bound(const struct proxy *px, enum proxy_entrance kind, struct sockaddr_storage *ss)
{
	for (size_t i = 0; i < px->px_nlisteners; i++) {
		if (px->px_listeners[i].ls_kind == kind) {
			*ss = px->px_listeners[i].ls_addr;
			return 0;
		}
	}
	return -1;
}

/* --- the pool --- */

static void
pooled_free(struct pooled *pl)
{
	struct proxy *px = pl->pl_px;

	ev_io_stop(px->px_loop, &pl->pl_io);
	SSL_free(pl->pl_ssl);
	close(pl->pl_fd);
	TAILQ_REMOVE(&px->px_pool, pl, pl_entry);
	px->px_npool--;
	free(pl);
}

/* An idle upstream that becomes readable has closed (or sent junk): drop it. */
static void
on_pooled_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	pooled_free(w->data);
}

static void
on_pool_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct proxy *px = w->data;
	struct pooled *pl;

	(void)revents;
	while ((pl = TAILQ_FIRST(&px->px_pool)) != NULL &&
	       ev_now(loop) - pl->pl_since > POOL_IDLE_S)
		pooled_free(pl);
	if (px->px_npool > 0) {
		ev_timer_set(w, POOL_IDLE_S, 0.);
		ev_timer_start(loop, w);
	}
}

int
pool_take(struct proxy *px, const char *key, SSL **ssl)
{
	struct pooled *pl;
	int fd;

	/* Newest first: the least likely to have been closed by the server. */
	TAILQ_FOREACH_REVERSE(pl, &px->px_pool, poolhead, pl_entry) {
		if (strcmp(pl->pl_key, key) != 0)
			continue;
		fd = pl->pl_fd;
		*ssl = pl->pl_ssl;
		pl->pl_fd = -1;
		ev_io_stop(px->px_loop, &pl->pl_io);
		TAILQ_REMOVE(&px->px_pool, pl, pl_entry);
		px->px_npool--;
		free(pl);
		return fd;
	}
	return -1;
}

void
pool_put(struct proxy *px, const char *key, int fd, SSL *ssl)
{
	struct pooled *pl;

	if (px->px_draining || strlen(key) >= sizeof(pl->pl_key) ||
	    (pl = calloc(1, sizeof(*pl))) == NULL) {
		SSL_free(ssl);
		close(fd);
		return;
	}
	if (px->px_npool == POOL_MAX)
		pooled_free(TAILQ_FIRST(&px->px_pool));
	pl->pl_px = px;
	pl->pl_fd = fd;
	pl->pl_ssl = ssl;
	pl->pl_since = ev_now(px->px_loop);
	strcpy(pl->pl_key, key);
	ev_io_init(&pl->pl_io, on_pooled_readable, fd, EV_READ);
	pl->pl_io.data = pl;
	ev_io_start(px->px_loop, &pl->pl_io);
	TAILQ_INSERT_TAIL(&px->px_pool, pl, pl_entry);
	px->px_npool++;
	if (!ev_is_active(&px->px_pool_timer)) {
		ev_timer_init(&px->px_pool_timer, on_pool_timer, POOL_IDLE_S, 0.);
		px->px_pool_timer.data = px;
		ev_timer_start(px->px_loop, &px->px_pool_timer);
	}
}

/* --- memory --- */

static void
on_trim_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	malloc_trim(0);
}

void
proxy_trim_later(struct proxy *px)
{
	if (!ev_is_active(&px->px_trim_timer)) {
		ev_timer_init(&px->px_trim_timer, on_trim_timer, TRIM_AFTER_S, 0.);
		ev_timer_start(px->px_loop, &px->px_trim_timer);
	}
}

/* --- draining and teardown --- */

static void
on_drain_check(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct proxy *px = w->data;
	struct conn *cn, *next;

	(void)revents;
	ev_idle_stop(loop, w);
	/* Connections between requests have nothing to lose: close them now. */
	for (cn = LIST_FIRST(&px->px_conns); cn != NULL; cn = next) {
		next = LIST_NEXT(cn, cn_entry);
		if (cn->cn_state == CS_HEAD && cn->cn_ex == NULL && cn->cn_c2u.b_len == 0)
			conn_close(cn);
	}
	if (px->px_nconns == 0 && px->px_drained != NULL) {
		void (*done)(void *) = px->px_drained;
		px->px_drained = NULL;
		done(px->px_drained_arg);
	}
}

void
proxy_check_drained(struct proxy *px)
{
	if (px->px_draining && !ev_is_active(&px->px_drain_check))
		ev_idle_start(px->px_loop, &px->px_drain_check);
}

void
proxy_drain(struct proxy *px, void (*done)(void *), void *arg)
{
	px->px_draining = true;
	px->px_drained = done;
	px->px_drained_arg = arg;
	for (size_t i = 0; i < px->px_nlisteners; i++) {
		ev_io_stop(px->px_loop, &px->px_listeners[i].ls_io);
		close(px->px_listeners[i].ls_fd);
	}
	px->px_nlisteners = 0;
	while (!TAILQ_EMPTY(&px->px_pool))
		pooled_free(TAILQ_FIRST(&px->px_pool));
	ev_idle_init(&px->px_drain_check, on_drain_check);
	px->px_drain_check.data = px;
	ev_idle_start(px->px_loop, &px->px_drain_check);
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	while (!LIST_EMPTY(&px->px_conns))
		conn_close(LIST_FIRST(&px->px_conns));
	while (!TAILQ_EMPTY(&px->px_pool))
		pooled_free(TAILQ_FIRST(&px->px_pool));
	ev_timer_stop(px->px_loop, &px->px_pool_timer);
	ev_timer_stop(px->px_loop, &px->px_trim_timer);
	ev_idle_stop(px->px_loop, &px->px_drain_check);
	for (size_t i = 0; i < px->px_nlisteners; i++) {
		ev_io_stop(px->px_loop, &px->px_listeners[i].ls_io);
		close(px->px_listeners[i].ls_fd);
	}
	while (px->px_nspare > 0)
		free(px->px_spare[--px->px_nspare]);
	resolver_free(px->px_resolver);
	hook_runner_free(px->px_hooks);
	addr_local_free(px->px_local);
	if (px->px_pol != NULL)
		polref_put(px->px_pol);
	free(px);
}
