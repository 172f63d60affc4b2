/* check: compile, lint and print the pipeline. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static void
warn_line(const char *msg, void *arg)
{
	(void)arg;
	fprintf(stderr, "httpjail: warning: %s\n", msg);
}

int
cmd_check(const struct options *op)
{
	struct policy *po = cmd_policy(op);
	size_t n, width = 7, warnings;

	if (po == NULL)
		return EXIT_USAGE;
	n = policy_rule_count(po);
	for (size_t i = 0; i < n; i++) {
		size_t w = strlen(rule_source(policy_rule_get(po, i)));
		if (w > width)
			width = w;
	}
	for (size_t i = 0; i < n; i++) {
		const struct rule *r = policy_rule_get(po, i);
		printf("%4zu  %-*s  %s\n", i + 1, (int)width, rule_source(r), rule_text(r));
	}
	printf("%4s  %-*s  %s\n", "-", (int)width, "default",
	       policy_default(po) == VERDICT_ALLOW ? "allow" : "deny");
	/* Warnings follow the listing they refer to, also when both go to one terminal. */
	fflush(stdout);
	warnings = policy_lint(po, warn_line, NULL);
	printf("%zu rule%s, %zu warning%s\n", n, n == 1 ? "" : "s", warnings,
	       warnings == 1 ? "" : "s");
	policy_free(po);
	return 0;
}
