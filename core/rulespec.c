/* rulespec: the command line's -r 'ACTION[-METHOD[,METHOD...]]: REGEX'. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "method.h"
#include "policy_int.h"
#include "suggest.h"

#define FORMAT_HINT "expected 'ACTION[-METHOD,...]: REGEX', e.g. 'allow-get,head: ^https://example\\.com/'"

static int
parse_methods(const char *p, size_t len, uint32_t *bits, const char *where,
              struct errbuf *err)
{
	*bits = 0;
	if (len == 0) {
		errbuf_set(err, "%s: empty method name (%s)", where, FORMAT_HINT);
		return -1;
	}
	while (len > 0) {
		size_t n = 0;
		struct slice m;
		uint32_t bit;

		while (n < len && p[n] != ',')
			n++;
		m = (struct slice){ p, n };
		if (n == 0) {
			errbuf_set(err, "%s: empty method name (%s)", where, FORMAT_HINT);
			return -1;
		}
		if ((bit = method_bit(m)) == 0) {
			const char *hint = method_suggest(m);
			if (hint != NULL)
				errbuf_set(err, "%s: unknown method '%.*s' (did you mean '%s'?)",
				           where, (int)n, p, hint);
			else
				errbuf_set(err, "%s: unknown method '%.*s' (expected GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, CONNECT ...)",
				           where, (int)n, p);
			return -1;
		}
		*bits |= bit;
		p += n;
		len -= n;
		if (len > 0) {
			p++;
			len--;
			if (len == 0) {
				errbuf_set(err, "%s: empty method name (%s)", where, FORMAT_HINT);
				return -1;
			}
		}
	}
	return 0;
}

int
rulespec_add(struct policy *po, const char *spec, size_t n, struct errbuf *err)
{
	static const char *const actions[] = { "allow", "deny" };
	const char *colon = strchr(spec, ':'), *dash, *re;
	struct rule_spec rs = { .rs_methods = METHOD_ALL };
	char where[32];
	size_t alen;

	snprintf(where, sizeof(where), "-r %zu", n);
	if (colon == NULL || colon == spec) {
		errbuf_set(err, "%s: '%s': %s", where, spec, FORMAT_HINT);
		return -1;
	}
	for (const char *p = spec; p < colon; p++) {
		if (isspace((unsigned char)*p)) {
			errbuf_set(err, "%s: '%s': %s", where, spec, FORMAT_HINT);
			return -1;
		}
	}
	dash = memchr(spec, '-', (size_t)(colon - spec));
	alen = (size_t)((dash ? dash : colon) - spec);
	if (alen == 5 && strncasecmp(spec, "allow", 5) == 0) {
		rs.rs_action = VERDICT_ALLOW;
	} else if (alen == 4 && strncasecmp(spec, "deny", 4) == 0) {
		rs.rs_action = VERDICT_DENY;
	} else {
		const char *hint = suggest_closest((struct slice){ spec, alen }, actions, 2);
		if (hint != NULL)
			errbuf_set(err, "%s: unknown action '%.*s' (did you mean '%s'?)", where,
			           (int)alen, spec, hint);
		else
			errbuf_set(err, "%s: unknown action '%.*s' (expected allow or deny)", where,
			           (int)alen, spec);
		return -1;
	}
	if (dash != NULL &&
	    parse_methods(dash + 1, (size_t)(colon - dash - 1), &rs.rs_methods, where, err) < 0)
		return -1;
	re = colon + 1;
	while (isspace((unsigned char)*re))
		re++;
	if (*re == '\0') {
		errbuf_set(err, "%s: empty regex (%s)", where, FORMAT_HINT);
		return -1;
	}
	rs.rs_pattern = re;
	rs.rs_pat_where = where;
	rs.rs_source = where;
	rs.rs_where = where;
	return policy_add_rule(po, &rs, err);
}
