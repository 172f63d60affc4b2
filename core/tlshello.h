/* tlshello: the server name a TLS ClientHello asks for, read from the first bytes
 * of a connection without terminating TLS (RFC 8446 4.1.2, RFC 6066 3). */
#ifndef HTTPJAIL_TLSHELLO_H
#define HTTPJAIL_TLSHELLO_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

/* A ClientHello larger than this (many extensions, post-quantum key shares) is
 * refused rather than buffered without end. */
#define TLSHELLO_MAX 16384

enum tlshello_status {
	TLSHELLO_MORE = 0,   /* a prefix of a ClientHello: read more */
	TLSHELLO_DONE = 1,   /* complete; *SNI set (empty when the hello names no server) */
	TLSHELLO_BAD  = -1,  /* not a TLS ClientHello, or malformed; *WHY says why */
};

/*
 * Parses the TLS record(s) at BUF holding a ClientHello (a handshake message may
 * span several records). *SNI points into BUF: the first host_name of the
 * server_name extension, which must be a valid DNS name (letters, digits, '-',
 * '.', '_'; no trailing dot; at most 253 bytes) or the hello is BAD.
 */
enum tlshello_status tlshello_parse(const uint8_t *buf, size_t len, struct slice *sni,
                                    const char **why);

#endif
