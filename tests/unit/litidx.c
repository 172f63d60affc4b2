/* Unit tests of the contained-literal index and of the literal taken from a pattern. */
#include <stdlib.h>

#include "litidx.h"
#include "regex.h"
#include "unit.h"

static const struct { const char *pattern, *literal; } cases[] = {
	{ "svc9\\.example\\.(com|net)/api/v0/[a-z]+", "svc9.example." },
	{ "github\\.com/acme/", "github.com/acme/" },
	{ "^https?://a\\.test/x", "://a.test/x" },
	{ "(x|y)abcd(e|f)", "abcd" },                 /* '|' inside groups */
	{ "ab[|]cdef", "cdef" },
	{ "[]x]abcd", "abcd" },                       /* ']' first in a class */
	{ "[^]x]abcd", "abcd" },
	{ "[[:alpha:]]abcd", "abcd" },
	{ "[a\\]b]abcd", "abcd" },
	{ "abcde?", "abcd" },                         /* e may be absent */
	{ "abcde*", "abcd" },
	{ "abcde{0,2}", "abcd" },
	{ "abcde+fg", "abcde" },                      /* e at least once */
	{ "abcde+?", "abcde" },
	{ "abcd\\.?x", "abcd" },
	{ "abc\\.def", "abc.def" },
	{ "abcd\\d+wxyz0", "wxyz0" },
	{ "abcd\\bwxy", "abcd" },
	{ "(?:ab)?cdefg", "cdefg" },
	{ "(?=ab)cdefg", "cdefg" },
	{ "(?<=x)cdefg", "cdefg" },
	{ "a(b(c)d)efgh", "efgh" },                   /* nested groups skipped whole */
	{ "abcd.efghi", "efghi" },
	{ "abcd(?i)EFGHIJ", "abcd" },                 /* caseless after (?i): stop */
	{ "abcd\\x2eefghij", "abcd" },                /* an escape with digits: stop */
	{ "(x)abcd\\1efghij", "abcd" },
	{ "abcd(?#x(y)efghij", "abcd" },              /* a comment: stop */
	{ "abcd(?<n>x)efghij", "abcd" },
	/* Nothing certain, or not safe to say. */
	{ "abc", "" },                                /* shorter than a gram */
	{ "abcd|efgh", "" },                          /* top-level '|' */
	{ "(abcd)|efgh", "" },
	{ "abcd\\Q(|\\Eefgh", "" },
	{ "(?x)abcd # (|", "" },
	{ "(*CR)abcdefgh", "" },
	{ "a.b.c.d", "" },
	{ "(?i)abcdefgh", "" },
};

static void
test_literal(void)
{
	char lit[LITIDX_MAXLEN + 1], longpat[600];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = litidx_literal(cases[i].pattern, lit);
		CHECK(n == strlen(cases[i].literal));
		CHECK_STR(lit, cases[i].literal);
	}
	/* A literal longer than a run holds: cut, never extended past a quantifier. */
	memset(longpat, 'x', 300);
	strcpy(longpat + 300, "y?");
	n = litidx_literal(longpat, lit);
	CHECK(n == LITIDX_MAXLEN);
	CHECK(strspn(lit, "x") == n);
	memset(longpat, 'x', LITIDX_MAXLEN);
	strcpy(longpat + LITIDX_MAXLEN, "y?");
	n = litidx_literal(longpat, lit);
	CHECK(n == LITIDX_MAXLEN);
	CHECK(strchr(lit, 'y') == NULL);
	memset(longpat, 'x', LITIDX_MAXLEN);
	strcpy(longpat + LITIDX_MAXLEN, "?");
	CHECK(litidx_literal(longpat, lit) == LITIDX_MAXLEN - 1);
}

