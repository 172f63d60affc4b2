/* ca: the interception CA of one user, made on first use and kept in a 0700
 * directory, and the leaf certificates it signs, cached per name in LRU order. */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "xdg.h"

#define CA_KEY          "ca-key.pem"
#define CA_CERT         "ca-cert.pem"
#define CA_DAYS         3652    /* ten years, leap days included */
#define LEAF_DAYS       30
#define BACKDATE        3600    /* tolerate clocks an hour behind ours */
#define NAME_MAX_LEN    253     /* the longest DNS name */
#define CN_MAX          64      /* ub-common-name, RFC 5280 */
#define CACHE_DEFAULT   1024
#define BUCKETS_MAX     (1u << 20)
#define PUBLISH_WAIT_MS 2000
#define PUBLISH_POLL_MS 20

/* How to mend a CA that does not load: it is never replaced behind the user's back. */
#define CA_FIX "delete the directory's CA files to make a new CA, or restore them"

struct ca_leaf {
	struct ca_leaf *lf_hnext;           /* hash chain */
	struct ca_leaf *lf_prev, *lf_next;  /* LRU list, most recent first */
	X509           *lf_cert;
	uint64_t        lf_hash;
	size_t          lf_len;
	char            lf_name[];          /* lower case, NUL-terminated */
};

/* The extensions every leaf carries, made once; the subjectAltName differs per leaf. */
enum { EXT_BC, EXT_KU, EXT_EKU, EXT_AKID, EXT_N };

struct ca {
	X509            *ca_cert;
	EVP_PKEY        *ca_key;
	char            *ca_certpath;
	char            *ca_pem;
	char             ca_fpr[2 * 32 + 1];

	EVP_PKEY        *ca_leafkey;        /* NULL until ca_leaf_key() */
	X509_EXTENSION  *ca_leafext[EXT_N];
	struct ca_leaf **ca_buckets;
	size_t           ca_nbuckets;       /* a power of two */
	struct ca_leaf  *ca_mru, *ca_lru;
	size_t           ca_nleaves, ca_capacity;
};

/* The names in one CA directory; a temporary name is empty when no such file exists. */
struct ca_paths {
	const char *cp_dir;
	char        cp_key[PATH_MAX];
	char        cp_cert[PATH_MAX];
	char        cp_tmpkey[PATH_MAX];
	char        cp_tmpcert[PATH_MAX];
};

/* One line for the newest OpenSSL error, leaving the queue empty for the next caller. */
static void __attribute__((format(printf, 2, 3)))
ssl_error(struct errbuf *err, const char *fmt, ...)
{
	unsigned long e = ERR_peek_last_error();
	const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
	char what[512], detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (reason != NULL)
		snprintf(detail, sizeof(detail), "%s", reason);
	else if (e != 0)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "unknown OpenSSL error");
	ERR_clear_error();
	errbuf_set(err, "%s: %s", what, detail);
}

int
ca_dir(uid_t owner, char *out, size_t outsz, struct errbuf *err)
{
	return xdg_dir(owner, "XDG_CONFIG_HOME", ".config", "for the CA", out, outsz, err);
}

/*
 * Hands a directory just made to OWNER. lchown(): when root makes a user's directory,
 * a symlink swapped in for it must not turn this into a chown of its target.
 */
