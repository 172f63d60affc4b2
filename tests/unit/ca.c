/*
 * Unit tests of core/ca.c: the CA made, kept and refused in temporary directories
 * under /tmp (removed at the end), first runs racing in forked children, and the
 * leaves it signs checked with OpenSSL's own verifier.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pwd.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "unit.h"

#define NRACERS 8
#define NROUNDS 4
#define NTIMED  500

static char base[] = "/tmp/unit-ca-XXXXXX";

static const char *
path(const char *dir, const char *name)
{
	static char buf[4][4096];
	static int next;
	char *p = buf[next++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
	return p;
}

static int
file_mode(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static size_t
slurp(const char *p, char *buf, size_t bufsz)
{
	FILE *fp = fopen(p, "r");
	size_t n;

	if (fp == NULL)
		return 0;
	n = fread(buf, 1, bufsz - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	return n;
}

static void
spill(const char *p, const char *text)
{
	int fd = open(p, O_WRONLY | O_TRUNC);

	if (fd == -1 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		perror(p);
	if (fd != -1)
		close(fd);
}

static void
copy_file(const char *from, const char *to)
{
	char buf[8192];

	slurp(from, buf, sizeof(buf));
	spill(to, buf);
}

/* Whether DIR holds exactly the two CA files, nothing left over. */
static bool
only_ca_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int ours = 0, other = 0;

	if (d == NULL)
		return false;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strcmp(de->d_name, "ca-cert.pem") == 0 || strcmp(de->d_name, "ca-key.pem") == 0)
			ours++;
		else {
			fprintf(stderr, "%s: unexpected %s\n", dir, de->d_name);
			other++;
		}
	}
	closedir(d);
	return ours == 2 && other == 0;
}

static int
rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static bool
has(const char *hay, const char *needle)
{
	return hay != NULL && strstr(hay, needle) != NULL;
}

static void
test_first_load(const char *dir)
{
	struct errbuf err = { "" };
	BASIC_CONSTRAINTS *bc;
	struct ca *ca, *again;
	char cn[256], pem[8192];
	int crit = -1, days = 0, secs = 0;
	X509 *cert;

	/* The parent ("cfg", standing for ~/.config) is missing too. */
	ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
	CHECK(ca != NULL);
	if (ca == NULL) {
		fprintf(stderr, "ca_load: %s\n", err.msg);
		return;
	}
	CHECK(file_mode(dir) == 0700);
	CHECK(file_mode(path(dir, "ca-key.pem")) == 0600);
	CHECK(file_mode(path(dir, "ca-cert.pem")) == 0644);
	CHECK(only_ca_files(dir));
	CHECK_STR(ca_cert_path(ca), path(dir, "ca-cert.pem"));
	slurp(path(dir, "ca-cert.pem"), pem, sizeof(pem));
	CHECK_STR(ca_cert_pem(ca), pem);
	CHECK(strlen(ca_fingerprint(ca)) == 64 &&
	      strspn(ca_fingerprint(ca), "0123456789abcdef") == 64);

	cert = ca_cert(ca);
	CHECK(X509_check_ca(cert) == 1);
	CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
	                                sizeof(cn)) > 0);
	CHECK(has(cn, "httpjail CA ("));
	CHECK(X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0);
	CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
	                     X509_get0_notAfter(cert)) == 1);
	CHECK(days >= 3650 && days <= 3653);
	CHECK(X509_cmp_time(X509_get0_notBefore(cert), &(time_t){ time(NULL) - 3500 }) < 0);
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, &crit, NULL);
	CHECK(bc != NULL && bc->ca && bc->pathlen != NULL &&
	      ASN1_INTEGER_get(bc->pathlen) == 0 && crit == 1);
	BASIC_CONSTRAINTS_free(bc);
	CHECK((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) != 0);
	CHECK((X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) != 0);
	CHECK((X509_get_key_usage(cert) & KU_CRL_SIGN) != 0);
	CHECK((X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0);
	CHECK(X509_get0_subject_key_id(cert) != NULL);
	CHECK(X509_verify(cert, X509_get0_pubkey(cert)) == 1);

	again = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
	CHECK(again != NULL);
	if (again != NULL)
		CHECK_STR(ca_fingerprint(again), ca_fingerprint(ca));
	ca_free(again);
	ca_free(ca);
}

