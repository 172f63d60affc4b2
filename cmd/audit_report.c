/* audit_report: `httpjail audit report`, Markdown for a CI job summary: per run, what
 * ran, what was denied (and what a dry run would have denied), and the hosts allowed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_cmd.h"
#include "audit_fmt.h"

/* A report lists at most this many rows per table; the rest are counted. */
#define REPORT_ROWS 100

static const char *
plural(int64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

struct report_table {
	const char *rt_title;
	int64_t     rt_rows;
};

static int
denied_row(sqlite3_stmt *st, void *arg)
{
	struct report_table *rt = arg;

	if (rt->rt_rows++ == 0)
		printf("\n#### %s\n\n| method | url | rule | count |\n| --- | --- | --- | ---: |\n",
		       rt->rt_title);
	if (rt->rt_rows > REPORT_ROWS)
		return 0;
	fputs("| ", stdout);
	md_cell(stdout, audit_col_str(st, 0) ? audit_col_str(st, 0) : "-", audit_col_str(st, 0) ?
	        (size_t)sqlite3_column_bytes(st, 0) : 1);
	fputs(" | ", stdout);
	if (audit_col_str(st, 1) != NULL)
		md_code(stdout, audit_col_str(st, 1), (size_t)sqlite3_column_bytes(st, 1), true);
	fputs(" | ", stdout);
	md_cell(stdout, audit_col_str(st, 2), (size_t)sqlite3_column_bytes(st, 2));
	printf(" | %lld |\n", (long long)sqlite3_column_int64(st, 3));
	return 0;
}

static int
allowed_host(const struct hostgroup *g, void *arg)
{
	struct report_table *rt = arg;

	if (rt->rt_rows++ == 0)
		printf("\n#### Allowed hosts\n\n| host | requests | methods |\n| --- | ---: | --- |\n");
	if (rt->rt_rows > REPORT_ROWS)
		return 0;
	fputs("| ", stdout);
	md_cell(stdout, g->hg_host ? g->hg_host : "-", g->hg_host ? strlen(g->hg_host) : 1);
	printf(" | %lld | ", (long long)(g->hg_allowed + g->hg_denied));
	md_cell(stdout, g->hg_methods ? g->hg_methods : "", g->hg_methods ? g->hg_mlen : 0);
	fputs(" |\n", stdout);
	return 0;
}

static void
report_more(const struct report_table *rt, int64_t run, const char *filter)
{
	if (rt->rt_rows > REPORT_ROWS)
		printf("\n%lld more not shown: httpjail audit --run %lld %s\n",
		       (long long)(rt->rt_rows - REPORT_ROWS), (long long)run, filter);
}

/* The first line: what ran, how it ended, how many decisions. */
static int
report_head(const struct audit_args *r, int64_t run)
{
	sqlite3_stmt *st = NULL;
	char *line = NULL;
	size_t n = 0;
	FILE *f;
	int rc;

	printf("### httpjail audit: run %lld\n\n", (long long)run);
	if (sqlite3_prepare_v2(r->aa_db, "SELECT command, mode, exit_code, dry_run FROM runs"
	                       " WHERE id = ?", -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, run);
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto fail;
	if ((f = open_memstream(&line, &n)) == NULL ||
	    argv_json(audit_col_str(st, 0), (size_t)sqlite3_column_bytes(st, 0), f) < 0) {
		if (f != NULL)
			fclose(f);
		free(line);
		line = audit_col_str(st, 0) ? strdup(audit_col_str(st, 0)) : NULL;
		n = line ? strlen(line) : 0;
	} else {
		fclose(f);
	}
	fputs("Command ", stdout);
	if (n > 0)
		md_code(stdout, line, n, false);
	else
		fputs("none", stdout);
	free(line);
	fputs(", mode ", stdout);
	md_cell(stdout, audit_col_str(st, 1) ? audit_col_str(st, 1) : "-",
	        audit_col_str(st, 1) ? (size_t)sqlite3_column_bytes(st, 1) : 1);
	if (sqlite3_column_type(st, 2) == SQLITE_NULL)
		fputs(", exit code none", stdout);
	else
		printf(", exit code %lld", (long long)sqlite3_column_int64(st, 2));
	printf(", dry run %s", sqlite3_column_int(st, 3) ? "yes" : "no");
	sqlite3_finalize(st);
	st = audit_select(r, "SELECT count(*), coalesce(sum(d.verdict = 'allow'), 0),"
	                  " coalesce(sum(d.verdict = 'deny'), 0), count(DISTINCT d.host)"
	                  " FROM decisions d", false, "");
	if (st == NULL)
		return -1;
	if ((rc = sqlite3_step(st)) != SQLITE_ROW)
		goto fail;
	printf(": %lld %s, %lld allowed, %lld denied, %lld %s.\n",
	       (long long)sqlite3_column_int64(st, 0),
	       plural(sqlite3_column_int64(st, 0), "decision", "decisions"),
	       (long long)sqlite3_column_int64(st, 1), (long long)sqlite3_column_int64(st, 2),
	       (long long)sqlite3_column_int64(st, 3),
	       plural(sqlite3_column_int64(st, 3), "host", "hosts"));
	sqlite3_finalize(st);
	return 0;
fail:
	cmd_error("audit: %s", sqlite3_errmsg(r->aa_db));
	sqlite3_finalize(st);
	return -1;
}

static int
report_run(const struct audit_args *a, int64_t run)
{
	static const char head[] =
		"SELECT coalesce(d.method, upper(d.kind)), coalesce(d.url, d.host),"
		" coalesce(d.rule_source, 'default'), count(*) FROM decisions d";
	static const char group[] = " GROUP BY 1, 2, 3 ORDER BY 4 DESC, 2, 1, 3";
	struct report_table denied = { "Denied", 0 }, dry = { "Would be denied (dry run)", 0 };
	struct report_table hosts = { NULL, 0 };
	struct audit_args r = *a;
	char tail[128];

	r.aa_runs[0] = run;
	r.aa_nruns = 1;
	if (report_head(&r, run) < 0)
		return -1;
	if (!a->aa_allowed) {
		r.aa_denied = true;
		snprintf(tail, sizeof(tail), " AND d.enforced <> 0%s", group);
		if (audit_step_all(r.aa_db, audit_select(&r, head, false, tail), denied_row, &denied) < 0)
			return -1;
		report_more(&denied, run, "--denied");
		snprintf(tail, sizeof(tail), " AND d.enforced = 0%s", group);
		if (audit_step_all(r.aa_db, audit_select(&r, head, false, tail), denied_row, &dry) < 0)
			return -1;
		report_more(&dry, run, "--denied");
		if (denied.rt_rows + dry.rt_rows == 0)
			printf("\nNothing was denied.\n");
		r.aa_denied = false;
	}
	if (!a->aa_denied) {
		r.aa_allowed = true;
		if (audit_host_groups(&r, allowed_host, &hosts) < 0)
			return -1;
		report_more(&hosts, run, "--allowed");
		if (hosts.rt_rows == 0)
			printf("\nNothing was allowed.\n");
	}
	return 0;
}

struct report_ctx {
	const struct audit_args *rc_args;
	int                      rc_n;
};

static int
report_each(sqlite3_stmt *st, void *arg)
{
	struct report_ctx *rc = arg;

	if (rc->rc_n++ > 0)
		putchar('\n');
	return report_run(rc->rc_args, sqlite3_column_int64(st, 0));
}

/* Markdown for a CI job summary: one section per run, oldest first. */
int
cmd_audit_report(const struct audit_args *a)
{
	struct report_ctx rc = { a, 0 };
	sqlite3_stmt *st = NULL;
	int r = 0;

	for (size_t i = 0; i < a->aa_nruns && r == 0; i++) {
		if (i > 0)
			putchar('\n');
		r = report_run(a, a->aa_runs[i]);
	}
	if (a->aa_nruns == 0) {
		if (sqlite3_prepare_v2(a->aa_db, "SELECT id FROM runs ORDER BY id", -1, &st,
		                       NULL) != SQLITE_OK)
			cmd_error("audit: %s", sqlite3_errmsg(a->aa_db));
		r = audit_step_all(a->aa_db, st, report_each, &rc);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cmd_error("audit: cannot write the output: %s", strerror(errno));
		return -1;
	}
	return r;
}
