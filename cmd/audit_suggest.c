/* audit_suggest: `httpjail audit suggest` (a policy allowing what runs reached) and
 * `httpjail audit replay` (recorded requests decided again by another policy). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "audit_cmd.h"
#include "audit_fmt.h"
#include "hook.h"

#define EXACT_MAX  3    /* a host with this few paths gets them one by one */
#define GROUPS_MAX 10   /* more first segments than this: the whole host */

/* One request seen: where it went and how. */
struct seen {
	char   *s_origin;   /* "https://host[:port]" or "tcp://host:port" */
	char   *s_path;     /* without the query; "" for connect and tcp */
	char   *s_method;   /* upper case */
	bool    s_whole;    /* connect or tcp: the origin is all there is */
	bool    s_would_deny;
};

struct suggest {
	struct seen *sg_v;
	size_t       sg_n, sg_cap;
	size_t       sg_rows, sg_blocked;
	char        *sg_blocked_hosts;   /* "a.test, b.test" (first few) */
	size_t       sg_nblocked_hosts;
	bool         sg_oom;
};

static char *
dup_col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return strdup(s ? s : "");
}

static int
suggest_row(sqlite3_stmt *st, void *arg)
{
	struct suggest *sg = arg;
	const char *kind = (const char *)sqlite3_column_text(st, AC_KIND);
	const char *verdict = (const char *)sqlite3_column_text(st, AC_VERDICT);
	const char *scheme = (const char *)sqlite3_column_text(st, AC_SCHEME);
	const char *host = (const char *)sqlite3_column_text(st, AC_HOST);
	int port = sqlite3_column_int(st, AC_PORT);
	bool enforced = sqlite3_column_int(st, AC_ENFORCED) != 0;
	bool deny = verdict != NULL && strcmp(verdict, "deny") == 0;
	struct seen *s;

	if (kind == NULL || strcmp(kind, "dns") == 0 || scheme == NULL || host == NULL)
		return 0;
	sg->sg_rows++;
	if (deny && enforced) {
		/* Blocked in the run: what the user did not allow stays out. */
		sg->sg_blocked++;
		if (sg->sg_nblocked_hosts < 5 && (sg->sg_blocked_hosts == NULL ||
		    strstr(sg->sg_blocked_hosts, host) == NULL)) {
			char *n = sqlite3_mprintf("%s%s%s", sg->sg_blocked_hosts ?
			                          sg->sg_blocked_hosts : "",
			                          sg->sg_blocked_hosts ? ", " : "", host);
			sqlite3_free(sg->sg_blocked_hosts);
			sg->sg_blocked_hosts = n;
			sg->sg_nblocked_hosts++;
		}
		return 0;
	}
	if (sg->sg_n == sg->sg_cap) {
		size_t cap = sg->sg_cap ? sg->sg_cap * 2 : 256;
		struct seen *v = realloc(sg->sg_v, cap * sizeof(*v));
		if (v == NULL) {
			sg->sg_oom = true;
			return -1;
		}
		sg->sg_v = v;
		sg->sg_cap = cap;
	}
	s = &sg->sg_v[sg->sg_n++];
	s->s_whole = strcmp(kind, "connect") == 0 || strcmp(kind, "tcp") == 0;
	s->s_would_deny = deny;
	/* The URL's own origin: the port only when it is not the scheme's default. */
	if (strcmp(scheme, "tcp") == 0 || (strcmp(scheme, "https") == 0 && port != 443) ||
	    (strcmp(scheme, "http") == 0 && port != 80))
		s->s_origin = sqlite3_mprintf("%s://%s:%d", scheme, host, port);
	else
		s->s_origin = sqlite3_mprintf("%s://%s", scheme, host);
	s->s_path = s->s_whole ? strdup("") : dup_col(st, AC_PATH);
	s->s_method = dup_col(st, AC_METHOD);
	if (s->s_origin == NULL || s->s_path == NULL || s->s_method == NULL) {
		sg->sg_oom = true;
		return -1;
	}
	for (char *p = s->s_method; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return 0;
}

static int
seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;
	int c = strcmp(x->s_origin, y->s_origin);

	if (c == 0)
		c = strcmp(x->s_path, y->s_path);
	return c != 0 ? c : strcmp(x->s_method, y->s_method);
}

