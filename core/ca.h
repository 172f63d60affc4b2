/* ca: the interception CA of the invoking user, made on first use and kept, and
 * the leaf certificates it signs for the names the command connects to. Holds the
 * CA key: nothing else in httpjail touches it. */
#ifndef HTTPJAIL_CA_H
#define HTTPJAIL_CA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errbuf.h"
#include "slice.h"

struct ca;
struct ca_leaf;
typedef struct x509_st X509;
typedef struct evp_pkey_st EVP_PKEY;

/*
 * The directory of the CA: $XDG_CONFIG_HOME/httpjail, else HOME/.config/httpjail,
 * for the user OWNER (a uid; -1 means the current user, and HOME then comes from
 * the environment; for another user from the passwd entry). Writes it to OUT.
 */
int  ca_dir(uid_t owner, char *out, size_t outsz, struct errbuf *err);

/*
 * Loads the CA from DIR (ca-cert.pem, ca-key.pem), creating it when neither file
 * exists: ECDSA P-256, CN "httpjail CA (HOST)", 10 years, CA:TRUE pathlen 0,
 * keyUsage keyCertSign+cRLSign, directory 0700 and key 0600, both owned by OWNER
 * (uid, gid; -1 keeps the current ones). Creation is atomic: two runs starting at
 * once end with one CA. An existing CA with a group/world-accessible key or
 * directory, a key that does not match the certificate, or an unreadable file is
 * an error naming the file and the fix; it is never replaced silently.
 */
struct ca *ca_load(const char *dir, uid_t owner, gid_t group, struct errbuf *err);
/* Replaces the CA in DIR with a new one (`httpjail ca regenerate`). */
struct ca *ca_regenerate(const char *dir, uid_t owner, gid_t group, struct errbuf *err);
void       ca_free(struct ca *);

X509       *ca_cert(const struct ca *);           /* borrowed */
const char *ca_cert_path(const struct ca *);
/* PEM text of the CA certificate (borrowed, NUL-terminated). */
const char *ca_cert_pem(const struct ca *);
/* SHA-256 of the CA certificate's DER, as 64 hex digits (borrowed). */
const char *ca_fingerprint(const struct ca *);

/*
 * Leaves: one P-256 key for all leaves of this process, a certificate per name
 * (DNS name, or IPv4/IPv6 literal as an IP SAN), random 128-bit serial, valid from
 * one hour ago for 30 days (never past the CA), signed with ECDSA-SHA256, kept in an
 * LRU cache of CAPACITY names. The returned leaf is borrowed: valid until the next
 * ca_leaf_get() may evict it, so callers take their own reference with X509_up_ref()
 * when they keep it (SSL_use_certificate does).
 */
int      ca_leaf_init(struct ca *, size_t capacity, struct errbuf *err);
X509    *ca_leaf_get(struct ca *, struct slice name, struct errbuf *err);
/* The leaves' key (borrowed), made on first use: it is OpenSSL's first random
 * numbers, half a millisecond that a run's start and a run without TLS need not
 * pay. NULL with ERR set when it cannot be made. */
EVP_PKEY *ca_leaf_key(struct ca *, struct errbuf *err);
size_t   ca_leaf_cached(const struct ca *);        /* names in the cache now */

#endif
