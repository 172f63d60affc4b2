/* ca: `httpjail ca path|show|export|regenerate`, and finding the CA of the user
 * httpjail works for. */
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "cmd.h"

void
cmd_invoker(uid_t *uid, gid_t *gid)
{
	const char *su = getenv("SUDO_UID"), *sg = getenv("SUDO_GID");

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (getuid() == 0 && su != NULL && *su != '\0' && strtoul(su, NULL, 10) != 0) {
		*uid = (uid_t)strtoul(su, NULL, 10);
		if (sg != NULL && *sg != '\0')
			*gid = (gid_t)strtoul(sg, NULL, 10);
	}
}

struct ca *
cmd_ca_load(struct errbuf *err)
{
	char dir[4096];
	uid_t uid;
	gid_t gid;

	cmd_invoker(&uid, &gid);
	if (ca_dir(uid, dir, sizeof(dir), err) < 0)
		return NULL;
	return ca_load(dir, uid, gid, err);
}

int
cmd_ca(int argc, char **argv)
{
	struct errbuf err = { "" };
	const char *verb = argc > 1 ? argv[1] : "";
	char dir[4096];
	struct ca *ca;
	uid_t uid;
	gid_t gid;

	if (argc == 2 && (strcmp(verb, "--help") == 0 || strcmp(verb, "-h") == 0)) {
		fputs("usage: httpjail ca path|show|export|regenerate\n"
		      "  path        print the CA certificate's path\n"
		      "  show        print its path, subject, SHA-256 fingerprint and validity\n"
		      "  export      print the CA certificate in PEM\n"
		      "  regenerate  replace the CA with a new key and certificate\n", stdout);
		return 0;
	}
	if (argc != 2 || (strcmp(verb, "path") && strcmp(verb, "show") &&
	                  strcmp(verb, "export") && strcmp(verb, "regenerate"))) {
		cmd_error("ca: expected one of path, show, export, regenerate");
		return EXIT_USAGE;
	}
	cmd_invoker(&uid, &gid);
	if (ca_dir(uid, dir, sizeof(dir), &err) < 0) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	if (strcmp(verb, "regenerate") == 0)
		ca = ca_regenerate(dir, uid, gid, &err);
	else
		ca = ca_load(dir, uid, gid, &err);
	if (ca == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	if (strcmp(verb, "path") == 0 || strcmp(verb, "regenerate") == 0) {
		printf("%s\n", ca_cert_path(ca));
	} else if (strcmp(verb, "export") == 0) {
		fputs(ca_cert_pem(ca), stdout);
	} else {
		X509 *c = ca_cert(ca);
		char subject[256];
		BIO *b = BIO_new(BIO_s_mem());
		char *text = NULL;
		long n;

		X509_NAME_oneline(X509_get_subject_name(c), subject, sizeof(subject));
		printf("certificate: %s\nsubject:     %s\nsha256:      %s\n", ca_cert_path(ca),
		       subject, ca_fingerprint(ca));
		if (b != NULL) {
			ASN1_TIME_print(b, X509_get0_notBefore(c));
			BIO_puts(b, " to ");
			ASN1_TIME_print(b, X509_get0_notAfter(c));
			BIO_write(b, "", 1);
			if ((n = BIO_get_mem_data(b, &text)) > 0)
				printf("valid:       %s\n", text);
			BIO_free(b);
		}
	}
	ca_free(ca);
	return 0;
}
