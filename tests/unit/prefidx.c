/* Unit tests of the literal-prefix index and of the literal taken from a pattern. */
#include "prefidx.h"
#include "unit.h"

static void
test_literal(void)
{
	static const struct { const char *pattern, *literal; } cases[] = {
		{ "^https://api\\.github\\.com/repos/", "https://api.github.com/repos/" },
		{ "\\Ahttps://a\\.test/", "https://a.test/" },
		{ "^https://a.test/", "https://a" },               /* '.' is any byte */
		{ "^https://a\\.test/x+", "https://a.test/" },     /* x may be once or more */
		{ "^https://a\\.test/x*", "https://a.test/" },
		{ "^https://a\\.test/x?y", "https://a.test/" },
		{ "^https://a\\.test/x{2}", "https://a.test/" },
		{ "^https://a\\.test/\\.+", "https://a.test/" },
		{ "^https://a\\.test/(x|y)", "https://a.test/" },  /* '|' inside a group */
		{ "^https://a\\.test/[|]", "https://a.test/" },
		{ "^https://a\\.test/\\|", "https://a.test/|" },
		{ "^https://a\\.test/p\\?q=1$", "https://a.test/p?q=1" },
		{ "^https://a\\.test/\\d+", "https://a.test/" },
		{ "^http://a\\.test:8443/", "http://a.test:8443/" },
		{ "^tcp://git\\.test:22$", "tcp://git.test:22" },
		{ "^https://a(?i)BC", "https://a" },
		/* Nothing worth indexing, or not safe to. */
		{ "https://a\\.test/", "" },                       /* not anchored */
		{ "^https://a\\.test/|evil", "" },                 /* '^' binds one branch */
		{ "^https://a\\.test/(x)|evil", "" },
		{ "^(https://a\\.test/)", "" },
		{ "^https?://a\\.test/", "" },                     /* literal "http" only */
		{ "^https://", "" },
		{ "^https:/+a", "" },
		{ "^[a-z]+://a", "" },
		{ "(?i)^https://a\\.test/", "" },
		{ "^https://a\\.test/\\Q(\\E|evil", "" },
		{ "^https://a\\.test/\\c(|evil", "" },
		{ "^https://a\\.test/(?x)#(\n|evil", "" },
		{ "^https://a\\.test/(*ACCEPT)", "" },
		{ "^https://a\\.test/\\", "" },
	};
	char lit[PREFIDX_MAXLEN + 1], longpat[400];
	size_t n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = prefidx_literal(cases[i].pattern, lit);
		if (cases[i].literal[0] == '\0') {
			CHECK(n == 0);
			if (n != 0)
				fprintf(stderr, "  %s: got %s\n", cases[i].pattern, lit);
		} else {
			CHECK(n == strlen(cases[i].literal));
			CHECK_STR(lit, cases[i].literal);
		}
	}
	/* A literal longer than the index takes is cut, never extended past a quantifier. */
	strcpy(longpat, "^https://a.test/");
	memset(longpat + 16, 'x', 300);
	strcpy(longpat + 316, "y+");
	n = prefidx_literal(longpat, lit);
	CHECK(n > 0 && n < PREFIDX_MAXLEN);
	CHECK(strncmp(lit, "https://a", 9) == 0);
}

static void
collect(uint32_t id, void *arg)
{
	char *got = arg;
	size_t len = strlen(got);

	snprintf(got + len, 64 - len, "%s%u", len ? "," : "", (unsigned)id);
}

static void
test_lookup(void)
{
	struct prefidx *px = prefidx_new();
	char got[64];
	int added;

	CHECK(px != NULL);
	if (px == NULL)
		return;
	CHECK(prefidx_add(px, SLICE_LIT("https://a.test/"), 1) == 0);
	CHECK(prefidx_add(px, SLICE_LIT("https://a.test/"), 4) == 0);
	CHECK(prefidx_add(px, SLICE_LIT("https://a.test/api/"), 2) == 0);
	CHECK(prefidx_add(px, SLICE_LIT("https://a.tes"), 3) == 0);
	CHECK(prefidx_add(px, SLICE_LIT(""), 5) == -1);
	added = 0;
	for (uint32_t i = 100; i < 2100; i++) {
		char lit[64];
		int n = snprintf(lit, sizeof(lit), "https://h%u.test/", (unsigned)i);
		added += prefidx_add(px, (struct slice){ lit, (size_t)n }, i) == 0;
	}
	CHECK(added == 2000);
	got[0] = '\0';
	prefidx_lookup(px, SLICE_LIT("https://a.test/api/v1"), collect, got);
	CHECK_STR(got, "3,1,4,2");
	got[0] = '\0';
	prefidx_lookup(px, SLICE_LIT("https://a.test.evil/"), collect, got);
	CHECK_STR(got, "3");
	got[0] = '\0';
	prefidx_lookup(px, SLICE_LIT("http://a.test/"), collect, got);
	CHECK_STR(got, "");
	got[0] = '\0';
	prefidx_lookup(px, SLICE_LIT("https://h2099.test/x"), collect, got);
	CHECK_STR(got, "2099");
	got[0] = '\0';
	prefidx_lookup(px, SLICE_LIT("https://h2099.tes"), collect, got);
	CHECK_STR(got, "");
	prefidx_free(px);
}

int
main(void)
{
	test_literal();
	test_lookup();
	return unit_done("unit/prefidx");
}
