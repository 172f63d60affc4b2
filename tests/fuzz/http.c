/*
 * Fuzz driver of core/http.c: reads a file (argv[1], or stdin) and runs it
 * through every parser. Built with -DHTTPJAIL_LIBFUZZER it is a libFuzzer target.
 * Besides not crashing, it checks what the proxy relies on: a head parsed whole
 * is "not yet" one byte short, what the writers emit parses back with the same
 * framing, and a chunked body fed one byte at a time ends where it ends at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

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

static char out[2 * HTTP_MAX_HEAD];

static void
fuzz_request(const char *buf, size_t len)
{
	static struct http_req req, again;
	const char *why;
	ssize_t head, n;

	if ((head = http_parse_request(buf, len, &req, &why)) <= 0)
		return;
	MUST(http_parse_request(buf, (size_t)head - 1, &again, &why) == 0);
	MUST(http_parse_request(buf, (size_t)head, &again, &why) == head);

	n = http_write_request_head(&req, SLICE_LIT("fuzz.test:8080"), req.hr_upgrade, out,
	    sizeof(out));
	MUST(n > 0);
	/* Host and Connection may be added, so a head at the limits may not fit again. */
	if ((size_t)n > HTTP_MAX_HEAD || req.hr_nfields + 2 > HTTP_MAX_FIELDS)
		return;
	MUST(http_parse_request(out, (size_t)n, &again, &why) == n);
	MUST(again.hr_framing == req.hr_framing && again.hr_length == req.hr_length);
	MUST(again.hr_method.len == req.hr_method.len &&
	    memcmp(again.hr_method.ptr, req.hr_method.ptr, req.hr_method.len) == 0);
	MUST(again.hr_form == (req.hr_form == HTTP_TARGET_ABSOLUTE ? HTTP_TARGET_ORIGIN :
	    req.hr_form));
	MUST(again.hr_upgrade == req.hr_upgrade);
}

static void
fuzz_response(const char *buf, size_t len, struct slice method)
{
	static struct http_resp resp, again;
	const char *why;
	ssize_t head, n;

	if ((head = http_parse_response(buf, len, method, &resp, &why)) <= 0)
		return;
	MUST(http_parse_response(buf, (size_t)head - 1, method, &again, &why) == 0);

	n = http_write_response_head(&resp, !resp.hs_keep_alive, out, sizeof(out));
	MUST(n > 0);
	if ((size_t)n > HTTP_MAX_HEAD || resp.hs_nfields + 1 > HTTP_MAX_FIELDS)
		return;
	MUST(http_parse_response(out, (size_t)n, method, &again, &why) == n);
	MUST(again.hs_status == resp.hs_status);
	MUST(again.hs_framing == resp.hs_framing && again.hs_length == resp.hs_length);
}

static void
fuzz_chunked(const char *buf, size_t len)
{
	struct http_chunked whole, bytes;
	bool done, done1 = false;
	const char *why;
	ssize_t n, rc = 0;
	size_t i;

	http_chunked_init(&whole);
	n = http_chunked_feed(&whole, buf, len, &done, &why);
	http_chunked_init(&bytes);
	for (i = 0; i < len && !done1; i++)
		if ((rc = http_chunked_feed(&bytes, buf + i, 1, &done1, &why)) != 1)
			break;
	if (n == -1) {
		MUST(rc == -1);
	} else {
		MUST(rc != -1 && done1 == done && (size_t)n == i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;

	fuzz_request(buf, size);
	fuzz_response(buf, size, SLICE_LIT("GET"));
	fuzz_response(buf, size, SLICE_LIT("HEAD"));
	fuzz_response(buf, size, SLICE_LIT("CONNECT"));
	fuzz_chunked(buf, size);
	return 0;
}

#ifndef HTTPJAIL_LIBFUZZER
int
main(int argc, char **argv)
{
	FILE *f = stdin;
	char *buf = NULL, *exact;
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
	LLVMFuzzerTestOneInput((const uint8_t *)exact, len);
	free(exact);
	if (f != stdin)
		fclose(f);
	return 0;
}
#endif
