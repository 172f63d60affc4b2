#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"
#include "policy_int.h"

#define SH_SOURCE "--sh"

char *
policy_strdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

static struct policy *
policy_new(void)
{
	struct policy *po = calloc(1, sizeof(*po));

	if (po == NULL)
		return NULL;
	po->po_default = VERDICT_DENY;
	po->po_hook_timeout_ms = 5000;
	po->po_tls_intercept = true;
	return po;
}

static void
strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
rule_release(struct rule *r)
{
	free(r->ru_source);
	free(r->ru_where);
	free(r->ru_text);
	free(r->ru_pattern);
	free(r->ru_pat_where);
	regex_free(r->ru_re);
	strv_free(r->ru_hosts, r->ru_nhosts);
	free(r->ru_sh);
}

void
policy_free(struct policy *po)
{
	if (po == NULL)
		return;
	for (size_t i = 0; i < po->po_nrules; i++)
		rule_release(&po->po_rules[i]);
	free(po->po_rules);
	strv_free(po->po_passthrough, po->po_npassthrough);
	hostidx_free(po->po_passidx);
	strv_free(po->po_expose, po->po_nexpose);
	free(po->po_audit_db);
	free(po->po_default_from);
	free(po->po_log_level);
	free(po->po_log_file);
	strv_free(po->po_files, po->po_nfiles);
	hostidx_free(po->po_hostidx);
	prefidx_free(po->po_prefidx);
	litidx_free(po->po_litidx);
	patset_free(po->po_patset);
	free(po->po_always);
	free(po);
}

/* Appends S to the text being built in *BUF, quoted the YAML way when QUOTE. */
static void
text_add(char **buf, size_t *len, size_t *cap, const char *s, bool quote)
{
	size_t need = strlen(s) * 2 + 4;

	if (*buf == NULL)
		return;
	if (*len + need >= *cap) {
		char *nb;
		*cap = (*len + need) * 2;
		if ((nb = realloc(*buf, *cap)) == NULL) {
			free(*buf);
			*buf = NULL;
			return;
		}
		*buf = nb;
	}
	if (quote)
		(*buf)[(*len)++] = '\'';
	for (; *s; s++) {
		if (quote && *s == '\'')
			(*buf)[(*len)++] = '\'';
		(*buf)[(*len)++] = *s;
	}
	if (quote)
		(*buf)[(*len)++] = '\'';
	(*buf)[*len] = '\0';
}

static char *
text_of(const struct rule_spec *rs)
{
	size_t len = 0, cap = 64;
	char *t = malloc(cap);

	if (t == NULL)
		return NULL;
	t[0] = '\0';
	text_add(&t, &len, &cap, rs->rs_action == VERDICT_ALLOW ? "allow" : "deny", false);
	if (rs->rs_nhosts > 0) {
		text_add(&t, &len, &cap, " host=", false);
		for (size_t i = 0; i < rs->rs_nhosts; i++) {
			if (i > 0)
				text_add(&t, &len, &cap, ",", false);
			text_add(&t, &len, &cap, rs->rs_hosts[i], false);
		}
	}
	if (rs->rs_methods != METHOD_ALL) {
		const char *sep = " methods=";
		for (unsigned b = 0; b < 32; b++) {
			if (!(rs->rs_methods & (1u << b)))
				continue;
			text_add(&t, &len, &cap, sep, false);
			text_add(&t, &len, &cap, method_name(1u << b), false);
			sep = ",";
		}
	}
	if (rs->rs_pattern != NULL) {
		text_add(&t, &len, &cap, " pattern=", false);
		text_add(&t, &len, &cap, rs->rs_pattern, true);
	}
	if (rs->rs_sh != NULL) {
		text_add(&t, &len, &cap, " sh=", false);
		text_add(&t, &len, &cap, rs->rs_sh, true);
	}
	return t;
}

