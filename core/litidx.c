#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "litidx.h"
#include "regex.h"

#define GRAM 4
#define FILTER_BITS 16

struct entry {
	uint32_t en_id;
	uint32_t en_gram;  /* the rarest GRAM bytes of the literal, at en_off */
	uint32_t en_pool;  /* where the literal starts in lx_pool */
	uint16_t en_len;
	uint16_t en_off;
};

/* Open addressing from a gram to a run of entries, or (while building) to a count. */
struct slot {
	uint32_t sl_gram;
	uint32_t sl_start;
	uint32_t sl_count;  /* 0: empty */
};

struct litidx {
	struct entry *lx_ents;
	size_t        lx_n, lx_cap;
	char         *lx_pool;
	size_t        lx_pool_len, lx_pool_cap;
	struct slot  *lx_slots;
	size_t        lx_mask;
	/* One bit per hashed gram, so that most bytes of a URL cost no table probe. */
	uint64_t      lx_filter[(1u << FILTER_BITS) / 64];
};

struct litidx *
litidx_new(void)
{
	return calloc(1, sizeof(struct litidx));
}

void
litidx_free(struct litidx *lx)
{
	if (lx == NULL)
		return;
	free(lx->lx_ents);
	free(lx->lx_pool);
	free(lx->lx_slots);
	free(lx);
}

static void *
grow(void *p, size_t *cap, size_t need, size_t size)
{
	size_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return p;
	while (n < need)
		n *= 2;
	if ((q = realloc(p, n * size)) != NULL)
		*cap = n;
	return q;
}

int
litidx_add(struct litidx *lx, struct slice lit, uint32_t id)
{
	struct entry *ents;
	char *pool;

	if (lit.len < LITIDX_MINLEN || lit.len > LITIDX_MAXLEN)
		return -1;
	if ((ents = grow(lx->lx_ents, &lx->lx_cap, lx->lx_n + 1, sizeof(*ents))) == NULL)
		return -1;
	lx->lx_ents = ents;
	if ((pool = grow(lx->lx_pool, &lx->lx_pool_cap, lx->lx_pool_len + lit.len, 1)) == NULL)
		return -1;
	lx->lx_pool = pool;
	memcpy(pool + lx->lx_pool_len, lit.ptr, lit.len);
	ents[lx->lx_n++] = (struct entry){ .en_id = id, .en_pool = (uint32_t)lx->lx_pool_len,
	                                   .en_len = (uint16_t)lit.len };
	lx->lx_pool_len += lit.len;
	return 0;
}

static uint32_t
gram_at(const char *p)
{
	uint32_t g;

	memcpy(&g, p, GRAM);
	return g;
}

static uint64_t
mix(uint32_t g)
{
	return (uint64_t)g * 0x9e3779b97f4a7c15ULL;
}

/* The slot holding GRAM, or the empty one where it would go. */
static struct slot *
slot_find(struct slot *slots, size_t mask, uint32_t gram)
{
	size_t i = (size_t)(mix(gram) >> 32) & mask;

	while (slots[i].sl_count != 0 && slots[i].sl_gram != gram)
		i = (i + 1) & mask;
	return &slots[i];
}

/* A table with at least twice as many slots as N keys. */
static struct slot *
slots_new(size_t n, size_t *mask)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	*mask = cap - 1;
	return calloc(cap, sizeof(struct slot));
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->en_gram != y->en_gram)
		return x->en_gram < y->en_gram ? -1 : 1;
	return (x->en_id > y->en_id) - (x->en_id < y->en_id);
}

