/* proxy: the libev HTTP/1.1 proxy. Every request that enters, on the explicit port
 * (absolute-form and CONNECT) or the transparent port (redirected connections), is
 * decided by the policy before anything reaches an upstream. */
#ifndef HTTPJAIL_PROXY_H
#define HTTPJAIL_PROXY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errbuf.h"
#include "policy.h"
#include "request.h"

struct dns;
struct ev_loop;
struct proxy;

enum proxy_entrance { PROXY_EXPLICIT, PROXY_TRANSPARENT };

/* Why an exchange ended; one string each for the 403/502 bodies, the
 * X-Httpjail-Reason header, logs and the audit (end_reason_str()). */
enum end_reason {
	END_OK,
	END_DENIED,
	END_HOOK_ERROR,
	END_PATTERN_ERROR,
	END_LOOP,
	END_BAD_REQUEST,
	END_UPSTREAM_RESOLVE,
	END_UPSTREAM_CONNECT,
	END_UPSTREAM_TIMEOUT,
	END_UPSTREAM_BAD,
	END_UPSTREAM_TLS,
	END_MISDIRECTED,
	END_UPSTREAM_CLOSED,
	END_PRIVATE_ADDR,
	END_CLIENT_CLOSED,
	END_TIMEOUT,
};
const char *end_reason_str(enum end_reason);

/* One decision, reported when it is made (for -v, the request log and the audit). */
struct proxy_event {
	const struct request *pe_rq;
	enum verdict          pe_verdict;   /* what the policy said */
	bool                  pe_enforced;  /* false under --dry-run and --log-only */
	const struct rule    *pe_rule;      /* NULL: the default, or no rule was asked */
	const char           *pe_engine;    /* "policy", "log-only", "loop" */
	const char           *pe_reason;    /* one line: "rule", "default", "hook error: exit 3" */
	int                   pe_hook_exit; /* the last hook's exit code; -1: none ran */
	uint64_t              pe_decide_us;
};
/* Returns a token for the exchange's end event (0: none wanted). */
typedef uint64_t proxy_event_cb(const struct proxy_event *, void *arg);

/* The exchange a decision was for is over. */
struct proxy_end {
	uint64_t         pn_token;     /* what proxy_event_cb returned */
	int              pn_status;    /* HTTP status sent to the client; 0: none */
	uint64_t         pn_bytes_up;  /* written to the upstream, heads included */
	uint64_t         pn_bytes_down;/* written to the client, heads included */
	enum end_reason  pn_end;
};
typedef void proxy_end_cb(const struct proxy_end *, void *arg);

/* --resolve HOST:PORT:ADDR */
struct proxy_pin {
	const char             *pp_host;   /* lower case */
	uint16_t                pp_port;
	struct sockaddr_storage pp_addr;   /* port included */
};

struct proxy_opts {
	const struct policy    *po_policy;       /* borrowed; must outlive the proxy */
	bool                    po_dry_run;      /* decide, record, block nothing */
	bool                    po_log_only;     /* decide nothing, allow everything */
	const struct proxy_pin *po_pins;
	size_t                  po_npins;
	const char             *po_run_id;
	proxy_event_cb         *po_on_decision;
	proxy_end_cb           *po_on_end;       /* called only for a nonzero token */
	void                   *po_arg;
	/* TLS contexts (borrowed): NULL for a proxy that never speaks TLS itself. */
	struct tls             *po_tls;
	bool                    po_intercept;    /* decrypt HTTPS (needs po_tls with a CA) */
	/* The jail's DNS stub: a synthetic destination stands for the name it handed out. */
	struct dns             *po_dns;
	/* 0 means the default: 10 s connect, 60 s response, 10 s head, 60 s idle. */
	unsigned                po_connect_ms, po_response_ms, po_head_ms, po_idle_ms;
};

struct proxy *proxy_new(struct ev_loop *, const struct proxy_opts *, struct errbuf *err);
/* Listens on ADDR ("127.0.0.1:8080", "[::1]:0" for any free port). Returns 0, -2
 * when ADDR is malformed (the user's mistake), -1 when the system refused. */
int           proxy_listen(struct proxy *, enum proxy_entrance, const char *addr,
                           struct errbuf *err);
/* Listens on FD, a bound listening socket made elsewhere (inside the jail); owned
 * from here on. */
int           proxy_listen_fd(struct proxy *, enum proxy_entrance, int fd, struct errbuf *err);
/* The jail's DNS stub (borrowed), once it exists: its synthetic addresses are names. */
void          proxy_set_dns(struct proxy *, struct dns *);
/* Every decision from now on is made by FRESH (owned from here on); one in progress
 * ends by the policy it began with. */
int           proxy_set_policy(struct proxy *, struct policy *fresh, struct errbuf *err);
/* The address the first listener of that entrance is bound to. */
int           proxy_bound(const struct proxy *, enum proxy_entrance,
                          struct sockaddr_storage *ss);
/* Stops accepting; DONE runs once no exchange is in progress (idle keep-alive
 * connections are closed). */
void          proxy_drain(struct proxy *, void (*done)(void *), void *arg);
void          proxy_free(struct proxy *);

#endif