int
policy_add_rule(struct policy *po, const struct rule_spec *rs, struct errbuf *err)
{
	struct rule *r;
	size_t off;

	if (po->po_nrules == po->po_caprules) {
		size_t cap = po->po_caprules ? po->po_caprules * 2 : 16;
		struct rule *nr = realloc(po->po_rules, cap * sizeof(*nr));
		if (nr == NULL)
			goto oom;
		po->po_rules = nr;
		po->po_caprules = cap;
	}
	r = &po->po_rules[po->po_nrules];
	memset(r, 0, sizeof(*r));
	r->ru_action = rs->rs_action;
	r->ru_index = po->po_nrules;
	r->ru_methods = rs->rs_methods;
	r->ru_line = rs->rs_line;
	r->ru_col = rs->rs_col;
	if (rs->rs_pattern != NULL) {
		r->ru_re = regex_new(rs->rs_pattern, &off, err);
		if (r->ru_re == NULL) {
			char why[ERRBUF_MAX];
			snprintf(why, sizeof(why), "%s", err->msg);
			errbuf_set(err, "%s: rule %zu: pattern: %s", rs->rs_pat_where,
			           po->po_nrules + 1, why);
			return -1;
		}
	}
	po->po_nrules++;
	r->ru_source = strdup(rs->rs_source);
	r->ru_where = strdup(rs->rs_where);
	r->ru_text = text_of(rs);
	if (r->ru_source == NULL || r->ru_where == NULL || r->ru_text == NULL)
		goto oom;
	if (rs->rs_pattern != NULL &&
	    ((r->ru_pattern = strdup(rs->rs_pattern)) == NULL ||
	     (r->ru_pat_where = strdup(rs->rs_pat_where)) == NULL))
		goto oom;
	if (rs->rs_sh != NULL && (r->ru_sh = strdup(rs->rs_sh)) == NULL)
		goto oom;
	if (rs->rs_nhosts > 0) {
		if ((r->ru_hosts = calloc(rs->rs_nhosts, sizeof(char *))) == NULL)
			goto oom;
		for (size_t i = 0; i < rs->rs_nhosts; i++) {
			if ((r->ru_hosts[i] = strdup(rs->rs_hosts[i])) == NULL)
				goto oom;
			r->ru_nhosts++;
		}
	}
	return 0;
oom:
	errbuf_set(err, "out of memory");
	return -1;
}

const char *
policy_host_check(const char *host, char *out, size_t outsz)
{
	const char *p = host;
	size_t n = strlen(host), o = 0;

	if (n == 0)
		return "empty host";
	if (n >= outsz || n > 253)
		return "host name too long";
	if (strpbrk(host, "/:@?#") != NULL)
		return "give a host name only, without scheme, port or path";
	if (strncmp(host, "*.", 2) == 0) {
		out[o++] = '*';
		out[o++] = '.';
		p += 2;
	}
	if (*p == '\0' || *p == '.')
		return "a host name cannot be empty or start with '.'";
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '*')
			return "'*' is allowed only as a leading '*.', as in *.example.com";
		if (!isalnum(c) && c != '-' && c != '.' && c != '_')
			return "invalid character in host name";
		if (c == '.' && (p[1] == '.' || p[1] == '\0'))
			return "empty label in host name";
		out[o++] = (char)tolower(c);
	}
	out[o] = '\0';
	return NULL;
}

static void
bit_set(uint64_t *bits, size_t i)
{
	bits[i / 64] |= 1ULL << (i % 64);
}

_Static_assert(LITIDX_MAXLEN <= PREFIDX_MAXLEN, "one buffer holds either literal");

/* The patterns left to the Vectorscan set, in any order: each carries its rule id. */
struct scanned {
	const struct policy *sn_po;
	const char         **sn_pats;
	uint32_t            *sn_ids;
	size_t               sn_n;
};

static void
scan_later(uint32_t id, void *arg)
{
	struct scanned *sn = arg;

	sn->sn_pats[sn->sn_n] = sn->sn_po->po_rules[id].ru_pattern;
	sn->sn_ids[sn->sn_n++] = id;
}

