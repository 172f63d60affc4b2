/* proxy_int: what proxy.c, conn.c and upstream.c share. */
#ifndef HTTPJAIL_PROXY_INT_H
#define HTTPJAIL_PROXY_INT_H

#include <ev.h>
#include <sys/queue.h>

#include "addr.h"
#include "buf.h"
#include "hook.h"
#include "http.h"
#include "proxy.h"
#include "resolve.h"
#include "tls.h"

#define URLBUF_MAX    (HTTP_MAX_LINE + 1024)
#define MAX_LISTENERS 8
#define POOL_MAX      64     /* idle upstream connections kept */
#define IO_BUF_MAX    65536  /* each direction; a head must fit: HTTP_MAX_HEAD */
#define OUT_BUF_MAX   (HTTP_MAX_HEAD + 1024)

struct listener {
	ev_io                   ls_io;
	struct proxy           *ls_px;
	enum proxy_entrance     ls_kind;
	int                     ls_fd;
	struct sockaddr_storage ls_addr;
};

/* An idle upstream connection, kept for the next request to the same place. */
struct pooled {
	TAILQ_ENTRY(pooled) pl_entry;
	struct proxy       *pl_px;
	int                 pl_fd;
	SSL                *pl_ssl;    /* NULL for plain HTTP */
	ev_io               pl_io;     /* readable while idle: closed or junk */
	ev_tstamp           pl_since;
	char                pl_key[300];
};

/* A policy and the scratch deciding by it needs. The proxy holds one reference to
 * the current one, and each exchange one to the policy it was decided by, so that a
 * reload never frees a rule a decision in progress (a hook) still points to. */
struct polref {
	const struct policy     *pr_policy;
	struct policy           *pr_owned;        /* NULL: borrowed (the first one) */
	struct policy_scratch   *pr_scratch;
	unsigned                 pr_refs;
};
void polref_put(struct polref *);

struct proxy {
	struct ev_loop          *px_loop;
	struct proxy_opts        px_opts;
	struct listener          px_listeners[MAX_LISTENERS];
	size_t                   px_nlisteners;
	struct resolver         *px_resolver;
	struct hook_runner      *px_hooks;
	struct addr_local       *px_local;
	struct polref           *px_pol;          /* the current policy */
	struct tls              *px_tls;          /* borrowed; NULL: no TLS at all */
	struct exch             *px_spare[32];    /* freed exchanges, for the next ones */
	size_t                   px_nspare;
	LIST_HEAD(, conn)        px_conns;
	size_t                   px_nconns;
	TAILQ_HEAD(poolhead, pooled) px_pool;
	size_t                   px_npool;
	ev_timer                 px_pool_timer;
	ev_timer                 px_trim_timer;   /* see proxy_trim_later() */
	bool                     px_draining;
	void                   (*px_drained)(void *);
	void                    *px_drained_arg;
	ev_idle                  px_drain_check;
};

enum conn_state {
	CS_HEAD,        /* reading a request head (or idle between requests) */
	CS_PEEK,        /* transparent entrance or CONNECT tunnel: what protocol is this? */
	CS_DECIDE,      /* a hook is running */
	CS_RESOLVE,     /* looking up the upstream's addresses */
	CS_CONNECT,     /* connecting to the upstream */
	CS_EXCHANGE,    /* request sent or being sent; response being relayed */
	CS_LOCAL,       /* writing an answer of our own (403, 502, 200 to CONNECT) */
	CS_TUNNEL,      /* relaying bytes both ways, blind */
	CS_LINGER,      /* answer sent; reading and discarding until the client closes */
	CS_CACCEPT,     /* TLS handshake with the client, with a leaf of ours */
	CS_UHANDSHAKE,  /* TLS handshake with the upstream, verifying it */
};

/* After an answer of our own (CS_LOCAL) is written. */
enum after_local { AFTER_NEXT, AFTER_CLOSE, AFTER_TUNNEL, AFTER_PEEK };

/* The key of an upstream connection's reuse, with its NUL. */
#define UPSTREAM_KEY 310

