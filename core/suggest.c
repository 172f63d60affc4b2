#include <ctype.h>
#include <string.h>

#include "suggest.h"

#define MAXW 32

/* Optimal string alignment distance: a swapped pair of letters counts once. */
static size_t
distance(struct slice a, const char *b)
{
	size_t bl = strlen(b), d[MAXW + 1][MAXW + 1];

	if (a.len > MAXW || bl > MAXW)
		return MAXW;
	for (size_t i = 0; i <= a.len; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= bl; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= a.len; i++) {
		for (size_t j = 1; j <= bl; j++) {
			int ai = tolower((unsigned char)a.ptr[i - 1]);
			int bj = tolower((unsigned char)b[j - 1]);
			size_t cost = ai != bj;
			size_t best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (d[i - 1][j - 1] + cost < best)
				best = d[i - 1][j - 1] + cost;
			if (i > 1 && j > 1 &&
			    ai == tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a.ptr[i - 2]) == bj &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[a.len][bl];
}

const char *
suggest_closest(struct slice word, const char *const *candidates, size_t n)
{
	const char *best = NULL;
	size_t bestd = (word.len <= 4) ? 1 : 2;

	for (size_t i = 0; i < n; i++) {
		size_t dd = distance(word, candidates[i]);
		if (dd <= bestd && (best == NULL || dd < bestd)) {
			best = candidates[i];
			bestd = dd;
		}
	}
	return best;
}
