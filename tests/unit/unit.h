/* unit: CHECK() prints the failing expression and goes on; unit_done() tallies. */
#ifndef HTTPJAIL_UNIT_H
#define HTTPJAIL_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(expr)                                                          \
	do {                                                                 \
		if (expr) {                                                  \
			unit_passed++;                                       \
		} else {                                                     \
			unit_failed++;                                       \
			fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__,     \
			        __LINE__, #expr);                            \
		}                                                            \
	} while (0)

/* String equality that shows both sides when it fails. */
#define CHECK_STR(got, want)                                                 \
	do {                                                                 \
		const char *g_ = (got), *w_ = (want);                        \
		if (g_ != NULL && strcmp(g_, w_) == 0) {                     \
			unit_passed++;                                       \
		} else {                                                     \
			unit_failed++;                                       \
			fprintf(stderr, "%s:%d: FAILED: %s\n  got:  %s\n  want: %s\n", \
			        __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_); \
		}                                                            \
	} while (0)

/* The runner reads this line; its shape differs from the suite's closing line on purpose. */
static inline int
unit_done(const char *name)
{
	printf("[%s] ok %d, failed %d\n", name, unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
