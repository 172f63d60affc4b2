#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "ca.h"
#include "tls.h"

#define SESSIONS 64

struct session {
	char         se_host[256];
	SSL_SESSION *se_sess;
};

struct tls {
	struct ca      *tl_ca;
	X509_STORE     *tl_store;   /* what upstreams are verified against */
	SSL_CTX        *tl_server;  /* NULL until first used, and without a CA */
	SSL_CTX        *tl_client;  /* NULL until first used */
	struct session  tl_sessions[SESSIONS];
	size_t          tl_next;
};

static int tl_index = -1;  /* SSL ex_data slot: the struct tls of an SSL */

static void
ossl_error(struct errbuf *err, const char *what)
{
	char detail[256];

	ERR_error_string_n(ERR_get_error(), detail, sizeof(detail));
	errbuf_set(err, "%s: %s", what, detail);
	ERR_clear_error();
}

/* Offers and accepts http/1.1 only: the proxy speaks nothing else to the command. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
            const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h1[] = "\x08http/1.1";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h1, sizeof(h1) - 1, in,
	                          inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	return SSL_TLSEXT_ERR_OK;
}

/* An upstream presenting a certificate of our own CA is an impostor, whatever the
 * trust store says: anyone holding one of our leaves could pass as any host. */
static int
verify_cb(int ok, X509_STORE_CTX *sctx)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls *tl = ssl ? SSL_get_ex_data(ssl, tl_index) : NULL;
	X509 *cert = X509_STORE_CTX_get_current_cert(sctx);

	if (tl != NULL && tl->tl_ca != NULL && cert != NULL &&
	    (X509_cmp(cert, ca_cert(tl->tl_ca)) == 0 ||
	     X509_check_issued(ca_cert(tl->tl_ca), cert) == X509_V_OK)) {
		X509_STORE_CTX_set_error(sctx, X509_V_ERR_CERT_REJECTED);
		return 0;
	}
	return ok;
}

/*
 * The system's trusted CAs. Parsing the whole bundle file costs some 60 ms at every
 * start; the hashed directory beside it is read one certificate at a time, when a
 * chain needs it. A user's SSL_CERT_FILE/SSL_CERT_DIR is taken as given.
 */
static int
trust_system(X509_STORE *st)
{
	const char *file = getenv(X509_get_default_cert_file_env());
	const char *dir = getenv(X509_get_default_cert_dir_env());
	char a[PATH_MAX], b[PATH_MAX];
	struct stat sb;

	if (dir == NULL)
		dir = X509_get_default_cert_dir();
	/* A SSL_CERT_FILE that is just the system bundle says nothing the directory
	 * does not. */
	if (file != NULL && (realpath(file, a) == NULL ||
	    realpath(X509_get_default_cert_file(), b) == NULL || strcmp(a, b) != 0))
		return X509_STORE_set_default_paths(st);
	if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode))
		return X509_STORE_load_path(st, dir);
	return X509_STORE_set_default_paths(st);
}

