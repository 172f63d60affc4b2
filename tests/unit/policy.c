/* Unit tests of the policy compiler: every accepted form and the settings it yields.
 * The exact line:col of every error kind is in tests/policy/fail-*.err. */
#include <limits.h>

#include "method.h"
#include "testpolicy.h"
#include "unit.h"

static const char all_keys[] =
	"version: 1\n"
	"rules:\n"
	"  - action: allow\n"
	"    host: [Registry.NPMJS.org, '*.Cdn.Test']\n"
	"    methods: [get, HEAD]\n"
	"  - action: deny\n"
	"    pattern: 'it''s'\n"
	"  - action: deny\n"
	"    sh: exit 0\n"
	"default: allow\n"
	"hooks: {timeout: 250ms, cache: 2m}\n"
	"dry_run: yes\n"
	"tls: {intercept: off, passthrough: [Pinned.test, '*.bank.test']}\n"
	"upstream: {allow_private: true}\n"
	"jail: {expose: [/run/a.sock, /run/b.sock]}\n"
	"audit: {db: ./sub/audit.db}\n"
	"logging: {level: debug, file: /var/log/hj.log}\n";

static void
test_all_keys(void)
{
	struct errbuf err = { "" };
	struct policy *po = tp_compile(all_keys, NULL, 0, &err);
	const struct rule *r;
	char want[PATH_MAX];

	CHECK(po != NULL);
	if (po == NULL) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK(policy_rule_count(po) == 3);
	r = policy_rule_get(po, 0);
	CHECK(rule_action(r) == VERDICT_ALLOW);
	CHECK(rule_index(r) == 0);
	CHECK(rule_host_count(r) == 2);
	CHECK_STR(rule_host_get(r, 0), "registry.npmjs.org");
	CHECK_STR(rule_host_get(r, 1), "*.cdn.test");
	CHECK(rule_methods(r) == (method_bit(SLICE_LIT("GET")) | method_bit(SLICE_LIT("HEAD"))));
	CHECK(rule_line(r) == 3 && rule_col(r) == 5);
	CHECK(strstr(rule_source(r), "policy.yaml:3") != NULL);
	CHECK_STR(rule_text(r), "allow host=registry.npmjs.org,*.cdn.test methods=GET,HEAD");
	CHECK(rule_pattern(r) == NULL && rule_sh(r) == NULL);
	r = policy_rule_get(po, 1);
	CHECK_STR(rule_pattern(r), "it's");
	CHECK_STR(rule_text(r), "deny pattern='it''s'");
	CHECK(rule_methods(r) == METHOD_ALL);
	r = policy_rule_get(po, 2);
	CHECK_STR(rule_sh(r), "exit 0");
	CHECK(policy_rule_get(po, 3) == NULL);

	CHECK(policy_default(po) == VERDICT_ALLOW);
	CHECK(policy_hook_timeout_ms(po) == 250);
	CHECK(policy_hook_cache_ms(po) == 120000);
	CHECK(policy_dry_run(po));
	CHECK(!policy_tls_intercept(po));
	CHECK(policy_tls_passthrough(po, SLICE_LIT("pinned.test")));
	CHECK(policy_tls_passthrough(po, SLICE_LIT("www.bank.test")));
	CHECK(!policy_tls_passthrough(po, SLICE_LIT("bank.test")));
	CHECK(!policy_tls_passthrough(po, SLICE_LIT("evilpinned.test")));
	CHECK(policy_allow_private(po));
	CHECK(policy_expose_count(po) == 2);
	CHECK_STR(policy_expose_get(po, 1), "/run/b.sock");
	snprintf(want, sizeof(want), "%s/sub/audit.db", tp_dir);
	CHECK_STR(policy_audit_db(po), want);
	CHECK_STR(policy_log_level(po), "debug");
	CHECK_STR(policy_log_file(po), "/var/log/hj.log");
	CHECK(policy_file_count(po) == 1);
	policy_free(po);
}