/* The first segment of PATH with its slashes ("/api/" of "/api/v1/x"), length. */
static size_t
first_segment(const char *path)
{
	const char *slash = strchr(path + 1, '/');

	return slash ? (size_t)(slash - path) + 1 : strlen(path);
}

/* PATH and OTHER's common prefix, cut back to a '/' so that it names a directory. */
static size_t
common_dir(const char *path, size_t len, const char *other)
{
	size_t n = 0;

	while (n < len && path[n] == other[n])
		n++;
	while (n > 0 && path[n - 1] != '/')
		n--;
	return n;
}

/* S in a PCRE2 pattern, quoted for a single-quoted YAML scalar. */
static void
put_regex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strchr("\\^$.|?*+()[]{}", s[i]) != NULL)
			putchar('\\');
		if (s[i] == '\'')
			putchar('\'');
		putchar(s[i]);
	}
}

/* One rule: the requests V[FROM..TO) all start with PATH[0..PLEN) (EXACT: are it). */
static void
put_rule(const struct seen *v, size_t from, size_t to, const char *path, size_t plen,
         bool exact)
{
	size_t would = 0, paths = 0;
	const char *methods[16];
	size_t nm = 0;

	for (size_t i = from; i < to; i++) {
		size_t k;
		would += v[i].s_would_deny;
		if (i == from || strcmp(v[i].s_path, v[i - 1].s_path) != 0)
			paths++;
		for (k = 0; k < nm && strcmp(methods[k], v[i].s_method) != 0; k++)
			;
		if (k == nm && nm < 16)
			methods[nm++] = v[i].s_method;
	}
	printf("  # %zu request%s", to - from, to - from == 1 ? "" : "s");
	if (!exact && !v[from].s_whole)
		printf(", %zu path%s", paths, paths == 1 ? "" : "s");
	if (would > 0)
		printf(", %zu would have been denied (dry run)", would);
	printf("\n  - action: allow\n    methods: [");
	for (size_t k = 0; k < nm; k++) {
		/* Selection sort as they are printed: a handful at most. */
		for (size_t j = k + 1; j < nm; j++)
			if (strcmp(methods[j], methods[k]) < 0) {
				const char *t = methods[k];
				methods[k] = methods[j];
				methods[j] = t;
			}
		printf("%s%s", k ? ", " : "", methods[k]);
	}
	printf("]\n    pattern: '^");
	put_regex(v[from].s_origin, strlen(v[from].s_origin));
	if (v[from].s_whole) {
		/* A CONNECT's URL is the origin and "/"; a tcp one is the origin alone. */
		printf("%s$'\n", strncmp(v[from].s_origin, "tcp:", 4) ? "/" : "");
		return;
	}
	put_regex(path, plen);
	printf(exact ? "(\\?|$)'\n" : "'\n");
}

