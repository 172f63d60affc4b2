/* Unit tests of request_from_url() and request_build(): what a pattern sees. */
#include "method.h"
#include "request.h"
#include "unit.h"

static void
test_normalise(void)
{
	static const struct { const char *in, *url, *host, *path, *query; unsigned port; } cases[] = {
		{ "https://Example.COM/a/B?x=Y", "https://example.com/a/B?x=Y", "example.com", "/a/B", "x=Y", 443 },
		{ "HTTP://a.test:80/", "http://a.test/", "a.test", "/", "", 80 },
		{ "http://a.test:8080", "http://a.test:8080/", "a.test", "/", "", 8080 },
		{ "https://a.test:443", "https://a.test/", "a.test", "/", "", 443 },
		{ "https://a.test.:8443/p", "https://a.test:8443/p", "a.test", "/p", "", 8443 },
		{ "https://a.test?q", "https://a.test/?q", "a.test", "/", "q", 443 },
		{ "https://a.test/p#frag", "https://a.test/p", "a.test", "/p", "", 443 },
		{ "https://a.test/p?q=1#frag", "https://a.test/p?q=1", "a.test", "/p", "q=1", 443 },
		{ "https://[2001:DB8::1]:8443/", "https://[2001:db8::1]:8443/", "2001:db8::1", "/", "", 8443 },
		{ "tcp://Git.Test:22", "tcp://git.test:22", "git.test", "", "", 22 },
		{ "wss://a.test/ws", "wss://a.test/ws", "a.test", "/ws", "", 443 },
		{ "http://203.0.113.7/", "http://203.0.113.7/", "203.0.113.7", "/", "", 80 },
	};
	static const struct { const char *in, *msg; } bad[] = {
		{ "a.test/x", "'a.test/x': not an absolute URL (expected SCHEME://HOST/...)" },
		{ "://a.test/", "'://a.test/': not an absolute URL (expected SCHEME://HOST/...)" },
		{ "ht-tp://a/", "'ht-tp://a/': invalid scheme" },
		{ "https:///x", "URL has no host" },
		{ "https://a.test:0/", "'https://a.test:0/': bad port" },
		{ "https://a.test:65536/", "'https://a.test:65536/': bad port" },
		{ "https://a.test:/", "'https://a.test:/': bad port" },
		{ "https://a.test:8x/", "'https://a.test:8x/': bad port" },
		{ "https://u:p@a.test/", "'https://u:p@a.test/': user information in URLs is not supported" },
		{ "https://[::1/", "'https://[::1/': unterminated IPv6 address" },
		{ "tcp://a.test/", "'tcp://a.test/': a tcp URL needs a port" },
		{ "https://a b/", "invalid character ' ' in host 'a b'" },
	};
	char buf[512];
	struct request rq;
	struct errbuf err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char got[512];
		int rc = request_from_url(&rq, "GET", cases[i].in, buf, sizeof(buf), &err);
		CHECK(rc == 0);
		if (rc != 0) {
			fprintf(stderr, "  %s: %s\n", cases[i].in, err.msg);
			continue;
		}
		snprintf(got, sizeof(got), "%.*s", (int)rq.rq_url.len, rq.rq_url.ptr);
		CHECK_STR(got, cases[i].url);
		snprintf(got, sizeof(got), "%.*s", (int)rq.rq_host.len, rq.rq_host.ptr);
		CHECK_STR(got, cases[i].host);
		snprintf(got, sizeof(got), "%.*s", (int)rq.rq_path.len, rq.rq_path.ptr);
		CHECK_STR(got, cases[i].path);
		snprintf(got, sizeof(got), "%.*s", (int)rq.rq_query.len, rq.rq_query.ptr);
		CHECK_STR(got, cases[i].query);
		CHECK(rq.rq_port == cases[i].port);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(request_from_url(&rq, "GET", bad[i].in, buf, sizeof(buf), &err) == -1);
		CHECK_STR(err.msg, bad[i].msg);
	}
	/* A buffer too small is an error, never a truncated URL. */
	CHECK(request_from_url(&rq, "GET", "https://a.test/0123456789", buf, 20, &err) == -1);
	CHECK_STR(err.msg, "URL too long");
}

static void
test_kinds(void)
{
	char buf[256];
	struct request rq;
	struct errbuf err;

	request_from_url(&rq, "GET", "http://a.test/", buf, sizeof(buf), &err);
	CHECK(rq.rq_kind == REQ_HTTP);
	CHECK(rq.rq_method_bit == method_bit(SLICE_LIT("GET")));
	request_from_url(&rq, "get", "https://a.test/", buf, sizeof(buf), &err);
	CHECK(rq.rq_kind == REQ_HTTPS);
	CHECK(rq.rq_method_bit == method_bit(SLICE_LIT("GET")));
	request_from_url(&rq, "CONNECT", "https://a.test:8443/", buf, sizeof(buf), &err);
	CHECK(rq.rq_kind == REQ_CONNECT);
	request_from_url(&rq, "CONNECT", "tcp://a.test:22", buf, sizeof(buf), &err);
	CHECK(rq.rq_kind == REQ_TCP);
	request_from_url(&rq, "BREW", "http://a.test/", buf, sizeof(buf), &err);
	CHECK(rq.rq_method_bit == 0);
	CHECK(request_default_port(SLICE_LIT("http")) == 80);
	CHECK(request_default_port(SLICE_LIT("wss")) == 443);
	CHECK(request_default_port(SLICE_LIT("tcp")) == 0);
}

/* request_build() is what the proxy calls with parts of a parsed request. */
static void
test_build(void)
{
	char buf[256], got[256];
	struct request rq;
	struct errbuf err;

	CHECK(request_build(&rq, SLICE_LIT("POST"), SLICE_LIT("HTTPS"), SLICE_LIT("API.Test."),
	                    8443, SLICE_LIT("/v1"), SLICE_LIT("a=b"), buf, sizeof(buf), &err) == 0);
	snprintf(got, sizeof(got), "%.*s", (int)rq.rq_url.len, rq.rq_url.ptr);
	CHECK_STR(got, "https://api.test:8443/v1?a=b");
	/* The method is copied: the request outlives the bytes it was built from. */
	{
		char method[8] = "PATCH";
		CHECK(request_build(&rq, (struct slice){ method, 5 }, SLICE_LIT("http"),
		                    SLICE_LIT("a.test"), 80, SLICE_LIT("/"), SLICE_LIT(""), buf,
		                    sizeof(buf), &err) == 0);
		memset(method, 'x', sizeof(method));
		snprintf(got, sizeof(got), "%.*s", (int)rq.rq_method.len, rq.rq_method.ptr);
		CHECK_STR(got, "PATCH");
	}
	CHECK(request_build(&rq, SLICE_LIT("GET"), SLICE_LIT("http"), SLICE_LIT("a/b"),
	                    80, SLICE_LIT("/"), SLICE_LIT(""), buf, sizeof(buf), &err) == -1);
	CHECK(request_build(&rq, SLICE_LIT("GET"), SLICE_LIT("http"), SLICE_LIT("."),
	                    80, SLICE_LIT("/"), SLICE_LIT(""), buf, sizeof(buf), &err) == -1);
	CHECK_STR(err.msg, "URL has no host");
}

int
main(void)
{
	test_normalise();
	test_kinds();
	test_build();
	return unit_done("unit/request");
}