/* An existing CA that is not right is refused with the fix, and left alone. */
static void
test_refusals(const char *dir, const char *other)
{
	char before[8192], after[8192];
	struct errbuf err = { "" };
	struct ca *ca;

	chmod(path(dir, "ca-key.pem"), 0644);
	err.msg[0] = '\0';
	CHECK(ca_load(dir, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-key.pem: mode 0644") && has(err.msg, "chmod 600"));
	chmod(path(dir, "ca-key.pem"), 0600);

	chmod(dir, 0755);
	err.msg[0] = '\0';
	CHECK(ca_load(dir, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "mode 0755") && has(err.msg, "chmod 700"));
	chmod(dir, 0700);
	CHECK((ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err)) != NULL);
	ca_free(ca);

	/* A corrupt key: refused, not replaced. */
	CHECK((ca = ca_load(other, (uid_t)-1, (gid_t)-1, &err)) != NULL);
	ca_free(ca);
	spill(path(other, "ca-key.pem"), "-----BEGIN PRIVATE KEY-----\nbroken\n");
	slurp(path(other, "ca-key.pem"), before, sizeof(before));
	err.msg[0] = '\0';
	CHECK(ca_load(other, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-key.pem: not a PEM private key"));
	CHECK(strchr(err.msg, '\n') == NULL);
	slurp(path(other, "ca-key.pem"), after, sizeof(after));
	CHECK_STR(after, before);
	CHECK(only_ca_files(other));

	/* A key and a certificate that are not a pair. */
	CHECK((ca = ca_regenerate(other, (uid_t)-1, (gid_t)-1, &err)) != NULL);
	ca_free(ca);
	copy_file(path(dir, "ca-cert.pem"), path(other, "ca-cert.pem"));
	err.msg[0] = '\0';
	CHECK(ca_load(other, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-key.pem: not the key of ca-cert.pem"));

	/* A corrupt certificate. */
	spill(path(other, "ca-cert.pem"), "not a certificate\n");
	err.msg[0] = '\0';
	CHECK(ca_load(other, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-cert.pem: not a PEM certificate"));

	/* Only one of the two files: never made up into a new CA. */
	unlink(path(other, "ca-cert.pem"));
	err.msg[0] = '\0';
	CHECK(ca_load(other, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-cert.pem: missing, but ca-key.pem exists"));
	CHECK(access(path(other, "ca-cert.pem"), F_OK) == -1);
	CHECK((ca = ca_regenerate(other, (uid_t)-1, (gid_t)-1, &err)) != NULL);
	ca_free(ca);
	unlink(path(other, "ca-key.pem"));
	err.msg[0] = '\0';
	CHECK(ca_load(other, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-key.pem: missing, but ca-cert.pem exists"));
	CHECK(access(path(other, "ca-key.pem"), F_OK) == -1);

	/* Not a directory at all. */
	err.msg[0] = '\0';
	CHECK(ca_load(path(other, "ca-cert.pem"), (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "not a directory"));
}

/* NRACERS first runs at once on one fresh directory end with one CA. */
static void
test_race(const char *dir)
{
	char fprs[NRACERS][65], line[65];
	struct errbuf err = { "" };
	int go[2], out[2], status;
	pid_t pids[NRACERS];
	struct ca *ca;
	bool same = true;
	int i, ok = 0;

	if (pipe(go) == -1 || pipe(out) == -1) {
		perror("pipe");
		CHECK(0);
		return;
	}
	for (i = 0; i < NRACERS; i++) {
		if ((pids[i] = fork()) == 0) {
			char c;

			close(go[1]);
			close(out[0]);
			/* Wait for the start: the parent closing its end releases everyone at once. */
			(void)read(go[0], &c, 1);
			ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
			if (ca == NULL) {
				fprintf(stderr, "racer %d: %s\n", i, err.msg);
				_exit(1);
			}
			snprintf(line, sizeof(line), "%s", ca_fingerprint(ca));
			ca_free(ca);
			_exit(write(out[1], line, 64) == 64 ? 0 : 1);
		}
		CHECK(pids[i] > 0);
	}
	close(go[0]);
	close(out[1]);
	close(go[1]);
	for (i = 0; i < NRACERS; i++) {
		ssize_t n = 0, r;

		while (n < 64 && (r = read(out[0], fprs[i] + n, (size_t)(64 - n))) > 0)
			n += r;
		fprs[i][64] = '\0';
		if (n != 64)
			break;
	}
	close(out[0]);
	CHECK(i == NRACERS);
	for (int j = 0; j < NRACERS; j++) {
		if (pids[j] > 0 && waitpid(pids[j], &status, 0) == pids[j] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ok++;
		if (j < i && strcmp(fprs[j], fprs[0]) != 0)
			same = false;
	}
	CHECK(ok == NRACERS);
	CHECK(same);
	CHECK(only_ca_files(dir));
	CHECK(file_mode(path(dir, "ca-key.pem")) == 0600);
	ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
	CHECK(ca != NULL && strcmp(ca_fingerprint(ca), fprs[0]) == 0);
	ca_free(ca);
}

static void
test_regenerate(const char *dir)
{
	struct errbuf err = { "" };
	struct ca *old, *ca, *again;

	old = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
	ca = ca_regenerate(dir, (uid_t)-1, (gid_t)-1, &err);
	CHECK(old != NULL && ca != NULL);
	if (old == NULL || ca == NULL) {
		ca_free(old);
		ca_free(ca);
		return;
	}
	CHECK(strcmp(ca_fingerprint(old), ca_fingerprint(ca)) != 0);
	CHECK(only_ca_files(dir));
	CHECK(file_mode(path(dir, "ca-key.pem")) == 0600);
	again = ca_load(dir, (uid_t)-1, (gid_t)-1, &err);
	CHECK(again != NULL && strcmp(ca_fingerprint(again), ca_fingerprint(ca)) == 0);
	ca_free(again);
	ca_free(ca);
	ca_free(old);
}

static void
test_dir(void)
{
	char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char *savehome = home ? strdup(home) : NULL, *savexdg = xdg ? strdup(xdg) : NULL;
	struct errbuf err = { "" };
	char out[4096], want[4096];
	struct passwd *pw;

	setenv("XDG_CONFIG_HOME", "/tmp/xdg-test", 1);
	setenv("HOME", "/home/tester", 1);
	CHECK(ca_dir((uid_t)-1, out, sizeof(out), &err) == 0);
	CHECK_STR(out, "/tmp/xdg-test/httpjail");
	CHECK(ca_dir(getuid(), out, sizeof(out), &err) == 0);
	CHECK_STR(out, "/tmp/xdg-test/httpjail");
	/* Too small for the path: an error, not a truncated directory. */
	CHECK(ca_dir((uid_t)-1, out, 10, &err) == -1);
	CHECK(has(err.msg, "too long"));

	/* The XDG spec ignores relative paths, and empty ones. */
	setenv("XDG_CONFIG_HOME", "relative", 1);
	CHECK(ca_dir((uid_t)-1, out, sizeof(out), &err) == 0);
	CHECK_STR(out, "/home/tester/.config/httpjail");
	setenv("XDG_CONFIG_HOME", "", 1);
	CHECK(ca_dir((uid_t)-1, out, sizeof(out), &err) == 0);
	CHECK_STR(out, "/home/tester/.config/httpjail");
	unsetenv("XDG_CONFIG_HOME");
	CHECK(ca_dir((uid_t)-1, out, sizeof(out), &err) == 0);
	CHECK_STR(out, "/home/tester/.config/httpjail");

	/* Without HOME, the passwd entry. */
	unsetenv("HOME");
	if ((pw = getpwuid(getuid())) != NULL) {
		snprintf(want, sizeof(want), "%s/.config/httpjail", pw->pw_dir);
		CHECK(ca_dir((uid_t)-1, out, sizeof(out), &err) == 0);
		CHECK_STR(out, want);
	}

	/* Another user: their passwd home, whatever this environment says. */
	setenv("XDG_CONFIG_HOME", "/tmp/xdg-test", 1);
	setenv("HOME", "/home/tester", 1);
	if (getuid() != 65534 && (pw = getpwuid(65534)) != NULL) {
		snprintf(want, sizeof(want), "%s/.config/httpjail", pw->pw_dir);
		CHECK(ca_dir(65534, out, sizeof(out), &err) == 0);
		CHECK_STR(out, want);
	}
	if (getpwuid(54321) == NULL) {
		err.msg[0] = '\0';
		CHECK(ca_dir(54321, out, sizeof(out), &err) == -1);
		CHECK(has(err.msg, "uid 54321 has no home"));
	}

	if (savehome != NULL)
		setenv("HOME", savehome, 1);
	else
		unsetenv("HOME");
	if (savexdg != NULL)
		setenv("XDG_CONFIG_HOME", savexdg, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(savehome);
	free(savexdg);
}

static bool
verifies(struct ca *ca, X509 *leaf)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok;

	ok = store != NULL && ctx != NULL && X509_STORE_add_cert(store, ca_cert(ca)) == 1 &&
	    X509_STORE_CTX_init(ctx, store, leaf, NULL) == 1 &&
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER) == 1 &&
	    X509_verify_cert(ctx) == 1;
	if (!ok && ctx != NULL)
		fprintf(stderr, "verify: %s\n",
		        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return ok;
}

/* The only subjectAltName of LEAF: its type, and its value (DNS) or length (IP). */
static int
san(X509 *leaf, char *out, size_t outsz)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(leaf, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *gn;
	int type = -1;

	out[0] = '\0';
	if (gens != NULL && sk_GENERAL_NAME_num(gens) == 1) {
		gn = sk_GENERAL_NAME_value(gens, 0);
		type = gn->type;
		if (type == GEN_DNS)
			snprintf(out, outsz, "%.*s", ASN1_STRING_length(gn->d.dNSName),
			         (const char *)ASN1_STRING_get0_data(gn->d.dNSName));
		else if (type == GEN_IPADD)
			snprintf(out, outsz, "%d", ASN1_STRING_length(gn->d.iPAddress));
	}
	GENERAL_NAMES_free(gens);
	return type;
}

static ASN1_INTEGER *
serial_of(X509 *x)
{
	return x != NULL ? ASN1_INTEGER_dup(X509_get0_serialNumber(x)) : NULL;
}

static bool
same_serial(X509 *x, const ASN1_INTEGER *s)
{
	return x != NULL && s != NULL && ASN1_INTEGER_cmp(X509_get0_serialNumber(x), s) == 0;
}

static void
test_leaves(struct ca *ca)
{
	struct errbuf err = { "" };
	char text[512], longname[300];
	X509 *leaf, *ip4, *ip6, *ip6b, *other, *lng;
	BIGNUM *bn;
	size_t n;
	int days = 0, secs = 0;

	CHECK(ca_leaf_get(ca, SLICE_LIT("example.test"), &err) == NULL);
	CHECK(has(err.msg, "not set up"));
	CHECK(ca_leaf_init(ca, 0, &err) == 0);
	CHECK(ca_leaf_key(ca, &err) != NULL);
	CHECK(ca_leaf_init(ca, 0, &err) == -1);

	leaf = ca_leaf_get(ca, SLICE_LIT("Example.TEST"), &err);
	CHECK(leaf != NULL);
	if (leaf == NULL) {
		fprintf(stderr, "ca_leaf_get: %s\n", err.msg);
		return;
	}
	CHECK(verifies(ca, leaf));
	CHECK(san(leaf, text, sizeof(text)) == GEN_DNS);
	CHECK_STR(text, "example.test");
	CHECK(X509_NAME_get_text_by_NID(X509_get_subject_name(leaf), NID_commonName, text,
	                                sizeof(text)) > 0);
	CHECK_STR(text, "example.test");
	CHECK(X509_NAME_cmp(X509_get_issuer_name(leaf), X509_get_subject_name(ca_cert(ca))) == 0);
	CHECK(X509_check_host(leaf, "example.test", 0, 0, NULL) == 1);
	CHECK(X509_check_host(leaf, "EXAMPLE.test", 0, 0, NULL) == 1);
	CHECK(X509_check_host(leaf, "evil.test", 0, 0, NULL) == 0);
	CHECK(X509_check_host(leaf, "www.example.test", 0, 0, NULL) == 0);
	CHECK(X509_cmp_time(X509_get0_notBefore(leaf), &(time_t){ time(NULL) - 3500 }) < 0);
	CHECK(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf),
	                     X509_get0_notAfter(leaf)) == 1);
	CHECK(days == 30 && secs >= 3600 && secs <= 3602);
	CHECK(X509_check_private_key(leaf, ca_leaf_key(ca, &err)) == 1);
	CHECK(X509_check_ca(leaf) == 0);
	CHECK((X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE) != 0);
	CHECK((X509_get_key_usage(leaf) & KU_KEY_CERT_SIGN) == 0);
	CHECK((X509_get_extended_key_usage(leaf) & XKU_SSL_SERVER) != 0);
	CHECK(X509_get0_authority_key_id(leaf) != NULL &&
	      ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(leaf),
	                            X509_get0_subject_key_id(ca_cert(ca))) == 0);
	bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(leaf), NULL);
	CHECK(bn != NULL && !BN_is_negative(bn) && BN_num_bits(bn) == 128);
	BN_free(bn);

	ip4 = ca_leaf_get(ca, SLICE_LIT("203.0.113.7"), &err);
	CHECK(ip4 != NULL && verifies(ca, ip4));
	CHECK(ip4 != NULL && san(ip4, text, sizeof(text)) == GEN_IPADD && strcmp(text, "4") == 0);
	CHECK(ip4 != NULL && X509_check_ip_asc(ip4, "203.0.113.7", 0) == 1);
	CHECK(ip4 != NULL && X509_check_ip_asc(ip4, "203.0.113.8", 0) == 0);
	ip6 = ca_leaf_get(ca, SLICE_LIT("2001:DB8::1"), &err);
	CHECK(ip6 != NULL && verifies(ca, ip6));
	CHECK(ip6 != NULL && san(ip6, text, sizeof(text)) == GEN_IPADD && strcmp(text, "16") == 0);
	CHECK(ip6 != NULL && X509_check_ip_asc(ip6, "2001:db8::1", 0) == 1);
	CHECK(ip6 != NULL && X509_check_ip_asc(ip6, "2001:db8:0:0:0:0:0:1", 0) == 1);
	CHECK(ip6 != NULL && X509_check_ip_asc(ip6, "2001:db8::2", 0) == 0);
	/* With brackets it is the same address, and the same cached leaf. */
	ip6b = ca_leaf_get(ca, SLICE_LIT("[2001:db8::1]"), &err);
	CHECK(ip6b != NULL && X509_check_ip_asc(ip6b, "2001:db8::1", 0) == 1);
	CHECK(ip6b == ip6);

	other = ca_leaf_get(ca, SLICE_LIT("other.test"), &err);
	CHECK(other != NULL &&
	      ASN1_INTEGER_cmp(X509_get0_serialNumber(other), X509_get0_serialNumber(leaf)) != 0);

	/* Hits: the same certificate, whatever the case, and no new entry. */
	n = ca_leaf_cached(ca);
	CHECK(n == 4);
	CHECK(ca_leaf_get(ca, SLICE_LIT("example.test"), &err) == leaf);
	CHECK(ca_leaf_get(ca, SLICE_LIT("EXAMPLE.TEST"), &err) == leaf);
	CHECK(ca_leaf_cached(ca) == n);

	/* A name longer than a CN may be: the CN is cut, the SAN is not. */
	memset(longname, 'a', sizeof(longname));
	memcpy(longname + 100 - 5, ".test", 5);
	lng = ca_leaf_get(ca, (struct slice){ longname, 100 }, &err);
	CHECK(lng != NULL && verifies(ca, lng));
	CHECK(lng != NULL && san(lng, text, sizeof(text)) == GEN_DNS && strlen(text) == 100);
	CHECK(lng != NULL && X509_NAME_get_text_by_NID(X509_get_subject_name(lng),
	                                               NID_commonName, text, sizeof(text)) == 64);

	/* Underscores appear in real names (_dmarc, service hosts). */
	CHECK(ca_leaf_get(ca, SLICE_LIT("a_b.example.test"), &err) != NULL);

	n = ca_leaf_cached(ca);
	err.msg[0] = '\0';
	CHECK(ca_leaf_get(ca, SLICE_LIT(""), &err) == NULL && err.msg[0] != '\0');
	err.msg[0] = '\0';
	CHECK(ca_leaf_get(ca, SLICE_LIT("a b"), &err) == NULL && has(err.msg, "'a b'"));
	err.msg[0] = '\0';
	CHECK(ca_leaf_get(ca, (struct slice){ longname, 300 }, &err) == NULL &&
	      has(err.msg, "300 bytes"));
	CHECK(ca_leaf_get(ca, (struct slice){ longname, 254 }, &err) == NULL);
	CHECK(ca_leaf_get(ca, (struct slice){ longname, 253 }, &err) != NULL);
	n++;
	err.msg[0] = '\0';
	CHECK(ca_leaf_get(ca, SLICE_LIT("a\nb.test"), &err) == NULL &&
	      strchr(err.msg, '\n') == NULL && has(err.msg, "'a?b.test'"));
	CHECK(ca_leaf_get(ca, SLICE_LIT("1.2.3.4\0evil"), &err) == NULL);
	CHECK(ca_leaf_get(ca, SLICE_LIT("[1.2.3.4]"), &err) == NULL);
	CHECK(ca_leaf_get(ca, SLICE_LIT("[example.test]"), &err) == NULL);
	CHECK(ca_leaf_get(ca, SLICE_LIT("example.test:443"), &err) == NULL);
	CHECK(ca_leaf_get(ca, SLICE_LIT("fe80::1%eth0"), &err) == NULL);
	CHECK(ca_leaf_get(ca, SLICE_LIT("*.example.test"), &err) == NULL);
	CHECK(ca_leaf_cached(ca) == n);
}

/*
 * A CA made here rather than by ca.c, as a user restoring their own would have it:
 * valid from FROM to UNTIL days from now.
 */
static bool
write_foreign_ca(const char *dir, long from, long until)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *cert = X509_new();
	X509_EXTENSION *ext[3] = { NULL, NULL, NULL };
	static const char *const val[3] = { "critical,CA:TRUE", "critical,keyCertSign",
	                                     "hash" };
	static const int nid[3] = { NID_basic_constraints, NID_key_usage,
	                            NID_subject_key_identifier };
	X509V3_CTX ctx;
	FILE *kf = NULL, *cf = NULL;
	bool ok;
	int i;

	mkdir(dir, 0700);
	ok = key != NULL && cert != NULL && X509_set_version(cert, X509_VERSION_3) == 1 &&
	    ASN1_INTEGER_set(X509_get_serialNumber(cert), 7) == 1 &&
	    X509_time_adj_ex(X509_getm_notBefore(cert), from, 0, NULL) != NULL &&
	    X509_time_adj_ex(X509_getm_notAfter(cert), until, 0, NULL) != NULL &&
	    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
	                               (const unsigned char *)"restored CA", -1, -1, 0) == 1 &&
	    X509_set_issuer_name(cert, X509_get_subject_name(cert)) == 1 &&
	    X509_set_pubkey(cert, key) == 1;
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	for (i = 0; ok && i < 3; i++)
		ok = (ext[i] = X509V3_EXT_conf_nid(NULL, &ctx, nid[i], val[i])) != NULL &&
		    X509_add_ext(cert, ext[i], -1) == 1;
	ok = ok && X509_sign(cert, key, EVP_sha256()) > 0 &&
	    (kf = fopen(path(dir, "ca-key.pem"), "w")) != NULL &&
	    (cf = fopen(path(dir, "ca-cert.pem"), "w")) != NULL &&
	    PEM_write_PrivateKey(kf, key, NULL, NULL, 0, NULL, NULL) == 1 &&
	    PEM_write_X509(cf, cert) == 1;
	if (kf != NULL)
		ok = fclose(kf) == 0 && ok;
	if (cf != NULL)
		ok = fclose(cf) == 0 && ok;
	chmod(path(dir, "ca-key.pem"), 0600);
	for (i = 0; i < 3; i++)
		X509_EXTENSION_free(ext[i]);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ok;
}

/* A CA ending within 30 days: leaves end with it. An expired one is refused. */
static void
test_foreign_ca(const char *soon, const char *expired)
{
	struct errbuf err = { "" };
	struct ca *ca;
	X509 *leaf;

	CHECK(write_foreign_ca(soon, -1, 10));
	ca = ca_load(soon, (uid_t)-1, (gid_t)-1, &err);
	CHECK(ca != NULL);
	if (ca != NULL && ca_leaf_init(ca, 0, &err) == 0) {
		leaf = ca_leaf_get(ca, SLICE_LIT("soon.example.test"), &err);
		CHECK(leaf != NULL && verifies(ca, leaf));
		CHECK(leaf != NULL && ASN1_TIME_compare(X509_get0_notAfter(leaf),
		                                        X509_get0_notAfter(ca_cert(ca))) == 0);
	}
	ca_free(ca);

	CHECK(write_foreign_ca(expired, -20, -1));
	err.msg[0] = '\0';
	CHECK(ca_load(expired, (uid_t)-1, (gid_t)-1, &err) == NULL);
	CHECK(has(err.msg, "ca-cert.pem: the CA certificate has expired"));
}

static void
test_lru(const char *dir)
{
	struct errbuf err = { "" };
	ASN1_INTEGER *fresh, *evicted = NULL, *kept = NULL;
	char name[64];
	struct ca *ca;
	X509 *keep, *x;
	bool all = true;
	int i;

	if ((ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err)) == NULL ||
	    ca_leaf_init(ca, 100, &err) == -1) {
		fprintf(stderr, "%s\n", err.msg);
		CHECK(0);
		ca_free(ca);
		return;
	}
	for (i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "host%d.example.test", i);
		x = ca_leaf_get(ca, slice_cstr(name), &err);
		if (x == NULL || ca_leaf_cached(ca) != (size_t)(i < 100 ? i + 1 : 100))
			all = false;
		if (i == 1899)
			evicted = serial_of(x);
		if (i == 1900)
			kept = serial_of(x);
	}
	CHECK(all);
	CHECK(ca_leaf_cached(ca) == 100);
	/* The newest hundred are there; the one before them was evicted and is made anew. */
	CHECK(same_serial(ca_leaf_get(ca, SLICE_LIT("host1900.example.test"), &err), kept));
	x = ca_leaf_get(ca, SLICE_LIT("host1899.example.test"), &err);
	CHECK(x != NULL && evicted != NULL && !same_serial(x, evicted));
	CHECK(ca_leaf_cached(ca) == 100);
	ASN1_INTEGER_free(evicted);
	ASN1_INTEGER_free(kept);

	/* Evicted, then asked for again: a new certificate. */
	fresh = serial_of(ca_leaf_get(ca, SLICE_LIT("fresh.example.test"), &err));
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "filler%d.example.test", i);
		CHECK(ca_leaf_get(ca, slice_cstr(name), &err) != NULL);
	}
	x = ca_leaf_get(ca, SLICE_LIT("fresh.example.test"), &err);
	CHECK(x != NULL && fresh != NULL && !same_serial(x, fresh));
	CHECK(ca_leaf_cached(ca) == 100);
	ASN1_INTEGER_free(fresh);

	/* A hit moves a name to the front: it outlives names made after it. */
	keep = ca_leaf_get(ca, SLICE_LIT("keep.example.test"), &err);
	fresh = serial_of(keep);
	for (i = 0; i < 99; i++) {
		snprintf(name, sizeof(name), "more%d.example.test", i);
		ca_leaf_get(ca, slice_cstr(name), &err);
	}
	CHECK(ca_leaf_get(ca, SLICE_LIT("keep.example.test"), &err) == keep);
	for (i = 0; i < 99; i++) {
		snprintf(name, sizeof(name), "yetmore%d.example.test", i);
		ca_leaf_get(ca, slice_cstr(name), &err);
	}
	x = ca_leaf_get(ca, SLICE_LIT("keep.example.test"), &err);
	CHECK(x == keep && same_serial(x, fresh));
	CHECK(ca_leaf_cached(ca) == 100);
	ASN1_INTEGER_free(fresh);
	ca_free(ca);
}

static int
cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return x < y ? -1 : x > y;
}

static void
time_leaves(const char *dir)
{
	struct errbuf err = { "" };
	struct timespec t0, t1;
	long us[NTIMED];
	char name[64];
	struct ca *ca;
	bool all = true;
	int i;

	if ((ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err)) == NULL ||
	    ca_leaf_init(ca, 0, &err) == -1) {
		CHECK(0);
		ca_free(ca);
		return;
	}
	for (i = 0; i < NTIMED; i++) {
		snprintf(name, sizeof(name), "timed%d.example.test", i);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (ca_leaf_get(ca, slice_cstr(name), &err) == NULL)
			all = false;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		us[i] = (t1.tv_sec - t0.tv_sec) * 1000000L + (t1.tv_nsec - t0.tv_nsec) / 1000;
	}
	CHECK(all);
	CHECK(ca_leaf_cached(ca) == NTIMED);
	qsort(us, NTIMED, sizeof(us[0]), cmp_long);
	printf("leaf generation: median %ld us, p99 %ld us\n", us[NTIMED / 2],
	       us[NTIMED * 99 / 100 - 1]);
	ca_free(ca);
}

int
main(void)
{
	char dir[1024], other[1024], sub[1024], sub2[1024];
	struct errbuf err = { "" };
	struct ca *ca;

	if (mkdtemp(base) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/cfg/httpjail", base);
	snprintf(other, sizeof(other), "%s/other", base);

	test_first_load(dir);
	test_refusals(dir, other);
	for (int i = 0; i < NROUNDS; i++) {
		snprintf(sub, sizeof(sub), "%s/race%d/httpjail", base, i);
		test_race(sub);
	}
	test_regenerate(dir);
	test_dir();

	if ((ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err)) != NULL)
		test_leaves(ca);
	else
		CHECK(0);
	ca_free(ca);
	snprintf(sub, sizeof(sub), "%s/soon", base);
	snprintf(sub2, sizeof(sub2), "%s/expired", base);
	test_foreign_ca(sub, sub2);
	test_lru(dir);
	time_leaves(dir);

	CHECK(nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	return unit_done("unit/ca");
}
