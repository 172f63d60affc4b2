/* Unit tests of policy_decide(): first match in rule order, hosts, methods, ports,
 * normalisation, hooks, and a differential test against a plain rule-by-rule walk. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "method.h"
#include "request.h"
#include "testpolicy.h"
#include "unit.h"

struct outcome {
	enum decide_status st;
	enum verdict       v;
	long               rule;   /* 1-based, 0 for the default */
};

static struct outcome
decide_at(const struct policy *po, const char *method, const char *url, size_t from,
          struct decision *dc)
{
	struct policy_scratch *sc = policy_scratch_new(po);
	struct outcome o = { DECIDE_DONE, VERDICT_DENY, -1 };
	struct errbuf err;
	struct request rq;
	char buf[4096];

	if (sc == NULL || request_from_url(&rq, method, url, buf, sizeof(buf), &err) < 0) {
		fprintf(stderr, "  bad test URL %s: %s\n", url, err.msg);
		policy_scratch_free(sc);
		return o;
	}
	o.st = policy_decide(po, sc, &rq, from, dc);
	o.v = dc->dc_verdict;
	o.rule = dc->dc_rule ? (long)rule_index(dc->dc_rule) + 1 : 0;
	policy_scratch_free(sc);
	return o;
}

static struct outcome
decide(const struct policy *po, const char *method, const char *url)
{
	struct decision dc;

	return decide_at(po, method, url, 0, &dc);
}

#define EXPECT(po, m, url, verdict, rulenum)                                   \
	do {                                                                   \
		struct outcome o_ = decide((po), (m), (url));                  \
		if (o_.v != (verdict) || o_.rule != (rulenum))                 \
			fprintf(stderr, "  %s %s: got %s by %ld\n", (m), (url), \
			        o_.v == VERDICT_ALLOW ? "allow" : "deny", o_.rule); \
		CHECK(o_.st == DECIDE_DONE && o_.v == (verdict) && o_.rule == (rulenum)); \
	} while (0)

static struct policy *
compile_or_die(const char *yaml)
{
	struct errbuf err;
	struct policy *po = tp_compile(yaml, NULL, 0, &err);

	if (po == NULL) {
		fprintf(stderr, "cannot compile test policy: %s\n", err.msg);
		exit(1);
	}
	return po;
}

static void
test_order_and_default(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: deny, host: a.test, methods: [POST]}\n"
		"  - {action: allow, host: a.test}\n"
		"  - {action: deny, pattern: '^https://b\\.test/private/'}\n"
		"  - {action: allow, pattern: '^https://b\\.test/'}\n"
		"  - {action: deny, pattern: telemetry}\n"
		"  - {action: allow, methods: [OPTIONS]}\n");

	EXPECT(po, "GET", "https://a.test/x", VERDICT_ALLOW, 2);
	EXPECT(po, "POST", "https://a.test/x", VERDICT_DENY, 1);
	EXPECT(po, "post", "https://a.test/x", VERDICT_DENY, 1);
	EXPECT(po, "GET", "https://b.test/private/key", VERDICT_DENY, 3);
	EXPECT(po, "GET", "https://b.test/public/telemetry", VERDICT_ALLOW, 4);
	EXPECT(po, "GET", "https://c.test/telemetry", VERDICT_DENY, 5);
	EXPECT(po, "OPTIONS", "https://c.test/", VERDICT_ALLOW, 6);
	EXPECT(po, "GET", "https://c.test/", VERDICT_DENY, 0);
	EXPECT(po, "BREW", "https://c.test/", VERDICT_DENY, 0);
	policy_free(po);

	po = compile_or_die("default: allow\nrules: [{action: deny, host: bad.test}]\n");
	EXPECT(po, "GET", "http://good.test/", VERDICT_ALLOW, 0);
	EXPECT(po, "GET", "http://bad.test/", VERDICT_DENY, 1);
	policy_free(po);
}

