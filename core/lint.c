/* lint: what `httpjail check` warns about, beyond what fails to compile. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "idmap.h"
#include "policy_int.h"
#include "prefidx.h"

/* A pattern that every URL matches. */
static bool
matches_all(const char *p)
{
	static const char *const all[] = { "", ".*", "^", "^.*", ".*$", "^.*$" };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(p, all[i]) == 0)
			return true;
	return false;
}

/* Whether host matcher A covers every name host matcher B matches. */
static bool
host_covers(const char *a, const char *b)
{
	size_t al, bl;

	if (strcmp(a, b) == 0)
		return true;
	if (strncmp(a, "*.", 2) != 0)
		return false;
	/* "*.x" covers "y.x", "*.y.x" and "y.z.x", never "x" itself. */
	a += 1;
	al = strlen(a);
	if (strncmp(b, "*.", 2) == 0)
		b += 1;
	bl = strlen(b);
	return bl > al && strcmp(b + bl - al, a) == 0;
}

static bool
hosts_cover(const struct rule *a, const struct rule *b)
{
	if (a->ru_nhosts == 0)
		return true;
	if (b->ru_nhosts == 0)
		return false;
	for (size_t j = 0; j < b->ru_nhosts; j++) {
		size_t i;
		for (i = 0; i < a->ru_nhosts; i++)
			if (host_covers(a->ru_hosts[i], b->ru_hosts[j]))
				break;
		if (i == a->ru_nhosts)
			return false;
	}
	return true;
}

/* Every request B matches, A matches too (and A comes first, so B never decides). */
static bool
shadows(const struct rule *a, const struct rule *b)
{
	if (a->ru_sh != NULL)
		return false;
	if ((a->ru_methods & b->ru_methods) != b->ru_methods)
		return false;
	if (a->ru_pattern != NULL && !matches_all(a->ru_pattern) &&
	    (b->ru_pattern == NULL || strcmp(a->ru_pattern, b->ru_pattern) != 0))
		return false;
	return hosts_cover(a, b);
}

struct shadow_ctx {
	const struct policy *sx_po;
	const struct rule   *sx_rule;
	const struct rule   *sx_by;
};

static void
shadow_hit(uint32_t id, void *arg)
{
	struct shadow_ctx *sx = arg;
	const struct rule *a = &sx->sx_po->po_rules[id];

	if (sx->sx_by == NULL && a->ru_index < sx->sx_rule->ru_index &&
	    shadows(a, sx->sx_rule))
		sx->sx_by = a;
}

