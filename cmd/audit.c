/* audit: `httpjail audit`: its options, and what it lists (decisions, runs, summary,
 * export). report is in audit_report.c, suggest and replay in audit_suggest.c. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "audit_cmd.h"
#include "audit_fmt.h"
#include "regex.h"
#include "suggest.h"

/* "Nothing to show": the database has no runs, or not the one asked for. */
#define EXIT_NOTHING 1

enum sub { SUB_LIST, SUB_RUNS, SUB_SUMMARY, SUB_SUGGEST, SUB_REPLAY, SUB_REPORT, SUB_EXPORT };
static const char *const sub_names[] = {
	"list", "runs", "summary", "suggest", "replay", "report", "export",
};
#define NSUBS (sizeof(sub_names) / sizeof(sub_names[0]))

static const char *const kinds[] = { "http", "https", "connect", "tcp", "dns" };
static const char *const formats[] = { "table", "json", "csv", "markdown" };

enum {
	OPT_DB = 256,
	OPT_RUN,
	OPT_DENIED,
	OPT_ALLOWED,
	OPT_HOST,
	OPT_SINCE,
	OPT_KIND,
	OPT_AFTER_ID,
	OPT_FORMAT,
	OPT_SH,
};

static const struct option longopts[] = {
	{ "audit-db", required_argument, NULL, OPT_DB },
	{ "db",       required_argument, NULL, OPT_DB },
	{ "run",      required_argument, NULL, OPT_RUN },
	{ "denied",   no_argument,       NULL, OPT_DENIED },
	{ "allowed",  no_argument,       NULL, OPT_ALLOWED },
	{ "host",     required_argument, NULL, OPT_HOST },
	{ "since",    required_argument, NULL, OPT_SINCE },
	{ "kind",     required_argument, NULL, OPT_KIND },
	{ "after-id", required_argument, NULL, OPT_AFTER_ID },
	{ "format",   required_argument, NULL, OPT_FORMAT },
	{ "config",   required_argument, NULL, 'c' },
	{ "rule",     required_argument, NULL, 'r' },
	{ "sh",       required_argument, NULL, OPT_SH },
	{ "help",     no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
	"usage: httpjail audit [SUBCOMMAND] [OPTIONS]\n"
	"\n"
	"  (none) or list   one line per decision\n"
	"  runs             one line per run\n"
	"  summary          per host: allowed, denied, methods, first and last seen\n"
	"  suggest          a YAML policy that allows what was seen\n"
	"  replay -c FILE [-r RULE] [--sh CMD]  decide the recorded requests again, print what changes\n"
	"  report           Markdown for a CI job summary ($GITHUB_STEP_SUMMARY)\n"
	"  export           JSON lines, one per decision, for log shippers\n"
	"\n"
	"      --audit-db PATH      the database (default $HTTPJAIL_AUDIT_DB, else\n"
	"                           ~/.local/state/httpjail/audit.db); also --db\n"
	"      --run ID|last|all    which runs (repeatable; default last; all for runs, export,\n"
	"                           --since and --after-id)\n"
	"      --denied, --allowed  only denied, or only allowed, decisions\n"
	"      --host REGEX         only hosts REGEX finds (PCRE2, unanchored)\n"
	"      --since WHEN         only since 30s, 30m, 2h, 7d or 1w ago, or an RFC 3339 time\n"
	"                           (2026-11-23T10:00:00Z; UTC when it has no offset)\n"
	"      --kind KIND          only http, https, connect, tcp or dns\n"
	"      --after-id N         only decisions after id N\n"
	"      --format FORMAT      table (default on a terminal), json (default otherwise) or\n"
	"                           csv; report writes markdown, export JSON lines\n"
	"  -h, --help               this help\n"
	"\n"
	"Exit status: 0, 1 when there is no such run, 2 for a usage error, 125 when the\n"
	"database cannot be read.\n";

/* What the command line asked for, before the database is open. */
struct request_args {
	const char *ra_db;
	const char *ra_runs[AUDIT_MAX_RUNS];
	size_t      ra_nruns;
	enum sub    ra_sub;
	bool        ra_help;
};

/* The column names of AUDIT_COLUMNS, without "d.". */
static const char *col_names[AC_OUTCOME + 1];
static char col_text[sizeof(AUDIT_COLUMNS)];

static void
col_names_init(void)
{
	char *save = NULL, *w;
	size_t n = 0;

	memcpy(col_text, AUDIT_COLUMNS, sizeof(col_text));
	for (w = strtok_r(col_text, ", ", &save); w != NULL && n <= AC_OUTCOME;
	     w = strtok_r(NULL, ", ", &save))
		col_names[n++] = strncmp(w, "d.", 2) == 0 ? w + 2 : w;
}

/* WORD is one of the N names in LIST: its index, else -1 after a usage error. */
static int
one_of(const char *what, const char *word, const char *const *list, size_t n)
{
	const char *hint;
	char all[128] = "";

	for (size_t i = 0; i < n; i++)
		if (strcmp(word, list[i]) == 0)
			return (int)i;
	if ((hint = suggest_closest(slice_cstr(word), list, n)) != NULL) {
		cmd_error("audit: %s '%s': did you mean '%s'?", what, word, hint);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		strncat(all, i == 0 ? "" : i + 1 == n ? " or " : ", ", sizeof(all) - strlen(all) - 1);
		strncat(all, list[i], sizeof(all) - strlen(all) - 1);
	}
	cmd_error("audit: %s '%s': expected %s", what, word, all);
	return -1;
}

/* Exactly N digits at *P, moved past them. */
static int
digits(const char **p, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++, (*p)++) {
		if (!isdigit((unsigned char)**p))
			return -1;
		*v = *v * 10 + (**p - '0');
	}
	return 0;
}

static void
since_format(time_t t, long ms, char out[40])
{
	struct tm tm;
	size_t n;

	if (t < 0)
		t = 0, ms = 0;
	gmtime_r(&t, &tm);
	n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 40 - n, ".%03dZ", (int)(ms % 1000));
}

