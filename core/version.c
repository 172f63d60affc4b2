/* Versions come from the libraries themselves where they can say, so a report shows
 * what was loaded, not what the build saw. */
#include <stdarg.h>
#include <stdio.h>

#include <ares.h>
#include <ev.h>
#include <openssl/crypto.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <sqlite3.h>
#include <yaml.h>

#include "hslib.h"
#include "version.h"

#ifndef HTTPJAIL_NFT_VERSION
#define HTTPJAIL_NFT_VERSION "unknown"
#endif

static void
add(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += (size_t)n;
}

void
version_libs(char *buf, size_t size)
{
	char pcre[64] = "";
	size_t off = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	pcre2_config(PCRE2_CONFIG_VERSION, pcre);
	add(buf, size, &off, "%s\n", OpenSSL_version(OPENSSL_VERSION));
	add(buf, size, &off, "PCRE2 %s\n", pcre);
	/* libnftables has no call that reports its version: this is the one built with. */
	add(buf, size, &off, "libnftables %s\n", HTTPJAIL_NFT_VERSION);
	add(buf, size, &off, "SQLite %s\n", sqlite3_libversion());
	add(buf, size, &off, "libyaml %s\n", yaml_get_version_string());
	if (hslib_get() != NULL)
		add(buf, size, &off, "Hyperscan %s\n", hslib_get()->version());
	else
		add(buf, size, &off, "Hyperscan not loaded (%s)\n", hslib_error());
	add(buf, size, &off, "c-ares %s\n", ares_version(NULL));
	add(buf, size, &off, "libev %d.%d\n", ev_version_major(), ev_version_minor());
}
