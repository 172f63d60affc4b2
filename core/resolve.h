/* resolve: asynchronous name resolution with c-ares, driven by the libev loop, so
 * the proxy never blocks in getaddrinfo(). */
#ifndef HTTPJAIL_RESOLVE_H
#define HTTPJAIL_RESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errbuf.h"

#define RESOLVE_MAX_ADDRS 16

struct ev_loop;
struct resolver;
struct resolve_q;

/* ADDRS (N of them, port set) are valid only during the call; N is 0 on failure,
 * with ERR a one-line reason ("no such name", "lookup timed out"). */
typedef void resolve_cb(const struct sockaddr_storage *addrs, size_t n,
                        const char *err, void *arg);

struct resolver  *resolver_new(struct ev_loop *, struct errbuf *err);
/* Queries still pending are abandoned: their callbacks never run. */
void              resolver_free(struct resolver *);
/* Starts a lookup of HOST's A and AAAA records. CB always runs later, never from
 * inside this call. Returns NULL when out of memory. */
struct resolve_q *resolve_start(struct resolver *, const char *host, uint16_t port,
                                resolve_cb *cb, void *arg);
/* The callback of Q will not run. */
void              resolve_cancel(struct resolve_q *);

#endif