static void
test_hosts(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: allow, host: '*.github.com'}\n"
		"  - {action: allow, host: [github.io, Example.TEST]}\n");

	EXPECT(po, "GET", "https://api.github.com/", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "https://a.b.github.com/", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "https://API.GitHub.COM/", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "https://github.com/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://evilgithub.com/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://api.evilgithub.com/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://github.com.evil.net/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://api.github.com.evil.net/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://evil.net/?host=api.github.com", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://github.io/", VERDICT_ALLOW, 2);
	EXPECT(po, "GET", "https://www.github.io/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://github.io.evil.net/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://example.test./", VERDICT_ALLOW, 2);
	EXPECT(po, "GET", "tcp://example.test:22", VERDICT_ALLOW, 2);
	policy_free(po);

	/* A deny on a host cannot be bypassed by case or a trailing dot. */
	po = compile_or_die("default: allow\nrules: [{action: deny, host: evil.test}]\n");
	EXPECT(po, "GET", "https://EVIL.test./", VERDICT_DENY, 1);
	policy_free(po);
}

static void
test_ports_and_urls(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: allow, pattern: '^https://a\\.test/'}\n"
		"  - {action: allow, pattern: '^https://a\\.test:8443/'}\n"
		"  - {action: allow, pattern: '^http://b\\.test/$'}\n"
		"  - {action: allow, pattern: '^tcp://git\\.test:22$'}\n"
		"  - {action: allow, pattern: '^https://q\\.test/p\\?x=1$'}\n");

	EXPECT(po, "GET", "https://a.test/x", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "https://a.test:443/x", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "HTTPS://A.TEST/x", VERDICT_ALLOW, 1);
	EXPECT(po, "GET", "https://a.test:8443/x", VERDICT_ALLOW, 2);
	EXPECT(po, "GET", "https://a.test:8444/x", VERDICT_DENY, 0);
	EXPECT(po, "GET", "http://a.test/x", VERDICT_DENY, 0);
	EXPECT(po, "GET", "http://b.test:80", VERDICT_ALLOW, 3);
	EXPECT(po, "GET", "http://b.test:8080/", VERDICT_DENY, 0);
	EXPECT(po, "CONNECT", "tcp://git.test:22", VERDICT_ALLOW, 4);
	EXPECT(po, "CONNECT", "tcp://git.test:2222", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://q.test/p?x=1#frag", VERDICT_ALLOW, 5);
	EXPECT(po, "GET", "https://q.test/p?x=1&y=2", VERDICT_DENY, 0);
	policy_free(po);
}

/* Patterns Vectorscan takes only as a prefilter, or not at all, still decide exactly. */
static void
test_hard_patterns(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: deny, pattern: '^https://(\\w+)\\.test/\\1/'}\n"
		"  - {action: allow, pattern: '^https://a\\.test/(?!admin)'}\n"
		"  - {action: allow, pattern: '(?<=//)b\\.test/'}\n"
		"  - {action: allow, pattern: '(?i)^HTTPS://C\\.TEST/'}\n"
		"  - {action: allow, pattern: '^https://d\\.test/x*+$'}\n");

	EXPECT(po, "GET", "https://a.test/a/", VERDICT_DENY, 1);
	EXPECT(po, "GET", "https://a.test/ok", VERDICT_ALLOW, 2);
	EXPECT(po, "GET", "https://a.test/admin", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://b.test/", VERDICT_ALLOW, 3);
	EXPECT(po, "GET", "https://c.test/", VERDICT_ALLOW, 4);
	EXPECT(po, "GET", "https://d.test/xxx", VERDICT_ALLOW, 5);
	EXPECT(po, "GET", "https://d.test/xxy", VERDICT_DENY, 0);
	policy_free(po);
}

