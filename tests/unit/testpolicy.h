/* testpolicy: compile policies from strings in unit tests. */
#ifndef HTTPJAIL_TESTPOLICY_H
#define HTTPJAIL_TESTPOLICY_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

static char tp_dir[64];

/* Writes TEXT to NAME inside a private temporary directory; returns its path (static). */
static const char *
tp_write(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	if (tp_dir[0] == '\0') {
		strcpy(tp_dir, "/tmp/httpjail-unit.XXXXXX");
		if (mkdtemp(tp_dir) == NULL) {
			perror("mkdtemp");
			exit(1);
		}
	}
	snprintf(path, sizeof(path), "%s/%s", tp_dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		exit(1);
	}
	fputs(text, f);
	fclose(f);
	return path;
}

static void
tp_cleanup(void)
{
	char cmd[128];

	if (tp_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tp_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "cannot remove %s\n", tp_dir);
	}
}

/* Compiles one YAML text and/or -r rules; ERR gets the message on failure. */
static struct policy *
tp_compile(const char *yaml, const char *const *rules, size_t nrules,
           struct errbuf *err)
{
	const char *file = yaml ? tp_write("policy.yaml", yaml) : NULL;
	struct policy_src src = {
		.ps_files = &file, .ps_nfiles = yaml ? 1 : 0,
		.ps_rules = rules, .ps_nrules = nrules,
		.ps_ruleset_dirs = tp_dir,
	};

	return policy_compile(&src, err);
}

#endif