/* "30m" ago, as the ts column writes times; -1 when S is not N s|m|h|d|w. */
static int
since_duration(const char *s, char out[40])
{
	static const char units[] = "smhdw";
	static const long long secs[] = { 1, 60, 3600, 86400, 604800 };
	struct timespec now;
	unsigned long long n;
	const char *u;
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno != 0 || end[0] == '\0' || end[1] != '\0' ||
	    (u = strchr(units, end[0])) == NULL)
		return -1;
	clock_gettime(CLOCK_REALTIME, &now);
	/* Longer ago than 1970 is everything. */
	if (n > (unsigned long long)now.tv_sec / (unsigned long long)secs[u - units])
		since_format(0, 0, out);
	else
		since_format(now.tv_sec - (time_t)(n * (unsigned long long)secs[u - units]),
		             now.tv_nsec / 1000000, out);
	return 0;
}

/* YYYY-MM-DD[THH:MM[:SS[.FRAC]]][Z|+HH:MM|-HH:MM]; no zone is UTC. */
static int
since_time(const char *s, char out[40])
{
	struct tm tm = { 0 }, check;
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, sign = 0;
	long ms = 0;
	time_t t;

	if (digits(&s, 4, &y) < 0 || *s++ != '-' || digits(&s, 2, &mo) < 0 || *s++ != '-' ||
	    digits(&s, 2, &d) < 0)
		return -1;
	if (*s == 'T' || *s == 't' || *s == ' ') {
		s++;
		if (digits(&s, 2, &h) < 0 || *s++ != ':' || digits(&s, 2, &mi) < 0)
			return -1;
		if (*s == ':' && (s++, digits(&s, 2, &sec) < 0))
			return -1;
		if (*s == '.') {
			int i = 0;

			if (!isdigit((unsigned char)*++s))
				return -1;
			/* Milliseconds, as the ts column has them: ".5" is 500, ".1234" 123. */
			for (; isdigit((unsigned char)*s); s++, i++)
				if (i < 3)
					ms = ms * 10 + (*s - '0');
			for (; i < 3; i++)
				ms *= 10;
		}
		if (*s == 'Z' || *s == 'z') {
			s++;
		} else if (*s == '+' || *s == '-') {
			sign = *s++ == '+' ? 1 : -1;
			if (digits(&s, 2, &oh) < 0 || *s++ != ':' || digits(&s, 2, &om) < 0 ||
			    oh > 23 || om > 59)
				return -1;
		}
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	/* timegm() takes February 30 for March 2: a date that moved was not a date. */
	if (gmtime_r(&(time_t){ t - (sec == 60) }, &check) == NULL || check.tm_mday != d)
		return -1;
	since_format(t - sign * (oh * 3600 + om * 60), ms, out);
	return 0;
}

static int
parse_since(const char *s, char out[40])
{
	if (since_duration(s, out) == 0 || since_time(s, out) == 0)
		return 0;
	cmd_error("audit: --since '%s': expected a duration (30s, 30m, 2h, 7d, 1w) or an"
	          " RFC 3339 time (2026-11-23T10:00:00Z)", s);
	return -1;
}

static int
parse_option(int ch, struct audit_args *a, struct request_args *ra)
{
	struct options *po = &a->aa_policy;
	struct errbuf err;
	struct regex *re;
	size_t off;
	char *end;
	int i;

	switch (ch) {
	case OPT_DB:
		ra->ra_db = optarg;
		break;
	case OPT_RUN:
		if (ra->ra_nruns == AUDIT_MAX_RUNS) {
			cmd_error("audit: --run: at most %d runs", AUDIT_MAX_RUNS);
			return EXIT_USAGE;
		}
		errno = 0;
		if (strcmp(optarg, "last") != 0 && strcmp(optarg, "all") != 0 &&
		    (!isdigit((unsigned char)optarg[0]) || strtoll(optarg, &end, 10) <= 0 ||
		     *end != '\0' || errno != 0)) {
			cmd_error("audit: --run '%s': expected a run id, last or all", optarg);
			return EXIT_USAGE;
		}
		ra->ra_runs[ra->ra_nruns++] = optarg;
		break;
	case OPT_DENIED:
		a->aa_denied = true;
		break;
	case OPT_ALLOWED:
		a->aa_allowed = true;
		break;
	case OPT_HOST:
		/* Checked here, so that a typo is a usage error and not a failed query. */
		if ((re = regex_new(optarg, &off, &err)) == NULL) {
			cmd_error("audit: --host '%s': %s", optarg, err.msg);
			return EXIT_USAGE;
		}
		regex_free(re);
		a->aa_host = optarg;
		break;
	case OPT_SINCE:
		if (parse_since(optarg, a->aa_since) < 0)
			return EXIT_USAGE;
		break;
	case OPT_KIND:
		if ((i = one_of("--kind", optarg, kinds, 5)) < 0)
			return EXIT_USAGE;
		a->aa_kind = kinds[i];
		break;
	case OPT_AFTER_ID:
		errno = 0;
		if (!isdigit((unsigned char)optarg[0]) ||
		    (a->aa_after_id = strtoll(optarg, &end, 10)) < 0 || *end != '\0' ||
		    errno != 0) {
			cmd_error("audit: --after-id '%s': expected a decision id", optarg);
			return EXIT_USAGE;
		}
		break;
	case OPT_FORMAT:
		if ((i = one_of("--format", optarg, formats, 4)) < 0)
			return EXIT_USAGE;
		a->aa_format = (enum audit_format)i;
		a->aa_format_set = true;
		break;
	case 'c':
		return cmd_push(&po->op_files, &po->op_nfiles, optarg) < 0 ? EXIT_INTERNAL : 0;
	case 'r':
		return cmd_push(&po->op_rules, &po->op_nrules, optarg) < 0 ? EXIT_INTERNAL : 0;
	case OPT_SH:
		return cmd_push(&po->op_sh, &po->op_nsh, optarg) < 0 ? EXIT_INTERNAL : 0;
	case 'h':
		ra->ra_help = true;
		break;
	}
	return 0;
}

/* The subcommand: the first word that is not an option, and the only one. */
static int
parse_word(const char *word, struct request_args *ra, bool *seen)
{
	int i;

	if (*seen) {
		cmd_error("audit %s: unexpected argument '%s' (see httpjail audit --help)",
		          sub_names[ra->ra_sub], word);
		return EXIT_USAGE;
	}
	if ((i = one_of("subcommand", word, sub_names, NSUBS)) < 0)
		return EXIT_USAGE;
	ra->ra_sub = (enum sub)i;
	*seen = true;
	return 0;
}

/* Options go before or after the subcommand; "-" in the option string hands the words
 * over in order, whatever POSIXLY_CORRECT says. */
static int
parse(int argc, char **argv, struct audit_args *a, struct request_args *ra)
{
	const struct options *po = &a->aa_policy;
	bool policy, seen = false;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "-:c:r:h", longopts, NULL)) != -1) {
		if (ch == 1) {
			if ((rc = parse_word(optarg, ra, &seen)) != 0)
				return rc;
			continue;
		}
		if (ch == ':') {
			cmd_error("audit: %s: missing argument (see httpjail audit --help)",
			          argv[optind - 1]);
			return EXIT_USAGE;
		}
		if (ch == '?') {
			if (optopt != 0)
				cmd_error("audit: -%c: unknown option (see httpjail audit --help)", optopt);
			else
				cmd_error("audit: %s: unknown option (see httpjail audit --help)",
				          argv[optind - 1]);
			return EXIT_USAGE;
		}
		if ((rc = parse_option(ch, a, ra)) != 0)
			return rc;
	}
	for (; optind < argc; optind++)  /* after "--" */
		if ((rc = parse_word(argv[optind], ra, &seen)) != 0)
			return rc;
	if (ra->ra_help)
		return 0;
	policy = po->op_nfiles + po->op_nrules + po->op_nsh > 0;
	if (a->aa_denied && a->aa_allowed) {
		cmd_error("audit: --denied and --allowed exclude each other");
		return EXIT_USAGE;
	}
	if (ra->ra_sub == SUB_RUNS && (a->aa_denied || a->aa_allowed || a->aa_host != NULL ||
	                               a->aa_kind != NULL || a->aa_after_id > 0)) {
		cmd_error("audit runs: --denied, --allowed, --host, --kind and --after-id select"
		          " decisions; runs takes --run and --since");
		return EXIT_USAGE;
	}
	if (policy != (ra->ra_sub == SUB_REPLAY)) {
		cmd_error(policy ? "audit: -c, -r and --sh go with replay" :
		          "audit replay: which policy? (-c FILE, -r RULE or --sh CMD)");
		return EXIT_USAGE;
	}
	if (!a->aa_format_set)
		a->aa_format = ra->ra_sub == SUB_REPORT ? AF_MARKDOWN :
		               isatty(STDOUT_FILENO) ? AF_TABLE : AF_JSON;
	if (ra->ra_sub == SUB_REPORT && a->aa_format != AF_MARKDOWN) {
		cmd_error("audit report: --format: only markdown");
		return EXIT_USAGE;
	}
	if (a->aa_format_set && (ra->ra_sub == SUB_SUGGEST || ra->ra_sub == SUB_EXPORT)) {
		cmd_error(ra->ra_sub == SUB_SUGGEST ? "audit suggest: writes YAML; no --format" :
		          "audit export: writes JSON lines; no --format");
		return EXIT_USAGE;
	}
	if (ra->ra_sub != SUB_REPORT && a->aa_format == AF_MARKDOWN) {
		cmd_error("audit: --format markdown goes with report");
		return EXIT_USAGE;
	}
	return 0;
}

