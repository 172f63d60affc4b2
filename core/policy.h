/* policy: the compiled, immutable pipeline of rules and the settings of a policy,
 * and decide(), which walks it for one request. */
#ifndef HTTPJAIL_POLICY_H
#define HTTPJAIL_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "request.h"

struct policy;          /* opaque; immutable once compiled, shareable read-only */
struct policy_scratch;  /* per-thread working memory of policy_decide() */
struct rule;            /* one rule of a policy; borrowed from it */

enum verdict { VERDICT_DENY = 0, VERDICT_ALLOW = 1 };

/* Where the rules come from, in order: every file, then every -r, then every --sh. */
struct policy_src {
	const char *const *ps_files;  size_t ps_nfiles;
	const char *const *ps_rules;  size_t ps_nrules;
	const char *const *ps_sh;     size_t ps_nsh;
	bool               ps_no_tls_intercept; /* --no-tls-intercept overrides tls.intercept */
	/* Colon-separated directories where `include: NAME` finds NAME.yaml. */
	const char        *ps_ruleset_dirs;
};

/* Returns NULL with ERR holding one line ("FILE:LINE:COL: WHAT (hint)") on error. */
struct policy *policy_compile(const struct policy_src *, struct errbuf *err);
void           policy_free(struct policy *);

/* --- settings (defaults when a key is absent) --- */
enum verdict  policy_default(const struct policy *);
unsigned      policy_hook_timeout_ms(const struct policy *);   /* 5000 */
unsigned      policy_hook_cache_ms(const struct policy *);     /* 0: off */
bool          policy_dry_run(const struct policy *);
bool          policy_tls_intercept(const struct policy *);     /* true */
/* True when HOST (lower case) is a tls.passthrough host. */
bool          policy_tls_passthrough(const struct policy *, struct slice host);
bool          policy_allow_private(const struct policy *);
size_t        policy_expose_count(const struct policy *);
const char   *policy_expose_get(const struct policy *, size_t i);
const char   *policy_audit_db(const struct policy *);          /* NULL when unset */
const char   *policy_log_level(const struct policy *);         /* "info" */
const char   *policy_log_file(const struct policy *);          /* NULL when unset */
/* The files read, includes too, in load order (for the audit and reloads). */
size_t        policy_file_count(const struct policy *);
const char   *policy_file_get(const struct policy *, size_t i);

/* --- rules --- */
size_t             policy_rule_count(const struct policy *);
const struct rule *policy_rule_get(const struct policy *, size_t i);

enum verdict rule_action(const struct rule *);
size_t       rule_index(const struct rule *);   /* 0-based position in the pipeline */
const char  *rule_source(const struct rule *);  /* "rules.yaml:12", "-r 2", "--sh" */
const char  *rule_text(const struct rule *);    /* one line: "allow host=a.test methods=GET" */
const char  *rule_sh(const struct rule *);      /* NULL when the rule has no sh */
const char  *rule_pattern(const struct rule *); /* NULL when the rule has no pattern */
uint32_t     rule_methods(const struct rule *); /* METHOD_ALL when unrestricted */
size_t       rule_host_count(const struct rule *);
const char  *rule_host_get(const struct rule *, size_t i); /* "a.test" or "*.a.test" */
unsigned     rule_line(const struct rule *);    /* 0 unless from a file */
unsigned     rule_col(const struct rule *);

/* --- deciding --- */

struct decision {
	enum verdict       dc_verdict;
	const struct rule *dc_rule;   /* deciding rule, NULL for the default */
	const char        *dc_reason; /* "rule", "default", "hook error" ...; static */
};

enum decide_status {
	DECIDE_DONE, /* *DC holds the verdict */
	DECIDE_HOOK, /* run rule_sh(DC->dc_rule); then policy_decide_hooked() */
};

/* Working memory for one caller at a time; _new owns, _free releases. */
struct policy_scratch *policy_scratch_new(const struct policy *);
void                   policy_scratch_free(struct policy_scratch *);

/*
 * First match wins, starting at rule FROM (0 for a new request). A rule whose other
 * matchers all match but that has an sh matcher stops the walk with DECIDE_HOOK;
 * the caller runs the program and continues with policy_decide_hooked().
 */
enum decide_status policy_decide(const struct policy *, struct policy_scratch *,
                                 const struct request *, size_t from,
                                 struct decision *dc);

/*
 * Continues after the hook of DC->dc_rule ended: MATCHED true means exit 0 (the rule
 * decides), MATCHED false with ERROR false means exit 1 (the walk goes on from the
 * next rule), ERROR true denies with reason "hook error" (fail closed).
 */
enum decide_status policy_decide_hooked(const struct policy *,
                                        struct policy_scratch *,
                                        const struct request *, bool matched,
                                        bool error, struct decision *dc);

/* --- lint, for `httpjail check` --- */

/* Calls WARN once per warning with a one-line message naming the rule's source. */
typedef void policy_warn_cb(const char *msg, void *arg);
size_t policy_lint(const struct policy *, policy_warn_cb *warn, void *arg);

#endif
