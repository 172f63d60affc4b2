/* audit_cmd: what `httpjail audit`'s subcommands share (cmd/audit.c parses the
 * options and lists; cmd/audit_report.c reports; cmd/audit_suggest.c suggests and
 * replays). */
#ifndef HTTPJAIL_AUDIT_CMD_H
#define HTTPJAIL_AUDIT_CMD_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cmd.h"

enum audit_format { AF_TABLE, AF_JSON, AF_CSV, AF_MARKDOWN };

#define AUDIT_MAX_RUNS 64

struct audit_args {
	sqlite3          *aa_db;
	int64_t           aa_runs[AUDIT_MAX_RUNS];  /* resolved run ids ("last" too) */
	size_t            aa_nruns;                 /* 0: every run */
	bool              aa_denied, aa_allowed;
	const char       *aa_host;                  /* PCRE2 on the host; NULL: any */
	char              aa_since[40];             /* RFC 3339 lower bound; "": none */
	const char       *aa_kind;                  /* NULL: any */
	bool              aa_no_dns;                /* and with no --kind, no dns rows:
	                                               summaries count requests */
	int64_t           aa_after_id;              /* export --after-id; 0: none */
	enum audit_format aa_format;
	bool              aa_format_set;            /* --format was given */
	struct options    aa_policy;                /* replay: -c, -r, --sh */
};

/* The columns audit_each() selects, in this order (d is decisions). */
#define AUDIT_COLUMNS \
	"d.id, d.run_id, d.ts, d.kind, d.method, d.scheme, d.host, d.port, d.path, " \
	"d.query, d.url, d.verdict, d.enforced, d.rule_index, d.rule_source, d.rule_text, " \
	"d.engine, d.reason, d.hook_exit, d.decide_us, d.status, d.bytes_up, d.bytes_down, " \
	"d.requester, d.outcome"
enum {
	AC_ID, AC_RUN, AC_TS, AC_KIND, AC_METHOD, AC_SCHEME, AC_HOST, AC_PORT, AC_PATH,
	AC_QUERY, AC_URL, AC_VERDICT, AC_ENFORCED, AC_RULE_INDEX, AC_RULE_SOURCE,
	AC_RULE_TEXT, AC_ENGINE, AC_REASON, AC_HOOK_EXIT, AC_DECIDE_US, AC_STATUS,
	AC_BYTES_UP, AC_BYTES_DOWN, AC_REQUESTER, AC_OUTCOME,
};

/*
 * HEAD, then " WHERE" and the terms ARGS select, then TAIL, prepared and bound. RUNS:
 * the query is on runs r (--run and --since), not on decisions d. NULL after printing
 * the error.
 */
sqlite3_stmt *audit_select(const struct audit_args *, const char *head, bool runs,
                           const char *tail);
/* Steps ST (finalizing it) and calls ROW on each row until ROW returns nonzero; 0, or -1
 * after a failure (a negative ROW has printed its own). */
int audit_step_all(sqlite3 *db, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *),
                   void *arg);
/* Column I as text, NULL for NULL; valid until the next step. */
const char *audit_col_str(sqlite3_stmt *st, int i);

/* One host's decisions, gathered from rows ordered by host, then method. */
struct hostgroup {
	bool     hg_open;
	char    *hg_host;     /* NULL: decisions without a host */
	int64_t  hg_allowed, hg_denied;
	char    *hg_methods;  /* distinct, sorted, comma-separated */
	size_t   hg_mlen;
	FILE    *hg_mf;
	char    *hg_first, *hg_last;
	int    (*hg_each)(const struct hostgroup *, void *);
	void    *hg_arg;
};
/* Calls EACH once per host of the decisions A selects, in host order; the group is
 * freed after EACH returns. 0, or -1 after printing the error. */
int audit_host_groups(const struct audit_args *,
                      int (*each)(const struct hostgroup *, void *), void *arg);

/*
 * Calls ROW once per decision that ARGS selects (runs, --denied/--allowed, --host,
 * --since, --kind, --after-id), in id order, with ST on the row. ROW returns 0 to go
 * on. Returns 0, or -1 after printing the error.
 */
int audit_each(const struct audit_args *, int (*row)(sqlite3_stmt *st, void *arg),
               void *arg);

/* Opens the audit database of a run (--audit-db, audit.db of the policy, or the
 * default) and adds the run's row; NULL with ERR on failure. */
struct audit *cmd_audit_begin(const struct options *, const struct policy *,
                              struct errbuf *err);
/* Notes in AU that PO replaced the policy in force, with its digest. */
void cmd_audit_reload(struct audit *au, const struct policy *po);

int cmd_audit(int argc, char **argv);
int cmd_audit_suggest(const struct audit_args *);
int cmd_audit_replay(const struct audit_args *);
int cmd_audit_report(const struct audit_args *);

#endif