/* The one number SQL selects into *V, with ARG bound to its parameter if it has one:
 * 1, 0 when there is none (or it is NULL), -1 after printing the error. */
static int
query_int(sqlite3 *db, const char *sql, int64_t arg, int64_t *v)
{
	sqlite3_stmt *st;
	int rc, found = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		cmd_error("audit: %s", sqlite3_errmsg(db));
		return -1;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, arg);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
		*v = sqlite3_column_int64(st, 0);
		found = 1;
	} else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cmd_error("audit: %s", sqlite3_errmsg(db));
		found = -1;
	}
	sqlite3_finalize(st);
	return found;
}

/* --run values to ids: "last" is the newest, "all" no filter. Without --run: all for
 * runs and export, and when --since or --after-id already says which (the last hour
 * means every run in it); else the last run. */
static int
resolve_runs(struct audit_args *a, const struct request_args *ra, const char *path)
{
	static const char *const dflt[] = { "last" };
	bool all = ra->ra_nruns == 0 && (ra->ra_sub == SUB_RUNS || ra->ra_sub == SUB_EXPORT ||
	                                 a->aa_since[0] != '\0' || a->aa_after_id > 0);
	size_t n = ra->ra_nruns;
	const char *const *runs = n > 0 ? ra->ra_runs : dflt;

	for (size_t i = 0; i < n; i++)
		all = all || strcmp(runs[i], "all") == 0;
	if (all)
		return 0;
	for (size_t i = 0; i < (n > 0 ? n : 1); i++) {
		bool last = strcmp(runs[i], "last") == 0;
		int64_t id = last ? 0 : strtoll(runs[i], NULL, 10);
		int found = last ? query_int(a->aa_db, "SELECT max(id) FROM runs", 0, &id) :
		            query_int(a->aa_db, "SELECT id FROM runs WHERE id = ?", id, &id);
		bool dup = false;

		if (found < 0)
			return EXIT_INTERNAL;
		if (found == 0) {
			if (last)
				cmd_error("audit: %s has no runs yet", path);
			else
				cmd_error("audit: no run %lld in %s", (long long)id, path);
			return EXIT_NOTHING;
		}
		for (size_t j = 0; j < a->aa_nruns; j++)
			dup = dup || a->aa_runs[j] == id;
		if (!dup)
			a->aa_runs[a->aa_nruns++] = id;
	}
	return 0;
}

