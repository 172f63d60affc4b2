/*
 * Fuzz driver of tlshello_parse(): reads argv[1], or stdin, or is built as a
 * libFuzzer target with -DHTTPJAIL_LIBFUZZER.  Besides staying inside the
 * input, the parser must agree with itself as bytes arrive: over growing
 * prefixes the status goes MORE, then either BAD for good or DONE for good
 * with the same name; *WHY is set exactly when BAD.  A violation aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tlshello.h"

#define PREFIX_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what, size_t n)
{
	fprintf(stderr, "tlshello fuzz: %s at a prefix of %zu bytes\n", what, n);
	abort();
}

static enum tlshello_status
check(const uint8_t *data, size_t n, struct slice *sni)
{
	const char *why = "unset";
	enum tlshello_status st = tlshello_parse(data, n, sni, &why);

	if (st != TLSHELLO_MORE && st != TLSHELLO_DONE && st != TLSHELLO_BAD)
		fail("unknown status", n);
	if ((st == TLSHELLO_BAD) != (why != NULL))
		fail("*why set wrongly", n);
	if (sni->len > 0 && (st != TLSHELLO_DONE ||
	    (const uint8_t *)sni->ptr < data ||
	    (const uint8_t *)sni->ptr + sni->len > data + n))
		fail("*sni outside the input", n);
	if (sni->len > 253)
		fail("*sni longer than 253 bytes", n);
	return st;
}

/* What the prefixes so far returned: MORE until settled, then DONE or BAD. */
struct seq {
	enum tlshello_status	sq_st;
	struct slice		sq_sni;
};

static void
step(struct seq *sq, const uint8_t *data, size_t n)
{
	struct slice sni;
	enum tlshello_status st = check(data, n, &sni);

	if (sq->sq_st != TLSHELLO_MORE && st != sq->sq_st)
		fail("status changed once settled", n);
	if (sq->sq_st == TLSHELLO_DONE &&
	    (sni.ptr != sq->sq_sni.ptr || sni.len != sq->sq_sni.len))
		fail("name changed once DONE", n);
	sq->sq_st = st;
	sq->sq_sni = sni;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seq sq = { TLSHELLO_MORE, { NULL, 0 } };

	for (size_t n = 0; n <= size && n <= PREFIX_MAX; n++)
		step(&sq, data, n);
	if (size > PREFIX_MAX)
		step(&sq, data, size);
	return 0;
}

#ifndef HTTPJAIL_LIBFUZZER
int
main(int argc, char **argv)
{
	FILE *f = stdin;
	uint8_t *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, n;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [file]\n", argv[0]);
		return 2;
	}
	if (argc == 2 && (f = fopen(argv[1], "rb")) == NULL) {
		perror(argv[1]);
		return 2;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((nbuf = realloc(buf, cap)) == NULL) {
				perror("realloc");
				return 2;
			}
			buf = nbuf;
		}
		if ((n = fread(buf + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(argc == 2 ? argv[1] : "stdin");
		return 2;
	}
	LLVMFuzzerTestOneInput(buf, len);
	free(buf);
	return 0;
}
#endif