static void
test_defaults(void)
{
	struct errbuf err = { "" };
	struct policy *po = tp_compile("# nothing\n", NULL, 0, &err);

	CHECK(po != NULL);
	if (po == NULL)
		return;
	CHECK(policy_rule_count(po) == 0);
	CHECK(policy_default(po) == VERDICT_DENY);
	CHECK(policy_hook_timeout_ms(po) == 5000);
	CHECK(policy_hook_cache_ms(po) == 0);
	CHECK(!policy_dry_run(po));
	CHECK(policy_tls_intercept(po));
	CHECK(!policy_allow_private(po));
	CHECK(policy_expose_count(po) == 0);
	CHECK(policy_audit_db(po) == NULL);
	CHECK(policy_log_file(po) == NULL);
	CHECK_STR(policy_log_level(po), "info");
	policy_free(po);
}

/* -r forms: action alone, with one or several methods in any case, spaces after ':'. */
static void
test_rflag(void)
{
	static const struct { const char *spec, *text; } ok[] = {
		{ "allow: ^https://a\\.test/", "allow pattern='^https://a\\.test/'" },
		{ "deny:telemetry", "deny pattern='telemetry'" },
		{ "allow-get: x", "allow methods=GET pattern='x'" },
		{ "allow-get,head:   ^x", "allow methods=GET,HEAD pattern='^x'" },
		{ "ALLOW-Post,PUT: y:z", "allow methods=POST,PUT pattern='y:z'" },
		{ "Deny-connect: ^https://b\\.test:8443/", "deny methods=CONNECT pattern='^https://b\\.test:8443/'" },
	};
	static const struct { const char *spec, *msg; } bad[] = {
		{ "allow ^x", "-r 1: 'allow ^x': expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/'" },
		{ "allow-get https://x", "-r 1: 'allow-get https://x': expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/'" },
		{ ": x", "-r 1: ': x': expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/'" },
		{ "alow: x", "-r 1: unknown action 'alow' (did you mean 'allow'?)" },
		{ "permit: x", "-r 1: unknown action 'permit' (expected allow or deny)" },
		{ "allow-gett: x", "-r 1: unknown method 'gett' (did you mean 'GET'?)" },
		{ "allow-frobnicate: x", "-r 1: unknown method 'frobnicate' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT ...)" },
		{ "allow-get,: x", "-r 1: empty method name (expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/')" },
		{ "allow-: x", "-r 1: empty method name (expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/')" },
		{ "allow:   ", "-r 1: empty regex (expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/')" },
		{ "allow: (x", "-r 1: rule 1: pattern: invalid regex (missing closing parenthesis at offset 2)" },
	};
	struct errbuf err;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct policy *po = tp_compile(NULL, &ok[i].spec, 1, &err);
		CHECK(po != NULL);
		if (po == NULL) {
			fprintf(stderr, "  %s: %s\n", ok[i].spec, err.msg);
			continue;
		}
		CHECK_STR(rule_text(policy_rule_get(po, 0)), ok[i].text);
		CHECK_STR(rule_source(policy_rule_get(po, 0)), "-r 1");
		policy_free(po);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct policy *po = tp_compile(NULL, &bad[i].spec, 1, &err);
		CHECK(po == NULL);
		if (po == NULL)
			CHECK_STR(err.msg, bad[i].msg);
		policy_free(po);
	}
}

