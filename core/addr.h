/* addr: what an upstream address is, so that an allowed name cannot be turned
 * against the host's own services or its network (SPEC section 6). */
#ifndef HTTPJAIL_ADDR_H
#define HTTPJAIL_ADDR_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "errbuf.h"

enum addr_class {
	ADDR_PUBLIC,
	ADDR_LOOPBACK,
	ADDR_PRIVATE,      /* RFC 1918, fc00::/7 */
	ADDR_LINKLOCAL,    /* 169.254/16 (cloud metadata), fe80::/10 */
	ADDR_SHARED,       /* 100.64/10 */
	ADDR_SYNTHETIC,    /* 198.18/15 and 2001:db8::/32: the jail's DNS answers */
	ADDR_UNROUTABLE,   /* 0/8, multicast, broadcast, ::, reserved */
	ADDR_LOCAL_NET,    /* on one of the host's directly connected networks */
	ADDR_SELF,         /* one of the host's own addresses */
};

/* The host's own addresses and networks, read once with getifaddrs(). */
struct addr_local;
struct addr_local *addr_local_new(struct errbuf *err);
void               addr_local_free(struct addr_local *);

/* LOCAL may be NULL (only the fixed ranges are checked). */
enum addr_class addr_classify(const struct sockaddr *, const struct addr_local *local);
/* "loopback", "private", ...: short names for logs and the audit. */
const char     *addr_class_str(enum addr_class);
/* "a loopback address", "one of this host's own addresses": for 502 bodies. */
const char     *addr_class_phrase(enum addr_class);

/* "192.0.2.1:443" or "[2001:db8::1]:443" into OUT. */
void addr_format(const struct sockaddr *, char *out, size_t outsz);
/* Parses an IPv4 or IPv6 literal (brackets allowed) with PORT into SS. */
int  addr_parse(const char *text, uint16_t port, struct sockaddr_storage *ss,
                socklen_t *len);
bool addr_equal(const struct sockaddr *, const struct sockaddr *); /* address and port */

#endif