sqlite3_stmt *
audit_select(const struct audit_args *a, const char *head, bool runs, const char *tail)
{
	sqlite3_str *sb = sqlite3_str_new(a->aa_db);
	const char *verdict = a->aa_denied ? "deny" : a->aa_allowed ? "allow" : NULL;
	sqlite3_stmt *st = NULL;
	char *sql;
	int i = 1;

	sqlite3_str_appendf(sb, "%s WHERE 1", head);
	if (a->aa_nruns > 0) {
		sqlite3_str_appendf(sb, " AND %s IN (?", runs ? "r.id" : "d.run_id");
		for (size_t r = 1; r < a->aa_nruns; r++)
			sqlite3_str_appendall(sb, ",?");
		sqlite3_str_appendall(sb, ")");
	}
	if (verdict != NULL)
		sqlite3_str_appendall(sb, " AND d.verdict = ?");
	if (a->aa_host != NULL)
		sqlite3_str_appendall(sb, " AND d.host REGEXP ?");
	if (a->aa_since[0] != '\0')
		sqlite3_str_appendf(sb, " AND %s >= ?", runs ? "r.started_at" : "d.ts");
	if (a->aa_kind != NULL)
		sqlite3_str_appendall(sb, " AND d.kind = ?");
	else if (a->aa_no_dns && !runs)
		sqlite3_str_appendall(sb, " AND d.kind <> 'dns'");
	if (a->aa_after_id > 0)
		sqlite3_str_appendall(sb, " AND d.id > ?");
	sqlite3_str_appendall(sb, tail);
	if ((sql = sqlite3_str_finish(sb)) == NULL) {
		cmd_error("out of memory");
		return NULL;
	}
	if (sqlite3_prepare_v2(a->aa_db, sql, -1, &st, NULL) != SQLITE_OK) {
		cmd_error("audit: %s", sqlite3_errmsg(a->aa_db));
		sqlite3_free(sql);
		return NULL;
	}
	sqlite3_free(sql);
	for (size_t r = 0; r < a->aa_nruns; r++)
		sqlite3_bind_int64(st, i++, a->aa_runs[r]);
	if (verdict != NULL)
		sqlite3_bind_text(st, i++, verdict, -1, SQLITE_STATIC);
	if (a->aa_host != NULL)
		sqlite3_bind_text(st, i++, a->aa_host, -1, SQLITE_STATIC);
	if (a->aa_since[0] != '\0')
		sqlite3_bind_text(st, i++, a->aa_since, -1, SQLITE_STATIC);
	if (a->aa_kind != NULL)
		sqlite3_bind_text(st, i++, a->aa_kind, -1, SQLITE_STATIC);
	if (a->aa_after_id > 0)
		sqlite3_bind_int64(st, i++, a->aa_after_id);
	return st;
}