/* Hands runs of sorted entries longer than LITIDX_MAXRUN to REJECT and removes them. */
static void
drop_crowds(struct litidx *lx, litidx_cb *reject, void *arg)
{
	size_t kept = 0, i = 0;

	while (i < lx->lx_n) {
		size_t j = i;
		while (j < lx->lx_n && lx->lx_ents[j].en_gram == lx->lx_ents[i].en_gram)
			j++;
		if (j - i > LITIDX_MAXRUN) {
			for (size_t k = i; k < j; k++)
				reject(lx->lx_ents[k].en_id, arg);
		} else {
			memmove(&lx->lx_ents[kept], &lx->lx_ents[i], (j - i) * sizeof(*lx->lx_ents));
			kept += j - i;
		}
		i = j;
	}
	lx->lx_n = kept;
}

int
litidx_build(struct litidx *lx, litidx_cb *reject, void *arg)
{
	struct slot *counts, *s;
	size_t mask, ngrams = 0;

	if (lx->lx_n == 0)
		return 0;
	for (size_t i = 0; i < lx->lx_n; i++)
		ngrams += lx->lx_ents[i].en_len - GRAM + 1;
	if ((counts = slots_new(ngrams, &mask)) == NULL)
		return -1;
	for (size_t i = 0; i < lx->lx_n; i++) {
		const char *lit = lx->lx_pool + lx->lx_ents[i].en_pool;
		for (size_t o = 0; o + GRAM <= lx->lx_ents[i].en_len; o++) {
			s = slot_find(counts, mask, gram_at(lit + o));
			s->sl_gram = gram_at(lit + o);
			s->sl_count++;
		}
	}
	/* The gram fewest literals share keeps the run a URL's byte walks short. */
	for (size_t i = 0; i < lx->lx_n; i++) {
		struct entry *e = &lx->lx_ents[i];
		const char *lit = lx->lx_pool + e->en_pool;
		uint32_t best = UINT32_MAX;
		for (size_t o = 0; o + GRAM <= e->en_len; o++) {
			s = slot_find(counts, mask, gram_at(lit + o));
			if (s->sl_count < best) {
				best = s->sl_count;
				e->en_off = (uint16_t)o;
				e->en_gram = s->sl_gram;
			}
		}
	}
	free(counts);
	qsort(lx->lx_ents, lx->lx_n, sizeof(*lx->lx_ents), cmp_entry);
	drop_crowds(lx, reject, arg);
	free(lx->lx_slots);
	if ((lx->lx_slots = slots_new(lx->lx_n, &lx->lx_mask)) == NULL)
		return -1;
	memset(lx->lx_filter, 0, sizeof(lx->lx_filter));
	for (size_t i = 0; i < lx->lx_n; i++) {
		uint32_t g = lx->lx_ents[i].en_gram;
		uint64_t f = mix(g) >> (64 - FILTER_BITS);
		s = slot_find(lx->lx_slots, lx->lx_mask, g);
		if (s->sl_count == 0) {
			s->sl_gram = g;
			s->sl_start = (uint32_t)i;
		}
		s->sl_count++;
		lx->lx_filter[f / 64] |= 1ULL << (f % 64);
	}
	return 0;
}

void
litidx_lookup(const struct litidx *lx, struct slice s, litidx_cb *cb, void *arg)
{
	if (lx->lx_slots == NULL || s.len < GRAM)
		return;
	for (size_t i = 0; i + GRAM <= s.len; i++) {
		uint32_t g = gram_at(s.ptr + i);
		uint64_t f = mix(g) >> (64 - FILTER_BITS);
		const struct slot *sl;
		if (!(lx->lx_filter[f / 64] & (1ULL << (f % 64))))
			continue;
		sl = slot_find(lx->lx_slots, lx->lx_mask, g);
		for (uint32_t k = 0; k < sl->sl_count; k++) {
			const struct entry *e = &lx->lx_ents[sl->sl_start + k];
			if (i < e->en_off || i - e->en_off + e->en_len > s.len)
				continue;
			if (memcmp(s.ptr + i - e->en_off, lx->lx_pool + e->en_pool, e->en_len) == 0)
				cb(e->en_id, arg);
		}
	}
}

