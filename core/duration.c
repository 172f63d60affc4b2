#include <ctype.h>
#include <string.h>

#include "duration.h"

int
duration_parse(const char *s, unsigned *ms)
{
	unsigned long long n = 0, mult;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -1;
	while (isdigit((unsigned char)*p)) {
		n = n * 10 + (unsigned)(*p++ - '0');
		if (n > 86400000ULL)
			return -1;
	}
	if (*p == '\0' || strcmp(p, "s") == 0)
		mult = 1000;
	else if (strcmp(p, "ms") == 0)
		mult = 1;
	else if (strcmp(p, "m") == 0)
		mult = 60 * 1000;
	else if (strcmp(p, "h") == 0)
		mult = 3600 * 1000;
	else
		return -1;
	if (n * mult > 86400000ULL)
		return -1;
	*ms = (unsigned)(n * mult);
	return 0;
}
