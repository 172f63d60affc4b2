/* bench/leaf.c: the time to make one interception leaf certificate (a new name: sign
 * with the CA) and to find one in the cache, median and p99. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ca.h"

#define NAMES 2000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Fills US[i] with the microseconds of ca_leaf_get() for name i; exits on failure. */
static void
time_gets(struct ca *ca, double *us)
{
	struct errbuf err;

	for (int i = 0; i < NAMES; i++) {
		char name[64];
		int n = snprintf(name, sizeof(name), "host%d.bench.test", i);
		double t = now();
		if (ca_leaf_get(ca, (struct slice){ name, (size_t)n }, &err) == NULL) {
			fprintf(stderr, "bench: leaf %s: %s\n", name, err.msg);
			exit(1);
		}
		us[i] = (now() - t) * 1e6;
	}
	qsort(us, NAMES, sizeof(*us), cmp_double);
}

int
main(void)
{
	char dir[] = "/tmp/httpjail-bench-leaf.XXXXXX", cmd[128];
	static double made[NAMES], cached[NAMES];
	struct errbuf err;
	struct ca *ca;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((ca = ca_load(dir, (uid_t)-1, (gid_t)-1, &err)) == NULL ||
	    ca_leaf_init(ca, NAMES, &err) < 0) {
		fprintf(stderr, "bench: %s\n", err.msg);
		return 1;
	}
	time_gets(ca, made);
	time_gets(ca, cached);
	printf("\nLeaf certificates, %d names (target: a new leaf under 1 ms):\n\n", NAMES);
	printf("| leaf | median us | p99 us | max us |\n|---|---|---|---|\n");
	printf("| new name (P-256, signed by the CA) | %.1f | %.1f | %.1f |\n",
	       made[NAMES / 2], made[NAMES * 99 / 100], made[NAMES - 1]);
	printf("| cached name | %.2f | %.2f | %.2f |\n",
	       cached[NAMES / 2], cached[NAMES * 99 / 100], cached[NAMES - 1]);
	ca_free(ca);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) != 0;
}