/* One request/response exchange; allocated while it runs, so idle connections are small. */
struct exch {
	struct request          ex_rq;
	char                    ex_hostport[300];     /* "host:port" upstream */
	char                    ex_host[256];         /* upstream host, NUL-terminated */
	char                    ex_key[UPSTREAM_KEY];  /* "tls:host:port" or "host:port": reuse */
	bool                    ex_tls_up;            /* the upstream speaks TLS to us */
	uint16_t                ex_port;
	struct decision         ex_dc;
	struct polref          *ex_pol;               /* what ex_dc came from; NULL before */
	struct hook            *ex_hook;
	bool                    ex_hooked;            /* ex_hr holds a hook's answer */
	ev_tstamp               ex_decide_start;
	uint64_t                ex_token;             /* from po_on_decision; 0: none */
	uint64_t                ex_up0, ex_down0;     /* cn_bytes_* when it was decided */
	int                     ex_status;            /* sent to the client; 0: none yet */
	bool                    ex_failed;            /* ex_end says why it ended early */
	enum end_reason         ex_end;
	struct resolve_q       *ex_resolve;
	size_t                  ex_naddrs, ex_next_addr;
	bool                    ex_pinned;            /* addresses from --resolve */
	char                    ex_why[256];          /* why the last connect attempt failed */
	bool                    ex_connect;           /* a CONNECT request */
	bool                    ex_upgrade;           /* forwarded an Upgrade */
	bool                    ex_reused;            /* upstream from the pool */
	bool                    ex_retried;
	bool                    ex_resp_started;      /* a response byte arrived */
	bool                    ex_waiting;           /* request sent; the answer is due */
	/* Body framing of each direction. */
	enum http_framing       ex_req_framing, ex_resp_framing;
	uint64_t                ex_req_left, ex_resp_left;
	struct http_chunked     ex_req_chunk, ex_resp_chunk;
	size_t                  ex_req_ready, ex_resp_ready;  /* bytes at the front to forward */
	bool                    ex_req_done, ex_resp_done, ex_resp_head;
	bool                    ex_client_close;      /* close the client after this */
	char                   *ex_head_copy;         /* head sent on a reused upstream, to */
	size_t                  ex_head_len;          /* send again if it turns out closed */
	/* Large and filled before they are read: not zeroed for each exchange. */
	struct http_req         ex_req;
	struct http_resp        ex_resp;
	char                    ex_rqbuf[URLBUF_MAX];
	struct hook_result      ex_hr;                /* valid when ex_hooked */
	struct sockaddr_storage ex_addrs[RESOLVE_MAX_ADDRS];  /* ex_naddrs of them */
};

struct conn {
	LIST_ENTRY(conn)        cn_entry;
	struct proxy           *cn_px;
	enum proxy_entrance     cn_entrance;
	enum conn_state         cn_state;
	enum after_local        cn_after;
	int                     cn_cfd, cn_ufd;       /* client, upstream; -1 when none */
	ev_io                   cn_crio, cn_cwio, cn_urio, cn_uwio;
	ev_timer                cn_timer;
	struct buf              cn_c2u, cn_u2c;       /* bytes read from client / upstream */
	struct buf              cn_cout, cn_uout;     /* bytes we made for client / upstream */
	bool                    cn_ceof, cn_ueof;     /* read side ended */
	uint64_t                cn_bytes_up, cn_bytes_down;  /* written to each side */
	/* A decided CONNECT's token, carried over its 200 to the tunnel that follows. */
	uint64_t                cn_carry_token, cn_carry_up0, cn_carry_down0;
	bool                    cn_cshut, cn_ushut;   /* write side shut */
	struct sockaddr_storage cn_peer;
	char                    cn_peer_text[64];
	/* Where a transparent connection or a CONNECT tunnel was going. */
	bool                    cn_has_dst;
	struct sockaddr_storage cn_dst;
	char                    cn_tunnel_host[256];  /* CONNECT host, for requests inside */
	uint16_t                cn_tunnel_port;
	bool                    cn_tunnel_open;       /* 200 sent to the CONNECT */
	bool                    cn_tunnel_decided;    /* the CONNECT itself was decided */
	/* TLS: the client's side once intercepted, the upstream's when it is https. */
	SSL                    *cn_cssl, *cn_ussl;
	bool                    cn_https;             /* decrypted HTTPS from the client */
	char                    cn_sni[256];          /* the name its ClientHello asked for */
	bool                    cn_c_want_r, cn_c_want_w, cn_u_want_r, cn_u_want_w;
	struct exch            *cn_ex;
	/* An upstream kept between exchanges, for the next request to the same place. */
	bool                    cn_uidle;
	char                    cn_ukey[UPSTREAM_KEY];        /* an ex_key */
	int                     cn_running;   /* frames of ours on the stack */
	bool                    cn_again;     /* something moved while running */
	bool                    cn_dead;      /* closed; freed when the last frame leaves */
};

/* conn.c */
void conn_accept(struct proxy *, struct listener *, int fd,
                 const struct sockaddr_storage *peer);
void conn_close(struct conn *);
void conn_upstream_ready(struct conn *);                  /* connected (or reused) */
void conn_fail(struct conn *, int status, enum end_reason, const char *detail);
/* Moves the connection along; from inside a callback it only asks for another pass. */
void conn_run(struct conn *);
/* Bracket every callback that touches a conn; conn_leave() may free it. */
void conn_enter(struct conn *);
void conn_leave(struct conn *);

/* upstream.c */
void upstream_start(struct conn *);
void upstream_connect_next(struct conn *);
void upstream_release(struct conn *, bool reusable);
bool upstream_is_loop(const struct proxy *, const struct sockaddr *);

/* proxy.c */
/* The pool owns FD and SSL once given; pool_take hands both back. */
int  pool_take(struct proxy *, const char *key, SSL **ssl);
void pool_put(struct proxy *, const char *key, int fd, SSL *ssl);
/* After a burst, freed exchanges and buffers sit between the connections that stay
 * and hold their pages: hand those back to the system TRIM_AFTER_S seconds later. */
#define TRIM_AFTER_S 1.0
void proxy_trim_later(struct proxy *);
void proxy_check_drained(struct proxy *);

#endif
