/* Unit tests of core/http.c: what passes, what is refused and why, and what is forwarded. */
#include <stdlib.h>

#include "http.h"
#include "unit.h"

/* A literal with its length, so that a case may hold a NUL. */
#define S(lit) lit, sizeof(lit) - 1
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* A slice as a C string for CHECK_STR; a few live at once. */
static const char *
str(struct slice s)
{
	static char bufs[4][256];
	static int next;
	char *b = bufs[next++ % 4];

	snprintf(b, sizeof(bufs[0]), "%.*s", (int)s.len, s.ptr);
	return b;
}

/* The input in a buffer of its own size, so that ASan sees any read past it. */
static char *
dup_exact(const char *in, size_t len)
{
	char *p = malloc(len ? len : 1);

	if (p == NULL)
		abort();
	memcpy(p, in, len);
	return p;
}

/* The parsed slices point into the copy, which lives until the next parse. */
static char *
dup_parsed(const char *in, size_t len)
{
	static char *last;

	free(last);
	last = dup_exact(in, len);
	return last;
}

static ssize_t
parse_req(const char *in, size_t len, struct http_req *req, const char **why)
{
	*why = "";
	return http_parse_request(dup_parsed(in, len), len, req, why);
}

static const struct {
	const char *in;
	size_t      len;
	size_t      head_len;   /* 0: the whole input */
	const char *method;
	enum http_target form;
	const char *scheme, *host;
	unsigned    port;
	const char *path, *query, *host_header;
	int         minor;
	enum http_framing framing;
	uint64_t    length;
	bool        keep_alive, expect_continue, upgrade;
} good[] = {
	{ S("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN,
	  "", "", 0, "/", "", "a.test", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("GET /p/q?x=1&y HTTP/1.1\r\nHost: a.test:8080\r\nUser-Agent: t\r\n\r\n"), 0,
	  "GET", HTTP_TARGET_ORIGIN, "", "", 0, "/p/q", "x=1&y", "a.test:8080", 1,
	  HTTP_BODY_NONE, 0, true, false, false },
	{ S("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"), 49, "POST",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/up", "", "a", 1, HTTP_BODY_LENGTH, 5, true, false, false },
	{ S("POST /up HTTP/1.1\r\nhost:a\r\ntransfer-encoding: Chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
	  57, "POST", HTTP_TARGET_ORIGIN, "", "", 0, "/up", "", "a", 1, HTTP_BODY_CHUNKED, 0,
	  true, false, false },
	/* Content-Length: 0 is LENGTH with 0, not NONE (see core/http.c). */
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), 0, "POST",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "a", 1, HTTP_BODY_LENGTH, 0, true, false, false },
	{ S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7, 7\r\n\r\n"), 0, "POST",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "a", 1, HTTP_BODY_LENGTH, 7, true, false, false },
	{ S("POST / HTTP/1.1\r\nContent-Length: 007\r\nHost: a\r\ncontent-length: 7\r\n\r\n"), 0,
	  "POST", HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "a", 1, HTTP_BODY_LENGTH, 7, true,
	  false, false },
	{ S("PUT /big HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999999999\r\n\r\n"), 0,
	  "PUT", HTTP_TARGET_ORIGIN, "", "", 0, "/big", "", "a", 1, HTTP_BODY_LENGTH,
	  999999999999999999ull, true, false, false },
	{ S("GET http://A.test:8080/x?y HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ABSOLUTE, "http", "A.test", 8080, "/x", "y", "a.test", 1, HTTP_BODY_NONE, 0,
	  true, false, false },
	{ S("GET HTTPS://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0, "GET", HTTP_TARGET_ABSOLUTE,
	  "HTTPS", "a.test", 0, "/", "", "a.test", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("GET http://a.test?q=1 HTTP/1.1\r\nHost: a.test\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ABSOLUTE, "http", "a.test", 0, "/", "q=1", "a.test", 1, HTTP_BODY_NONE, 0,
	  true, false, false },
	{ S("GET ws://[2001:db8::1]:8443/s HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n\r\n"), 0,
	  "GET", HTTP_TARGET_ABSOLUTE, "ws", "2001:db8::1", 8443, "/s", "", "[2001:db8::1]:8443",
	  1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("GET wss://203.0.113.7/ HTTP/1.1\r\nHost: 203.0.113.7\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ABSOLUTE, "wss", "203.0.113.7", 0, "/", "", "203.0.113.7", 1,
	  HTTP_BODY_NONE, 0, true, false, false },
	{ S("CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n"), 0, "CONNECT",
	  HTTP_TARGET_AUTHORITY, "", "a.test", 443, "", "", "a.test:443", 1, HTTP_BODY_NONE, 0,
	  true, false, false },
	{ S("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), 0, "CONNECT",
	  HTTP_TARGET_AUTHORITY, "", "::1", 8443, "", "", "[::1]:8443", 1, HTTP_BODY_NONE, 0,
	  true, false, false },
	/* Dots that are not whole segments, and dot segments in the query, are names. */
	{ S("GET /a.../..b/.c/d./..%2e.;x/%2e.x?p=/../ HTTP/1.1\r\nHost: a\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/a.../..b/.c/d./..%2e.;x/%2e.x", "p=/../", "a", 1,
	  HTTP_BODY_NONE, 0, true, false, false },
	{ S("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 0, "OPTIONS", HTTP_TARGET_ASTERISK,
	  "", "", 0, "", "", "a", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("GET / HTTP/1.0\r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "", 0,
	  HTTP_BODY_NONE, 0, false, false, false },
	{ S("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN,
	  "", "", 0, "/", "", "", 0, HTTP_BODY_NONE, 0, true, false, false },
	{ S("POST /f HTTP/1.0\r\nContent-Length: 2\r\nExpect: 100-continue\r\n"
	    "Connection: upgrade\r\nUpgrade: x\r\n\r\n"), 0, "POST", HTTP_TARGET_ORIGIN,
	  "", "", 0, "/f", "", "", 0, HTTP_BODY_LENGTH, 2, false, false, false },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive,,  CLOSE\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "a", 1, HTTP_BODY_NONE, 0, false, false, false },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/", "", "a", 1, HTTP_BODY_NONE, 0, false, false, false },
	{ S("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN, "", "", 0,
	  "/", "", "a", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-Continue\r\n\r\n"), 0,
	  "PUT", HTTP_TARGET_ORIGIN, "", "", 0, "/f", "", "a", 1, HTTP_BODY_LENGTH, 3, true, true,
	  false },
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN, "", "", 0, "/ws", "", "a",
	  1, HTTP_BODY_NONE, 0, true, false, true },
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/ws", "", "a", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n"), 0, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/ws", "", "a", 1, HTTP_BODY_NONE, 0, true, false, false },
	/* Pipelined: the head of the first request only. */
	{ S("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n"), 28, "GET",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/1", "", "a", 1, HTTP_BODY_NONE, 0, true, false, false },
	{ S("M-SEARCH /~a/%20b;c=d?e=f/g?h HTTP/1.1\r\nHost: a\r\n\r\n"), 0, "M-SEARCH",
	  HTTP_TARGET_ORIGIN, "", "", 0, "/~a/%20b;c=d", "e=f/g?h", "a", 1, HTTP_BODY_NONE, 0,
	  true, false, false },
	{ S("GET /a? HTTP/1.1\r\nHost: \r\n\r\n"), 0, "GET", HTTP_TARGET_ORIGIN, "", "", 0, "/a",
	  "", "", 1, HTTP_BODY_NONE, 0, true, false, false },
};

static void
test_good_requests(void)
{
	struct http_req req;
	const char *why;

	for (size_t i = 0; i < NELEM(good); i++) {
		size_t head = good[i].head_len ? good[i].head_len : good[i].len;
		ssize_t rc = parse_req(good[i].in, good[i].len, &req, &why);

		CHECK(rc == (ssize_t)head);
		if (rc != (ssize_t)head) {
			fprintf(stderr, "  good[%zu]: %zd (%s)\n", i, rc, why);
			continue;
		}
		CHECK(req.hr_head_len == head);
		CHECK_STR(str(req.hr_method), good[i].method);
		CHECK(req.hr_form == good[i].form);
		CHECK_STR(str(req.hr_scheme), good[i].scheme);
		CHECK_STR(str(req.hr_host), good[i].host);
		CHECK(req.hr_port == good[i].port);
		CHECK_STR(str(req.hr_path), good[i].path);
		CHECK_STR(str(req.hr_query), good[i].query);
		CHECK_STR(str(req.hr_host_header), good[i].host_header);
		CHECK(req.hr_minor == good[i].minor);
		CHECK(req.hr_framing == good[i].framing);
		CHECK(req.hr_length == good[i].length);
		CHECK(req.hr_keep_alive == good[i].keep_alive);
		CHECK(req.hr_expect_continue == good[i].expect_continue);
		CHECK(req.hr_upgrade == good[i].upgrade);
	}
}

/* Every prefix of a good head is "not yet": nothing is judged on a partial line. */
static void
test_partial_requests(void)
{
	struct http_req req;
	const char *why;

	for (size_t i = 0; i < NELEM(good); i++) {
		size_t head = good[i].head_len ? good[i].head_len : good[i].len;
		size_t bad = 0;

		for (size_t n = 0; n < head; n++)
			if (parse_req(good[i].in, n, &req, &why) != 0)
				bad++;
		CHECK(bad == 0);
		CHECK(parse_req(good[i].in, head, &req, &why) == (ssize_t)head);
	}
}

static const struct {
	const char *in;
	size_t      len;
	const char *why;
} bad[] = {
#define HEAD "GET / HTTP/1.1\r\nHost: a\r\n"
	{ S(HEAD "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  "both Content-Length and Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
	  "both Content-Length and Transfer-Encoding" },
	{ S(HEAD "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), "differing Content-Length values" },
	{ S(HEAD "Content-Length: 5, 6\r\n\r\n"), "differing Content-Length values" },
	{ S(HEAD "Content-Length: +5\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: -1\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: 5a\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: 0x5\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: 5 5\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: 5,,5\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length:\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Content-Length: 1000000000000000000\r\n\r\n"), "invalid Content-Length" },
	{ S(HEAD "Transfer-Encoding: gzip\r\n\r\n"), "unsupported Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: chunked, chunked\r\n\r\n"), "unsupported Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n"), "unsupported Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: chunked;x=1\r\n\r\n"), "unsupported Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: xchunked\r\n\r\n"), "unsupported Transfer-Encoding" },
	{ S(HEAD "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
	  "repeated Transfer-Encoding" },
	{ S("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), "Transfer-Encoding in HTTP/1.0" },
	{ S(HEAD "X: a\r\n b\r\n\r\n"), "obs-fold" },
	{ S(HEAD "X: a\r\n\tb\r\n\r\n"), "obs-fold" },
	{ S("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), "obs-fold" },
	{ S(HEAD "X: a\rb\r\n\r\n"), "bare CR" },
	{ S(HEAD "X: a\r\r\n\r\n"), "bare CR" },
	{ S("GET / HTTP/1.1\rX\r\nHost: a\r\n\r\n"), "bare CR" },
	{ S(HEAD "X: a\n\r\n"), "bare LF" },
	{ S("GET / HTTP/1.1\nHost: a\r\n\r\n"), "bare LF" },
	{ S(HEAD "\n"), "bare LF" },
	{ S("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"), "bare LF" },
	{ S(HEAD "X: a\0b\r\n\r\n"), "NUL in field value" },
	{ S(HEAD "X: a\x01" "b\r\n\r\n"), "control character in field value" },
	{ S(HEAD "X: a\x7f\r\n\r\n"), "control character in field value" },
	{ S(HEAD "X: \x1b[31m\r\n\r\n"), "control character in field value" },
	{ S("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), "whitespace before colon" },
	{ S(HEAD "X\t: a\r\n\r\n"), "whitespace before colon" },
	{ S(HEAD "X(y): a\r\n\r\n"), "invalid field name" },
	{ S(HEAD ": a\r\n\r\n"), "invalid field name" },
	{ S(HEAD "NoColon\r\n\r\n"), "invalid field name" },
	{ S(HEAD "X\0: a\r\n\r\n"), "invalid field name" },
	{ S("G(T / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid method" },
	{ S("G\tT / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid method" },
	{ S("G\xc3\x89T / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid method" },
	{ S("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S(" GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S("GET /\r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S("GET / HTTP/1.1 x\r\nHost: a\r\n\r\n"), "invalid request line" },
	{ S("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), "invalid HTTP version" },
	{ S("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), "invalid HTTP version" },
	{ S("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), "invalid HTTP version" },
	{ S("GET / http/1.1\r\nHost: a\r\n\r\n"), "invalid HTTP version" },
	{ S("GET / HTTP/1\r\nHost: a\r\n\r\n"), "invalid HTTP version" },
	{ S("GET / HTTP/1.1\r\n\r\n"), "missing Host" },
	{ S("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"), "repeated Host" },
	{ S("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"), "repeated Host" },
	{ S("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), "invalid Host" },
	{ S("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n"), "invalid Host" },
	{ S("GET / HTTP/1.1\r\nHost: a, b\r\n\r\n"), "invalid Host" },
	{ S("GET / HTTP/1.1\r\nHost: a:0\r\n\r\n"), "invalid Host" },
	{ S("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), "invalid Host" },
	{ S("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), "invalid Host" },
	{ S("GET http://u:p@a.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"), "userinfo in target" },
	{ S("GET http://a.test@b.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n"), "userinfo in target" },
	/* Dot segments: resolved by the origin after the decision saw the path as sent. */
	{ S("GET /v1/../admin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/.. HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /./x HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/%2e%2E/admin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/.%2e/admin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/..;x=1/admin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/..%2fadmin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1/..%5Cadmin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1\\..\\admin HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET /v1//../admin?x HTTP/1.1\r\nHost: a\r\n\r\n"), "dot segment in path" },
	{ S("GET http://a.test/v1/../admin HTTP/1.1\r\nHost: a.test\r\n\r\n"),
	  "dot segment in path" },
	{ S("GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n"), "fragment in target" },
	{ S("GET http://a.test/#b HTTP/1.1\r\nHost: a\r\n\r\n"), "fragment in target" },
	{ S("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character in target" },
	{ S("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character in target" },
	{ S("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character in target" },
	{ S("GET /a\0 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid character in target" },
	{ S("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n"), "CONNECT without an authority-form target" },
	{ S("CONNECT http://a.test:443/ HTTP/1.1\r\nHost: a\r\n\r\n"),
	  "CONNECT without an authority-form target" },
	{ S("CONNECT * HTTP/1.1\r\nHost: a\r\n\r\n"), "asterisk-form target without OPTIONS" },
	{ S("CONNECT a.test HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("CONNECT a.test: HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("CONNECT a.test:99999 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("CONNECT a.test:443x HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("CONNECT u@a.test:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("CONNECT [::1:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("CONNECT [zz::1]:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("CONNECT [::1]x:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("connect a.test:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "authority-form target without CONNECT" },
	{ S("GET a.test:443 HTTP/1.1\r\nHost: a\r\n\r\n"), "authority-form target without CONNECT" },
	{ S("GET * HTTP/1.1\r\nHost: a\r\n\r\n"), "asterisk-form target without OPTIONS" },
	{ S("GET a.test HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid target" },
	{ S("GET ftp://a.test/ HTTP/1.1\r\nHost: a\r\n\r\n"), "unsupported scheme in target" },
	{ S("GET http:/a.test/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid target" },
	{ S("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("GET http://:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("GET http://a%2etest/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid host in target" },
	{ S("GET http://a.test:0/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("GET http://a.test:65536/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("GET http://a.test:/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
	{ S("GET http://a.test:-1/ HTTP/1.1\r\nHost: a\r\n\r\n"), "invalid port in target" },
#undef HEAD
};

static void
test_bad_requests(void)
{
	struct http_req req;
	const char *why;

	for (size_t i = 0; i < NELEM(bad); i++) {
		ssize_t rc = parse_req(bad[i].in, bad[i].len, &req, &why);

		CHECK(rc == -1);
		CHECK_STR(why, bad[i].why);
		if (rc != -1 || strcmp(why, bad[i].why) != 0)
			fprintf(stderr, "  bad[%zu]: %s\n", i, str((struct slice){ bad[i].in,
			    bad[i].len < 60 ? bad[i].len : 60 }));
	}
}

/* Limits: line, head and field count, each right at the edge and one past it. */
static void
test_limits(void)
{
	size_t size = 2 * HTTP_MAX_HEAD;
	char *b = malloc(size);
	struct http_req req;
	const char *why;
	size_t n, pre;

	if (b == NULL)
		abort();

	/* A request line of exactly HTTP_MAX_LINE bytes, then one byte more. */
	n = (size_t)snprintf(b, size, "GET /");
	memset(b + n, 'a', HTTP_MAX_LINE - 5 - 9);
	n += HTTP_MAX_LINE - 5 - 9;
	n += (size_t)snprintf(b + n, size - n, " HTTP/1.1\r\nHost: a\r\n\r\n");
	CHECK(parse_req(b, n, &req, &why) == (ssize_t)n);
	memmove(b + 6, b + 5, n - 5);
	n++;
	CHECK(parse_req(b, n, &req, &why) == -1);
	CHECK_STR(why, "request line too long");
	/* Without its end: refused as soon as it cannot fit any more. */
	memset(b, 'a', HTTP_MAX_LINE + 2);
	memcpy(b, "GET /", 5);
	CHECK(parse_req(b, HTTP_MAX_LINE + 1, &req, &why) == 0);
	CHECK(parse_req(b, HTTP_MAX_LINE + 2, &req, &why) == -1);
	CHECK_STR(why, "request line too long");

	/* A head of exactly HTTP_MAX_HEAD bytes, then one byte more. */
	pre = (size_t)snprintf(b, size, "GET / HTTP/1.1\r\nHost: a\r\nX: ");
	memset(b + pre, 'v', HTTP_MAX_HEAD - pre - 4);
	n = HTTP_MAX_HEAD - 4;
	memcpy(b + n, "\r\n\r\n", 4);
	n += 4;
	CHECK(parse_req(b, n, &req, &why) == HTTP_MAX_HEAD);
	CHECK(req.hr_fields[1].hf_value.len == HTTP_MAX_HEAD - pre - 4);
	memmove(b + pre + 1, b + pre, n - pre);
	n++;
	CHECK(parse_req(b, n - 1, &req, &why) == 0);
	CHECK(parse_req(b, n, &req, &why) == -1);
	CHECK_STR(why, "header section too large");
	/* Empty lines before the request line count too. */
	for (n = 0; n + 2 <= size; n += 2)
		memcpy(b + n, "\r\n", 2);
	CHECK(parse_req(b, HTTP_MAX_HEAD, &req, &why) == 0);
	CHECK(parse_req(b, HTTP_MAX_HEAD + 1, &req, &why) == -1);
	CHECK_STR(why, "header section too large");

	/* HTTP_MAX_FIELDS fields, then one more. */
	n = (size_t)snprintf(b, size, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (int i = 1; i < HTTP_MAX_FIELDS; i++)
		n += (size_t)snprintf(b + n, size - n, "X-%d: %d\r\n", i, i);
	memcpy(b + n, "\r\n", 2);
	CHECK(parse_req(b, n + 2, &req, &why) == (ssize_t)n + 2);
	CHECK(req.hr_nfields == HTTP_MAX_FIELDS);
	n += (size_t)snprintf(b + n, size - n, "X-last: 1\r\n\r\n");
	CHECK(parse_req(b, n, &req, &why) == -1);
	CHECK_STR(why, "too many header fields");
	free(b);
}

static void
test_fields(void)
{
	static const char in[] = "GET / HTTP/1.1\r\nHost:a\r\nX-Sp: \t v\x80 w \t\r\n"
	    "X-Empty:\r\nx-sp: second\r\n\r\n";
	struct http_req req;
	const char *why;
	struct slice v;

	CHECK(parse_req(in, sizeof(in) - 1, &req, &why) == (ssize_t)sizeof(in) - 1);
	CHECK(req.hr_nfields == 4);
	CHECK_STR(str(req.hr_fields[0].hf_name), "Host");
	CHECK_STR(str(req.hr_fields[0].hf_value), "a");
	CHECK_STR(str(req.hr_fields[1].hf_value), "v\x80 w");
	CHECK(req.hr_fields[2].hf_value.len == 0);
	v = http_field_get(req.hr_fields, req.hr_nfields, "x-SP");
	CHECK_STR(str(v), "v\x80 w");
	v = http_field_get(req.hr_fields, req.hr_nfields, "X-None");
	CHECK(v.len == 0 && v.ptr != NULL);
}

static ssize_t
parse_resp(const char *in, size_t len, const char *method, struct http_resp *resp,
           const char **why)
{
	*why = "";
	return http_parse_response(dup_parsed(in, len), len, slice_cstr(method), resp, why);
}

static void
test_responses(void)
{
	static const struct {
		const char *in;
		size_t      len;
		const char *method;
		size_t      head_len;   /* 0: the whole input */
		int         status, minor;
		const char *reason;
		enum http_framing framing;
		uint64_t    length;
		bool        keep_alive;
	} cases[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), "GET", 38, 200, 1, "OK",
		  HTTP_BODY_LENGTH, 3, true },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n"), "HEAD", 0, 200, 1, "OK",
		  HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), "HEAD", 0, 200, 1, "OK",
		  HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 200 OK\r\n\r\n"), "HEAD", 0, 200, 1, "OK", HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 204 No Content\r\n\r\n"), "DELETE", 0, 204, 1, "No Content",
		  HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"), "GET", 0, 304, 1,
		  "Not Modified", HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 100 Continue\r\n\r\n"), "PUT", 0, 100, 1, "Continue", HTTP_BODY_NONE, 0,
		  true },
		{ S("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n"),
		  "GET", 0, 101, 1, "Switching Protocols", HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 200 Connection established\r\n\r\n"), "CONNECT", 0, 200, 1,
		  "Connection established", HTTP_BODY_NONE, 0, true },
		{ S("HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"),
		  "CONNECT", 0, 407, 1, "Proxy Authentication Required", HTTP_BODY_LENGTH, 0, true },
		{ S("HTTP/1.1 502 Bad Gateway\r\n\r\n"), "CONNECT", 0, 502, 1, "Bad Gateway",
		  HTTP_BODY_CLOSE, 0, false },
		{ S("HTTP/1.1 200 OK\r\n\r\n"), "GET", 0, 200, 1, "OK", HTTP_BODY_CLOSE, 0, false },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\n5\r\n"), "POST", 47, 200, 1,
		  "OK", HTTP_BODY_CHUNKED, 0, true },
		{ S("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"), "GET", 0, 200, 0, "OK",
		  HTTP_BODY_LENGTH, 2, false },
		{ S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n"), "GET", 0,
		  200, 0, "OK", HTTP_BODY_LENGTH, 2, true },
		{ S("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"), "GET", 0, 200, 0, "OK",
		  HTTP_BODY_CLOSE, 0, false },
		{ S("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n"), "GET", 0, 200,
		  1, "OK", HTTP_BODY_LENGTH, 2, false },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n"), "GET", 0,
		  200, 1, "OK", HTTP_BODY_LENGTH, 2, true },
		{ S("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"), "GET", 0, 200, 1, "",
		  HTTP_BODY_LENGTH, 0, true },
		{ S("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n"), "GET", 0, 404, 1, "",
		  HTTP_BODY_LENGTH, 0, true },
		{ S("HTTP/1.1 200 Very  Good\t\x80\r\nContent-Length: 0\r\n\r\n"), "GET", 0, 200, 1,
		  "Very  Good\t\x80", HTTP_BODY_LENGTH, 0, true },
		{ S("HTTP/1.1 599 x\r\nContent-Length: 0\r\n\r\n"), "GET", 0, 599, 1, "x",
		  HTTP_BODY_LENGTH, 0, true },
	};
	static const struct { const char *in; size_t len; const char *why; } bads[] = {
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
		  "both Content-Length and Transfer-Encoding" },
		{ S("HTTP/1.1 304 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
		  "both Content-Length and Transfer-Encoding" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"), "differing Content-Length values" },
		{ S("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n"), "invalid Content-Length" },
		{ S("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
		  "unsupported Transfer-Encoding" },
		{ S("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
		  "Transfer-Encoding in HTTP/1.0" },
		{ S("HTTP/2 200 OK\r\n\r\n"), "invalid HTTP version" },
		{ S("HTTP/1.10 200 OK\r\n\r\n"), "invalid HTTP version" },
		{ S("HTTP/1.1200 OK\r\n\r\n"), "invalid HTTP version" },
		{ S("HTTP/1.1\r\n\r\n"), "invalid status line" },
		{ S("HTTP/1.1 20 OK\r\n\r\n"), "invalid status line" },
		{ S("HTTP/1.1 2000 OK\r\n\r\n"), "invalid status line" },
		{ S("HTTP/1.1  200 OK\r\n\r\n"), "invalid status line" },
		{ S("HTTP/1.1 20x OK\r\n\r\n"), "invalid status line" },
		{ S("HTTP/1.1 099 X\r\n\r\n"), "invalid status code" },
		{ S("HTTP/1.1 600 X\r\n\r\n"), "invalid status code" },
		{ S("HTTP/1.1 200 O\x01K\r\n\r\n"), "invalid reason phrase" },
		{ S("HTTP/1.1 200 OK\n\r\n"), "bare LF" },
		{ S("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n"), "obs-fold" },
		{ S("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n"), "bare CR" },
		{ S("HTTP/1.1 200 OK\r\nX : a\r\n\r\n"), "whitespace before colon" },
		{ S("\r\nHTTP/1.1 200 OK\r\n\r\n"), "invalid status line" },
	};
	struct http_resp resp;
	const char *why;

	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t head = cases[i].head_len ? cases[i].head_len : cases[i].len, nbad = 0;
		ssize_t rc = parse_resp(cases[i].in, cases[i].len, cases[i].method, &resp, &why);

		CHECK(rc == (ssize_t)head);
		if (rc != (ssize_t)head) {
			fprintf(stderr, "  response %zu: %zd (%s)\n", i, rc, why);
			continue;
		}
		CHECK(resp.hs_head_len == head);
		CHECK(resp.hs_status == cases[i].status);
		CHECK(resp.hs_minor == cases[i].minor);
		CHECK_STR(str(resp.hs_reason), cases[i].reason);
		CHECK(resp.hs_framing == cases[i].framing);
		CHECK(resp.hs_length == cases[i].length);
		CHECK(resp.hs_keep_alive == cases[i].keep_alive);
		for (size_t n = 0; n < head; n++)
			if (parse_resp(cases[i].in, n, cases[i].method, &resp, &why) != 0)
				nbad++;
		CHECK(nbad == 0);
	}
	for (size_t i = 0; i < NELEM(bads); i++) {
		CHECK(parse_resp(bads[i].in, bads[i].len, "GET", &resp, &why) == -1);
		CHECK_STR(why, bads[i].why);
	}
}

/* Feeds IN in pieces of STEP bytes (0: at once); returns what the feeds consumed, or -1. */
static ssize_t
feed(const char *in, size_t len, size_t step, bool *done, const char **why)
{
	struct http_chunked ch;
	char *p = dup_exact(in, len);
	size_t off = 0;
	ssize_t rc = 0;

	http_chunked_init(&ch);
	*done = false;
	*why = "";
	if (step == 0)
		step = len;
	while (off < len && !*done) {
		size_t n = len - off < step ? len - off : step;

		if ((rc = http_chunked_feed(&ch, p + off, n, done, why)) == -1)
			break;
		off += (size_t)rc;
		if ((size_t)rc < n && !*done) {
			off = (size_t)-1;
			break;
		}
	}
	free(p);
	return rc == -1 ? -1 : (ssize_t)off;
}

static void
test_chunked(void)
{
	static const struct { const char *in; size_t len; } goods[] = {
		{ S("0\r\n\r\n") },
		{ S("5\r\nhello\r\n0\r\n\r\n") },
		{ S("5;ext=1;q=\"a b\"\r\nhello\r\n0;last\r\n\r\n") },
		{ S("A\r\n0123456789\r\n1\r\n\0\r\n00\r\n\r\n") },
		{ S("3\r\na\r\n\r\n0\r\nX-Sum: 1\r\ny:\r\n\r\n") },
		{ S("0000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n") },
		{ S("1;\t\x80\r\nx\r\n0\r\nT: \x80 v\r\n\r\n") },
	};
	static const struct { const char *in; size_t len; const char *why; } bads[] = {
		{ S("\r\n"), "invalid chunk size" },
		{ S("g\r\n"), "invalid chunk size" },
		{ S("5 \r\n"), "invalid chunk size" },
		{ S(" 5\r\n"), "invalid chunk size" },
		{ S("-5\r\n"), "invalid chunk size" },
		{ S("0x5\r\n"), "invalid chunk size" },
		{ S(";x\r\n"), "invalid chunk size" },
		{ S("5\n"), "bare LF" },
		{ S("5\rx"), "bare CR" },
		{ S("10000000000000000\r\n"), "chunk size too large" },
		{ S("00000000000000001\r\n"), "chunk size too large" },
		{ S("5\r\nhelloX\r\n"), "missing CRLF after chunk data" },
		{ S("5\r\nhello\rX"), "missing CRLF after chunk data" },
		{ S("5\r\nhello\n0\r\n\r\n"), "missing CRLF after chunk data" },
		{ S("5\r\nhello0\r\n\r\n"), "missing CRLF after chunk data" },
		{ S("1;a\x01\r\n"), "invalid chunk extension" },
		{ S("1;a\n"), "bare LF" },
		{ S("0\r\nX\r\n\r\n"), "invalid trailer field" },
		{ S("0\r\n X: a\r\n\r\n"), "invalid trailer field" },
		{ S("0\r\nX : a\r\n\r\n"), "invalid trailer field" },
		{ S("0\r\nX: a\x7f\r\n\r\n"), "invalid trailer field" },
		{ S("0\r\nX: a\nb"), "bare LF" },
		{ S("0\r\nX: a\r\r"), "bare CR" },
		{ S("0\r\n\rX"), "bare CR" },
		{ S("0\r\n\n"), "invalid trailer field" },
	};
	size_t steps[] = { 0, 1, 2, 3, 7 };
	struct http_chunked ch;
	const char *why;
	char buf[512], *big;
	bool done;
	ssize_t rc;

	for (size_t i = 0; i < NELEM(goods); i++) {
		for (size_t s = 0; s < NELEM(steps); s++) {
			CHECK(feed(goods[i].in, goods[i].len, steps[s], &done, &why) ==
			    (ssize_t)goods[i].len);
			CHECK(done);
		}
		/* One byte short is not done; one message then another stops at the first. */
		CHECK(feed(goods[i].in, goods[i].len - 1, 0, &done, &why) ==
		    (ssize_t)goods[i].len - 1);
		CHECK(!done);
		memcpy(buf, goods[i].in, goods[i].len);
		memcpy(buf + goods[i].len, goods[(i + 1) % NELEM(goods)].in,
		    goods[(i + 1) % NELEM(goods)].len);
		http_chunked_init(&ch);
		rc = http_chunked_feed(&ch, buf, goods[i].len + goods[(i + 1) % NELEM(goods)].len,
		    &done, &why);
		CHECK(rc == (ssize_t)goods[i].len && done);
		/* Once done, nothing more belongs to the body. */
		CHECK(http_chunked_feed(&ch, buf, 3, &done, &why) == 0 && done);
		http_chunked_init(&ch);
		CHECK(http_chunked_feed(&ch, buf + rc, goods[(i + 1) % NELEM(goods)].len, &done,
		    &why) == (ssize_t)goods[(i + 1) % NELEM(goods)].len && done);
	}
	for (size_t i = 0; i < NELEM(bads); i++) {
		for (size_t s = 0; s < 2; s++) {
			CHECK(feed(bads[i].in, bads[i].len, s, &done, &why) == -1);
			CHECK_STR(why, bads[i].why);
		}
	}
	/* A failed body stays failed. */
	http_chunked_init(&ch);
	CHECK(http_chunked_feed(&ch, "x", 1, &done, &why) == -1);
	CHECK(http_chunked_feed(&ch, "0\r\n\r\n", 5, &done, &why) == -1);
	CHECK_STR(why, "chunked body already failed");
	/* An empty feed consumes nothing. */
	http_chunked_init(&ch);
	CHECK(http_chunked_feed(&ch, "", 0, &done, &why) == 0 && !done);

	/* Line and section limits. */
	big = malloc(2 * HTTP_MAX_HEAD);
	if (big == NULL)
		abort();
	memset(big, 'a', 2 * HTTP_MAX_HEAD);
	memcpy(big, "1;", 2);
	memcpy(big + HTTP_MAX_LINE, "\r\nx\r\n0\r\n\r\n", 10);
	CHECK(feed(big, HTTP_MAX_LINE + 10, 0, &done, &why) == HTTP_MAX_LINE + 10 && done);
	memset(big, 'a', 2 * HTTP_MAX_HEAD);
	memcpy(big, "1;", 2);
	CHECK(feed(big, HTTP_MAX_LINE + 1, 0, &done, &why) == -1);
	CHECK_STR(why, "chunk size line too long");
	memset(big, 'a', 2 * HTTP_MAX_HEAD);
	memcpy(big, "0\r\nX:", 5);
	memcpy(big + 3 + HTTP_MAX_LINE, "\r\n\r\n", 4);
	CHECK(feed(big, HTTP_MAX_LINE + 7, 0, &done, &why) == HTTP_MAX_LINE + 7 && done);
	memset(big, 'a', 2 * HTTP_MAX_HEAD);
	memcpy(big, "0\r\nX:", 5);
	CHECK(feed(big, HTTP_MAX_LINE + 4, 0, &done, &why) == -1);
	CHECK_STR(why, "trailer line too long");
	memcpy(big, "0\r\n", 3);
	for (size_t off = 3; off + 6 <= 2 * HTTP_MAX_HEAD; off += 6)
		memcpy(big + off, "X: 1\r\n", 6);
	CHECK(feed(big, 2 * HTTP_MAX_HEAD, 0, &done, &why) == -1);
	CHECK_STR(why, "trailer section too large");
	free(big);

	/* The largest size there is: data is counted, not stored. */
	http_chunked_init(&ch);
	CHECK(http_chunked_feed(&ch, "ffffffffffffffff\r\n", 18, &done, &why) == 18 && !done);
	CHECK(ch.hc_left == UINT64_MAX);
	CHECK(http_chunked_feed(&ch, buf, sizeof(buf), &done, &why) == sizeof(buf) && !done);
	CHECK(ch.hc_left == UINT64_MAX - sizeof(buf));
}

/* Parses IN as a request and writes it for upstream. */
static ssize_t
write_req(const char *in, const char *host, bool keep_upgrade, char *out, size_t outsz)
{
	struct http_req req;
	const char *why;
	size_t len = strlen(in);
	ssize_t rc;

	if (http_parse_request(in, len, &req, &why) != (ssize_t)len) {
		fprintf(stderr, "  cannot parse: %s\n", why);
		return -2;
	}
	rc = http_write_request_head(&req, slice_cstr(host), keep_upgrade, out, outsz);
	if (rc >= 0 && (size_t)rc < outsz)
		out[rc] = '\0';
	return rc;
}

static void
test_write_request(void)
{
	static const struct {
		const char *in, *host;
		bool        keep_upgrade;
		const char *out;
	} cases[] = {
		{ "GET http://a.test:8080/x?y=1 HTTP/1.1\r\nHost: wrong\r\nAccept: */*\r\n"
		  "Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic eDp5\r\n"
		  "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
		  "Proxy-Authenticate: x\r\nx-hop: 2\r\nUser-Agent:  t \r\n\r\n",
		  "a.test:8080", false,
		  "GET /x?y=1 HTTP/1.1\r\nHost: a.test:8080\r\nAccept: */*\r\nUser-Agent: t\r\n\r\n" },
		{ "GET http://a.test HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", false,
		  "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" },
		{ "GET http://a.test?q HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", false,
		  "GET /?q HTTP/1.1\r\nHost: a.test\r\n\r\n" },
		{ "GET https://a.test/p? HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", false,
		  "GET /p? HTTP/1.1\r\nHost: a.test\r\n\r\n" },
		{ "GET /a?b HTTP/1.1\r\nX: 1\r\nHost: a.test\r\nY: 2\r\n\r\n", "b.test", false,
		  "GET /a?b HTTP/1.1\r\nHost: b.test\r\nX: 1\r\nY: 2\r\n\r\n" },
		{ "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\nProxy-Authorization: x\r\n\r\n",
		  "[::1]:443", false, "CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n" },
		{ "CONNECT a.test:0443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n", "a.test:443", false,
		  "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n" },
		{ "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n", "a.test", false,
		  "OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n" },
		/* HTTP/1.0 goes up as HTTP/1.1, with the Host it did not send. */
		{ "GET http://a.test/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "a.test", false,
		  "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n" },
		{ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		  "Sec-WebSocket-Key: k\r\n\r\n", "a", true,
		  "GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n"
		  "Connection: upgrade\r\n\r\n" },
		{ "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		  "Sec-WebSocket-Key: k\r\n\r\n", "a", false,
		  "GET /ws HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n\r\n" },
		/* Connection cannot strip what frames the body. */
		{ "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
		  "Connection: Content-Length, Host\r\n\r\n", "a", false,
		  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n" },
		{ "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		  "Connection: transfer-encoding\r\n\r\n", "a", false,
		  "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" },
		/* Names listed over two Connection fields; more than the eight kept at once. */
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: a1, ,A2\r\nA1: 1\r\nB: 2\r\n"
		  "Connection: a3\r\na2: 3\r\nA3: 4\r\n\r\n", "a", false,
		  "GET / HTTP/1.1\r\nHost: a\r\nB: 2\r\n\r\n" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: a1, a2, a3, a4, a5, a6, a7, a8\r\n"
		  "A9: 9\r\nConnection: a9\r\nA1: 1\r\nB: 2\r\nA8: 8\r\n\r\n", "a", false,
		  "GET / HTTP/1.1\r\nHost: a\r\nB: 2\r\n\r\n" },
		/* Repeated or listed Content-Length goes up once, canonical. */
		{ "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 05\r\nX: 1\r\n"
		  "Content-Length: 5, 5\r\n\r\n", "a", false,
		  "POST / HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\nX: 1\r\n\r\n" },
	};
	char out[1024];
	ssize_t rc;

	for (size_t i = 0; i < NELEM(cases); i++) {
		rc = write_req(cases[i].in, cases[i].host, cases[i].keep_upgrade, out, sizeof(out));
		CHECK(rc == (ssize_t)strlen(cases[i].out));
		CHECK_STR(rc >= 0 ? out : "(failed)", cases[i].out);
		/* Every size short of the head fails; the exact size does not. */
		for (size_t n = 0; rc > 0 && n < (size_t)rc; n++)
			CHECK(write_req(cases[i].in, cases[i].host, cases[i].keep_upgrade, out, n) == -1);
		CHECK(write_req(cases[i].in, cases[i].host, cases[i].keep_upgrade, out,
		    strlen(cases[i].out)) == (ssize_t)strlen(cases[i].out));
	}
	/* A Host that would break the head is refused. */
	CHECK(write_req("GET / HTTP/1.1\r\nHost: a\r\n\r\n", "a\r\nX: 1", false, out,
	    sizeof(out)) == -1);
}

static void
test_write_response(void)
{
	static const struct {
		const char *in, *method;
		bool        close;
		const char *out;
	} cases[] = {
		{ "HTTP/1.0 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n"
		  "Content-Length: 2\r\nX-Hop: 1\r\nServer: s\r\nProxy-Authenticate: Basic\r\n\r\n",
		  "GET", false, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: s\r\n\r\n" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", "GET", true,
		  "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n" },
		{ "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
		  "Sec-WebSocket-Accept: x\r\n\r\n", "GET", false,
		  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n"
		  "Connection: upgrade\r\n\r\n" },
		{ "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nTransfer-Encoding: chunked\r\n"
		  "Connection: upgrade, transfer-encoding\r\n\r\n", "GET", false,
		  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" },
		{ "HTTP/1.1 204\r\n\r\n", "GET", false, "HTTP/1.1 204 \r\n\r\n" },
		{ "HTTP/1.1 304 Not Modified\r\nContent-Length: 0010\r\nETag: \"x\"\r\n\r\n", "GET",
		  false, "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: \"x\"\r\n\r\n" },
		{ "HTTP/1.0 200 OK\r\n\r\n", "GET", true,
		  "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" },
	};
	struct http_resp resp;
	const char *why;
	char out[512];
	ssize_t rc;

	for (size_t i = 0; i < NELEM(cases); i++) {
		size_t len = strlen(cases[i].in), want = strlen(cases[i].out);

		CHECK(http_parse_response(cases[i].in, len, slice_cstr(cases[i].method), &resp,
		    &why) == (ssize_t)len);
		rc = http_write_response_head(&resp, cases[i].close, out, sizeof(out));
		CHECK(rc == (ssize_t)want);
		if (rc >= 0)
			out[rc] = '\0';
		CHECK_STR(rc >= 0 ? out : "(failed)", cases[i].out);
		for (size_t n = 0; n < want; n++)
			CHECK(http_write_response_head(&resp, cases[i].close, out, n) == -1);
		CHECK(http_write_response_head(&resp, cases[i].close, out, want) == (ssize_t)want);
	}
}

int
main(void)
{
	test_good_requests();
	test_partial_requests();
	test_bad_requests();
	test_limits();
	test_fields();
	test_responses();
	test_chunked();
	test_write_request();
	test_write_response();
	return unit_done("unit/http");
}