int
policy_index(struct policy *po, struct errbuf *err)
{
	struct scanned sn = { .sn_po = po };
	bool *unindexed = NULL;
	int rc = -1;

	po->po_nwords = (po->po_nrules + 63) / 64;
	po->po_always = calloc(po->po_nwords ? po->po_nwords : 1, sizeof(uint64_t));
	sn.sn_pats = calloc(po->po_nrules ? po->po_nrules : 1, sizeof(*sn.sn_pats));
	sn.sn_ids = calloc(po->po_nrules ? po->po_nrules : 1, sizeof(*sn.sn_ids));
	unindexed = calloc(po->po_nrules ? po->po_nrules : 1, sizeof(*unindexed));
	if ((po->po_hostidx = hostidx_new()) == NULL ||
	    (po->po_prefidx = prefidx_new()) == NULL ||
	    (po->po_litidx = litidx_new()) == NULL || po->po_always == NULL ||
	    sn.sn_pats == NULL || sn.sn_ids == NULL || unindexed == NULL)
		goto oom;
	for (size_t i = 0; i < po->po_nrules; i++) {
		struct rule *r = &po->po_rules[i];
		/* A host list is the most selective key; its pattern is confirmed later. */
		if (r->ru_nhosts > 0) {
			for (size_t h = 0; h < r->ru_nhosts; h++)
				if (hostidx_add(po->po_hostidx, r->ru_hosts[h], (uint32_t)i) < 0)
					goto oom;
		} else if (r->ru_pattern != NULL) {
			char lit[PREFIDX_MAXLEN + 1];
			size_t n = prefidx_literal(r->ru_pattern, lit);
			/* PCRE2 must agree that the pattern is anchored: a second opinion. */
			if (n > 0 && regex_anchored(r->ru_re)) {
				if (prefidx_add(po->po_prefidx, (struct slice){ lit, n },
				                (uint32_t)i) < 0)
					goto oom;
				continue;
			}
			if ((n = litidx_literal(r->ru_pattern, lit)) > 0) {
				if (litidx_add(po->po_litidx, (struct slice){ lit, n },
				               (uint32_t)i) < 0)
					goto oom;
				continue;
			}
			scan_later((uint32_t)i, &sn);
		} else {
			bit_set(po->po_always, i);
		}
	}
	if (litidx_build(po->po_litidx, scan_later, &sn) < 0)
		goto oom;
	if ((po->po_patset = patset_new(sn.sn_pats, sn.sn_ids, sn.sn_n, unindexed, err)) == NULL)
		goto out;
	for (size_t k = 0; k < sn.sn_n; k++)
		if (unindexed[k])
			bit_set(po->po_always, sn.sn_ids[k]);
	po->po_always_lo = po->po_nwords;
	po->po_always_hi = 0;
	for (size_t w = 0; w < po->po_nwords; w++) {
		if (po->po_always[w] == 0)
			continue;
		if (w < po->po_always_lo)
			po->po_always_lo = w;
		po->po_always_hi = w + 1;
	}
	rc = 0;
	goto out;
oom:
	errbuf_set(err, "out of memory");
out:
	free(sn.sn_pats);
	free(sn.sn_ids);
	free(unindexed);
	return rc;
}

static int
add_sh(struct policy *po, const char *cmd, struct errbuf *err)
{
	struct rule_spec rs = {
		.rs_action = VERDICT_ALLOW,
		.rs_methods = METHOD_ALL,
		.rs_sh = cmd,
		.rs_source = SH_SOURCE,
		.rs_where = SH_SOURCE,
	};

	if (*cmd == '\0') {
		errbuf_set(err, "--sh: empty command");
		return -1;
	}
	return policy_add_rule(po, &rs, err);
}

