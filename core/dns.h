/* dns: the jail's DNS stub. Every A and AAAA question gets a synthetic address,
 * stable per name within a run, from 198.18.0.0/15 and 2001:db8::/32; nothing is
 * ever forwarded. The proxy maps a synthetic destination back to its name. */
#ifndef HTTPJAIL_DNS_H
#define HTTPJAIL_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errbuf.h"
#include "slice.h"

struct ev_loop;
struct dns;

/* One query, reported for the audit and -v. */
struct dns_event {
	struct slice de_name;      /* lower case, no trailing dot */
	uint16_t     de_qtype;     /* 1 A, 28 AAAA, ... */
	const char  *de_answer;    /* "198.18.0.7", "NXDOMAIN", "NODATA" */
	bool         de_tcp;
};
typedef void dns_event_cb(const struct dns_event *, void *arg);

/* UDPFD and TCPFD (a listening socket) are owned from here on; either may be -1. */
struct dns *dns_new(struct ev_loop *, int udpfd, int tcpfd, dns_event_cb *cb, void *arg,
                    struct errbuf *err);
void        dns_free(struct dns *);

/* The name a synthetic address stands for (borrowed, NUL-terminated), or NULL when
 * SA is not one this stub handed out. */
const char *dns_name_of(const struct dns *, const struct sockaddr *sa);
/* Malformed packets dropped so far. */
uint64_t    dns_dropped(const struct dns *);

/*
 * The parser and responder alone, for tests and fuzzing: answers the query in Q
 * (QLEN bytes) into OUT (OUTSZ bytes; 512 is enough for UDP). Returns the answer's
 * length, or -1 when Q is malformed (dropped: no answer). Names get addresses from
 * the same table as live queries.
 */
ssize_t     dns_answer(struct dns *, const uint8_t *q, size_t qlen, uint8_t *out,
                       size_t outsz, struct dns_event *ev);

#endif