int
audit_step_all(sqlite3 *db, sqlite3_stmt *st, int (*row)(sqlite3_stmt *, void *), void *arg)
{
	int rc, r = 0;

	if (st == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && (r = row(st, arg)) == 0)
		;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		cmd_error("audit: %s", sqlite3_errmsg(db));
		r = -1;
	}
	sqlite3_finalize(st);
	return r < 0 ? -1 : 0;
}

int
audit_each(const struct audit_args *a, int (*row)(sqlite3_stmt *, void *), void *arg)
{
	return audit_step_all(a->aa_db, audit_select(a, "SELECT " AUDIT_COLUMNS
	                      " FROM decisions d", false, " ORDER BY d.id"), row, arg);
}

/* Column I as a cell; valid until the next step. */
static struct cell
col(sqlite3_stmt *st, int i)
{
	enum cell_type t;
	const char *s;

	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return (struct cell){ CELL_NULL, NULL, 0 };
	case SQLITE_INTEGER:
		t = CELL_NUM;
		break;
	case SQLITE_FLOAT:
		t = isfinite(sqlite3_column_double(st, i)) ? CELL_NUM : CELL_TEXT;
		break;
	default:
		t = CELL_TEXT;
	}
	if ((s = (const char *)sqlite3_column_text(st, i)) == NULL)
		return (struct cell){ CELL_NULL, NULL, 0 };
	return (struct cell){ t, s, (size_t)sqlite3_column_bytes(st, i) };
}

