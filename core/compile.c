/* compile: YAML policy files, with their includes, into rules and settings. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

#include "duration.h"
#include "method.h"
#include "policy_int.h"
#include "suggest.h"
#include "yamldoc.h"

#define MAX_INCLUDE_DEPTH 16
#define MAX_LIST 100000

struct compiler {
	struct policy *cc_po;
	const char    *cc_dirs;
	struct errbuf *cc_err;
	char          *cc_stack[MAX_INCLUDE_DEPTH + 1]; /* real paths being loaded */
	size_t         cc_depth;
};

/* The file being read: how errors name it and where its relative paths start. */
struct cfile {
	const char *cf_name;
	char       *cf_dir;
	bool        cf_pipe;   /* no directory of its own: includes name cwd's files */
};

static const char *const top_keys[] = {
	"version", "include", "rules", "default", "hooks", "dry_run", "tls",
	"upstream", "jail", "audit", "logging",
};
static const char *const rule_keys[] = { "action", "pattern", "host", "methods", "sh" };
static const char *const hooks_keys[] = { "timeout", "cache" };
static const char *const tls_keys[] = { "intercept", "passthrough" };
static const char *const upstream_keys[] = { "allow_private" };
static const char *const jail_keys[] = { "expose" };
static const char *const audit_keys[] = { "db" };
static const char *const logging_keys[] = { "level", "file" };
static const char *const actions[] = { "allow", "deny" };
static const char *const levels[] = { "debug", "info", "warn", "error" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

static int load(struct compiler *, const char *path, const char *name,
                const struct cfile *from, const struct ynode *at);

static int
fail(struct compiler *c, const struct cfile *f, const struct ynode *n,
     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct compiler *c, const struct cfile *f, const struct ynode *n,
     const char *fmt, ...)
{
	char msg[ERRBUF_MAX - 128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	errbuf_set(c->cc_err, "%s:%u:%u: %s", f->cf_name, n->yn_line, n->yn_col, msg);
	return -1;
}

/* What a node is, for "expected X, got Y" (static or the node's own text). */
static const char *
type_name(const struct ynode *n)
{
	if (n->yn_type == YNODE_MAP)
		return "a mapping";
	if (n->yn_type == YNODE_SEQ)
		return "a list";
	return "a single value";
}

static bool
is_null(const struct ynode *n)
{
	return n->yn_type == YNODE_SCALAR && n->yn_plain &&
	       (n->yn_len == 0 || strcmp(n->yn_value, "~") == 0 ||
	        strcasecmp(n->yn_value, "null") == 0);
}

/* Unknown key: name the closest known one, or list them all. */
static int
unknown_key(struct compiler *c, const struct cfile *f, const struct ynode *key,
            const char *where, const char *const *known, size_t n)
{
	const char *s = suggest_closest((struct slice){ key->yn_value, key->yn_len },
	                                known, n);
	char list[256] = "";

	if (s != NULL)
		return fail(c, f, key, "%sunknown key '%s' (did you mean '%s'?)", where,
		            key->yn_value, s);
	for (size_t i = 0; i < n; i++) {
		strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
		strncat(list, known[i], sizeof(list) - strlen(list) - 1);
	}
	return fail(c, f, key, "%sunknown key '%s' (expected one of: %s)", where,
	            key->yn_value, list);
}

/* Checks that every key of map N is in KNOWN. */
static int
check_keys(struct compiler *c, const struct cfile *f, const struct ynode *n,
           const char *where, const char *const *known, size_t nknown)
{
	for (size_t i = 0; i < n->yn_n; i += 2) {
		size_t k;
		for (k = 0; k < nknown; k++)
			if (strcmp(n->yn_items[i]->yn_value, known[k]) == 0)
				break;
		if (k == nknown)
			return unknown_key(c, f, n->yn_items[i], where, known, nknown);
	}
	return 0;
}

static const struct ynode *
map_get(const struct ynode *n, const char *key)
{
	for (size_t i = 0; i < n->yn_n; i += 2)
		if (strcmp(n->yn_items[i]->yn_value, key) == 0)
			return n->yn_items[i + 1];
	return NULL;
}

static int
want_map(struct compiler *c, const struct cfile *f, const struct ynode *n,
         const char *what)
{
	if (n->yn_type == YNODE_MAP)
		return 0;
	return fail(c, f, n, "%s: expected a mapping, got %s", what, type_name(n));
}

/* A non-empty scalar. */
static int
want_string(struct compiler *c, const struct cfile *f, const struct ynode *n,
            const char *what)
{
	if (n->yn_type != YNODE_SCALAR)
		return fail(c, f, n, "%s: expected a string, got %s", what, type_name(n));
	if (is_null(n) || n->yn_len == 0)
		return fail(c, f, n, "%s: empty value", what);
	return 0;
}

/* A scalar or a list of scalars: calls EACH for every string. */
static int
for_strings(struct compiler *c, const struct cfile *f, const struct ynode *n,
            const char *what, int (*each)(struct compiler *, const struct cfile *,
                                          const struct ynode *, void *),
            void *arg)
{
	if (n->yn_type == YNODE_SCALAR) {
		if (want_string(c, f, n, what) < 0)
			return -1;
		return each(c, f, n, arg);
	}
	if (n->yn_type != YNODE_SEQ)
		return fail(c, f, n, "%s: expected a string or a list of strings, got %s",
		            what, type_name(n));
	if (n->yn_n == 0)
		return fail(c, f, n, "%s: empty list", what);
	if (n->yn_n > MAX_LIST)
		return fail(c, f, n, "%s: more than %d items", what, MAX_LIST);
	for (size_t i = 0; i < n->yn_n; i++) {
		if (want_string(c, f, n->yn_items[i], what) < 0 ||
		    each(c, f, n->yn_items[i], arg) < 0)
			return -1;
	}
	return 0;
}

static int
want_bool(struct compiler *c, const struct cfile *f, const struct ynode *n,
          const char *what, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (n->yn_type == YNODE_SCALAR) {
		for (size_t i = 0; i < N(yes); i++) {
			if (strcasecmp(n->yn_value, yes[i]) == 0) {
				*out = true;
				return 0;
			}
			if (strcasecmp(n->yn_value, no[i]) == 0) {
				*out = false;
				return 0;
			}
		}
	}
	return fail(c, f, n, "%s: expected true or false, got %s%s%s", what,
	            n->yn_type == YNODE_SCALAR ? "'" : type_name(n),
	            n->yn_type == YNODE_SCALAR ? n->yn_value : "",
	            n->yn_type == YNODE_SCALAR ? "'" : "");
}

static int
want_duration(struct compiler *c, const struct cfile *f, const struct ynode *n,
              const char *what, unsigned *ms)
{
	if (n->yn_type == YNODE_SCALAR && duration_parse(n->yn_value, ms) == 0)
		return 0;
	return fail(c, f, n, "%s: expected a duration such as 5s, 500ms or 2m, got %s%s%s",
	            what, n->yn_type == YNODE_SCALAR ? "'" : type_name(n),
	            n->yn_type == YNODE_SCALAR ? n->yn_value : "",
	            n->yn_type == YNODE_SCALAR ? "'" : "");
}

/* One of WORDS (case-insensitive); returns its index in *OUT. */
static int
want_word(struct compiler *c, const struct cfile *f, const struct ynode *n,
          const char *what, const char *const *words, size_t nwords, size_t *out)
{
	char list[128];
	const char *s;

	if (want_string(c, f, n, what) < 0)
		return -1;
	for (size_t i = 0; i < nwords; i++) {
		if (strcasecmp(n->yn_value, words[i]) == 0) {
			*out = i;
			return 0;
		}
	}
	s = suggest_closest((struct slice){ n->yn_value, n->yn_len }, words, nwords);
	if (s != NULL)
		return fail(c, f, n, "%s: unknown value '%s' (did you mean '%s'?)", what,
		            n->yn_value, s);
	list[0] = '\0';
	for (size_t i = 0; i < nwords; i++) {
		strncat(list, i == 0 ? "" : i + 1 == nwords ? " or " : ", ",
		        sizeof(list) - strlen(list) - 1);
		strncat(list, words[i], sizeof(list) - strlen(list) - 1);
	}
	return fail(c, f, n, "%s: unknown value '%s' (expected %s)", what, n->yn_value,
	            list);
}

/* A path relative to the policy file, made absolute. Caller frees. */
static char *
file_path(const struct cfile *f, const char *p)
{
	if (p[0] == '/')
		return strdup(p);
	if (strncmp(p, "./", 2) == 0)
		p += 2;
	return policy_strdup_printf("%s/%s", f->cf_dir, p);
}

static int
strv_push(char ***v, size_t *n, char *s)
{
	char **nv;

	if (s == NULL || (nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
		free(s);
		return -1;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

/* --- includes --- */

static bool
bare_name(const char *s)
{
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_'))
			return false;
	return true;
}

static int
include_one(struct compiler *c, const struct cfile *f, const struct ynode *n,
            void *arg)
{
	const char *v = n->yn_value;
	char *path = NULL, *name = NULL;
	int rc;

	(void)arg;
	if (bare_name(v)) {
		const char *d = c->cc_dirs ? c->cc_dirs : "";
		while (*d) {
			size_t len = strcspn(d, ":");
			if (len > 0) {
				free(path);
				path = policy_strdup_printf("%.*s/%s.yaml", (int)len, d, v);
				if (path == NULL)
					break;
				if (access(path, F_OK) == 0)
					break;
				free(path);
				path = NULL;
			}
			d += len + (d[len] == ':');
		}
		if (path == NULL)
			return fail(c, f, n, "include: no ruleset '%s' (looked for %s.yaml in %s)",
			            v, v, *c->cc_dirs ? c->cc_dirs : "no directory: set HTTPJAIL_RULESETS");
		rc = load(c, path, path, f, n);
		free(path);
		return rc;
	}
	path = file_path(f, v);
	if (v[0] == '/' || f->cf_pipe || strchr(f->cf_name, '/') == NULL)
		name = strdup(v[0] == '.' && v[1] == '/' ? v + 2 : v);
	else
		name = policy_strdup_printf("%.*s/%s",
		                            (int)(strrchr(f->cf_name, '/') - f->cf_name),
		                            f->cf_name, v[0] == '.' && v[1] == '/' ? v + 2 : v);
	if (path == NULL || name == NULL) {
		free(path);
		free(name);
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	rc = load(c, path, name, f, n);
	free(path);
	free(name);
	return rc;
}

/* --- rules --- */

struct hostlist {
	char  **hl_v;
	size_t  hl_n;
	size_t  hl_rule;
};

static int
host_one(struct compiler *c, const struct cfile *f, const struct ynode *n, void *arg)
{
	struct hostlist *hl = arg;
	char norm[256];
	const char *why = policy_host_check(n->yn_value, norm, sizeof(norm));

	if (why != NULL)
		return fail(c, f, n, "rule %zu: host: invalid host '%s': %s", hl->hl_rule,
		            n->yn_value, why);
	if (strv_push(&hl->hl_v, &hl->hl_n, strdup(norm)) < 0) {
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	return 0;
}

struct methodset {
	uint32_t ms_bits;
	size_t   ms_rule;
};

static int
method_one(struct compiler *c, const struct cfile *f, const struct ynode *n, void *arg)
{
	struct methodset *ms = arg;
	struct slice s = { n->yn_value, n->yn_len };
	uint32_t bit = method_bit(s);
	const char *hint;

	if (bit != 0) {
		ms->ms_bits |= bit;
		return 0;
	}
	hint = method_suggest(s);
	if (hint != NULL)
		return fail(c, f, n, "rule %zu: methods: unknown method '%s' (did you mean '%s'?)",
		            ms->ms_rule, n->yn_value, hint);
	return fail(c, f, n, "rule %zu: methods: unknown method '%s' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT ...)",
	            ms->ms_rule, n->yn_value);
}

static int
rule_one(struct compiler *c, const struct cfile *f, const struct ynode *n)
{
	size_t num = c->cc_po->po_nrules + 1, act;
	const struct ynode *v;
	struct hostlist hl = { NULL, 0, num };
	struct methodset ms = { 0, num };
	struct rule_spec rs = { .rs_methods = METHOD_ALL };
	char where[64], src[PATH_MAX + 32], loc[PATH_MAX + 64], patloc[PATH_MAX + 64];
	int rc = -1;

	snprintf(where, sizeof(where), "rule %zu: ", num);
	if (n->yn_type != YNODE_MAP)
		return fail(c, f, n, "rule %zu: expected a mapping with action and matchers, got %s%s%s",
		            num, n->yn_type == YNODE_SCALAR ? "'" : type_name(n),
		            n->yn_type == YNODE_SCALAR ? n->yn_value : "",
		            n->yn_type == YNODE_SCALAR ? "'" : "");
	if ((v = map_get(n, "include")) != NULL) {
		if (n->yn_n != 2)
			return fail(c, f, n, "rule %zu: an include item cannot have other keys "
			            "(put the rule in a list item of its own)", num);
		return for_strings(c, f, v, "include", include_one, NULL);
	}
	if (check_keys(c, f, n, where, rule_keys, N(rule_keys)) < 0)
		return -1;
	if ((v = map_get(n, "action")) == NULL)
		return fail(c, f, n, "rule %zu: missing 'action' (allow or deny)", num);
	snprintf(where, sizeof(where), "rule %zu: action", num);
	if (want_word(c, f, v, where, actions, N(actions), &act) < 0)
		return -1;
	rs.rs_action = act == 0 ? VERDICT_ALLOW : VERDICT_DENY;
	if (n->yn_n == 2)
		return fail(c, f, n, "rule %zu: empty rule: give at least one of pattern, host, methods, sh",
		            num);
	if ((v = map_get(n, "pattern")) != NULL) {
		snprintf(where, sizeof(where), "rule %zu: pattern", num);
		if (want_string(c, f, v, where) < 0)
			return -1;
		rs.rs_pattern = v->yn_value;
		snprintf(patloc, sizeof(patloc), "%s:%u:%u", f->cf_name, v->yn_line, v->yn_col);
		rs.rs_pat_where = patloc;
	}
	if ((v = map_get(n, "sh")) != NULL) {
		snprintf(where, sizeof(where), "rule %zu: sh", num);
		if (want_string(c, f, v, where) < 0)
			return -1;
		rs.rs_sh = v->yn_value;
	}
	if ((v = map_get(n, "methods")) != NULL) {
		snprintf(where, sizeof(where), "rule %zu: methods", num);
		if (for_strings(c, f, v, where, method_one, &ms) < 0)
			return -1;
		rs.rs_methods = ms.ms_bits;
	}
	if ((v = map_get(n, "host")) != NULL) {
		snprintf(where, sizeof(where), "rule %zu: host", num);
		if (for_strings(c, f, v, where, host_one, &hl) < 0)
			goto out;
		rs.rs_hosts = (const char *const *)hl.hl_v;
		rs.rs_nhosts = hl.hl_n;
	}
	snprintf(src, sizeof(src), "%s:%u", f->cf_name, n->yn_line);
	snprintf(loc, sizeof(loc), "%s:%u:%u", f->cf_name, n->yn_line, n->yn_col);
	rs.rs_source = src;
	rs.rs_where = loc;
	rs.rs_line = n->yn_line;
	rs.rs_col = n->yn_col;
	rc = policy_add_rule(c->cc_po, &rs, c->cc_err);
out:
	for (size_t i = 0; i < hl.hl_n; i++)
		free(hl.hl_v[i]);
	free(hl.hl_v);
	return rc;
}

static int
rules_all(struct compiler *c, const struct cfile *f, const struct ynode *n)
{
	if (is_null(n))
		return 0;
	if (n->yn_type != YNODE_SEQ)
		return fail(c, f, n, "rules: expected a list of rules, got %s", type_name(n));
	for (size_t i = 0; i < n->yn_n; i++)
		if (rule_one(c, f, n->yn_items[i]) < 0)
			return -1;
	return 0;
}

/* --- settings --- */

static int
passthrough_one(struct compiler *c, const struct cfile *f, const struct ynode *n,
                void *arg)
{
	char norm[256];
	const char *why = policy_host_check(n->yn_value, norm, sizeof(norm));

	(void)arg;
	if (why != NULL)
		return fail(c, f, n, "tls.passthrough: invalid host '%s': %s", n->yn_value, why);
	if (strv_push(&c->cc_po->po_passthrough, &c->cc_po->po_npassthrough,
	              strdup(norm)) < 0) {
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	return 0;
}

static int
expose_one(struct compiler *c, const struct cfile *f, const struct ynode *n, void *arg)
{
	(void)arg;
	if (n->yn_value[0] != '/')
		return fail(c, f, n, "jail.expose: '%s' is not an absolute path (write /%s or the full path)",
		            n->yn_value, n->yn_value);
	if (strv_push(&c->cc_po->po_expose, &c->cc_po->po_nexpose, strdup(n->yn_value)) < 0) {
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	return 0;
}

static int
set_path(struct compiler *c, const struct cfile *f, const struct ynode *n,
         const char *what, char **dst)
{
	if (want_string(c, f, n, what) < 0)
		return -1;
	free(*dst);
	if ((*dst = file_path(f, n->yn_value)) == NULL) {
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	return 0;
}

/* A nested mapping: checks its keys and hands back the value of each. */
static int
section(struct compiler *c, const struct cfile *f, const struct ynode *root,
        const char *name, const char *const *keys, size_t nkeys,
        const struct ynode **vals)
{
	const struct ynode *n = map_get(root, name);
	char where[64];

	for (size_t i = 0; i < nkeys; i++)
		vals[i] = NULL;
	if (n == NULL)
		return 0;
	if (want_map(c, f, n, name) < 0)
		return -1;
	snprintf(where, sizeof(where), "%s: ", name);
	if (check_keys(c, f, n, where, keys, nkeys) < 0)
		return -1;
	for (size_t i = 0; i < nkeys; i++)
		vals[i] = map_get(n, keys[i]);
	return 0;
}

static int
settings(struct compiler *c, const struct cfile *f, const struct ynode *root)
{
	struct policy *po = c->cc_po;
	const struct ynode *v, *s[2];
	size_t w;

	if ((v = map_get(root, "default")) != NULL) {
		if (want_word(c, f, v, "default", actions, N(actions), &w) < 0)
			return -1;
		po->po_default = w == 0 ? VERDICT_ALLOW : VERDICT_DENY;
		/* An included file's default decides for its includer too: check says so,
		 * unless a file given with -c sets it afterwards. */
		free(po->po_default_from);
		po->po_default_from = NULL;
		if (c->cc_depth > 1 && (po->po_default_from = policy_strdup_printf("%s:%u:%u",
		    f->cf_name, v->yn_line, v->yn_col)) == NULL) {
			errbuf_set(c->cc_err, "out of memory");
			return -1;
		}
	}
	if ((v = map_get(root, "dry_run")) != NULL &&
	    want_bool(c, f, v, "dry_run", &po->po_dry_run) < 0)
		return -1;
	if (section(c, f, root, "hooks", hooks_keys, N(hooks_keys), s) < 0 ||
	    (s[0] && want_duration(c, f, s[0], "hooks.timeout", &po->po_hook_timeout_ms) < 0) ||
	    (s[1] && want_duration(c, f, s[1], "hooks.cache", &po->po_hook_cache_ms) < 0))
		return -1;
	if (s[0] && po->po_hook_timeout_ms == 0)
		return fail(c, f, s[0], "hooks.timeout: must be more than 0 (the default is 5s)");
	if (section(c, f, root, "tls", tls_keys, N(tls_keys), s) < 0 ||
	    (s[0] && want_bool(c, f, s[0], "tls.intercept", &po->po_tls_intercept) < 0) ||
	    (s[1] && for_strings(c, f, s[1], "tls.passthrough", passthrough_one, NULL) < 0))
		return -1;
	if (section(c, f, root, "upstream", upstream_keys, N(upstream_keys), s) < 0 ||
	    (s[0] && want_bool(c, f, s[0], "upstream.allow_private", &po->po_allow_private) < 0))
		return -1;
	if (section(c, f, root, "jail", jail_keys, N(jail_keys), s) < 0 ||
	    (s[0] && for_strings(c, f, s[0], "jail.expose", expose_one, NULL) < 0))
		return -1;
	if (section(c, f, root, "audit", audit_keys, N(audit_keys), s) < 0 ||
	    (s[0] && set_path(c, f, s[0], "audit.db", &po->po_audit_db) < 0))
		return -1;
	if (section(c, f, root, "logging", logging_keys, N(logging_keys), s) < 0)
		return -1;
	if (s[0] != NULL) {
		if (want_word(c, f, s[0], "logging.level", levels, N(levels), &w) < 0)
			return -1;
		free(po->po_log_level);
		if ((po->po_log_level = strdup(levels[w])) == NULL) {
			errbuf_set(c->cc_err, "out of memory");
			return -1;
		}
	}
	if (s[1] != NULL && set_path(c, f, s[1], "logging.file", &po->po_log_file) < 0)
		return -1;
	return 0;
}

static int
body(struct compiler *c, const struct cfile *f, const struct ynode *root)
{
	const struct ynode *v;

	if (root == NULL || is_null(root))
		return 0;
	if (root->yn_type != YNODE_MAP)
		return fail(c, f, root, "expected a mapping of keys (version, rules, ...), got %s",
		            type_name(root));
	if (check_keys(c, f, root, "", top_keys, N(top_keys)) < 0)
		return -1;
	if ((v = map_get(root, "version")) != NULL &&
	    (v->yn_type != YNODE_SCALAR || strcmp(v->yn_value, "1") != 0))
		return fail(c, f, v, "version: unsupported version %s%s%s (this httpjail reads version 1)",
		            v->yn_type == YNODE_SCALAR ? "'" : "",
		            v->yn_type == YNODE_SCALAR ? v->yn_value : type_name(v),
		            v->yn_type == YNODE_SCALAR ? "'" : "");
	if ((v = map_get(root, "include")) != NULL &&
	    for_strings(c, f, v, "include", include_one, NULL) < 0)
		return -1;
	if ((v = map_get(root, "rules")) != NULL && rules_all(c, f, v) < 0)
		return -1;
	return settings(c, f, root);
}

/* Loads PATH, named NAME in errors; FROM/AT is the include that asked for it. */
static int
load(struct compiler *c, const char *path, const char *name,
     const struct cfile *from, const struct ynode *at)
{
	char real[PATH_MAX], dir[PATH_MAX], *slash;
	struct cfile f = { name, NULL, false };
	struct ydoc *doc;
	struct stat st;
	int rc;

	if (realpath(path, real) == NULL) {
		/* -c /dev/stdin or <(...): a pipe has no path; its includes are relative
		 * to the working directory. */
		if (from == NULL && errno == ENOENT && stat(path, &st) == 0 &&
		    S_ISFIFO(st.st_mode) && strlen(path) < sizeof(real) &&
		    getcwd(dir, sizeof(dir)) != NULL) {
			strcpy(real, path);
			f.cf_pipe = true;
		} else if (from != NULL) {
			return fail(c, from, at, "include: %s: %s", name, strerror(errno));
		} else {
			errbuf_set(c->cc_err, "%s: %s", name, strerror(errno));
			return -1;
		}
	}
	for (size_t i = 0; i < c->cc_depth; i++) {
		if (strcmp(c->cc_stack[i], real) == 0)
			return fail(c, from, at, "include cycle: %s is already being included",
			            name);
	}
	if (c->cc_depth == MAX_INCLUDE_DEPTH)
		return fail(c, from, at, "include: nested deeper than %d files",
		            MAX_INCLUDE_DEPTH);
	if ((doc = ydoc_load_file(real, name, c->cc_err)) == NULL)
		return -1;
	if ((c->cc_stack[c->cc_depth] = strdup(real)) == NULL ||
	    strv_push(&c->cc_po->po_files, &c->cc_po->po_nfiles, strdup(real)) < 0) {
		free(c->cc_stack[c->cc_depth]);
		ydoc_free(doc);
		errbuf_set(c->cc_err, "out of memory");
		return -1;
	}
	c->cc_depth++;
	slash = strrchr(real, '/');
	f.cf_dir = f.cf_pipe ? strdup(dir) :
	           strndup(real, slash == real ? 1 : (size_t)(slash - real));
	if (f.cf_dir == NULL) {
		errbuf_set(c->cc_err, "out of memory");
		rc = -1;
	} else {
		rc = body(c, &f, ydoc_root(doc));
	}
	c->cc_depth--;
	free(c->cc_stack[c->cc_depth]);
	free(f.cf_dir);
	ydoc_free(doc);
	return rc;
}

int
compile_file(struct policy *po, const char *path, const char *ruleset_dirs,
             struct errbuf *err)
{
	struct compiler c = { .cc_po = po, .cc_dirs = ruleset_dirs, .cc_err = err };

	return load(&c, path, path, NULL, NULL);
}