static void
test_hooks(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: deny, host: a.test, sh: 'check-a'}\n"
		"  - {action: allow, methods: [GET], sh: 'check-b'}\n"
		"  - {action: allow, host: a.test}\n");
	struct policy_scratch *sc = policy_scratch_new(po);
	struct decision dc;
	struct request rq;
	struct errbuf err;
	char buf[256];
	enum decide_status st;

	request_from_url(&rq, "GET", "https://a.test/", buf, sizeof(buf), &err);
	st = policy_decide(po, sc, &rq, 0, &dc);
	CHECK(st == DECIDE_HOOK && rule_index(dc.dc_rule) == 0);
	/* Exit 1: the walk goes on to the next hook. */
	st = policy_decide_hooked(po, sc, &rq, false, false, &dc);
	CHECK(st == DECIDE_HOOK && rule_index(dc.dc_rule) == 1);
	st = policy_decide_hooked(po, sc, &rq, false, false, &dc);
	CHECK(st == DECIDE_DONE && dc.dc_verdict == VERDICT_ALLOW &&
	      rule_index(dc.dc_rule) == 2);
	CHECK_STR(dc.dc_reason, "rule");

	/* Exit 0: the hook's rule decides. */
	st = policy_decide(po, sc, &rq, 0, &dc);
	st = policy_decide_hooked(po, sc, &rq, true, false, &dc);
	CHECK(st == DECIDE_DONE && dc.dc_verdict == VERDICT_DENY &&
	      rule_index(dc.dc_rule) == 0);

	/* An error denies, even on an allow rule: fail closed. */
	st = policy_decide(po, sc, &rq, 1, &dc);
	CHECK(st == DECIDE_HOOK && rule_index(dc.dc_rule) == 1);
	st = policy_decide_hooked(po, sc, &rq, false, true, &dc);
	CHECK(st == DECIDE_DONE && dc.dc_verdict == VERDICT_DENY);
	CHECK_STR(dc.dc_reason, "hook error");

	/* A method that does not match means the hook never runs. */
	request_from_url(&rq, "POST", "https://b.test/", buf, sizeof(buf), &err);
	st = policy_decide(po, sc, &rq, 0, &dc);
	CHECK(st == DECIDE_DONE && dc.dc_rule == NULL);
	CHECK_STR(dc.dc_reason, "default");
	policy_scratch_free(sc);
	policy_free(po);
}

/* Vectorscan 5.4.9 (Debian 12) reports no match for the second pattern here; the
 * prefilter must never lose a candidate, so this stays as a regression test. */
static void
test_prefilter_regression(void)
{
	struct policy *po = compile_or_die(
		"rules:\n"
		"  - {action: deny, pattern: '\\?q='}\n"
		"  - {action: deny, pattern: '[0-9]+\\.[0-9]+'}\n"
		"  - {action: deny, methods: [HEAD], pattern: 'q=1$'}\n"
		"  - {action: allow, pattern: '^https://api\\.github\\.com/'}\n"
		"default: allow\n");

	EXPECT(po, "PUT", "http://github.com.evil.net:8443/1.2", VERDICT_DENY, 2);
	EXPECT(po, "PUT", "http://a.test/xxxxxxxxxxxx1.2", VERDICT_DENY, 2);
	policy_free(po);
}

/* Unanchored patterns with a literal in common: the literal index files them, or hands
 * the crowd that shares one rare piece back to the Vectorscan set; order stays exact. */
static void
test_contained_literals(void)
{
	char yaml[8192], *p = yaml;
	struct policy *po;

	p += sprintf(p, "rules:\n");
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "  - {action: deny, pattern: '(a|b%d)\\.crowd\\.test/'}\n", i);
	for (int i = 0; i < 40; i++)
		p += sprintf(p, "  - {action: allow, pattern: 'svc%d\\.example\\.(com|net)/'}\n", i);
	sprintf(p, "  - {action: allow, pattern: 'github\\.com/acme/'}\n");
	po = compile_or_die(yaml);
	EXPECT(po, "GET", "https://a.crowd.test/", VERDICT_DENY, 1);
	EXPECT(po, "GET", "https://b39.crowd.test/", VERDICT_DENY, 40);
	EXPECT(po, "GET", "https://b40.crowd.test/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://svc3.example.net/x", VERDICT_ALLOW, 44);
	EXPECT(po, "GET", "https://svc39.example.com/", VERDICT_ALLOW, 80);
	EXPECT(po, "GET", "https://svc3.example.org/", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://x.test/?u=svc3.example.com/", VERDICT_ALLOW, 44);
	EXPECT(po, "GET", "https://github.com/acme/x", VERDICT_ALLOW, 81);
	EXPECT(po, "GET", "https://github.com/acm/x", VERDICT_DENY, 0);
	EXPECT(po, "GET", "https://b1.crowd.test/?github.com/acme/", VERDICT_DENY, 2);
	policy_free(po);
}

