/* policy_int: the representation shared by compile.c, rulespec.c, policy.c and
 * lint.c. Nothing outside the policy modules includes it. */
#ifndef HTTPJAIL_POLICY_INT_H
#define HTTPJAIL_POLICY_INT_H

#include "hostidx.h"
#include "patset.h"
#include "litidx.h"
#include "prefidx.h"
#include "policy.h"
#include "regex.h"

struct rule {
	enum verdict  ru_action;
	size_t        ru_index;
	char         *ru_source;   /* "a.yaml:12", "-r 2", "--sh" */
	char         *ru_where;    /* "a.yaml:12:5" or "-r 2": prefix of lint messages */
	char         *ru_text;
	char         *ru_pattern;  /* NULL when none */
	char         *ru_pat_where;
	struct regex *ru_re;
	char        **ru_hosts;
	size_t        ru_nhosts;
	uint32_t      ru_methods;  /* METHOD_ALL when unrestricted */
	char         *ru_sh;
	unsigned      ru_line, ru_col;
};

struct policy {
	struct rule     *po_rules;
	size_t           po_nrules, po_caprules;
	enum verdict     po_default;
	unsigned         po_hook_timeout_ms, po_hook_cache_ms;
	bool             po_dry_run, po_tls_intercept, po_allow_private;
	char           **po_passthrough;
	size_t           po_npassthrough;
	struct hostidx  *po_passidx;
	char           **po_expose;
	size_t           po_nexpose;
	char            *po_audit_db, *po_log_level, *po_log_file;
	char            *po_default_from;  /* "FILE:LINE:COL" of an included file's default */
	char           **po_files;
	size_t           po_nfiles;
	/* The index over the rules, built once they are all known. */
	struct hostidx  *po_hostidx;
	struct prefidx  *po_prefidx;    /* patterns that start with a literal */
	struct litidx   *po_litidx;     /* unanchored patterns that contain one */
	struct patset   *po_patset;     /* the other patterns */
	uint64_t        *po_always;     /* rules that are a candidate for every request */
	size_t           po_nwords, po_always_lo, po_always_hi;
};

/* What one rule is made of; strings borrowed. Both YAML and -r build rules with it. */
struct rule_spec {
	enum verdict       rs_action;
	const char        *rs_pattern;
	const char        *rs_pat_where; /* where errors about the pattern point */
	const char *const *rs_hosts;     /* already validated and lower-cased */
	size_t             rs_nhosts;
	uint32_t           rs_methods;
	const char        *rs_sh;
	const char        *rs_source;
	const char        *rs_where;
	unsigned           rs_line, rs_col;
};

/* Appends a rule; compiles its pattern. ERR names rs_pat_where on a bad regex. */
int  policy_add_rule(struct policy *, const struct rule_spec *, struct errbuf *err);
/* Parses one -r argument (the Nth, 1-based) and appends its rule. */
int  rulespec_add(struct policy *, const char *spec, size_t n, struct errbuf *err);
/* Loads a YAML policy file and everything it includes. */
int  compile_file(struct policy *, const char *path, const char *ruleset_dirs,
                  struct errbuf *err);
/* Validates a host matcher and writes its lower-cased form to OUT (OUTSZ bytes).
 * Returns NULL when valid, else a static description of what is wrong. */
const char *policy_host_check(const char *host, char *out, size_t outsz);
/* Builds the host index, pattern set and candidate bitmap. */
int  policy_index(struct policy *, struct errbuf *err);
char *policy_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