struct policy *
policy_compile(const struct policy_src *src, struct errbuf *err)
{
	struct policy *po = policy_new();

	if (po == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < src->ps_nfiles; i++)
		if (compile_file(po, src->ps_files[i], src->ps_ruleset_dirs, err) < 0)
			goto fail;
	for (size_t i = 0; i < src->ps_nrules; i++)
		if (rulespec_add(po, src->ps_rules[i], i + 1, err) < 0)
			goto fail;
	for (size_t i = 0; i < src->ps_nsh; i++)
		if (add_sh(po, src->ps_sh[i], err) < 0)
			goto fail;
	if (src->ps_no_tls_intercept)
		po->po_tls_intercept = false;
	if ((po->po_passidx = hostidx_new()) == NULL) {
		errbuf_set(err, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < po->po_npassthrough; i++) {
		if (hostidx_add(po->po_passidx, po->po_passthrough[i], (uint32_t)i) < 0) {
			errbuf_set(err, "out of memory");
			goto fail;
		}
	}
	if (policy_index(po, err) < 0)
		goto fail;
	return po;
fail:
	policy_free(po);
	return NULL;
}

/* --- settings --- */

enum verdict policy_default(const struct policy *po) { return po->po_default; }
unsigned policy_hook_timeout_ms(const struct policy *po) { return po->po_hook_timeout_ms; }
unsigned policy_hook_cache_ms(const struct policy *po) { return po->po_hook_cache_ms; }
bool policy_dry_run(const struct policy *po) { return po->po_dry_run; }
bool policy_tls_intercept(const struct policy *po) { return po->po_tls_intercept; }
bool policy_allow_private(const struct policy *po) { return po->po_allow_private; }
size_t policy_expose_count(const struct policy *po) { return po->po_nexpose; }
const char *policy_expose_get(const struct policy *po, size_t i) { return po->po_expose[i]; }
const char *policy_audit_db(const struct policy *po) { return po->po_audit_db; }
const char *policy_log_file(const struct policy *po) { return po->po_log_file; }
size_t policy_file_count(const struct policy *po) { return po->po_nfiles; }
const char *policy_file_get(const struct policy *po, size_t i) { return po->po_files[i]; }
size_t policy_rule_count(const struct policy *po) { return po->po_nrules; }

const char *
policy_log_level(const struct policy *po)
{
	return po->po_log_level ? po->po_log_level : "info";
}

bool
policy_tls_passthrough(const struct policy *po, struct slice host)
{
	return hostidx_contains(po->po_passidx, host);
}

const struct rule *
policy_rule_get(const struct policy *po, size_t i)
{
	return i < po->po_nrules ? &po->po_rules[i] : NULL;
}

enum verdict rule_action(const struct rule *r) { return r->ru_action; }
size_t rule_index(const struct rule *r) { return r->ru_index; }
const char *rule_source(const struct rule *r) { return r->ru_source; }
const char *rule_text(const struct rule *r) { return r->ru_text; }
const char *rule_sh(const struct rule *r) { return r->ru_sh; }
const char *rule_pattern(const struct rule *r) { return r->ru_pattern; }
uint32_t rule_methods(const struct rule *r) { return r->ru_methods; }
size_t rule_host_count(const struct rule *r) { return r->ru_nhosts; }
const char *rule_host_get(const struct rule *r, size_t i) { return r->ru_hosts[i]; }
unsigned rule_line(const struct rule *r) { return r->ru_line; }
unsigned rule_col(const struct rule *r) { return r->ru_col; }

/* --- deciding --- */

struct policy_scratch {
	uint64_t              *sc_bits;
	size_t                 sc_nwords, sc_lo, sc_hi; /* touched words: [lo, hi) */
	struct patset_scratch *sc_ps;
	struct regex_md       *sc_md;
};

struct policy_scratch *
policy_scratch_new(const struct policy *po)
{
	struct policy_scratch *sc = calloc(1, sizeof(*sc));

	if (sc == NULL)
		return NULL;
	sc->sc_nwords = po->po_nwords;
	sc->sc_bits = calloc(po->po_nwords ? po->po_nwords : 1, sizeof(uint64_t));
	sc->sc_ps = patset_scratch_new(po->po_patset);
	sc->sc_md = regex_md_new();
	sc->sc_lo = sc->sc_nwords;
	if (sc->sc_bits == NULL || sc->sc_ps == NULL || sc->sc_md == NULL) {
		policy_scratch_free(sc);
		return NULL;
	}
	return sc;
}

void
policy_scratch_free(struct policy_scratch *sc)
{
	if (sc == NULL)
		return;
	free(sc->sc_bits);
	patset_scratch_free(sc->sc_ps);
	regex_md_free(sc->sc_md);
	free(sc);
}

static void
candidate(uint32_t id, void *arg)
{
	struct policy_scratch *sc = arg;
	size_t w = id / 64;

	sc->sc_bits[w] |= 1ULL << (id % 64);
	if (w < sc->sc_lo)
		sc->sc_lo = w;
	if (w + 1 > sc->sc_hi)
		sc->sc_hi = w + 1;
}

static void
scratch_clear(struct policy_scratch *sc)
{
	if (sc->sc_lo < sc->sc_hi)
		memset(sc->sc_bits + sc->sc_lo, 0,
		       (sc->sc_hi - sc->sc_lo) * sizeof(uint64_t));
	sc->sc_lo = sc->sc_nwords;
	sc->sc_hi = 0;
}

static enum decide_status
finish(struct policy_scratch *sc, struct decision *dc, enum verdict v,
       const struct rule *r, const char *reason)
{
	scratch_clear(sc);
	dc->dc_verdict = v;
	dc->dc_rule = r;
	dc->dc_reason = reason;
	return DECIDE_DONE;
}

enum decide_status
policy_decide(const struct policy *po, struct policy_scratch *sc,
              const struct request *rq, size_t from, struct decision *dc)
{
	size_t w;

	hostidx_lookup(po->po_hostidx, rq->rq_host, candidate, sc);
	prefidx_lookup(po->po_prefidx, rq->rq_url, candidate, sc);
	litidx_lookup(po->po_litidx, rq->rq_url, candidate, sc);
	if (patset_scan(po->po_patset, sc->sc_ps, rq->rq_url, candidate, sc) < 0)
		return finish(sc, dc, VERDICT_DENY, NULL, "pattern error");
	for (w = po->po_always_lo; w < po->po_always_hi; w++)
		sc->sc_bits[w] |= po->po_always[w];
	if (po->po_always_lo < sc->sc_lo)
		sc->sc_lo = po->po_always_lo;
	if (po->po_always_hi > sc->sc_hi)
		sc->sc_hi = po->po_always_hi;

	w = from / 64 > sc->sc_lo ? from / 64 : sc->sc_lo;
	for (; w < sc->sc_hi; w++) {
		uint64_t bits = sc->sc_bits[w];
		if (w == from / 64)
			bits &= ~0ULL << (from % 64);
		while (bits != 0) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(bits);
			const struct rule *r = &po->po_rules[i];
			bits &= bits - 1;
			if (r->ru_methods != METHOD_ALL &&
			    (r->ru_methods & rq->rq_method_bit) == 0)
				continue;
			if (r->ru_re != NULL) {
				int m = regex_match(r->ru_re, rq->rq_url, sc->sc_md);
				if (m < 0)
					return finish(sc, dc, VERDICT_DENY, r, "pattern error");
				if (m == 0)
					continue;
			}
			if (r->ru_sh != NULL) {
				finish(sc, dc, VERDICT_DENY, r, "hook pending");
				return DECIDE_HOOK;
			}
			return finish(sc, dc, r->ru_action, r, "rule");
		}
	}
	return finish(sc, dc, po->po_default, NULL, "default");
}

enum decide_status
policy_decide_hooked(const struct policy *po, struct policy_scratch *sc,
                     const struct request *rq, bool matched, bool error,
                     struct decision *dc)
{
	const struct rule *r = dc->dc_rule;

	if (error)
		return finish(sc, dc, VERDICT_DENY, r, "hook error");
	if (matched)
		return finish(sc, dc, r->ru_action, r, "rule");
	return policy_decide(po, sc, rq, r->ru_index + 1, dc);
}