/* Starting from a later rule skips the earlier ones, including across 64-rule words. */
static void
test_from(void)
{
	char *yaml = malloc(200 * 64 + 64), *p = yaml;
	struct policy *po;
	struct decision dc;
	struct outcome o;

	p += sprintf(p, "rules:\n");
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "  - {action: %s, host: x.test}\n", i % 2 ? "allow" : "deny");
	po = compile_or_die(yaml);
	for (size_t from = 0; from < 200; from += 7) {
		o = decide_at(po, "GET", "https://x.test/", from, &dc);
		CHECK(o.rule == (long)from + 1);
	}
	o = decide_at(po, "GET", "https://x.test/", 200, &dc);
	CHECK(o.rule == 0);
	policy_free(po);
	free(yaml);
}

/* The reference: every rule, in order, with no index and no prefilter. */
struct ref_rule {
	bool        allow;
	const char *hosts[3];
	size_t      nhosts;
	uint32_t    methods;
	pcre2_code *re;
};

static bool
ref_host(const char *rule, const char *host)
{
	size_t rl, hl = strlen(host);

	if (strncmp(rule, "*.", 2) != 0)
		return strcmp(rule, host) == 0;
	rl = strlen(rule + 1);
	return hl > rl && strcmp(host + hl - rl, rule + 1) == 0;
}

static long
ref_decide(const struct ref_rule *rules, size_t n, const struct request *rq,
           pcre2_match_data *md)
{
	char host[256];

	snprintf(host, sizeof(host), "%.*s", (int)rq->rq_host.len, rq->rq_host.ptr);
	for (size_t i = 0; i < n; i++) {
		const struct ref_rule *r = &rules[i];
		if (r->methods != METHOD_ALL && !(r->methods & rq->rq_method_bit))
			continue;
		if (r->nhosts > 0) {
			bool hit = false;
			for (size_t h = 0; h < r->nhosts; h++)
				hit = hit || ref_host(r->hosts[h], host);
			if (!hit)
				continue;
		}
		if (r->re != NULL && pcre2_match(r->re, (PCRE2_SPTR)rq->rq_url.ptr,
		                                 rq->rq_url.len, 0, 0, md, NULL) < 0)
			continue;
		return (long)i + 1;
	}
	return 0;
}

static unsigned rnd_state = 12345;

static unsigned
rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 16) % n;
}

#define ROUNDS 1000

