/* Unit tests of duration_parse(). */
#include "duration.h"
#include "unit.h"

int
main(void)
{
	static const struct { const char *s; unsigned ms; } ok[] = {
		{ "5", 5000 }, { "5s", 5000 }, { "500ms", 500 }, { "2m", 120000 },
		{ "1h", 3600000 }, { "0", 0 }, { "0ms", 0 }, { "24h", 86400000 },
	};
	static const char *const bad[] = {
		"", "s", "5 s", "5sec", "-1", "1.5s", "25h", "99999999999999999999",
		"5S", " 5", "5ms ", "1d",
	};
	unsigned ms;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = 12345;
		CHECK(duration_parse(ok[i].s, &ms) == 0 && ms == ok[i].ms);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(duration_parse(bad[i], &ms) == -1);
	return unit_done("unit/duration");
}