struct tls *
tls_new(struct ca *ca, const char *const *ca_files, size_t nfiles, struct errbuf *err)
{
	struct tls *tl = calloc(1, sizeof(*tl));

	if (tl == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if (tl_index < 0)
		tl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	tl->tl_ca = ca;
	if ((tl->tl_store = X509_STORE_new()) == NULL || trust_system(tl->tl_store) != 1) {
		ossl_error(err, "the system's trusted certificates");
		goto fail;
	}
	for (size_t i = 0; i < nfiles; i++) {
		if (X509_STORE_load_file(tl->tl_store, ca_files[i]) != 1) {
			char what[1100];
			snprintf(what, sizeof(what), "--ca-file %s", ca_files[i]);
			ossl_error(err, what);
			goto fail;
		}
	}
	return tl;
fail:
	tls_free(tl);
	return NULL;
}

/* The contexts are made on first use: a few tenths of a millisecond each, which a
 * run's start, and a run that never meets TLS, need not pay. */
static SSL_CTX *
client_ctx(struct tls *tl, struct errbuf *err)
{
	if (tl->tl_client != NULL)
		return tl->tl_client;
	if ((tl->tl_client = SSL_CTX_new(TLS_client_method())) == NULL) {
		ossl_error(err, "TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(tl->tl_client, TLS1_2_VERSION);
	SSL_CTX_set_verify(tl->tl_client, SSL_VERIFY_PEER, verify_cb);
	SSL_CTX_set_session_cache_mode(tl->tl_client, SSL_SESS_CACHE_CLIENT);
	SSL_CTX_set_mode(tl->tl_client, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set1_cert_store(tl->tl_client, tl->tl_store);
	return tl->tl_client;
}

static SSL_CTX *
server_ctx(struct tls *tl, struct errbuf *err)
{
	EVP_PKEY *key;
	SSL_CTX *ctx;

	if (tl->tl_server != NULL)
		return tl->tl_server;
	if ((key = ca_leaf_key(tl->tl_ca, err)) == NULL)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ossl_error(err, "TLS");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	                 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	if (SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		ossl_error(err, "leaf key");
		SSL_CTX_free(ctx);
		return NULL;
	}
	return tl->tl_server = ctx;
}

void
tls_free(struct tls *tl)
{
	if (tl == NULL)
		return;
	for (size_t i = 0; i < SESSIONS; i++)
		SSL_SESSION_free(tl->tl_sessions[i].se_sess);
	SSL_CTX_free(tl->tl_server);
	SSL_CTX_free(tl->tl_client);
	X509_STORE_free(tl->tl_store);
	free(tl);
}

SSL *
tls_server_ssl(struct tls *tl, int fd, struct slice name, struct errbuf *err)
{
	SSL_CTX *ctx;
	X509 *leaf;
	SSL *ssl;

	if (tl->tl_ca == NULL) {
		errbuf_set(err, "TLS interception is off");
		return NULL;
	}
	if ((ctx = server_ctx(tl, err)) == NULL ||
	    (leaf = ca_leaf_get(tl->tl_ca, name, err)) == NULL)
		return NULL;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_use_certificate(ssl, leaf) != 1) {
		ossl_error(err, "TLS");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

static struct session *
session_of(struct tls *tl, const char *host)
{
	for (size_t i = 0; i < SESSIONS; i++)
		if (tl->tl_sessions[i].se_sess != NULL &&
		    strcmp(tl->tl_sessions[i].se_host, host) == 0)
			return &tl->tl_sessions[i];
	return NULL;
}

SSL *
tls_client_ssl(struct tls *tl, int fd, const char *host, struct errbuf *err)
{
	unsigned char ip[16];
	struct session *se;
	bool literal = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	SSL_CTX *ctx = client_ctx(tl, err);
	SSL *ssl;

	if (ctx == NULL)
		return NULL;
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_ex_data(ssl, tl_index, tl) != 1 ||
	    (literal ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1
	             : SSL_set1_host(ssl, host) != 1 ||
	               SSL_set_tlsext_host_name(ssl, host) != 1)) {
		ossl_error(err, "TLS");
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_alpn_protos(ssl, (const unsigned char *)"\x08http/1.1", 9);
	if ((se = session_of(tl, host)) != NULL)
		SSL_set_session(ssl, se->se_sess);
	SSL_set_connect_state(ssl);
	return ssl;
}

void
tls_client_keep(struct tls *tl, SSL *ssl, const char *host)
{
	SSL_SESSION *sess = SSL_get1_session(ssl);
	struct session *se;

	if (sess == NULL || strlen(host) >= sizeof(se->se_host)) {
		SSL_SESSION_free(sess);
		return;
	}
	if ((se = session_of(tl, host)) == NULL) {
		se = &tl->tl_sessions[tl->tl_next];
		tl->tl_next = (tl->tl_next + 1) % SESSIONS;
		snprintf(se->se_host, sizeof(se->se_host), "%s", host);
	}
	SSL_SESSION_free(se->se_sess);
	se->se_sess = sess;
}

const char *
tls_client_error(SSL *ssl, char *buf, size_t bufsz)
{
	long v = SSL_get_verify_result(ssl);
	unsigned long e;

	if (v == X509_V_ERR_CERT_REJECTED)
		snprintf(buf, bufsz, "certificate verify failed: the upstream presented a "
		         "certificate of httpjail's own CA");
	else if (v != X509_V_OK)
		snprintf(buf, bufsz, "certificate verify failed: %s",
		         X509_verify_cert_error_string(v));
	else if ((e = ERR_peek_last_error()) != 0)
		ERR_error_string_n(e, buf, bufsz);
	else
		snprintf(buf, bufsz, "TLS handshake failed");
	ERR_clear_error();
	return buf;
}