static void
test_differential(void)
{
	static const char *const hostpool[] = {
		"a.test", "b.a.test", "github.com", "api.github.com", "evilgithub.com",
		"github.com.evil.net", "x.y.z.test", "z.test", "localhost", "10.0.0.1",
	};
	static const char *const rulehosts[] = {
		"a.test", "*.a.test", "github.com", "*.github.com", "*.com", "*.test",
		"*.z.test", "z.test", "*.net", "localhost",
	};
	static const char *const pats[] = {
		"^https://api\\.github\\.com/", "github", "^http://", "/v1/", "\\?q=",
		"(?i)GITHUB", "^https://([a-z]+)\\.\\1", "evil(?!\\.net)", "x{2,}",
		".*", "^tcp://", ":8443/", "^https?://[^/]*\\.test/", "(?<=/)v1",
		"q=1$", "[0-9]+\\.[0-9]+", "^https://github\\.com/org/(repo|other)\\.git",
		"^https://a\\.test/v1/", "^https://a.test/", "^http://a\\.test:8443/",
		"^https://z\\.test/x+", "^https://b\\.a\\.test/\\?q", "^https://x\\.y\\.z\\.test/\\d",
		"^https://api\\.github\\.com/|evil", "^https://github\\.com/org/repo\\.git$",
		"\\Ahttps://a\\.test/", "^https://10\\.0\\.0\\.1/1\\.2",
		"github\\.com/org/", "/org/repo", "a\\.test/v1", "repo\\.git", "(x|y)\\.test/",
		"evil\\.net", "/xxx\\?q=1", "thub\\.com(\\.evil)?/", "test/?\\?q",
	};
	static const char *const methods[] = { "GET", "HEAD", "POST", "PUT", "CONNECT", "BREW" };
	static const char *const paths[] = {
		"/", "/v1/x", "/org/repo.git", "/xxx?q=1", "/a/b?q=12", "/GITHUB", "/1.2",
		"/?q", "/x", "/9",
	};
	static const char *const schemes[] = { "http", "https" };
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	long mismatches = 0, decisions = 0;

	for (int round = 0; round < ROUNDS; round++) {
		struct ref_rule ref[40];
		char yaml[16384], *p = yaml;
		size_t n = 1 + rnd(40);
		struct policy_scratch *sc;
		struct policy *po;

		p += sprintf(p, "rules:\n");
		for (size_t i = 0; i < n; i++) {
			struct ref_rule *r = &ref[i];
			unsigned shape = rnd(4);
			memset(r, 0, sizeof(*r));
			r->allow = rnd(2);
			r->methods = METHOD_ALL;
			p += sprintf(p, "  - action: %s\n", r->allow ? "allow" : "deny");
			if (shape != 1) {
				r->nhosts = 1 + rnd(3);
				p += sprintf(p, "    host: [");
				for (size_t h = 0; h < r->nhosts; h++) {
					r->hosts[h] = rulehosts[rnd(10)];
					p += sprintf(p, "%s'%s'", h ? ", " : "", r->hosts[h]);
				}
				p += sprintf(p, "]\n");
			}
			if (shape != 0) {
				const char *pat = pats[rnd(sizeof(pats) / sizeof(pats[0]))];
				int code;
				PCRE2_SIZE off;
				r->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0,
				                      &code, &off, NULL);
				p += sprintf(p, "    pattern: '%s'\n", pat);
			}
			if (rnd(3) == 0 || shape == 3) {
				uint32_t b1 = method_bit(slice_cstr(methods[rnd(5)]));
				uint32_t b2 = method_bit(slice_cstr(methods[rnd(5)]));
				r->methods = b1 | b2;
				p += sprintf(p, "    methods: [%s, %s]\n", method_name(b1), method_name(b2));
			}
		}
		po = compile_or_die(yaml);
		sc = policy_scratch_new(po);
		for (int k = 0; k < 100; k++) {
			char url[512], buf[1024];
			const char *m = methods[rnd(6)];
			struct request rq;
			struct decision dc;
			struct errbuf err;
			long want;
			unsigned port = rnd(4) == 0 ? 8443 : 0;

			snprintf(url, sizeof(url), "%s://%s%s%.0u%s", schemes[rnd(2)],
			         hostpool[rnd(10)], port ? ":" : "", port, paths[rnd(10)]);
			if (request_from_url(&rq, m, url, buf, sizeof(buf), &err) < 0) {
				fprintf(stderr, "  bad url %s: %s\n", url, err.msg);
				mismatches++;
				continue;
			}
			want = ref_decide(ref, n, &rq, md);
			policy_decide(po, sc, &rq, 0, &dc);
			decisions++;
			if ((dc.dc_rule ? (long)rule_index(dc.dc_rule) + 1 : 0) != want ||
			    dc.dc_verdict != (want ? (ref[want - 1].allow ? VERDICT_ALLOW : VERDICT_DENY)
			                           : VERDICT_DENY)) {
				if (mismatches++ < 5)
					fprintf(stderr, "  round %d: %s %s: want rule %ld, got %ld\n%s",
					        round, m, url, want,
					        dc.dc_rule ? (long)rule_index(dc.dc_rule) + 1 : 0L, yaml);
			}
		}
		policy_scratch_free(sc);
		policy_free(po);
		for (size_t i = 0; i < n; i++)
			pcre2_code_free(ref[i].re);
	}
	pcre2_match_data_free(md);
	CHECK(decisions == ROUNDS * 100);
	CHECK(mismatches == 0);
}

int
main(void)
{
	test_order_and_default();
	test_hosts();
	test_ports_and_urls();
	test_hard_patterns();
	test_hooks();
	test_from();
	test_prefilter_regression();
	test_contained_literals();
	test_differential();
	tp_cleanup();
	return unit_done("unit/decide");
}