/* Past the class that starts at P ('['), or NULL when it does not end. */
static const char *
skip_class(const char *p)
{
	p++;
	if (*p == '^')
		p++;
	if (*p == ']')
		p++;
	while (*p != '\0' && *p != ']') {
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p += 2;
		} else if (p[0] == '[' && p[1] == ':') {
			const char *end = strstr(p + 2, ":]");
			if (end == NULL)
				return NULL;
			p = end + 2;
		} else {
			p++;
		}
	}
	return *p == ']' ? p + 1 : NULL;
}

/* Past the group that starts at P ('('), or NULL when this scan cannot tell where it
 * ends (a comment may hold an unbalanced parenthesis). */
static const char *
skip_group(const char *p)
{
	int depth = 0;

	while (*p != '\0') {
		if (*p == '\\') {
			if (p[1] == '\0')
				return NULL;
			p += 2;
			continue;
		}
		if (*p == '[') {
			if ((p = skip_class(p)) == NULL)
				return NULL;
			continue;
		}
		if (p[0] == '(' && p[1] == '?' && p[2] == '#')
			return NULL;
		if (*p == '(')
			depth++;
		else if (*p == ')' && --depth == 0)
			return p + 1;
		p++;
	}
	return NULL;
}

/* Groups whose text is skipped whole; any other "(?" (options such as (?i) that change
 * what follows, names, conditions, comments) ends the scan. */
static bool
plain_group(const char *p)
{
	if (p[1] != '?')
		return true;
	return strchr(":=!>", p[2]) != NULL ||
	       (p[2] == '<' && (p[3] == '=' || p[3] == '!'));
}

struct run {
	char  *best;
	size_t nbest;
	char   cur[LITIDX_MAXLEN];
	size_t n;
};

static void
run_end(struct run *r)
{
	if (r->n > r->nbest) {
		memcpy(r->best, r->cur, r->n);
		r->nbest = r->n;
	}
	r->n = 0;
}

static void
run_push(struct run *r, char c)
{
	/* C is an atom, not a quantifier, so the run so far is certain: keep it. */
	if (r->n == LITIDX_MAXLEN)
		run_end(r);
	r->cur[r->n++] = c;
}

size_t
litidx_literal(const char *p, char *out)
{
	struct run r = { .best = out };

	out[0] = '\0';
	/* Without a top-level '|', every top-level atom is in every match, in order. */
	if (regex_text_opaque(p) || regex_text_alternates(p))
		return 0;
	while (*p != '\0') {
		char c = *p;
		if (c == '*' || c == '?' || c == '{') {
			/* The atom before may match zero times (or '{' is literal): not certain. */
			if (r.n > 0)
				r.n--;
			run_end(&r);
			if (c == '{' && (p = strchr(p, '}')) == NULL)
				break;
			p++;
		} else if (c == '+') {
			run_end(&r);
			p++;
		} else if (c == '\\') {
			if (p[1] == '\0')
				break;
			if (!isalnum((unsigned char)p[1])) {
				run_push(&r, p[1]);
			} else {
				/* Escapes that take no argument; others (\x2e, \1, \g{..}) end the scan. */
				run_end(&r);
				if (strchr("dDsSwWbBhHvVRXAzZGKE", p[1]) == NULL)
					break;
			}
			p += 2;
		} else if (c == '[') {
			run_end(&r);
			if ((p = skip_class(p)) == NULL)
				break;
		} else if (c == '(') {
			run_end(&r);
			if (!plain_group(p) || (p = skip_group(p)) == NULL)
				break;
		} else if (c == '|' || c == ')') {
			break;
		} else if (c == '.' || c == '^' || c == '$') {
			run_end(&r);
			p++;
		} else {
			run_push(&r, c);
			p++;
		}
	}
	run_end(&r);
	if (r.nbest < LITIDX_MINLEN) {
		out[0] = '\0';
		return 0;
	}
	out[r.nbest] = '\0';
	return r.nbest;
}
