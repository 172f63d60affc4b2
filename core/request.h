/* request: the one description of a request that decide(), hooks, the log and the
 * audit read. Built once; nothing downstream re-parses a URL. */
#ifndef HTTPJAIL_REQUEST_H
#define HTTPJAIL_REQUEST_H

#include <stdint.h>

#include "errbuf.h"
#include "slice.h"

enum req_kind { REQ_HTTP, REQ_HTTPS, REQ_CONNECT, REQ_TCP, REQ_DNS };

/* All slices borrow: from the caller's buffer given to request_build(). */
struct request {
	struct slice  rq_method;    /* as sent (copied); matching is case-insensitive */
	struct slice  rq_scheme;    /* lower case: http, https, ws, wss, tcp */
	struct slice  rq_host;      /* lower case, no trailing dot, IPv6 without [] */
	struct slice  rq_path;      /* starts with '/', or empty for tcp */
	struct slice  rq_query;     /* after '?', without it; may be empty */
	struct slice  rq_url;       /* scheme://host[:port]path[?query], normalised */
	uint16_t      rq_port;      /* always set, default port included */
	enum req_kind rq_kind;
	struct slice  rq_requester; /* client address as text; may be empty */
	uint32_t      rq_method_bit; /* method_bit(rq_method), 0 when unknown */
};

/* Default port of a scheme, 0 when it has none (tcp). */
uint16_t request_default_port(struct slice scheme);

/*
 * Fills RQ from parts: lower-cases scheme and host, strips a trailing dot from the
 * host, elides the default port from the URL. Normalised copies live in BUF (BUFSZ
 * bytes), which must outlive RQ. QUERY may be {NULL, 0}; PATH empty means "/"
 * except for tcp. Returns 0, or -1 with ERR set (bad host, buffer too small).
 */
int request_build(struct request *rq, struct slice method, struct slice scheme,
                  struct slice host, uint16_t port, struct slice path,
                  struct slice query, char *buf, size_t bufsz,
                  struct errbuf *err);

/* Parses an absolute URL ("https://Host:8443/p?q#frag") and builds RQ from it. */
int request_from_url(struct request *rq, const char *method, const char *url,
                     char *buf, size_t bufsz, struct errbuf *err);

#endif
