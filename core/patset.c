#include <stdlib.h>

#include "hslib.h"
#include "patset.h"

struct patset {
	const struct hslib *ps_hs;  /* NULL when there was nothing to compile */
	hs_database_t      *ps_db;  /* NULL when no pattern could be indexed */
};

struct patset_scratch {
	const struct hslib *pss_lib;
	hs_scratch_t       *pss_hs;
};

struct scanctx {
	patset_cb *sc_cb;
	void      *sc_arg;
};

#define BASE_FLAGS (HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY)
#define PATSET_FEW 4

/* Whether Vectorscan accepts PATTERN with FLAGS, checked alone. */
static bool
accepts(const struct hslib *hs, const char *pattern, unsigned flags)
{
	hs_expr_info_t *info = NULL;
	hs_compile_error_t *cerr = NULL;

	if (hs->expression_info(pattern, flags, &info, &cerr) != HS_SUCCESS) {
		hs->free_compile_error(cerr);
		return false;
	}
	free(info);
	return true;
}

struct patset *
patset_new(const char *const *patterns, const uint32_t *ids, size_t n,
           bool *unindexed, struct errbuf *err)
{
	struct patset *ps = calloc(1, sizeof(*ps));
	const char **exprs = calloc(n ? n : 1, sizeof(*exprs));
	unsigned *flags = calloc(n ? n : 1, sizeof(*flags));
	unsigned *hsids = calloc(n ? n : 1, sizeof(*hsids));
	size_t *origin = calloc(n ? n : 1, sizeof(*origin));
	size_t m = 0;

	if (ps == NULL || exprs == NULL || flags == NULL || hsids == NULL ||
	    origin == NULL) {
		errbuf_set(err, "out of memory");
		goto fail;
	}
	/* A few patterns cost less run one by one (PCRE2 JIT, about 0.1 us each) than
	 * loading Vectorscan (1 ms at start) and compiling them. Without the library every
	 * pattern is run: slower, the same answers. */
	if (n <= PATSET_FEW || (ps->ps_hs = hslib_get()) == NULL) {
		for (size_t i = 0; i < n; i++)
			unindexed[i] = true;
		n = 0;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned f = BASE_FLAGS;
		unindexed[i] = false;
		if (!accepts(ps->ps_hs, patterns[i], f)) {
			/* Backreferences, lookaround: a superset still narrows the walk. */
			f |= HS_FLAG_PREFILTER;
			if (!accepts(ps->ps_hs, patterns[i], f)) {
				unindexed[i] = true;
				continue;
			}
		}
		exprs[m] = patterns[i];
		flags[m] = f;
		hsids[m] = ids[i];
		origin[m] = i;
		m++;
	}
	/* Checked alone each pattern compiled; together one may still fail (size limits). */
	while (m > 0) {
		hs_compile_error_t *cerr = NULL;
		size_t bad;

		if (ps->ps_hs->compile_multi(exprs, flags, hsids, (unsigned)m, HS_MODE_BLOCK,
		                             NULL, &ps->ps_db, &cerr) == HS_SUCCESS)
			break;
		if (cerr->expression < 0) {
			for (size_t j = 0; j < m; j++)
				unindexed[origin[j]] = true;
			ps->ps_hs->free_compile_error(cerr);
			ps->ps_db = NULL;
			break;
		}
		bad = (size_t)cerr->expression;
		ps->ps_hs->free_compile_error(cerr);
		unindexed[origin[bad]] = true;
		m--;
		exprs[bad] = exprs[m];
		flags[bad] = flags[m];
		hsids[bad] = hsids[m];
		origin[bad] = origin[m];
	}
	free(exprs);
	free(flags);
	free(hsids);
	free(origin);
	return ps;
fail:
	free(ps);
	free(exprs);
	free(flags);
	free(hsids);
	free(origin);
	return NULL;
}

void
patset_free(struct patset *ps)
{
	if (ps == NULL)
		return;
	if (ps->ps_db != NULL)
		ps->ps_hs->free_database(ps->ps_db);
	free(ps);
}

struct patset_scratch *
patset_scratch_new(const struct patset *ps)
{
	struct patset_scratch *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->pss_lib = ps->ps_hs;
	if (ps->ps_db != NULL && ps->ps_hs->alloc_scratch(ps->ps_db, &s->pss_hs) != HS_SUCCESS) {
		free(s);
		return NULL;
	}
	return s;
}

void
patset_scratch_free(struct patset_scratch *s)
{
	if (s == NULL)
		return;
	if (s->pss_hs != NULL)
		s->pss_lib->free_scratch(s->pss_hs);
	free(s);
}

static int
on_match(unsigned id, unsigned long long from, unsigned long long to,
         unsigned flags, void *arg)
{
	struct scanctx *sc = arg;

	(void)from;
	(void)to;
	(void)flags;
	sc->sc_cb(id, sc->sc_arg);
	return 0;
}

int
patset_scan(const struct patset *ps, struct patset_scratch *s,
            struct slice subject, patset_cb *cb, void *arg)
{
	struct scanctx sc = { cb, arg };

	if (ps->ps_db == NULL)
		return 0;
	if (subject.len > 0xffffffffu)
		return -1;
	return ps->ps_hs->scan(ps->ps_db, subject.ptr, (unsigned)subject.len, 0, s->pss_hs,
	                       on_match, &sc) == HS_SUCCESS ? 0 : -1;
}
