/* test: --test [METHOD] URL, one decision printed with the rule that made it. */
#include <ctype.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "cmd.h"
#include "hook.h"
#include "http.h"

#define URL_MAX 16384

static void
print_rule(const struct decision *dc)
{
	if (dc->dc_rule == NULL && strcmp(dc->dc_reason, "pattern error") == 0)
		return;
	if (dc->dc_rule == NULL)
		printf("default %s\n", dc->dc_verdict == VERDICT_ALLOW ? "allow" : "deny");
	else
		printf("rule %zu %s: %s\n", rule_index(dc->dc_rule) + 1,
		       rule_source(dc->dc_rule), rule_text(dc->dc_rule));
}

int
cmd_decide(const struct policy *po, struct policy_scratch *sc, struct hook_runner **hr,
           const struct request *rq, struct decision *dc, struct hook_result *res)
{
	struct hook_opts ho = {
		.ho_timeout_ms = policy_hook_timeout_ms(po),
		.ho_run_id = "test",
	};
	enum decide_status st = policy_decide(po, sc, rq, 0, dc);

	res->hr_outlen = 0;
	while (st == DECIDE_HOOK) {
		if (*hr == NULL && (*hr = hook_runner_new(ev_default_loop(0), &ho)) == NULL) {
			cmd_error("cannot start the hook runner");
			return -1;
		}
		hook_run_sync(*hr, rule_sh(dc->dc_rule), rq, res);
		st = policy_decide_hooked(po, sc, rq, res->hr_status == HOOK_MATCH,
		                          res->hr_status == HOOK_ERROR, dc);
		if (res->hr_status == HOOK_ERROR)
			break;
	}
	return 0;
}

/* --test decides one request only, and says why. */
static int
decide(struct policy *po, const struct request *rq, struct decision *dc)
{
	struct policy_scratch *sc = policy_scratch_new(po);
	struct hook_runner *hr = NULL;
	static struct hook_result res;
	int rc;

	if (sc == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = cmd_decide(po, sc, &hr, rq, dc, &res);
	if (rc == 0) {
		printf("%s %.*s %.*s\n", dc->dc_verdict == VERDICT_ALLOW ? "allow" : "deny",
		       (int)rq->rq_method.len, rq->rq_method.ptr, (int)rq->rq_url.len,
		       rq->rq_url.ptr);
		print_rule(dc);
		if (strcmp(dc->dc_reason, "hook error") == 0)
			printf("hook error: %s\n", res.hr_reason);
		else if (strcmp(dc->dc_reason, "pattern error") == 0)
			printf("pattern error: the regex engine gave up on this URL (denied)\n");
		if (dc->dc_rule != NULL && rule_sh(dc->dc_rule) != NULL && res.hr_outlen > 0)
			printf("hook output: %.*s%s", (int)res.hr_outlen, res.hr_out,
			       res.hr_out[res.hr_outlen - 1] == '\n' ? "" : "\n");
	}
	hook_runner_free(hr);
	policy_scratch_free(sc);
	return rc;
}

/*
 * What the proxy will see of this request: HTTPS it does not decrypt (--no-tls-intercept,
 * tls.intercept false, a passthrough host) is decided on the host alone, as CONNECT.
 */
static int
connection_view(const struct policy *po, struct request *rq, char *buf, size_t bufsz)
{
	struct errbuf err;

	if (rq->rq_kind != REQ_HTTPS)
		return 0;
	if (policy_tls_intercept(po) && !policy_tls_passthrough(po, rq->rq_host))
		return 0;
	if (request_build(rq, SLICE_LIT("CONNECT"), rq->rq_scheme, rq->rq_host, rq->rq_port,
	                  SLICE_LIT("/"), SLICE_LIT(""), buf, bufsz, &err) < 0) {
		cmd_error("--test: %s", err.msg);
		return -1;
	}
	return 1;
}

int
cmd_test(const struct options *op)
{
	const char *method = "GET", *url;
	char methbuf[32], buf[URL_MAX], buf2[URL_MAX];
	struct errbuf err = { "" };
	struct request rq;
	struct decision dc;
	struct policy *po;
	int rc;

	if (op->op_nargs == 1) {
		url = op->op_args[0];
	} else if (op->op_nargs == 2) {
		method = op->op_args[0];
		url = op->op_args[1];
	} else {
		cmd_error("--test: expected [METHOD] URL, got %d argument%s", op->op_nargs,
		          op->op_nargs == 1 ? "" : "s");
		return EXIT_USAGE;
	}
	if (strlen(method) >= sizeof(methbuf) || strspn(method,
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") != strlen(method) ||
	    *method == '\0') {
		cmd_error("--test: '%s' is not an HTTP method", method);
		return EXIT_USAGE;
	}
	for (size_t i = 0; method[i]; i++)
		methbuf[i] = (char)toupper((unsigned char)method[i]);
	methbuf[strlen(method)] = '\0';
	/* A connection that is neither HTTP nor TLS is decided as CONNECT tcp://HOST:PORT. */
	if (strncasecmp(url, "tcp://", 6) == 0) {
		if (op->op_nargs == 2 && strcmp(methbuf, "CONNECT") != 0) {
			cmd_error("--test: a tcp:// URL is decided with method CONNECT, not %s", methbuf);
			return EXIT_USAGE;
		}
		strcpy(methbuf, "CONNECT");
	}
	if (request_from_url(&rq, methbuf, url, buf, sizeof(buf), &err) < 0) {
		cmd_error("--test: %s", err.msg);
		return EXIT_USAGE;
	}
	if ((po = cmd_policy(op)) == NULL)
		return EXIT_USAGE;
	if (rq.rq_kind != REQ_TCP && http_dot_segment(rq.rq_path)) {
		printf("deny %s %.*s\nrefused before any rule: dot segment in path (400)\n",
		       methbuf, (int)rq.rq_url.len, rq.rq_url.ptr);
		policy_free(po);
		return 1;
	}
	switch (connection_view(po, &rq, buf2, sizeof(buf2))) {
	case -1:
		policy_free(po);
		return EXIT_USAGE;
	case 1:
		printf("not intercepted: decided as CONNECT on the host only\n");
		break;
	}
	if (decide(po, &rq, &dc) < 0)
		rc = EXIT_INTERNAL;
	else
		rc = dc.dc_verdict == VERDICT_ALLOW ? 0 : 1;
	policy_free(po);
	return rc;
}
