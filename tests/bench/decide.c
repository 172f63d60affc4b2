/* bench_decide: decide() throughput on one core for large policies, against PCRE2
 * run one pattern after another, and the cost of one sh decision. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ev.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "policy.h"
#include "request.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char dir[] = "/tmp/httpjail-bench.XXXXXX";

#define ANCHORED   "'^https://svc%d\\.example\\.(com|net)/api/v%d/[a-z]+'"
#define UNANCHORED "'svc%d\\.example\\.(com|net)/api/v%d/[a-z]+'"
/* The only literal outside the group, "/api/vN/", is shared by a third of the rules. */
#define SCANNED    "'(svc%d\\.example\\.(com|net)|nothing\\.test)/api/v%d/[a-z]+'"

/* NHOSTS host rules, then NPATS pattern rules made from PATFMT. */
static struct policy *
build(const char *name, int nhosts, int npats, const char *patfmt, double *compile_s)
{
	char path[256];
	const char *files[1] = { path };
	struct policy_src src = { .ps_files = files, .ps_nfiles = 1 };
	struct errbuf err;
	struct policy *po;
	FILE *f;
	double t;

	snprintf(path, sizeof(path), "%s/%s.yaml", dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fprintf(f, "rules:\n");
	for (int i = 0; i < nhosts; i++)
		fprintf(f, "  - {action: allow, host: h%d.example.com, methods: [GET, HEAD]}\n", i);
	for (int i = 0; i < npats; i++) {
		fprintf(f, "  - {action: %s, pattern: ", i % 5 ? "allow" : "deny");
		fprintf(f, patfmt, i, i % 3);
		fprintf(f, "}\n");
	}
	fclose(f);
	t = now();
	po = policy_compile(&src, &err);
	*compile_s = now() - t;
	if (po == NULL) {
		fprintf(stderr, "bench: %s\n", err.msg);
		exit(1);
	}
	return po;
}

/* Decisions per second for URL, and the rule that decided (1-based, 0 default). */
static double
rate(const struct policy *po, const char *url, long *rule)
{
	struct policy_scratch *sc = policy_scratch_new(po);
	struct request rq;
	struct decision dc;
	struct errbuf err;
	char buf[512];
	long n = 0;
	double t0, t;

	request_from_url(&rq, "GET", url, buf, sizeof(buf), &err);
	t0 = now();
	do {
		for (int i = 0; i < 1000; i++)
			policy_decide(po, sc, &rq, 0, &dc);
		n += 1000;
		t = now() - t0;
	} while (t < 1.0 && n < 100000000);
	*rule = dc.dc_rule ? (long)rule_index(dc.dc_rule) + 1 : 0;
	policy_scratch_free(sc);
	return (double)n / t;
}

/* The same patterns through PCRE2 JIT one after another, as a rule-by-rule proxy would. */
static double
sequential(const struct policy *po, const char *url)
{
	size_t n = policy_rule_count(po), k = 0;
	pcre2_code **re = calloc(n, sizeof(*re));
	pcre2_match_data *md = pcre2_match_data_create(1, NULL);
	long iters = 0;
	double t0, t;

	for (size_t i = 0; i < n; i++) {
		const char *p = rule_pattern(policy_rule_get(po, i));
		int code;
		PCRE2_SIZE off;
		if (p == NULL)
			continue;
		re[k] = pcre2_compile((PCRE2_SPTR)p, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
		pcre2_jit_compile(re[k], PCRE2_JIT_COMPLETE);
		k++;
	}
	t0 = now();
	do {
		for (size_t i = 0; i < k; i++)
			if (pcre2_jit_match(re[i], (PCRE2_SPTR)url, strlen(url), 0, 0, md, NULL) >= 0)
				break;
		iters++;
		t = now() - t0;
	} while (t < 1.0);
	for (size_t i = 0; i < k; i++)
		pcre2_code_free(re[i]);
	free(re);
	pcre2_match_data_free(md);
	return (double)iters / t;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Median microseconds from spawn to verdict of CMD over RUNS runs. */
static double
sh_cost(const char *cmd, int runs)
{
	struct hook_opts ho = { .ho_timeout_ms = 5000, .ho_run_id = "bench" };
	struct hook_runner *hr = hook_runner_new(ev_default_loop(0), &ho);
	static struct hook_result res;
	double *us = calloc((size_t)runs, sizeof(*us));
	struct request rq;
	struct errbuf err;
	char buf[256];
	double med;

	request_from_url(&rq, "GET", "https://a.test/x", buf, sizeof(buf), &err);
	for (int i = 0; i < runs; i++) {
		double t = now();
		hook_run_sync(hr, cmd, &rq, &res);
		us[i] = (now() - t) * 1e6;
		if (res.hr_status != HOOK_MATCH) {
			fprintf(stderr, "bench: hook %s: %s\n", cmd, res.hr_reason);
			exit(1);
		}
	}
	qsort(us, (size_t)runs, sizeof(*us), cmp_double);
	med = us[runs / 2];
	free(us);
	hook_runner_free(hr);
	return med;
}

static void
row(const char *policy, const char *req, const struct policy *po, const char *url)
{
	long rule;
	double r = rate(po, url, &rule);

	printf("| %-34s | %-12s | %6ld | %12.0f | %8.3f |\n", policy, req, rule, r, 1e6 / r);
}

int
main(void)
{
	struct policy *a, *b1, *b2, *c1, *c2, *d1, *d2;
	double ca, cb1, cb2, cc1, cc2, cd1, cd2;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	a = build("a", 10000, 100, ANCHORED, &ca);
	b1 = build("b1", 0, 1000, ANCHORED, &cb1);
	b2 = build("b2", 0, 10000, ANCHORED, &cb2);
	c1 = build("c1", 0, 1000, UNANCHORED, &cc1);
	c2 = build("c2", 0, 10000, UNANCHORED, &cc2);
	d1 = build("d1", 0, 1000, SCANNED, &cd1);
	d2 = build("d2", 0, 10000, SCANNED, &cd2);

	printf("decide() on one core (URL ~50 bytes; target >= 500,000 decisions/s).\n"
	       "(a), (b): patterns anchored to a literal '^https://HOST' go to the prefix index;\n"
	       "(c): the same patterns without '^' go to the index of the literal each contains;\n"
	       "(d): patterns with no literal of their own go to one Vectorscan scan.\n\n");
	printf("| %-34s | %-12s | %6s | %12s | %8s |\n", "policy", "request", "rule", "decisions/s", "us each");
	printf("|%s|%s|%s|%s|%s|\n", "------------------------------------", "--------------",
	       "--------", "--------------", "----------");
	row("(a) 10,000 host + 100 pattern", "last host", a, "https://h9999.example.com/x");
	row("(a) 10,000 host + 100 pattern", "last rule", a, "https://svc99.example.net/api/v0/x");
	row("(a) 10,000 host + 100 pattern", "none", a, "https://nothing.example.org/api/v1/x");
	row("(b) 1,000 pattern", "last rule", b1, "https://svc999.example.com/api/v0/x");
	row("(b) 1,000 pattern", "none", b1, "https://nothing.example.org/api/v1/x");
	row("(b) 10,000 pattern", "last rule", b2, "https://svc9999.example.com/api/v0/x");
	row("(b) 10,000 pattern", "none", b2, "https://nothing.example.org/api/v1/x");
	row("(c) 1,000 unanchored", "last rule", c1, "https://svc999.example.com/api/v0/x");
	row("(c) 1,000 unanchored", "none", c1, "https://nothing.example.org/api/v1/x");
	row("(c) 10,000 unanchored", "last rule", c2, "https://svc9999.example.com/api/v0/x");
	row("(c) 10,000 unanchored", "none", c2, "https://nothing.example.org/api/v1/x");
	row("(d) 1,000 alternatives", "last rule", d1, "https://svc999.example.com/api/v0/x");
	row("(d) 1,000 alternatives", "none", d1, "https://nothing.example.org/api/v1/x");
	row("(d) 10,000 alternatives", "last rule", d2, "https://svc9999.example.com/api/v0/x");
	row("(d) 10,000 alternatives", "none", d2, "https://nothing.example.org/api/v1/x");
	printf("\nPCRE2 JIT one pattern after another, matching none: 1,000 patterns %.0f/s, "
	       "10,000 patterns %.0f/s\n",
	       sequential(b1, "https://nothing.example.org/api/v1/x"),
	       sequential(b2, "https://nothing.example.org/api/v1/x"));
	printf("compile time: (a) %.2f s, (b) 1,000 %.2f s, 10,000 %.2f s, "
	       "(c) 1,000 %.2f s, 10,000 %.2f s, (d) 1,000 %.2f s, 10,000 %.2f s\n",
	       ca, cb1, cb2, cc1, cc2, cd1, cd2);
	printf("sh decision, spawn to verdict (median of 200): direct 'true' %.0f us, "
	       "'sh -c \"exit 0\"' %.0f us\n", sh_cost("true", 200), sh_cost("exit 0", 200));
	policy_free(a);
	policy_free(b1);
	policy_free(b2);
	policy_free(c1);
	policy_free(c2);
	policy_free(d1);
	policy_free(d2);
	{
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", dir);
	}
	return 0;
}
