/*
 * Fuzz driver of core/dns.c: reads a file (argv[1], or stdin) and answers it as a
 * query. Built with -DHTTPJAIL_LIBFUZZER it is a libFuzzer target. Besides not
 * crashing, it checks what clients and the proxy rely on: an answer fits 512 bytes
 * and is a response to this query, asking again gives the same bytes, the address
 * handed out maps back to the name, and an answer fed back in is dropped.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* A broken invariant is a crash: that is what the fuzzer looks for. */
#define MUST(expr)                                                           \
	do {                                                                 \
		if (!(expr)) {                                               \
			fprintf(stderr, "%s:%d: invariant broken: %s\n",     \
			        __FILE__, __LINE__, #expr);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/* One stub for the whole run, as in the jail: its table fills as inputs come. */
static struct dns *dn;

/* The name the answer's address maps back to; the record starts at OUT + OFF. */
static const char *
mapped_name(const uint8_t *out, size_t off)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	if (out[off + 11] == 4) {
		memcpy(&sin.sin_addr, out + off + 12, 4);
		return dns_name_of(dn, (struct sockaddr *)&sin);
	}
	memcpy(&sin6.sin6_addr, out + off + 12, 16);
	return dns_name_of(dn, (struct sockaddr *)&sin6);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[512], again[512];
	struct dns_event ev, ev2;
	struct errbuf err;
	const char *name;
	uint64_t dropped;
	size_t rec;
	ssize_t n;

	if (dn == NULL && (dn = dns_new(ev_default_loop(0), -1, -1, NULL, NULL, &err)) ==
	    NULL) {
		fprintf(stderr, "dns_new: %s\n", err.msg);
		abort();
	}
	dropped = dns_dropped(dn);
	if ((n = dns_answer(dn, data, size, out, sizeof(out), &ev)) == -1) {
		MUST(dns_dropped(dn) == dropped + 1);
		return 0;
	}
	MUST(n >= 12 && n <= 512 && dns_dropped(dn) == dropped);
	MUST(memcmp(out, data, 2) == 0 && (out[2] & 0x80) != 0);
	/* The name goes to logs: host name bytes, dots and \DDD escapes only. */
	MUST(ev.de_answer != NULL && ev.de_name.len <= 4 * 253);
	for (size_t i = 0; i < ev.de_name.len; i++)
		MUST(strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.\\", ev.de_name.ptr[i]) !=
		    NULL && ev.de_name.ptr[i] != '\0');

	MUST(dns_answer(dn, data, size, again, sizeof(again), &ev2) == n);
	MUST(memcmp(out, again, (size_t)n) == 0);

	/* An answer is the question, then at most one A or AAAA record naming it. */
	if (out[6] != 0 || out[7] != 0) {
		MUST(out[6] == 0 && out[7] == 1);
		MUST(ev.de_qtype == 1 || ev.de_qtype == 28);
		rec = (size_t)n - (ev.de_qtype == 1 ? 16 : 28);
		MUST(out[rec] == 0xc0 && out[rec + 1] == 0x0c);
		MUST(out[rec + 2] == 0 && out[rec + 3] == ev.de_qtype);
		MUST(out[rec + 10] == 0 && out[rec + 11] == (ev.de_qtype == 1 ? 4 : 16));
		name = mapped_name(out, rec);
		MUST(name != NULL && strlen(name) == ev.de_name.len &&
		    memcmp(name, ev.de_name.ptr, ev.de_name.len) == 0);
	}

	MUST(dns_answer(dn, out, (size_t)n, again, sizeof(again), &ev2) == -1);
	return 0;
}

#ifndef HTTPJAIL_LIBFUZZER
int
main(int argc, char **argv)
{
	FILE *f = stdin;
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0, n;

	if (argc > 1 && (f = fopen(argv[1], "rb")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	do {
		if (len == cap) {
			cap = cap ? 2 * cap : 65536;
			if ((buf = realloc(buf, cap)) == NULL) {
				perror("realloc");
				return 2;
			}
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	if (ferror(f)) {
		perror(argc > 1 ? argv[1] : "stdin");
		return 2;
	}
	/* A buffer of the input's exact size, so that a sanitizer sees a read past it. */
	if ((exact = malloc(len ? len : 1)) == NULL) {
		perror("malloc");
		return 2;
	}
	memcpy(exact, buf, len);
	free(buf);
	LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	dns_free(dn);
	ev_loop_destroy(ev_default_loop(0));
	if (f != stdin)
		fclose(f);
	return 0;
}
#endif