static int
give(const char *path, uid_t owner, gid_t group, struct errbuf *err)
{
	if ((owner != (uid_t)-1 || group != (gid_t)-1) && lchown(path, owner, group) == -1) {
		errbuf_set(err, "%s: cannot change owner: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Makes DIR 0700, and its parent (~/.config) 0755 when that is missing too. */
static int
make_dir(const char *dir, uid_t owner, gid_t group, struct errbuf *err)
{
	char parent[PATH_MAX], *slash;
	size_t n;

	if (mkdir(dir, 0700) == 0)
		return give(dir, owner, group, err);
	if (errno == ENOENT && (n = strlen(dir)) < sizeof(parent)) {
		memcpy(parent, dir, n + 1);
		while (n > 1 && parent[n - 1] == '/')
			parent[--n] = '\0';
		if ((slash = strrchr(parent, '/')) != NULL && slash != parent) {
			*slash = '\0';
			if (mkdir(parent, 0755) == 0) {
				if (give(parent, owner, group, err) == -1)
					return -1;
			} else if (errno != EEXIST) {
				errbuf_set(err, "%s: cannot create: %s", parent, strerror(errno));
				return -1;
			}
			if (mkdir(dir, 0700) == 0)
				return give(dir, owner, group, err);
		}
	}
	if (errno == EEXIST)
		return 0;
	errbuf_set(err, "%s: cannot create the CA directory: %s", dir, strerror(errno));
	return -1;
}

static int
check_dir(const char *dir, struct errbuf *err)
{
	struct stat st;

	if (stat(dir, &st) == -1) {
		errbuf_set(err, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errbuf_set(err, "%s: not a directory", dir);
		return -1;
	}
	if (st.st_mode & 077) {
		errbuf_set(err, "%s: mode %04o lets other users into the CA directory; run "
		           "chmod 700 on it", dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Names the files of DIR, then makes DIR when missing and checks who may enter it. */
static int
open_dir(struct ca_paths *cp, const char *dir, uid_t owner, gid_t group,
         struct errbuf *err)
{
	memset(cp, 0, sizeof(*cp));
	cp->cp_dir = dir;
	if ((size_t)snprintf(cp->cp_key, sizeof(cp->cp_key), "%s/%s", dir, CA_KEY) >=
	        sizeof(cp->cp_key) ||
	    (size_t)snprintf(cp->cp_cert, sizeof(cp->cp_cert), "%s/%s", dir, CA_CERT) >=
	        sizeof(cp->cp_cert)) {
		errbuf_set(err, "%s: path too long", dir);
		return -1;
	}
	if (make_dir(dir, owner, group, err) == -1)
		return -1;
	return check_dir(dir, err);
}

static int
present(const char *path, bool *yes, struct errbuf *err)
{
	struct stat st;

	*yes = lstat(path, &st) == 0;
	if (*yes || errno == ENOENT)
		return 0;
	errbuf_set(err, "%s: %s", path, strerror(errno));
	return -1;
}

/* An encrypted key is not ours: fail instead of prompting on the terminal. */
static int
no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

static EVP_PKEY *
read_key(const char *path, struct errbuf *err)
{
	EVP_PKEY *key = NULL;
	OSSL_DECODER_CTX *dc;
	char pem[16384];
	struct stat st;
	size_t len;
	BIO *bio;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		errbuf_set(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		errbuf_set(err, "%s: not a regular file (%s)", path, CA_FIX);
		goto fail;
	}
	/* Checked on the open file, so a chmod racing us cannot slip past. */
	if (st.st_mode & 077) {
		errbuf_set(err, "%s: mode %04o lets other users read the CA key; run chmod "
		           "600 on it", path, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		errbuf_set(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	len = fread(pem, 1, sizeof(pem), fp);
	fclose(fp);
	/* The key httpjail makes, asked for by its form: OpenSSL's search through every
	 * decoder it has costs a run's start a quarter of a millisecond more. */
	if (len < sizeof(pem) &&
	    (dc = OSSL_DECODER_CTX_new_for_pkey(&key, "PEM", "PrivateKeyInfo", "EC",
	                                        EVP_PKEY_KEYPAIR, NULL, NULL)) != NULL) {
		const unsigned char *p = (const unsigned char *)pem;
		size_t left = len;
		if (OSSL_DECODER_from_data(dc, &p, &left) != 1) {
			key = NULL;
			ERR_clear_error();
		}
		OSSL_DECODER_CTX_free(dc);
	}
	if (key == NULL && len < sizeof(pem) && (bio = BIO_new_mem_buf(pem, (int)len)) != NULL) {
		key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
	}
	OPENSSL_cleanse(pem, len);
	if (key == NULL) {
		ERR_clear_error();
		errbuf_set(err, "%s: not a PEM private key (%s)", path, CA_FIX);
	}
	return key;
fail:
	if (fd != -1)
		close(fd);
	return NULL;
}

static X509 *
read_cert(const char *path, struct errbuf *err)
{
	X509 *cert;
	FILE *fp;

	if ((fp = fopen(path, "re")) == NULL) {
		errbuf_set(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	cert = PEM_read_X509(fp, NULL, no_passphrase, NULL);
	fclose(fp);
	if (cert == NULL) {
		ERR_clear_error();
		errbuf_set(err, "%s: not a PEM certificate (%s)", path, CA_FIX);
	}
	return cert;
}

/* Takes CERT and KEY, freeing them on failure. */
static struct ca *
ca_new(X509 *cert, EVP_PKEY *key, const char *certpath, struct errbuf *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen, i;
	struct ca *ca;
	BIO *bio = NULL;
	char *pem;
	long len;

	if ((ca = calloc(1, sizeof(*ca))) == NULL) {
		X509_free(cert);
		EVP_PKEY_free(key);
		goto nomem;
	}
	ca->ca_cert = cert;
	ca->ca_key = key;
	if ((ca->ca_certpath = strdup(certpath)) == NULL)
		goto nomem;
	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen * 2 >= sizeof(ca->ca_fpr) ||
	    (bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(bio, cert) != 1 ||
	    (len = BIO_get_mem_data(bio, &pem)) <= 0) {
		ssl_error(err, "%s: cannot encode the CA certificate", certpath);
		goto fail;
	}
	for (i = 0; i < mdlen; i++)
		snprintf(ca->ca_fpr + 2 * i, 3, "%02x", md[i]);
	if ((ca->ca_pem = strndup(pem, (size_t)len)) == NULL)
		goto nomem;
	BIO_free(bio);
	return ca;
nomem:
	errbuf_set(err, "out of memory");
fail:
	BIO_free(bio);
	ca_free(ca);
	return NULL;
}

static struct ca *
load_files(const struct ca_paths *cp, struct errbuf *err)
{
	EVP_PKEY *key;
	X509 *cert;

	if ((key = read_key(cp->cp_key, err)) == NULL)
		return NULL;
	if ((cert = read_cert(cp->cp_cert, err)) == NULL) {
		EVP_PKEY_free(key);
		return NULL;
	}
	if (X509_check_private_key(cert, key) != 1)
		errbuf_set(err, "%s: not the key of %s (%s)", cp->cp_key, CA_CERT, CA_FIX);
	else if (X509_check_ca(cert) == 0)
		errbuf_set(err, "%s: not a CA certificate (%s)", cp->cp_cert, CA_FIX);
	else if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		errbuf_set(err, "%s: the CA certificate has expired; run httpjail ca "
		           "regenerate", cp->cp_cert);
	else
		return ca_new(cert, key, cp->cp_cert, err);
	ERR_clear_error();
	X509_free(cert);
	EVP_PKEY_free(key);
	return NULL;
}

static int
set_serial(X509 *cert)
{
	BIGNUM *bn = BN_new();
	int ok;

	/* Exactly 128 bits with the top one set: unguessable, positive, never zero. */
	ok = bn != NULL && BN_rand(bn, 128, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) == 1 &&
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static X509_EXTENSION *
make_ext(X509 *issuer, X509 *subject, int nid, const char *value)
{
	X509V3_CTX ctx;

	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
	return X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
}

static int
add_ext(X509 *cert, int nid, const char *value)
{
	X509_EXTENSION *ext = make_ext(cert, cert, nid, value);
	int ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* The CA names its host so that a user who trusts several can tell them apart. */
static void
ca_common_name(char *cn, size_t cnsz)
{
	char host[256];
	size_t i;

	if (gethostname(host, sizeof(host)) == -1 || host[0] == '\0')
		snprintf(host, sizeof(host), "unknown host");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if (host[i] < 0x20 || host[i] > 0x7e)
			host[i] = '?';
	/* "httpjail CA (" and ")" take 14 of the 64 characters a CN may have. */
	snprintf(cn, cnsz, "httpjail CA (%.*s)", CN_MAX - 14, host);
}

static int
make_ca(X509 **certp, EVP_PKEY **keyp, struct errbuf *err)
{
	char cn[CN_MAX + 1];
	X509_NAME *name;
	EVP_PKEY *key;
	X509 *cert = NULL;

	ca_common_name(cn, sizeof(cn));
	if ((key = EVP_EC_gen("P-256")) == NULL || (cert = X509_new()) == NULL ||
	    X509_set_version(cert, X509_VERSION_3) != 1 || set_serial(cert) == -1 ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), CA_DAYS, 0, NULL) == NULL ||
	    (name = X509_get_subject_name(cert)) == NULL ||
	    X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_ASC,
	                               (const unsigned char *)"httpjail", -1, -1, 0) != 1 ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_ASC,
	                               (const unsigned char *)cn, -1, -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 || X509_set_pubkey(cert, key) != 1 ||
	    add_ext(cert, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") == -1 ||
	    add_ext(cert, NID_key_usage, "critical,keyCertSign,cRLSign") == -1 ||
	    add_ext(cert, NID_subject_key_identifier, "hash") == -1 ||
	    X509_sign(cert, key, EVP_sha256()) <= 0) {
		ssl_error(err, "cannot make a CA certificate");
		X509_free(cert);
		EVP_PKEY_free(key);
		return -1;
	}
	*certp = cert;
	*keyp = key;
	return 0;
}

/*
 * Writes BIO's bytes to a new hidden file in the CA directory, flushed to disk
 * before anyone can see it under its real name. TMP names the file even on failure,
 * for the caller to remove.
 */
static int
write_temp(char *tmp, const char *dir, const char *base, BIO *bio, mode_t mode,
           uid_t owner, gid_t group, struct errbuf *err)
{
	char *data;
	long len = BIO_get_mem_data(bio, &data);
	ssize_t n;
	int fd, e;

	if ((size_t)snprintf(tmp, PATH_MAX, "%s/.%s.XXXXXX", dir, base) >= PATH_MAX) {
		tmp[0] = '\0';
		errbuf_set(err, "%s: path too long", dir);
		return -1;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		errbuf_set(err, "%s: cannot create a file: %s", dir, strerror(errno));
		tmp[0] = '\0';
		return -1;
	}
	while (len > 0) {
		if ((n = write(fd, data, (size_t)len)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		data += n;
		len -= n;
	}
	if (fchmod(fd, mode) == -1 ||
	    ((owner != (uid_t)-1 || group != (gid_t)-1) && fchown(fd, owner, group) == -1) ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		errbuf_set(err, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	return 0;
fail:
	e = errno;
	close(fd);
	errbuf_set(err, "%s: %s", tmp, strerror(e));
	return -1;
}

static int
write_temps(struct ca_paths *cp, X509 *cert, EVP_PKEY *key, uid_t owner, gid_t group,
            struct errbuf *err)
{
	/* Secure memory is wiped when freed: the key's PEM leaves no copy on the heap. */
	BIO *kb = BIO_new(BIO_s_secmem()), *cb = BIO_new(BIO_s_mem());
	int rc = -1;

	if (kb == NULL || cb == NULL ||
	    PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, cert) != 1)
		ssl_error(err, "cannot encode the new CA");
	else if (write_temp(cp->cp_tmpkey, cp->cp_dir, CA_KEY, kb, 0600, owner, group,
	                    err) == 0 &&
	         write_temp(cp->cp_tmpcert, cp->cp_dir, CA_CERT, cb, 0644, owner, group,
	                    err) == 0)
		rc = 0;
	BIO_free(kb);
	BIO_free(cb);
	return rc;
}

static void
remove_temps(struct ca_paths *cp)
{
	if (cp->cp_tmpkey[0] != '\0')
		(void)unlink(cp->cp_tmpkey);
	if (cp->cp_tmpcert[0] != '\0')
		(void)unlink(cp->cp_tmpcert);
	cp->cp_tmpkey[0] = cp->cp_tmpcert[0] = '\0';
}

/* The new names are on disk already: a failed flush of the directory is not worth refusing them. */
static void
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd != -1) {
		(void)fsync(fd);
		close(fd);
	}
}

/*
 * First use: publish a new CA unless another run does so first. Several runs may
 * get here at once; link() of the key succeeds for exactly one of them, which then
 * links the certificate, while the others get EEXIST, drop their CA and return 0 to
 * wait for the winner's certificate. Returns 1 with *CAP set when this run made the CA.
 */
static int
create(struct ca_paths *cp, uid_t owner, gid_t group, struct ca **cap,
       struct errbuf *err)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	int rc = -1;

	if (make_ca(&cert, &key, err) == -1 ||
	    write_temps(cp, cert, key, owner, group, err) == -1)
		goto done;
	if (link(cp->cp_tmpkey, cp->cp_key) == -1) {
		if (errno == EEXIST)
			rc = 0;
		else
			errbuf_set(err, "%s: %s", cp->cp_key, strerror(errno));
		goto done;
	}
	if (link(cp->cp_tmpcert, cp->cp_cert) == -1) {
		errbuf_set(err, "%s: %s", cp->cp_cert, strerror(errno));
		/* A key without its certificate would stop every later run. */
		(void)unlink(cp->cp_key);
		goto done;
	}
	sync_dir(cp->cp_dir);
	*cap = ca_new(cert, key, cp->cp_cert, err);
	cert = NULL;
	key = NULL;
	rc = *cap != NULL ? 1 : -1;
done:
	remove_temps(cp);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

struct ca *
ca_load(const char *dir, uid_t owner, gid_t group, struct errbuf *err)
{
	const struct timespec poll = { 0, PUBLISH_POLL_MS * 1000000L };
	struct ca_paths cp;
	struct ca *ca = NULL;
	bool haskey, hascert;
	int i, rc;

	if (open_dir(&cp, dir, owner, group, err) == -1 ||
	    present(cp.cp_key, &haskey, err) == -1 ||
	    present(cp.cp_cert, &hascert, err) == -1)
		return NULL;
	if (!haskey && !hascert) {
		if ((rc = create(&cp, owner, group, &ca, err)) != 0)
			return ca;
		haskey = true;
	}
	/* The key is published first: give its creator time to publish the certificate. */
	for (i = 0; haskey && !hascert && i < PUBLISH_WAIT_MS / PUBLISH_POLL_MS; i++) {
		nanosleep(&poll, NULL);
		if (present(cp.cp_cert, &hascert, err) == -1)
			return NULL;
	}
	if (haskey != hascert) {
		errbuf_set(err, "%s: missing, but %s exists (%s)",
		           haskey ? cp.cp_cert : cp.cp_key, haskey ? CA_KEY : CA_CERT, CA_FIX);
		return NULL;
	}
	return load_files(&cp, err);
}

/*
 * Each rename is atomic, the pair is not: a run loading between the two sees a key
 * that does not match the certificate and fails rather than use either.
 */
struct ca *
ca_regenerate(const char *dir, uid_t owner, gid_t group, struct errbuf *err)
{
	struct ca_paths cp;
	struct ca *ca = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;

	if (open_dir(&cp, dir, owner, group, err) == -1)
		return NULL;
	if (make_ca(&cert, &key, err) == -1 ||
	    write_temps(&cp, cert, key, owner, group, err) == -1)
		goto done;
	if (rename(cp.cp_tmpkey, cp.cp_key) == -1) {
		errbuf_set(err, "%s: %s", cp.cp_key, strerror(errno));
		goto done;
	}
	cp.cp_tmpkey[0] = '\0';
	if (rename(cp.cp_tmpcert, cp.cp_cert) == -1) {
		errbuf_set(err, "%s: %s (the new key is in place without its certificate; "
		           "regenerate again)", cp.cp_cert, strerror(errno));
		goto done;
	}
	cp.cp_tmpcert[0] = '\0';
	sync_dir(dir);
	ca = ca_new(cert, key, cp.cp_cert, err);
	cert = NULL;
	key = NULL;
done:
	remove_temps(&cp);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ca;
}

X509 *
ca_cert(const struct ca *ca)
{
	return ca->ca_cert;
}

const char *
ca_cert_path(const struct ca *ca)
{
	return ca->ca_certpath;
}

const char *
ca_cert_pem(const struct ca *ca)
{
	return ca->ca_pem;
}

const char *
ca_fingerprint(const struct ca *ca)
{
	return ca->ca_fpr;
}

static void
lru_unlink(struct ca *ca, struct ca_leaf *lf)
{
	if (lf->lf_prev != NULL)
		lf->lf_prev->lf_next = lf->lf_next;
	else
		ca->ca_mru = lf->lf_next;
	if (lf->lf_next != NULL)
		lf->lf_next->lf_prev = lf->lf_prev;
	else
		ca->ca_lru = lf->lf_prev;
}

static void
lru_push(struct ca *ca, struct ca_leaf *lf)
{
	lf->lf_prev = NULL;
	lf->lf_next = ca->ca_mru;
	if (ca->ca_mru != NULL)
		ca->ca_mru->lf_prev = lf;
	else
		ca->ca_lru = lf;
	ca->ca_mru = lf;
}

static void
evict(struct ca *ca, struct ca_leaf *lf)
{
	struct ca_leaf **pp = &ca->ca_buckets[lf->lf_hash & (ca->ca_nbuckets - 1)];

	while (*pp != lf)
		pp = &(*pp)->lf_hnext;
	*pp = lf->lf_hnext;
	lru_unlink(ca, lf);
	X509_free(lf->lf_cert);
	free(lf);
	ca->ca_nleaves--;
}

static void
leaves_free(struct ca *ca)
{
	int i;

	while (ca->ca_lru != NULL)
		evict(ca, ca->ca_lru);
	free(ca->ca_buckets);
	ca->ca_buckets = NULL;
	for (i = 0; i < EXT_N; i++) {
		X509_EXTENSION_free(ca->ca_leafext[i]);
		ca->ca_leafext[i] = NULL;
	}
	EVP_PKEY_free(ca->ca_leafkey);
	ca->ca_leafkey = NULL;
}

void
ca_free(struct ca *ca)
{
	if (ca == NULL)
		return;
	leaves_free(ca);
	X509_free(ca->ca_cert);
	EVP_PKEY_free(ca->ca_key);
	free(ca->ca_certpath);
	free(ca->ca_pem);
	free(ca);
}

int
ca_leaf_init(struct ca *ca, size_t capacity, struct errbuf *err)
{
	static const struct {
		int         nid;
		const char *value;
	} exts[EXT_N] = {
		[EXT_BC]   = { NID_basic_constraints, "CA:FALSE" },
		[EXT_KU]   = { NID_key_usage, "critical,digitalSignature" },
		[EXT_EKU]  = { NID_ext_key_usage, "serverAuth" },
		[EXT_AKID] = { NID_authority_key_identifier, "keyid" },
	};
	size_t nb;
	int i;

	if (ca->ca_buckets != NULL) {
		errbuf_set(err, "leaf certificates are set up already");
		return -1;
	}
	ca->ca_capacity = capacity != 0 ? capacity : CACHE_DEFAULT;
	for (nb = 16; nb < ca->ca_capacity && nb < BUCKETS_MAX; nb <<= 1)
		continue;
	if ((ca->ca_buckets = calloc(nb, sizeof(*ca->ca_buckets))) == NULL) {
		errbuf_set(err, "out of memory");
		return -1;
	}
	ca->ca_nbuckets = nb;
	for (i = 0; i < EXT_N; i++)
		if ((ca->ca_leafext[i] = make_ext(ca->ca_cert, NULL, exts[i].nid,
		                                  exts[i].value)) == NULL)
			break;
	if (i < EXT_N) {
		ssl_error(err, "cannot set up leaf certificates");
		leaves_free(ca);
		return -1;
	}
	return 0;
}

/* Letters (lower case by now), digits, '-', '.', '_', and ':' for IPv6. */
static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
	    c == '_' || c == ':';
}

/*
 * Fills HOST with NAME in lower case (an IPv6 literal without its brackets), the key
 * of the cache and the name in the certificate. Returns AF_INET or AF_INET6 for an
 * address (its bytes in IP), 0 for a DNS name, -1 for something that is neither.
 */
static int
leaf_name(struct slice name, char *host, size_t *lenp, unsigned char *ip,
          struct errbuf *err)
{
	size_t len = name.len, i;
	bool bracket;

	if (len == 0 || len > NAME_MAX_LEN) {
		errbuf_set(err, "cannot make a certificate for a host name of %zu bytes "
		           "(1 to %d)", len, NAME_MAX_LEN);
		return -1;
	}
	for (i = 0; i < len; i++) {
		char c = name.ptr[i];
		host[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	host[len] = '\0';
	if ((bracket = len > 2 && host[0] == '[' && host[len - 1] == ']')) {
		len -= 2;
		memmove(host, host + 1, len);
		host[len] = '\0';
	}
	/* Checked first, so that inet_pton() cannot stop at a NUL inside the name. */
	for (i = 0; i < len; i++)
		if (!name_char(host[i]))
			break;
	*lenp = len;
	if (i == len && inet_pton(AF_INET6, host, ip) == 1)
		return AF_INET6;
	if (i == len && !bracket && inet_pton(AF_INET, host, ip) == 1)
		return AF_INET;
	if (i == len && !bracket && strchr(host, ':') == NULL)
		return 0;
	for (i = 0; i < len; i++)
		if (host[i] < 0x20 || host[i] > 0x7e)
			host[i] = '?';
	errbuf_set(err, "cannot make a certificate for '%s%s%s': not a host name or "
	           "address", bracket ? "[" : "", host, bracket ? "]" : "");
	return -1;
}

static int
add_san(X509 *cert, const char *host, size_t len, int af, const unsigned char *ip)
{
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *s = af == 0 ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new();
	int ok;

	ok = gens != NULL && gn != NULL && s != NULL &&
	    (af == 0 ? ASN1_STRING_set(s, host, (int)len) :
	               ASN1_STRING_set(s, ip, af == AF_INET ? 4 : 16)) == 1;
	if (ok) {
		GENERAL_NAME_set0_value(gn, af == 0 ? GEN_DNS : GEN_IPADD, s);
		s = NULL;
		if ((ok = sk_GENERAL_NAME_push(gens, gn) > 0))
			gn = NULL;
	}
	ok = ok && X509_add1_ext_i2d(cert, NID_subject_alt_name, gens, 0,
	                             X509V3_ADD_APPEND) == 1;
	ASN1_STRING_free(s);
	GENERAL_NAME_free(gn);
	GENERAL_NAMES_free(gens);
	return ok ? 0 : -1;
}

static X509 *
make_leaf(struct ca *ca, const char *host, size_t len, int af, const unsigned char *ip,
          struct errbuf *err)
{
	const ASN1_TIME *ca_end = X509_get0_notAfter(ca->ca_cert);
	X509 *cert;
	int ok, i;

	ok = (cert = X509_new()) != NULL && X509_set_version(cert, X509_VERSION_3) == 1 &&
	    set_serial(cert) == 0 &&
	    X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE) != NULL &&
	    X509_time_adj_ex(X509_getm_notAfter(cert), LEAF_DAYS, 0, NULL) != NULL;
	/* A leaf outliving its CA would fail to verify at the end anyway: end with it. */
	if (ok && (i = ASN1_TIME_compare(X509_get0_notAfter(cert), ca_end)) != -1)
		ok = i != -2 && X509_set1_notAfter(cert, ca_end) == 1;
	ok = ok &&
	    X509_NAME_add_entry_by_NID(X509_get_subject_name(cert), NID_commonName,
	                               MBSTRING_ASC, (const unsigned char *)host,
	                               len < CN_MAX ? (int)len : CN_MAX, -1, 0) == 1 &&
	    X509_set_issuer_name(cert, X509_get_subject_name(ca->ca_cert)) == 1 &&
	    X509_set_pubkey(cert, ca->ca_leafkey) == 1;
	for (i = 0; ok && i < EXT_N; i++)
		ok = X509_add_ext(cert, ca->ca_leafext[i], -1) == 1;
	if (ok && add_san(cert, host, len, af, ip) == 0 &&
	    X509_sign(cert, ca->ca_key, EVP_sha256()) > 0)
		return cert;
	ssl_error(err, "cannot make a certificate for %s", host);
	X509_free(cert);
	return NULL;
}

X509 *
ca_leaf_get(struct ca *ca, struct slice name, struct errbuf *err)
{
	char host[NAME_MAX_LEN + 1];
	unsigned char ip[16];
	struct ca_leaf *lf, **bucket;
	X509 *cert;
	uint64_t h;
	size_t len;
	int af;

	if (ca->ca_buckets == NULL) {
		errbuf_set(err, "leaf certificates are not set up (ca_leaf_init)");
		return NULL;
	}
	if (ca_leaf_key(ca, err) == NULL)
		return NULL;
	if ((af = leaf_name(name, host, &len, ip, err)) == -1)
		return NULL;
	h = slice_hash((struct slice){ host, len });
	bucket = &ca->ca_buckets[h & (ca->ca_nbuckets - 1)];
	for (lf = *bucket; lf != NULL; lf = lf->lf_hnext) {
		if (lf->lf_hash == h && lf->lf_len == len && memcmp(lf->lf_name, host, len) == 0) {
			lru_unlink(ca, lf);
			lru_push(ca, lf);
			return lf->lf_cert;
		}
	}
	if ((cert = make_leaf(ca, host, len, af, ip, err)) == NULL)
		return NULL;
	if ((lf = malloc(sizeof(*lf) + len + 1)) == NULL) {
		X509_free(cert);
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if (ca->ca_nleaves == ca->ca_capacity)
		evict(ca, ca->ca_lru);
	lf->lf_cert = cert;
	lf->lf_hash = h;
	lf->lf_len = len;
	memcpy(lf->lf_name, host, len + 1);
	lf->lf_hnext = *bucket;
	*bucket = lf;
	lru_push(ca, lf);
	ca->ca_nleaves++;
	return cert;
}

EVP_PKEY *
ca_leaf_key(struct ca *ca, struct errbuf *err)
{
	if (ca->ca_leafkey == NULL && (ca->ca_leafkey = EVP_EC_gen("P-256")) == NULL)
		ssl_error(err, "cannot make the leaf certificates' key");
	return ca->ca_leafkey;
}

size_t
ca_leaf_cached(const struct ca *ca)
{
	return ca->ca_nleaves;
}
