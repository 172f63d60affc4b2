/* Unit tests of the "did you mean" hints. */
#include "method.h"
#include "suggest.h"
#include "unit.h"

int
main(void)
{
	static const char *const keys[] = { "action", "pattern", "host", "methods", "sh" };
	static const struct { const char *word, *want; } cases[] = {
		{ "acton", "action" },     /* a letter missing */
		{ "actoin", "action" },    /* two letters swapped */
		{ "Action", "action" },    /* case only */
		{ "patern", "pattern" },
		{ "hots", "host" },
		{ "method", "methods" },
		{ "sj", "sh" },
		{ "xyz", NULL },           /* nothing close */
		{ "pat", NULL },           /* too far from pattern */
		{ "", NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = suggest_closest(slice_cstr(cases[i].word), keys, 5);
		if (cases[i].want == NULL)
			CHECK(got == NULL);
		else
			CHECK_STR(got, cases[i].want);
	}
	CHECK_STR(method_suggest(SLICE_LIT("GTE")), "GET");
	CHECK_STR(method_suggest(SLICE_LIT("psot")), "POST");
	CHECK(method_suggest(SLICE_LIT("FROBNICATE")) == NULL);
	CHECK(method_bit(SLICE_LIT("get")) == method_bit(SLICE_LIT("GET")));
	CHECK(method_bit(SLICE_LIT("GET")) != 0);
	CHECK(method_bit(SLICE_LIT("GETS")) == 0);
	CHECK(method_bit(SLICE_LIT("")) == 0);
	CHECK_STR(method_name(method_bit(SLICE_LIT("patch"))), "PATCH");
	return unit_done("unit/suggest");
}