/* Soundness: whenever PCRE2 finds a match, the literal is in the subject. */
static void
test_sound(void)
{
	static const char *subjects[] = {
		"https://svc9.example.com/api/v0/abc", "https://svc9.example.net/api/v0/",
		"https://github.com/acme/x", "http://a.test/x", "xabcdf", "yabcde",
		"ab|cdef", "]abcd", "abcd", "abcdwxyz0", "abcd0wxyz0", "abcdabcdee",
		"abcde", "abcd.x", "abcdx", "abc.def", "abcd wxy", "abcdwxy", "abcdefg",
		"xcdefg", "abdefgh", "abcdEFGHIJ", "abcd.efghij", "abcdaefghij",
		"xabcdefghi", "aefghi", "abcdefghi", "xxxx",
	};
	char lit[LITIDX_MAXLEN + 1];
	int wrong = 0, matched = 0;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct errbuf err;
		size_t off;
		struct regex *re = regex_new(cases[i].pattern, &off, &err);
		struct regex_md *md = regex_md_new();
		size_t n = litidx_literal(cases[i].pattern, lit);
		CHECK(re != NULL);
		if (re == NULL)
			fprintf(stderr, "  %s: %s\n", cases[i].pattern, err.msg);
		for (size_t k = 0; re != NULL && k < sizeof(subjects) / sizeof(subjects[0]); k++) {
			if (regex_match(re, slice_cstr(subjects[k]), md) != 1)
				continue;
			matched++;
			if (n > 0 && strstr(subjects[k], lit) == NULL) {
				wrong++;
				fprintf(stderr, "  %s matches %s without %s\n", cases[i].pattern,
				        subjects[k], lit);
			}
		}
		regex_md_free(md);
		regex_free(re);
	}
	CHECK(wrong == 0);
	CHECK(matched > 30);
}

static void
collect(uint32_t id, void *arg)
{
	char *got = arg;
	size_t len = strlen(got);

	snprintf(got + len, 256 - len, "%s%u", len ? "," : "", (unsigned)id);
}

/* The ids LX reports for SUBJECT, comma-separated, in the order it reports them (static). */
static const char *
lookup(const struct litidx *lx, const char *subject)
{
	static char got[256];

	got[0] = '\0';
	litidx_lookup(lx, slice_cstr(subject), collect, got);
	return got;
}

static void
test_lookup(void)
{
	struct litidx *lx = litidx_new();
	char rejected[256];
	int added = 0;

	CHECK(lx != NULL);
	if (lx == NULL)
		return;
	CHECK(litidx_add(lx, SLICE_LIT("abc"), 1) == -1);
	CHECK(litidx_add(lx, SLICE_LIT("github.com/acme/"), 2) == 0);
	CHECK(litidx_add(lx, SLICE_LIT("github.com/"), 3) == 0);
	CHECK(litidx_add(lx, SLICE_LIT("/acme/"), 4) == 0);
	/* 10,000 literals that share their end: each keeps its own rare gram. */
	for (uint32_t i = 100; i < 10100; i++) {
		char lit[64];
		int n = snprintf(lit, sizeof(lit), "svc%u.example.", (unsigned)i);
		added += litidx_add(lx, (struct slice){ lit, (size_t)n }, i) == 0;
	}
	CHECK(added == 10000);
	/* 40 literals with one gram in common and nothing rarer are handed back. */
	for (uint32_t i = 20000; i < 20040; i++)
		CHECK(litidx_add(lx, SLICE_LIT(".crowd.test/"), i) == 0);
	rejected[0] = '\0';
	CHECK(litidx_build(lx, collect, rejected) == 0);
	CHECK(strncmp(rejected, "20000,20001,", 12) == 0);
	CHECK(strlen(rejected) == 40 * 6 - 1);
	CHECK_STR(lookup(lx, "https://github.com/acme/x"), "3,2,4");
	CHECK_STR(lookup(lx, "https://github.co/acme"), "");
	CHECK_STR(lookup(lx, "https://svc10099.example.com/"), "10099");
	CHECK_STR(lookup(lx, "https://svc1009.example.com/?svc100.example."), "1009,100");
	CHECK_STR(lookup(lx, "svc"), "");
	CHECK_STR(lookup(lx, "https://a.crowd.test/"), "");
	litidx_free(lx);

	/* An index with nothing in it answers nothing. */
	lx = litidx_new();
	rejected[0] = '\0';
	CHECK(litidx_build(lx, collect, rejected) == 0);
	CHECK_STR(rejected, "");
	CHECK_STR(lookup(lx, "https://github.com/acme/x"), "");
	litidx_free(lx);
}

int
main(void)
{
	test_literal();
	test_sound();
	test_lookup();
	return unit_done("unit/litidx");
}
