#include <ares.h>
#include <arpa/inet.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "resolve.h"

#define MAX_SOCKS 16

struct rsock {
	ev_io            rs_io;
	int              rs_fd;   /* -1 when the slot is free */
	struct resolver *rs_res;
};

struct resolve_q {
	TAILQ_ENTRY(resolve_q)  rq_entry;
	struct resolver        *rq_res;
	resolve_cb             *rq_cb;
	void                   *rq_arg;
	uint16_t                rq_port;
	bool                    rq_cancelled;
	bool                    rq_done;      /* answered; delivered from rq_later */
	bool                    rq_in_ares;   /* c-ares still holds it */
	ev_timer                rq_later;
	size_t                  rq_n;
	struct sockaddr_storage rq_addrs[RESOLVE_MAX_ADDRS];
	char                    rq_err[96];
};

struct resolver {
	struct ev_loop        *re_loop;
	ares_channel           re_chan;
	ev_timer               re_timer;
	struct rsock           re_socks[MAX_SOCKS];
	TAILQ_HEAD(, resolve_q) re_queries;
};

static void
rearm(struct resolver *re)
{
	struct timeval tv, *t = ares_timeout(re->re_chan, NULL, &tv);

	ev_timer_stop(re->re_loop, &re->re_timer);
	if (t != NULL) {
		ev_timer_set(&re->re_timer, (double)t->tv_sec + t->tv_usec / 1e6, 0.);
		ev_timer_start(re->re_loop, &re->re_timer);
	}
}

static void
on_io(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rsock *rs = w->data;
	int fd = rs->rs_fd;

	(void)loop;
	ares_process_fd(rs->rs_res->re_chan,
	                (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
	                (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
	rearm(rs->rs_res);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct resolver *re = w->data;

	(void)loop;
	(void)revents;
	ares_process_fd(re->re_chan, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	rearm(re);
}

/* c-ares says which of its sockets to watch, and for what. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct resolver *re = data;
	struct rsock *rs = NULL, *spare = NULL;

	for (size_t i = 0; i < MAX_SOCKS; i++) {
		if (re->re_socks[i].rs_fd == fd)
			rs = &re->re_socks[i];
		else if (spare == NULL && re->re_socks[i].rs_fd == -1)
			spare = &re->re_socks[i];
	}
	if (rs != NULL) {
		ev_io_stop(re->re_loop, &rs->rs_io);
		rs->rs_fd = -1;
	}
	if (!readable && !writable)
		return;
	if (rs == NULL)
		rs = spare;
	if (rs == NULL)
		return; /* more sockets than slots: c-ares times the query out */
	rs->rs_fd = fd;
	ev_io_init(&rs->rs_io, on_io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
	ev_io_start(re->re_loop, &rs->rs_io);
}

struct resolver *
resolver_new(struct ev_loop *loop, struct errbuf *err)
{
	struct resolver *re = calloc(1, sizeof(*re));
	struct ares_options o;
	int rc;

	if (re == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if ((rc = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS) {
		errbuf_set(err, "c-ares: %s", ares_strerror(rc));
		free(re);
		return NULL;
	}
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = sock_state;
	o.sock_state_cb_data = re;
	o.timeout = 2000;
	o.tries = 2;
	rc = ares_init_options(&re->re_chan, &o,
	                       ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
	if (rc != ARES_SUCCESS) {
		errbuf_set(err, "c-ares: %s", ares_strerror(rc));
		ares_library_cleanup();
		free(re);
		return NULL;
	}
	re->re_loop = loop;
	for (size_t i = 0; i < MAX_SOCKS; i++) {
		re->re_socks[i].rs_fd = -1;
		re->re_socks[i].rs_res = re;
		re->re_socks[i].rs_io.data = &re->re_socks[i];
	}
	ev_timer_init(&re->re_timer, on_timer, 0., 0.);
	re->re_timer.data = re;
	TAILQ_INIT(&re->re_queries);
	return re;
}

static void
q_free(struct resolve_q *q)
{
	ev_timer_stop(q->rq_res->re_loop, &q->rq_later);
	TAILQ_REMOVE(&q->rq_res->re_queries, q, rq_entry);
	free(q);
}

void
resolver_free(struct resolver *re)
{
	struct resolve_q *q;

	if (re == NULL)
		return;
	TAILQ_FOREACH(q, &re->re_queries, rq_entry)
		q->rq_cancelled = true;
	/* Runs every pending callback with ARES_EDESTRUCTION; they free their queries. */
	ares_destroy(re->re_chan);
	while ((q = TAILQ_FIRST(&re->re_queries)) != NULL)
		q_free(q);
	for (size_t i = 0; i < MAX_SOCKS; i++)
		if (re->re_socks[i].rs_fd != -1)
			ev_io_stop(re->re_loop, &re->re_socks[i].rs_io);
	ev_timer_stop(re->re_loop, &re->re_timer);
	ares_library_cleanup();
	free(re);
}

static void
deliver(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct resolve_q *q = w->data;

	(void)loop;
	(void)revents;
	if (!q->rq_cancelled)
		q->rq_cb(q->rq_addrs, q->rq_n, q->rq_n ? NULL : q->rq_err, q->rq_arg);
	q_free(q);
}

static void
on_answer(void *arg, int status, int timeouts, struct ares_addrinfo *ai)
{
	struct resolve_q *q = arg;

	(void)timeouts;
	q->rq_in_ares = false;
	if (status == ARES_SUCCESS && ai != NULL) {
		for (struct ares_addrinfo_node *n = ai->nodes;
		     n != NULL && q->rq_n < RESOLVE_MAX_ADDRS; n = n->ai_next) {
			if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
				continue;
			memcpy(&q->rq_addrs[q->rq_n], n->ai_addr, n->ai_addrlen);
			if (n->ai_family == AF_INET)
				((struct sockaddr_in *)&q->rq_addrs[q->rq_n])->sin_port = htons(q->rq_port);
			else
				((struct sockaddr_in6 *)&q->rq_addrs[q->rq_n])->sin6_port = htons(q->rq_port);
			q->rq_n++;
		}
	}
	if (q->rq_n == 0)
		snprintf(q->rq_err, sizeof(q->rq_err), "%s",
		         status == ARES_SUCCESS || status == ARES_ENOTFOUND ? "no such name" :
		         status == ARES_ETIMEOUT ? "lookup timed out" : ares_strerror(status));
	ares_freeaddrinfo(ai);
	if (status == ARES_EDESTRUCTION)
		return;
	/* Delivered from the loop, never from inside resolve_start() or ares calls. */
	q->rq_done = true;
	ev_timer_start(q->rq_res->re_loop, &q->rq_later);
}

struct resolve_q *
resolve_start(struct resolver *re, const char *host, uint16_t port, resolve_cb *cb,
              void *arg)
{
	struct ares_addrinfo_hints hints;
	struct resolve_q *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	q->rq_res = re;
	q->rq_cb = cb;
	q->rq_arg = arg;
	q->rq_port = port;
	q->rq_in_ares = true;
	ev_timer_init(&q->rq_later, deliver, 0., 0.);
	q->rq_later.data = q;
	TAILQ_INSERT_TAIL(&re->re_queries, q, rq_entry);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = ARES_AI_NOSORT;
	ares_getaddrinfo(re->re_chan, host, NULL, &hints, on_answer, q);
	rearm(re);
	return q;
}

void
resolve_cancel(struct resolve_q *q)
{
	q->rq_cancelled = true;
	/* Once answered it is only waiting for the loop: free it now. */
	if (!q->rq_in_ares)
		q_free(q);
}