/* Order: every -c file's rules, then -r, then --sh; sources say where each came from. */
static void
test_order(void)
{
	const char *files[2], *rules[] = { "deny: one", "allow: two" };
	const char *sh[] = { "exit 1" };
	char f1[256], f2[256];
	struct policy_src src = { 0 };
	struct errbuf err;
	struct policy *po;

	snprintf(f1, sizeof(f1), "%s", tp_write("first.yaml",
	         "rules: [{action: allow, host: first.test}]\ndefault: allow\n"));
	snprintf(f2, sizeof(f2), "%s", tp_write("second.yaml",
	         "rules: [{action: deny, host: second.test}]\ndefault: deny\n"));
	files[0] = f1;
	files[1] = f2;
	src.ps_files = files;
	src.ps_nfiles = 2;
	src.ps_rules = rules;
	src.ps_nrules = 2;
	src.ps_sh = sh;
	src.ps_nsh = 1;
	src.ps_no_tls_intercept = true;
	po = policy_compile(&src, &err);
	CHECK(po != NULL);
	if (po == NULL)
		return;
	CHECK(policy_rule_count(po) == 5);
	CHECK(strstr(rule_source(policy_rule_get(po, 0)), "first.yaml:1") != NULL);
	CHECK(strstr(rule_source(policy_rule_get(po, 1)), "second.yaml:1") != NULL);
	CHECK_STR(rule_source(policy_rule_get(po, 2)), "-r 1");
	CHECK_STR(rule_source(policy_rule_get(po, 3)), "-r 2");
	CHECK_STR(rule_source(policy_rule_get(po, 4)), "--sh");
	CHECK_STR(rule_text(policy_rule_get(po, 4)), "allow sh='exit 1'");
	/* A later file's setting wins over an earlier one's. */
	CHECK(policy_default(po) == VERDICT_DENY);
	CHECK(!policy_tls_intercept(po));
	CHECK(policy_file_count(po) == 2);
	policy_free(po);

	sh[0] = "";
	src.ps_nfiles = 0;
	src.ps_nrules = 0;
	CHECK(policy_compile(&src, &err) == NULL);
	CHECK_STR(err.msg, "--sh: empty command");
}

/* Includes: top-level first, items at their place, bare names, the includer's
 * settings over the included file's. */
static void
test_include(void)
{
	struct errbuf err;
	struct policy *po;

	tp_write("base.yaml", "rules: [{action: allow, host: base.test}]\n"
	                      "default: allow\nhooks: {timeout: 1s}\n");
	tp_write("named.yaml", "rules: [{action: deny, host: named.test}]\n");
	po = tp_compile("include: [base.yaml]\n"
	                "rules:\n"
	                "  - {action: deny, host: own.test}\n"
	                "  - include: named\n"
	                "  - {action: allow, host: last.test}\n"
	                "default: deny\n", NULL, 0, &err);
	CHECK(po != NULL);
	if (po == NULL) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK(policy_rule_count(po) == 4);
	CHECK_STR(rule_host_get(policy_rule_get(po, 0), 0), "base.test");
	CHECK_STR(rule_host_get(policy_rule_get(po, 1), 0), "own.test");
	CHECK_STR(rule_host_get(policy_rule_get(po, 2), 0), "named.test");
	CHECK_STR(rule_host_get(policy_rule_get(po, 3), 0), "last.test");
	CHECK(policy_default(po) == VERDICT_DENY);
	CHECK(policy_hook_timeout_ms(po) == 1000);
	CHECK(policy_file_count(po) == 3);
	policy_free(po);

	/* A file including itself is a cycle, not an endless loop. */
	po = tp_compile("include: policy.yaml\n", NULL, 0, &err);
	CHECK(po == NULL);
	CHECK(strstr(err.msg, "include cycle") != NULL);
	policy_free(po);
}

static void
test_missing_file(void)
{
	const char *file = "/nonexistent/policy.yaml";
	struct policy_src src = { .ps_files = &file, .ps_nfiles = 1 };
	struct errbuf err;

	CHECK(policy_compile(&src, &err) == NULL);
	CHECK_STR(err.msg, "/nonexistent/policy.yaml: No such file or directory");
}

int
main(void)
{
	test_all_keys();
	test_defaults();
	test_rflag();
	test_order();
	test_include();
	test_missing_file();
	tp_cleanup();
	return unit_done("unit/policy");
}
