/* Unit tests of the -v tally: counts by verdict and distinct hosts through growth. */
#include <stdio.h>

#include "tally.h"
#include "unit.h"

int
main(void)
{
	struct tally *ta = tally_new();
	char buf[128], host[32];

	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "0 allowed, 0 denied, 0 hosts");
	tally_add(ta, true, true, SLICE_LIT("a.test"));
	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "1 allowed, 0 denied, 1 host");
	tally_add(ta, false, true, SLICE_LIT("a.test"));
	tally_add(ta, false, true, SLICE_LIT("b.test"));
	tally_add(ta, true, true, (struct slice){ "a.testx", 6 });
	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "2 allowed, 2 denied, 2 hosts");
	tally_add(ta, false, false, SLICE_LIT("c.test"));
	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "2 allowed, 2 denied, 1 would be denied, 3 hosts");
	/* Past several doublings of the set, every name is still found once. */
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < 1000; i++) {
			int n = snprintf(host, sizeof(host), "h%d.test", i);
			tally_add(ta, true, true, (struct slice){ host, (size_t)n });
		}
	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "2002 allowed, 2 denied, 1 would be denied, 1003 hosts");
	tally_add(ta, true, true, SLICE_LIT(""));
	tally_format(ta, buf, sizeof(buf));
	CHECK_STR(buf, "2003 allowed, 2 denied, 1 would be denied, 1003 hosts");
	tally_format(ta, buf, 12);
	CHECK_STR(buf, "2003 allowe");
	tally_free(ta);
	return unit_done("unit/tally");
}
