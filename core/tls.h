/* tls: OpenSSL contexts of the proxy: one presenting leaf certificates to the
 * command, one verifying upstreams against the host's trust store. */
#ifndef HTTPJAIL_TLS_H
#define HTTPJAIL_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"
#include "slice.h"

struct ca;
struct tls;
typedef struct ssl_st SSL;

/*
 * CA signs the leaves (may be NULL: no interception). Upstreams are verified against
 * OpenSSL's default paths plus every file of CA_FILES (--ca-file), read here, so that
 * a bad file is an error before anything runs. The httpjail CA itself is never
 * accepted in an upstream's chain.
 */
struct tls *tls_new(struct ca *ca, const char *const *ca_files, size_t nfiles,
                    struct errbuf *err);
void        tls_free(struct tls *);

/* An SSL to accept FD with a leaf for NAME (a host name or an address literal). */
SSL *tls_server_ssl(struct tls *, int fd, struct slice name, struct errbuf *err);
/* An SSL to connect FD to HOST: SNI, hostname (or IP) verification, TLS 1.2 at
 * least, and a session from an earlier connection to HOST when there is one. */
SSL *tls_client_ssl(struct tls *, int fd, const char *host, struct errbuf *err);
/* Keeps SSL's session for the next connection to HOST. */
void tls_client_keep(struct tls *, SSL *, const char *host);
/* Why a handshake with an upstream failed, in words ("certificate has expired"). */
const char *tls_client_error(SSL *, char *buf, size_t bufsz);

#endif