/* The rules for one origin, its requests V[FROM..TO) sorted by path. */
static void
put_origin(const struct seen *v, size_t from, size_t to)
{
	size_t npaths = 0, ngroups = 0;

	if (v[from].s_whole) {
		put_rule(v, from, to, "", 0, true);
		return;
	}
	for (size_t i = from; i < to; i++) {
		if (i == from || strcmp(v[i].s_path, v[i - 1].s_path) != 0)
			npaths++;
		if (i == from || first_segment(v[i].s_path) != first_segment(v[i - 1].s_path) ||
		    strncmp(v[i].s_path, v[i - 1].s_path, first_segment(v[i].s_path)) != 0)
			ngroups++;
	}
	if (npaths <= EXACT_MAX) {
		for (size_t i = from, j; i < to; i = j) {
			for (j = i + 1; j < to && strcmp(v[j].s_path, v[i].s_path) == 0; j++)
				;
			put_rule(v, i, j, v[i].s_path, strlen(v[i].s_path), true);
		}
		return;
	}
	if (ngroups > GROUPS_MAX) {
		put_rule(v, from, to, "/", 1, false);
		return;
	}
	/* A path alone in its first segment is itself; several share their directory. */
	for (size_t i = from, j; i < to; i = j) {
		size_t seg = first_segment(v[i].s_path), plen = strlen(v[i].s_path);
		bool one = true;
		for (j = i + 1; j < to && strncmp(v[j].s_path, v[i].s_path, seg) == 0 &&
		     first_segment(v[j].s_path) == seg; j++) {
			if (strcmp(v[j].s_path, v[i].s_path) != 0) {
				one = false;
				plen = common_dir(v[i].s_path, plen, v[j].s_path);
			}
		}
		if (!one && plen < seg)
			plen = seg;
		put_rule(v, i, j, v[i].s_path, plen, one);
	}
}

int
cmd_audit_suggest(const struct audit_args *a)
{
	struct suggest sg = { 0 };
	int rc = 0;

	if (audit_each(a, suggest_row, &sg) < 0 || sg.sg_oom) {
		if (sg.sg_oom)
			cmd_error("audit suggest: out of memory");
		rc = EXIT_INTERNAL;
		goto out;
	}
	qsort(sg.sg_v, sg.sg_n, sizeof(*sg.sg_v), seen_cmp);
	printf("# httpjail audit suggest: a policy allowing exactly what ");
	if (a->aa_nruns == 0)
		printf("every recorded run");
	for (size_t i = 0; i < a->aa_nruns; i++)
		printf("%s%s %lld", i ? "," : "", i ? "" : a->aa_nruns > 1 ? "runs" : "run",
		       (long long)a->aa_runs[i]);
	printf(" reached\n# (%zu request%s). Review it before use.\n", sg.sg_rows,
	       sg.sg_rows == 1 ? "" : "s");
	if (sg.sg_blocked > 0)
		printf("# Left out: %zu request%s blocked in the run (%s%s).\n", sg.sg_blocked,
		       sg.sg_blocked == 1 ? "" : "s", sg.sg_blocked_hosts,
		       sg.sg_nblocked_hosts >= 5 ? ", ..." : "");
	printf("version: 1\nrules:%s\n", sg.sg_n == 0 ? " []" : "");
	for (size_t i = 0, j; i < sg.sg_n; i = j) {
		for (j = i + 1; j < sg.sg_n && strcmp(sg.sg_v[j].s_origin, sg.sg_v[i].s_origin) == 0;
		     j++)
			;
		put_origin(sg.sg_v, i, j);
	}
	printf("default: deny\n");
	if (fflush(stdout) != 0)
		rc = EXIT_INTERNAL;
out:
	for (size_t i = 0; i < sg.sg_n; i++) {
		sqlite3_free(sg.sg_v[i].s_origin);
		free(sg.sg_v[i].s_path);
		free(sg.sg_v[i].s_method);
	}
	free(sg.sg_v);
	sqlite3_free(sg.sg_blocked_hosts);
	return rc;
}

/* --- replay --- */

struct replay {
	const struct policy   *rp_po;
	struct policy_scratch *rp_sc;
	struct hook_runner    *rp_hooks;
	struct hook_result     rp_res;
	struct out            *rp_out;
	size_t                 rp_rows, rp_changed;
	bool                   rp_failed;
};