static void
emit(policy_warn_cb *warn, void *arg, size_t *count, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
emit(policy_warn_cb *warn, void *arg, size_t *count, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	warn(msg, arg);
	(*count)++;
}

/* Why an allow pattern can match URLs of other hosts, or NULL when it cannot. */
static const char *
unpinned(const char *p)
{
	const char *h;

	if (strncmp(p, "^", 1) == 0)
		p += 1;
	else if (strncmp(p, "\\A", 2) == 0)
		p += 2;
	else
		return "is not anchored with '^', so it also matches inside another site's "
		       "path or query (https://evil.example/?...); start it with ^https://HOST/";
	h = strstr(p, "://");
	if (h == NULL)
		h = strstr(p, ":\\/\\/");
	if (h == NULL)
		return "does not name a scheme and host after '^', so it may match other "
		       "hosts; write ^https://HOST/";
	h += h[1] == '/' ? 3 : 5;
	for (; *h && *h != '/' && *h != '$' && *h != '('; h++) {
		if (*h == '\\' && h[1] != '\0') {
			if (h[1] == '/')
				break;
			h++;
			continue;
		}
		if (*h == '.' && (h[1] == '*' || h[1] == '+'))
			return "lets '.*' or '.+' run across the host into the path, so "
			       "https://evil.example/HOST matches; use [^/]* or name the host";
		if (*h == '.')
			return "has an unescaped '.' in the host, which matches any character "
			       "(write '\\.')";
	}
	if (*h == '\0' && h[-1] != '/')
		return "does not end the host with '/', ':' or '$', so "
		       "https://HOST.evil.example/ matches too";
	return NULL;
}

/*
 * The host and whether a path follows, from the literal an HTTPS pattern starts
 * with ("https://a.test/x" -> "a.test", true). Returns false for other patterns.
 */
static bool
https_literal(const char *pattern, char *host, size_t hostsz, bool *has_path)
{
	char lit[PREFIDX_MAXLEN + 1], *h, *end;

	if (prefidx_literal(pattern, lit) == 0)
		return false;
	if (strncmp(lit, "https://", 8) == 0)
		h = lit + 8;
	else if (strncmp(lit, "wss://", 6) == 0)
		h = lit + 6;
	else
		return false;
	end = h + strcspn(h, ":/");
	*has_path = *end != '\0' && (end = strchr(end, '/')) != NULL && end[1] != '\0';
	snprintf(host, hostsz, "%.*s", (int)strcspn(h, ":/"), h);
	return true;
}

/* Rules that need what a connection that is not decrypted cannot show. */
static void
lint_tls(const struct policy *po, const struct rule *r, size_t i,
         policy_warn_cb *warn, void *arg, size_t *count)
{
	bool methods = r->ru_methods != METHOD_ALL &&
	               (r->ru_methods & ~method_bit(SLICE_LIT("CONNECT"))) != 0;
	bool path = false;
	char host[256];

	if (!po->po_tls_intercept) {
		if (methods)
			emit(warn, arg, count,
			     "%s: rule %zu: methods cannot be enforced on HTTPS without TLS "
			     "interception (tls.intercept false or --no-tls-intercept): HTTPS is "
			     "decided as CONNECT, so this rule never matches HTTPS requests",
			     r->ru_where, i + 1);
		if (r->ru_pattern && https_literal(r->ru_pattern, host, sizeof(host), &path) && path)
			emit(warn, arg, count,
			     "%s: rule %zu: pattern needs an HTTPS path, which is not seen without TLS "
			     "interception (HTTPS is decided as CONNECT https://HOST/), so it never "
			     "matches HTTPS requests", r->ru_pat_where, i + 1);
		return;
	}
	for (size_t h = 0; methods && h < r->ru_nhosts; h++) {
		if (!hostidx_contains(po->po_passidx, slice_cstr(r->ru_hosts[h])))
			continue;
		emit(warn, arg, count,
		     "%s: rule %zu: host %s is in tls.passthrough, so its HTTPS is "
		     "not decrypted and this methods rule never matches it",
		     r->ru_where, i + 1, r->ru_hosts[h]);
		return;
	}
	if (r->ru_pattern && https_literal(r->ru_pattern, host, sizeof(host), &path) &&
	    (path || methods) && hostidx_contains(po->po_passidx, slice_cstr(host)))
		emit(warn, arg, count,
		     "%s: rule %zu: host %s is in tls.passthrough, so its HTTPS is not "
		     "decrypted and this %s rule never matches it", r->ru_pat_where, i + 1,
		     host, path ? "path" : "methods");
}

/* Earlier rules that might shadow a later one, kept so that a policy of 10,000 rules
 * is not compared pair by pair. */
struct shadowers {
	struct hostidx *sh_byhost;     /* no sh, with hosts: by host */
	struct idmap   *sh_bypattern;  /* no sh, no host, a pattern: by pattern */
	size_t         *sh_any;        /* no sh, no host, no pattern or one matching all */
	size_t          sh_nany;
};

static const struct rule *
shadowed_by(const struct policy *po, const struct shadowers *sw, const struct rule *r)
{
	struct shadow_ctx sx = { po, r, NULL };

	for (size_t h = 0; h < r->ru_nhosts && sx.sx_by == NULL; h++)
		hostidx_lookup(sw->sh_byhost, slice_cstr(r->ru_hosts[h]), shadow_hit, &sx);
	for (size_t k = 0; k < sw->sh_nany && sx.sx_by == NULL; k++)
		shadow_hit((uint32_t)sw->sh_any[k], &sx);
	if (r->ru_pattern != NULL && sx.sx_by == NULL) {
		struct slice p = slice_cstr(r->ru_pattern);
		size_t n;
		const uint32_t *ids = idmap_get(sw->sh_bypattern, p, slice_hash(p), &n);
		for (size_t k = 0; k < n && sx.sx_by == NULL; k++)
			shadow_hit(ids[k], &sx);
	}
	return sx.sx_by;
}

static int
shadowers_add(struct shadowers *sw, const struct rule *r)
{
	if (r->ru_sh != NULL)
		return 0;
	for (size_t h = 0; h < r->ru_nhosts; h++)
		if (hostidx_add(sw->sh_byhost, r->ru_hosts[h], (uint32_t)r->ru_index) < 0)
			return -1;
	if (r->ru_nhosts > 0)
		return 0;
	if (r->ru_pattern == NULL || matches_all(r->ru_pattern)) {
		sw->sh_any[sw->sh_nany++] = r->ru_index;
		return 0;
	}
	return idmap_add(sw->sh_bypattern, slice_cstr(r->ru_pattern),
	                 slice_hash(slice_cstr(r->ru_pattern)), (uint32_t)r->ru_index);
}

size_t
policy_lint(const struct policy *po, policy_warn_cb *warn, void *arg)
{
	struct shadowers sw = {
		.sh_byhost = hostidx_new(),
		.sh_bypattern = idmap_new(),
		.sh_any = calloc(po->po_nrules ? po->po_nrules : 1, sizeof(size_t)),
	};
	size_t count = 0;
	bool oom = sw.sh_byhost == NULL || sw.sh_bypattern == NULL || sw.sh_any == NULL;

	for (size_t i = 0; i < po->po_nrules && !oom; i++) {
		const struct rule *r = &po->po_rules[i], *by;
		const char *why;

		if (r->ru_pattern && r->ru_action == VERDICT_ALLOW &&
		    !matches_all(r->ru_pattern) && (why = unpinned(r->ru_pattern)) != NULL)
			emit(warn, arg, &count, "%s: rule %zu: pattern '%s' %s", r->ru_pat_where,
			     i + 1, r->ru_pattern, why);
		if ((by = shadowed_by(po, &sw, r)) != NULL)
			emit(warn, arg, &count,
			     "%s: rule %zu (%s) can never match: rule %zu (%s) comes first and "
			     "matches every request it would",
			     r->ru_where, i + 1, r->ru_text, by->ru_index + 1, by->ru_source);
		oom = shadowers_add(&sw, r) < 0;
		lint_tls(po, r, i, warn, arg, &count);
	}
	if (po->po_default_from != NULL)
		emit(warn, arg, &count, "%s: default: an included file sets the default of the "
		     "whole policy (deny when no file sets it); set it in the including file",
		     po->po_default_from);
	if (oom)
		emit(warn, arg, &count, "out of memory: lint stopped early");
	hostidx_free(sw.sh_byhost);
	idmap_free(sw.sh_bypattern);
	free(sw.sh_any);
	return count;
}
