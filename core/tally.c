/* Distinct hosts in an open-addressing set: a run may see thousands of names, and
 * -v must not make each decision cost a scan of them. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tally.h"

struct tally {
	unsigned long ta_allowed, ta_denied, ta_would_deny;
	char        **ta_hosts;   /* owned strings; NULL slots are free */
	size_t        ta_nhosts, ta_cap;
};

struct tally *
tally_new(void)
{
	return calloc(1, sizeof(struct tally));
}

void
tally_free(struct tally *ta)
{
	if (ta == NULL)
		return;
	for (size_t i = 0; i < ta->ta_cap; i++)
		free(ta->ta_hosts[i]);
	free(ta->ta_hosts);
	free(ta);
}

/* The slot holding HOST, or the free slot where it belongs. */
static size_t
slot(char **set, size_t cap, const char *p, size_t len)
{
	size_t i = slice_hash((struct slice){ p, len }) & (cap - 1);

	while (set[i] != NULL && (strlen(set[i]) != len || memcmp(set[i], p, len) != 0))
		i = (i + 1) & (cap - 1);
	return i;
}

static int
grow(struct tally *ta)
{
	size_t cap = ta->ta_cap ? ta->ta_cap * 2 : 64;
	char **set = calloc(cap, sizeof(*set));

	if (set == NULL)
		return -1;
	for (size_t i = 0; i < ta->ta_cap; i++)
		if (ta->ta_hosts[i] != NULL)
			set[slot(set, cap, ta->ta_hosts[i], strlen(ta->ta_hosts[i]))] = ta->ta_hosts[i];
	free(ta->ta_hosts);
	ta->ta_hosts = set;
	ta->ta_cap = cap;
	return 0;
}

void
tally_add(struct tally *ta, bool allowed, bool enforced, struct slice host)
{
	size_t i;

	if (allowed)
		ta->ta_allowed++;
	else if (enforced)
		ta->ta_denied++;
	else
		ta->ta_would_deny++;
	if (host.len == 0)
		return;
	if ((ta->ta_nhosts + 1) * 2 > ta->ta_cap && grow(ta) < 0)
		return;
	i = slot(ta->ta_hosts, ta->ta_cap, host.ptr, host.len);
	if (ta->ta_hosts[i] == NULL && (ta->ta_hosts[i] = strndup(host.ptr, host.len)) != NULL)
		ta->ta_nhosts++;
}

void
tally_format(const struct tally *ta, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%lu allowed, %lu denied", ta->ta_allowed, ta->ta_denied);

	if (ta->ta_would_deny > 0 && n >= 0 && (size_t)n < size)
		n += snprintf(buf + n, size - (size_t)n, ", %lu would be denied",
		              ta->ta_would_deny);
	if (n >= 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, ", %zu host%s", ta->ta_nhosts,
		         ta->ta_nhosts == 1 ? "" : "s");
}