static int
replay_row(sqlite3_stmt *st, void *arg)
{
	struct replay *rp = arg;
	const char *kind = (const char *)sqlite3_column_text(st, AC_KIND);
	const char *verdict = (const char *)sqlite3_column_text(st, AC_VERDICT);
	const char *src = (const char *)sqlite3_column_text(st, AC_RULE_SOURCE);
	struct slice f[5];
	char buf[20000], id[24], old[300], now[300];
	struct errbuf err;
	struct request rq;
	struct decision dc;
	static const int cols[5] = { AC_METHOD, AC_SCHEME, AC_HOST, AC_PATH, AC_QUERY };

	if (kind == NULL || verdict == NULL || strcmp(kind, "dns") == 0)
		return 0;
	for (int i = 0; i < 5; i++)
		f[i] = (struct slice){ (const char *)sqlite3_column_text(st, cols[i]),
		                       (size_t)sqlite3_column_bytes(st, cols[i]) };
	if (f[0].ptr == NULL || f[1].ptr == NULL || f[2].ptr == NULL)
		return 0;
	if (request_build(&rq, f[0], f[1], f[2], (uint16_t)sqlite3_column_int(st, AC_PORT),
	                  f[3], f[4], buf, sizeof(buf), &err) < 0) {
		cmd_error("audit replay: decision %lld: %s", sqlite3_column_int64(st, AC_ID),
		          err.msg);
		rp->rp_failed = true;
		return -1;
	}
	rp->rp_rows++;
	if (cmd_decide(rp->rp_po, rp->rp_sc, &rp->rp_hooks, &rq, &dc, &rp->rp_res) < 0) {
		rp->rp_failed = true;
		return -1;
	}
	if (strcmp(verdict, dc.dc_verdict == VERDICT_ALLOW ? "allow" : "deny") == 0)
		return 0;
	rp->rp_changed++;
	snprintf(id, sizeof(id), "%lld", sqlite3_column_int64(st, AC_ID));
	snprintf(old, sizeof(old), "%s %s", verdict, src ? src : "default");
	if (dc.dc_rule != NULL)
		snprintf(now, sizeof(now), "%s %s", dc.dc_verdict == VERDICT_ALLOW ? "allow" : "deny",
		         rule_source(dc.dc_rule));
	else
		snprintf(now, sizeof(now), "%s %s", dc.dc_verdict == VERDICT_ALLOW ? "allow" : "deny",
		         strcmp(dc.dc_reason, "default") == 0 ? "default" : dc.dc_reason);
	struct cell row[5] = {
		{ CELL_NUM, id, strlen(id) }, cell_str((const char *)sqlite3_column_text(st, AC_METHOD)),
		cell_str((const char *)sqlite3_column_text(st, AC_URL)), cell_str(old), cell_str(now),
	};
	out_row(rp->rp_out, row);
	return 0;
}

int
cmd_audit_replay(const struct audit_args *a)
{
	static const char *const names[] = { "id", "method", "url", "was", "now" };
	struct replay rp = { 0 };
	struct policy *po;
	int rc = 0;

	if (a->aa_policy.op_nfiles + a->aa_policy.op_nrules + a->aa_policy.op_nsh == 0) {
		cmd_error("audit replay: which policy? (-c FILE, -r RULE or --sh CMD)");
		return EXIT_USAGE;
	}
	if ((po = cmd_policy(&a->aa_policy)) == NULL)
		return EXIT_USAGE;
	rp.rp_po = po;
	rp.rp_out = out_new(a->aa_format == AF_JSON ? OUT_JSON : a->aa_format == AF_CSV ?
	                    OUT_CSV : OUT_TABLE, names, 5);
	if ((rp.rp_sc = policy_scratch_new(po)) == NULL || rp.rp_out == NULL) {
		cmd_error("out of memory");
		rc = EXIT_INTERNAL;
	} else if (audit_each(a, replay_row, &rp) < 0 || rp.rp_failed) {
		rc = EXIT_INTERNAL;
	}
	if (rp.rp_out != NULL && out_end(rp.rp_out) < 0 && rc == 0)
		rc = EXIT_INTERNAL;
	if (rc == 0 && a->aa_format == AF_TABLE)
		fprintf(stderr, "httpjail: audit replay: %zu of %zu decisions change\n",
		        rp.rp_changed, rp.rp_rows);
	hook_runner_free(rp.rp_hooks);
	policy_scratch_free(rp.rp_sc);
	policy_free(po);
	return rc;
}