const char *
audit_col_str(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static enum out_style
style_of(enum audit_format f)
{
	return f == AF_TABLE ? OUT_TABLE : f == AF_CSV ? OUT_CSV : OUT_JSON;
}

static int
finish(struct out *o)
{
	if (out_end(o) == 0)
		return 0;
	cmd_error("audit: cannot write the output: %s", strerror(errno));
	return -1;
}

struct list_ctx {
	struct out *lc_out;
	bool        lc_table;
};

static int
list_row(sqlite3_stmt *st, void *arg)
{
	struct list_ctx *lc = arg;
	struct cell c[AC_OUTCOME + 1];
	const char *verdict = audit_col_str(st, AC_VERDICT);
	const char *rule = audit_col_str(st, AC_RULE_SOURCE);
	char *vtext = NULL, *where = NULL;

	if (!lc->lc_table) {
		for (int i = 0; i <= AC_OUTCOME; i++)
			c[i] = col(st, i);
		out_row(lc->lc_out, c);
		return 0;
	}
	/* A table is for reading: the columns that say what happened, in words. */
	if (sqlite3_column_int(st, AC_ENFORCED) == 0 &&
	    asprintf(&vtext, "%s (not enforced)", verdict ? verdict : "-") < 0)
		vtext = NULL;
	if (audit_col_str(st, AC_URL) == NULL && audit_col_str(st, AC_HOST) != NULL &&
	    asprintf(&where, sqlite3_column_type(st, AC_PORT) == SQLITE_NULL ? "%s" : "%s:%d",
	             audit_col_str(st, AC_HOST), sqlite3_column_int(st, AC_PORT)) < 0)
		where = NULL;
	c[0] = col(st, AC_ID);
	c[1] = col(st, AC_TS);
	c[2] = col(st, AC_RUN);
	c[3] = col(st, AC_KIND);
	c[4] = vtext ? cell_str(vtext) : col(st, AC_VERDICT);
	c[5] = col(st, AC_METHOD);
	c[6] = where ? cell_str(where) : col(st, AC_URL);
	/* The DNS stub answers every name: no rule decided a query. */
	c[7] = rule ? cell_str(rule) : strcmp(audit_col_str(st, AC_KIND), "dns") == 0 ?
	       (struct cell){ CELL_NULL, NULL, 0 } : cell_str("default");
	c[8] = col(st, AC_STATUS);
	c[9] = col(st, AC_REASON);
	out_row(lc->lc_out, c);
	free(vtext);
	free(where);
	return 0;
}

static int
list(const struct audit_args *a)
{
	static const char *const names[] = {
		"id", "ts", "run", "kind", "verdict", "method", "url", "rule", "status", "reason",
	};
	struct list_ctx lc = { .lc_table = a->aa_format == AF_TABLE };
	int rc;

	lc.lc_out = lc.lc_table ? out_new(OUT_TABLE, names, 10) :
	            out_new(style_of(a->aa_format), col_names, AC_OUTCOME + 1);
	if (lc.lc_out == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = audit_each(a, list_row, &lc);
	return finish(lc.lc_out) < 0 ? -1 : rc;
}

static int
export_row(sqlite3_stmt *st, void *arg)
{
	struct cell c[AC_OUTCOME + 1];

	for (int i = 0; i <= AC_OUTCOME; i++)
		c[i] = col(st, i);
	out_row(arg, c);
	return 0;
}

static int
export(const struct audit_args *a)
{
	struct out *o = out_new(OUT_JSONL, col_names, AC_OUTCOME + 1);
	int rc;

	if (o == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = audit_each(a, export_row, o);
	return finish(o) < 0 ? -1 : rc;
}

static int
runs_row(sqlite3_stmt *st, void *arg)
{
	struct list_ctx *lc = arg;
	struct cell c[8];
	char *line = NULL;
	size_t n = 0;
	FILE *f;

	for (int i = 0; i < 8; i++)
		c[i] = col(st, i);
	/* The command is a JSON array: a shell line to read, an array in JSON. */
	if (lc->lc_table && c[7].c_type == CELL_TEXT && (f = open_memstream(&line, &n)) != NULL) {
		int ok = argv_json(c[7].c_s, c[7].c_len, f);

		fclose(f);
		if (ok == 0 && line != NULL)
			c[7] = (struct cell){ CELL_TEXT, line, n };
	} else if (!lc->lc_table && c[7].c_type == CELL_TEXT &&
	           argv_json(c[7].c_s, c[7].c_len, NULL) == 0) {
		c[7].c_type = CELL_JSON;
	}
	out_row(lc->lc_out, c);
	free(line);
	return 0;
}

static int
runs(const struct audit_args *a)
{
	static const char *const names[] = {
		"id", "started_at", "ended_at", "mode", "exit_code", "decisions", "denied",
		"command",
	};
	struct list_ctx lc = { .lc_table = a->aa_format == AF_TABLE };
	int rc;

	if ((lc.lc_out = out_new(style_of(a->aa_format), names, 8)) == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = audit_step_all(a->aa_db, audit_select(a,
		"SELECT r.id, r.started_at, r.ended_at, r.mode, r.exit_code, count(d.id),"
		" coalesce(sum(d.verdict = 'deny'), 0), r.command"
		" FROM runs r LEFT JOIN decisions d ON d.run_id = r.id", true,
		" GROUP BY r.id ORDER BY r.id"), runs_row, &lc);
	return finish(lc.lc_out) < 0 ? -1 : rc;
}


static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Hands the open group to its caller and closes it. */
static int
host_flush(struct hostgroup *g)
{
	int rc = 0;

	if (!g->hg_open)
		return 0;
	if (g->hg_mf != NULL)
		fclose(g->hg_mf);
	g->hg_mf = NULL;
	rc = g->hg_each(g, g->hg_arg);
	free(g->hg_host);
	free(g->hg_methods);
	free(g->hg_first);
	free(g->hg_last);
	g->hg_host = g->hg_methods = g->hg_first = g->hg_last = NULL;
	g->hg_open = false;
	return rc;
}

static int
host_row(sqlite3_stmt *st, void *arg)
{
	struct hostgroup *g = arg;
	const char *host = audit_col_str(st, 0), *method = audit_col_str(st, 1);
	const char *first = audit_col_str(st, 4), *last = audit_col_str(st, 5);
	int rc;

	if (g->hg_open && (host == NULL ? g->hg_host != NULL :
	                   g->hg_host == NULL || strcmp(host, g->hg_host) != 0) &&
	    (rc = host_flush(g)) != 0)
		return rc;
	if (!g->hg_open) {
		g->hg_open = true;
		g->hg_host = dup_or_null(host);
		g->hg_allowed = g->hg_denied = 0;
		g->hg_mf = open_memstream(&g->hg_methods, &g->hg_mlen);
		if ((host != NULL && g->hg_host == NULL) || g->hg_mf == NULL) {
			cmd_error("out of memory");
			return -1;
		}
	}
	g->hg_allowed += sqlite3_column_int64(st, 2);
	g->hg_denied += sqlite3_column_int64(st, 3);
	if (method != NULL) {
		if (ftell(g->hg_mf) > 0)
			fputc(',', g->hg_mf);
		fputs(method, g->hg_mf);
	}
	if (first != NULL && (g->hg_first == NULL || strcmp(first, g->hg_first) < 0)) {
		free(g->hg_first);
		g->hg_first = strdup(first);
	}
	if (last != NULL && (g->hg_last == NULL || strcmp(last, g->hg_last) > 0)) {
		free(g->hg_last);
		g->hg_last = strdup(last);
	}
	return 0;
}

int
audit_host_groups(const struct audit_args *a, int (*each)(const struct hostgroup *, void *),
            void *arg)
{
	struct hostgroup g = { .hg_each = each, .hg_arg = arg };
	int rc;

	rc = audit_step_all(a->aa_db, audit_select(a,
		"SELECT d.host, d.method, coalesce(sum(d.verdict = 'allow'), 0),"
		" coalesce(sum(d.verdict = 'deny'), 0), min(d.ts), max(d.ts) FROM decisions d",
		false, " GROUP BY d.host, d.method ORDER BY d.host, d.method"), host_row, &g);
	if (rc == 0)
		rc = host_flush(&g);
	g.hg_each = NULL;
	if (g.hg_open) {
		if (g.hg_mf != NULL)
			fclose(g.hg_mf);
		free(g.hg_host);
		free(g.hg_methods);
		free(g.hg_first);
		free(g.hg_last);
	}
	return rc < 0 ? -1 : 0;
}

static int
summary_host(const struct hostgroup *g, void *arg)
{
	char allowed[24], denied[24];
	struct cell c[6];

	snprintf(allowed, sizeof(allowed), "%lld", (long long)g->hg_allowed);
	snprintf(denied, sizeof(denied), "%lld", (long long)g->hg_denied);
	c[0] = cell_str(g->hg_host);
	c[1] = (struct cell){ CELL_NUM, allowed, strlen(allowed) };
	c[2] = (struct cell){ CELL_NUM, denied, strlen(denied) };
	c[3] = (struct cell){ CELL_TEXT, g->hg_methods ? g->hg_methods : "", g->hg_mlen };
	c[4] = cell_str(g->hg_first);
	c[5] = cell_str(g->hg_last);
	out_row(arg, c);
	return 0;
}

static int
summary(const struct audit_args *a)
{
	static const char *const names[] = {
		"host", "allowed", "denied", "methods", "first_seen", "last_seen",
	};
	struct out *o = out_new(style_of(a->aa_format), names, 6);
	int rc;

	if (o == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = audit_host_groups(a, summary_host, o);
	return finish(o) < 0 ? -1 : rc;
}

int
cmd_audit(int argc, char **argv)
{
	struct audit_args a = { 0 };
	struct request_args ra = { .ra_sub = SUB_LIST };
	struct errbuf err = { "" };
	const char *path = NULL;
	char defpath[4096];
	uid_t uid;
	gid_t gid;
	int rc;

	col_names_init();
	if ((rc = parse(argc, argv, &a, &ra)) != 0)
		goto out;
	if (ra.ra_help) {
		fputs(usage_text, stdout);
		goto out;
	}
	path = ra.ra_db;
	if (path == NULL) {
		/* Under sudo, the database of the user who ran sudo, as a run would write it. */
		cmd_invoker(&uid, &gid);
		if (audit_default_path(uid, defpath, sizeof(defpath), &err) < 0) {
			cmd_error("%s", err.msg);
			rc = EXIT_INTERNAL;
			goto out;
		}
		path = defpath;
	}
	if ((a.aa_db = audit_open_db(path, &err)) == NULL) {
		cmd_error("%s", err.msg);
		rc = EXIT_INTERNAL;
		goto out;
	}
	if ((rc = resolve_runs(&a, &ra, path)) != 0)
		goto out;
	switch (ra.ra_sub) {
	case SUB_LIST:
		rc = list(&a);
		break;
	case SUB_RUNS:
		rc = runs(&a);
		break;
	case SUB_SUMMARY:
		a.aa_no_dns = true;
		rc = summary(&a);
		break;
	case SUB_REPORT:
		a.aa_no_dns = true;
		rc = cmd_audit_report(&a);
		break;
	case SUB_EXPORT:
		rc = export(&a);
		break;
	case SUB_SUGGEST:
		rc = cmd_audit_suggest(&a);
		goto out;
	case SUB_REPLAY:
		rc = cmd_audit_replay(&a);
		goto out;
	}
	rc = rc < 0 ? EXIT_INTERNAL : 0;
out:
	sqlite3_close(a.aa_db);
	free(a.aa_policy.op_files);
	free(a.aa_policy.op_rules);
	free(a.aa_policy.op_sh);
	return rc;
}
