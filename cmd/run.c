/* run: --server and --weak: the proxy on this process's loop, with the request log
 * and -v lines fed from its decisions. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <malloc.h>
#include <ev.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "addr.h"
#include "audit.h"
#include "audit_cmd.h"
#include "ca.h"
#include "cmd.h"
#include "dns.h"
#include "jail.h"
#include "proxy.h"
#include "reload.h"
#include "tally.h"
#include "tls.h"

#define DRAIN_S 10.
#define KILL_AFTER_S 2.

struct run {
	const struct options *rn_op;
	struct policy        *rn_po;        /* as the run began; the proxy's may be newer */
	struct policy_src     rn_src;
	char                 *rn_dirs;      /* rn_src's ruleset path */
	struct reload        *rn_reload;
	struct proxy         *rn_px;
	struct ev_loop       *rn_loop;
	FILE                 *rn_log;
	struct audit         *rn_audit;     /* NULL under --no-audit */
	struct tally         *rn_tally;     /* -v's, else NULL */
	bool                  rn_color;     /* -v's lines on a terminal */
	struct proxy_pin     *rn_pins;
	size_t                rn_npins;
	struct ca            *rn_ca;
	struct tls           *rn_tls;
	char                  rn_trust_dir[4096];  /* --weak's CA bundle; removed at exit */
	char                  rn_run_id[40];
	/* --weak */
	pid_t                 rn_child;
	int                   rn_status;
	bool                  rn_exited, rn_timed_out;
	ev_child              rn_child_w;
	ev_timer              rn_timeout, rn_kill;
	ev_signal             rn_sig[4];    /* --server's */
	int                   rn_sigfd;     /* the command's: signals to pass on */
	ev_io                 rn_sig_io;
	ev_timer              rn_drain_deadline;
	/* strong mode */
	struct jail          *rn_jail;
	struct dns           *rn_dns;
	char                 *rn_bundle;    /* the jail's CA bundle, in memory */
	size_t                rn_bundle_len;
	uid_t                 rn_uid;       /* --user / $SUDO_USER, or -1 */
	gid_t                 rn_gid;
	gid_t                 rn_groups[64];
	size_t                rn_ngroups;
	char                  rn_home[4096];
	char                  rn_username[256];
};

static uint64_t
on_decision(const struct proxy_event *pe, void *arg)
{
	struct run *rn = arg;
	const struct request *rq = pe->pe_rq;
	bool blocked = pe->pe_verdict == VERDICT_DENY && pe->pe_enforced;
	uint64_t token = 0;
	char ts[64];

	if (rn->rn_audit != NULL) {
		struct audit_decision ad = {
			.ad_rq = rq, .ad_verdict = pe->pe_verdict, .ad_enforced = pe->pe_enforced,
			.ad_rule = pe->pe_rule, .ad_engine = pe->pe_engine,
			.ad_reason = pe->pe_reason, .ad_hook_exit = pe->pe_hook_exit,
			.ad_decide_us = pe->pe_decide_us,
		};
		token = audit_add(rn->rn_audit, &ad);
	}
	if (rn->rn_log != NULL) {
		audit_time(ts, sizeof(ts));
		fprintf(rn->rn_log, "%s %c %.*s %.*s\n", ts, blocked ? '-' : '+',
		        (int)rq->rq_method.len, rq->rq_method.ptr, (int)rq->rq_url.len,
		        rq->rq_url.ptr);
		fflush(rn->rn_log);
	}
	if (rn->rn_op->op_verbose > 0) {
		char why[400];
		const char *r = pe->pe_reason;
		if (pe->pe_rule != NULL && strcmp(r, "rule") == 0)
			snprintf(why, sizeof(why), "rule %zu, %s", rule_index(pe->pe_rule) + 1,
			         rule_source(pe->pe_rule));
		else if (pe->pe_rule != NULL)
			snprintf(why, sizeof(why), "rule %zu, %s: %s", rule_index(pe->pe_rule) + 1,
			         rule_source(pe->pe_rule), r);
		else if (strcmp(r, "default") == 0)
			snprintf(why, sizeof(why), "default %s",
			         pe->pe_verdict == VERDICT_ALLOW ? "allow" : "deny");
		else
			snprintf(why, sizeof(why), "%s", r);
		/* Green, red, and yellow for what --dry-run lets through. */
		const char *on = !rn->rn_color ? "" : pe->pe_verdict == VERDICT_ALLOW ?
		                 "\033[32m" : pe->pe_enforced ? "\033[31m" : "\033[33m";
		fprintf(stderr, "httpjail: %s%s%s%s %.*s %.*s (%s)\n", on,
		        pe->pe_verdict == VERDICT_ALLOW ? "allow" : "deny",
		        pe->pe_enforced ? "" : " (not enforced)", rn->rn_color ? "\033[m" : "",
		        (int)rq->rq_method.len, rq->rq_method.ptr, (int)rq->rq_url.len,
		        rq->rq_url.ptr, why);
		tally_add(rn->rn_tally, pe->pe_verdict == VERDICT_ALLOW, pe->pe_enforced,
		          rq->rq_host);
	}
	return token;
}

static void
on_end(const struct proxy_end *pn, void *arg)
{
	struct run *rn = arg;

	if (rn->rn_audit != NULL)
		audit_end(rn->rn_audit, pn->pn_token, pn->pn_status, pn->pn_bytes_up,
		          pn->pn_bytes_down, end_reason_str(pn->pn_end));
}

static bool
str_differ(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a != NULL && strcmp(a, b) != 0);
}

/* The first setting FRESH changes that shaped the run at its start, else NULL. */
static const char *
fixed_change(const struct policy *old, const struct policy *fresh)
{
	bool expose = policy_expose_count(old) != policy_expose_count(fresh);

	for (size_t i = 0; !expose && i < policy_expose_count(old); i++)
		expose = strcmp(policy_expose_get(old, i), policy_expose_get(fresh, i)) != 0;
	if (policy_dry_run(old) != policy_dry_run(fresh))
		return "dry_run";
	if (policy_tls_intercept(old) != policy_tls_intercept(fresh))
		return "tls.intercept";
	if (policy_hook_timeout_ms(old) != policy_hook_timeout_ms(fresh))
		return "hooks.timeout";
	if (policy_hook_cache_ms(old) != policy_hook_cache_ms(fresh))
		return "hooks.cache";
	if (str_differ(policy_audit_db(old), policy_audit_db(fresh)))
		return "audit.db";
	if (strcmp(policy_log_level(old), policy_log_level(fresh)) != 0)
		return "logging.level";
	if (str_differ(policy_log_file(old), policy_log_file(fresh)))
		return "logging.file";
	return expose ? "jail.expose" : NULL;
}

/* A policy file changed, or SIGHUP: the rules, tls.passthrough and
 * upstream.allow_private of FRESH apply from the next decision on. */
static void
on_reload(struct policy *fresh, const char *why, void *arg)
{
	struct run *rn = arg;
	struct errbuf err;
	const char *fixed;
	size_t n;

	if (fresh == NULL) {
		cmd_error("%s (policy not reloaded; the one in force stays)", why);
		return;
	}
	if (rn->rn_px == NULL) {
		policy_free(fresh);
		return;
	}
	fixed = fixed_change(rn->rn_po, fresh);
	n = policy_rule_count(fresh);
	if (proxy_set_policy(rn->rn_px, fresh, &err) < 0) {
		cmd_error("%s (policy not reloaded)", err.msg);
		return;
	}
	if (rn->rn_audit != NULL)
		cmd_audit_reload(rn->rn_audit, fresh);
	if (rn->rn_op->op_verbose >= 0)
		fprintf(stderr, "httpjail: policy reloaded: %zu rule%s\n", n, n == 1 ? "" : "s");
	if (fixed != NULL)
		cmd_error("%s changed: it takes effect at the next run", fixed);
}

/* Ends the run's row with RC. Decisions the audit could not keep make the run a
 * failure: the record is the point of the run. */
static int
audit_finish(struct run *rn, int rc)
{
	struct errbuf err;

	if (rn->rn_audit == NULL)
		return rc;
	/* Exchanges still open (tunnels, a drain cut short) end now, into the audit. */
	proxy_free(rn->rn_px);
	rn->rn_px = NULL;
	if (audit_close(rn->rn_audit, rc, &err) < 0) {
		cmd_error("%s", err.msg);
		rc = EXIT_INTERNAL;
	}
	rn->rn_audit = NULL;
	return rc;
}

/* What a run starts once its command is on its way, so that the two overlap: the
 * audit writer. */
static int
run_go(struct run *rn)
{
	struct errbuf err;

	if (rn->rn_audit != NULL && audit_start(rn->rn_audit, &err) < 0) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	return 0;
}

int
cmd_pin_parse(const char *s, struct proxy_pin *pp, char *host, size_t hostsz)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char *end;
	unsigned long port;
	socklen_t len;

	if (c1 == NULL || c2 == NULL || c1 == s || (size_t)(c1 - s) >= hostsz) {
		cmd_error("--resolve '%s': expected HOST:PORT:ADDR", s);
		return -1;
	}
	port = strtoul(c1 + 1, &end, 10);
	if (end != c2 || port == 0 || port > 65535) {
		cmd_error("--resolve '%s': bad port", s);
		return -1;
	}
	for (size_t k = 0; k < (size_t)(c1 - s); k++)
		host[k] = (char)(s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
	host[c1 - s] = '\0';
	if (addr_parse(c2 + 1, (uint16_t)port, &pp->pp_addr, &len) < 0) {
		cmd_error("--resolve '%s': '%s' is not an IP address", s, c2 + 1);
		return -1;
	}
	pp->pp_host = host;
	pp->pp_port = (uint16_t)port;
	return 0;
}

static int
parse_pins(struct run *rn)
{
	const struct options *op = rn->rn_op;

	rn->rn_pins = calloc(op->op_nresolve ? op->op_nresolve : 1, sizeof(*rn->rn_pins));
	if (rn->rn_pins == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < op->op_nresolve; i++) {
		struct proxy_pin *pp = &rn->rn_pins[i];
		char host[256];

		if (cmd_pin_parse(op->op_resolve[i], pp, host, sizeof(host)) < 0)
			return -1;
		if ((pp->pp_host = strdup(host)) == NULL) {
			cmd_error("out of memory");
			return -1;
		}
		rn->rn_npins++;
	}
	return 0;
}

static int
run_setup(struct run *rn, const struct options *op)
{
	struct errbuf err = { "" };
	struct proxy_opts po = { 0 };
	const char *t;
	unsigned char rnd[8];

	rn->rn_op = op;
	rn->rn_loop = ev_default_loop(0);
	/* The process ends with the run: OpenSSL's clean-up at exit would only free
	 * memory that exit frees anyway, and costs a run half a millisecond. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	if (op->op_verbose > 0) {
		const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
		if ((rn->rn_tally = tally_new()) == NULL) {
			cmd_error("out of memory");
			return EXIT_INTERNAL;
		}
		/* https://no-color.org: set and not empty means no color. */
		rn->rn_color = isatty(STDERR_FILENO) && (nc == NULL || *nc == '\0') &&
		               (term == NULL || strcmp(term, "dumb") != 0);
	}
	if ((rn->rn_po = cmd_policy(op)) == NULL)
		return EXIT_USAGE;
	if (parse_pins(rn) < 0)
		return EXIT_USAGE;
	if (op->op_dry_run && op->op_log_only) {
		cmd_error("--dry-run and --log-only: choose one");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < op->op_nca_files; i++) {
		if (access(op->op_ca_files[i], R_OK) < 0) {
			cmd_error("--ca-file %s: %s", op->op_ca_files[i], strerror(errno));
			return EXIT_USAGE;
		}
	}
	if (policy_tls_intercept(rn->rn_po)) {
		if ((rn->rn_ca = cmd_ca_load(&err)) == NULL ||
		    ca_leaf_init(rn->rn_ca, 1024, &err) < 0) {
			cmd_error("%s", err.msg);
			return EXIT_INTERNAL;
		}
	}
	if ((rn->rn_tls = tls_new(rn->rn_ca, op->op_ca_files, op->op_nca_files, &err)) == NULL) {
		cmd_error("%s", err.msg);
		return op->op_nca_files > 0 ? EXIT_USAGE : EXIT_INTERNAL;
	}
	if (op->op_request_log != NULL &&
	    (rn->rn_log = fopen(op->op_request_log, "a")) == NULL) {
		cmd_error("--request-log %s: %s", op->op_request_log, strerror(errno));
		return EXIT_USAGE;
	}
	/* Before anything runs: a run that cannot be recorded does not start. */
	if (!op->op_no_audit && (rn->rn_audit = cmd_audit_begin(op, rn->rn_po, &err)) == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	if (getentropy(rnd, sizeof(rnd)) == 0)
		snprintf(rn->rn_run_id, sizeof(rn->rn_run_id), "%02x%02x%02x%02x%02x%02x%02x%02x",
		         rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	signal(SIGPIPE, SIG_IGN);
	/* Exchanges allocate and free tens of KiB each: without this glibc hands the
	 * top of the heap back with brk() after nearly every request. */
	mallopt(M_TRIM_THRESHOLD, 8 << 20);
	mallopt(M_TOP_PAD, 1 << 20);
	/* A relay buffer grows to 128 KiB for large bodies. Setting the two above fixes
	 * glibc's mmap threshold at 128 KiB, and then every such buffer was mmap()ed when
	 * the heap's top was short, and munmap()ed when freed: 100 KiB responses ran at
	 * half their speed in one run of three, the proxy in page faults and munmap. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	po.po_policy = rn->rn_po;
	po.po_dry_run = op->op_dry_run || policy_dry_run(rn->rn_po);
	po.po_log_only = op->op_log_only;
	po.po_pins = rn->rn_pins;
	po.po_npins = rn->rn_npins;
	po.po_run_id = rn->rn_run_id;
	po.po_on_decision = on_decision;
	po.po_on_end = on_end;
	po.po_arg = rn;
	po.po_tls = rn->rn_tls;
	po.po_intercept = rn->rn_ca != NULL;
	/* Tuning knobs for tests and odd networks; documented in httpjail(1). */
	if ((t = getenv("HTTPJAIL_CONNECT_TIMEOUT_MS")) != NULL)
		po.po_connect_ms = (unsigned)strtoul(t, NULL, 10);
	if ((t = getenv("HTTPJAIL_RESPONSE_TIMEOUT_MS")) != NULL)
		po.po_response_ms = (unsigned)strtoul(t, NULL, 10);
	if ((t = getenv("HTTPJAIL_HEAD_TIMEOUT_MS")) != NULL)
		po.po_head_ms = (unsigned)strtoul(t, NULL, 10);
	if ((t = getenv("HTTPJAIL_IDLE_TIMEOUT_MS")) != NULL)
		po.po_idle_ms = (unsigned)strtoul(t, NULL, 10);
	if ((rn->rn_px = proxy_new(rn->rn_loop, &po, &err)) == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	/* A command runs as a user who can usually write the policy files (they sit in
	 * its project): watching them would let it widen its own policy. Its runs reload
	 * on SIGHUP, which only comes from outside (the jail cannot signal us). */
	rn->rn_dirs = cmd_policy_src(op, &rn->rn_src);
	if ((rn->rn_reload = reload_new(rn->rn_loop, &rn->rn_src, rn->rn_po, op->op_server,
	                                on_reload, rn, &err)) == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	return 0;
}

static void
run_teardown(struct run *rn)
{
	if (rn->rn_jail != NULL) {
		jail_kill(rn->rn_jail);
		jail_free(rn->rn_jail);
	}
	reload_free(rn->rn_reload);
	free(rn->rn_dirs);
	proxy_free(rn->rn_px);
	dns_free(rn->rn_dns);
	free(rn->rn_bundle);
	tls_free(rn->rn_tls);
	ca_free(rn->rn_ca);
	if (rn->rn_trust_dir[0] != '\0') {
		char path[4200];
		snprintf(path, sizeof(path), "%s/bundle.pem", rn->rn_trust_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/ca.pem", rn->rn_trust_dir);
		unlink(path);
		rmdir(rn->rn_trust_dir);
	}
	policy_free(rn->rn_po);
	if (rn->rn_log != NULL)
		fclose(rn->rn_log);
	for (size_t i = 0; i < rn->rn_npins; i++)
		free((char *)rn->rn_pins[i].pp_host);
	free(rn->rn_pins);
	if (rn->rn_sigfd >= 0)
		close(rn->rn_sigfd);
	tally_free(rn->rn_tally);
}

/* -v's closing line: what the run decided, at a glance. */
static void
print_tally(const struct run *rn)
{
	char line[160];

	if (rn->rn_tally == NULL)
		return;
	tally_format(rn->rn_tally, line, sizeof(line));
	fprintf(stderr, "httpjail: %s\n", line);
}

static void
drained(void *arg)
{
	struct run *rn = arg;

	ev_break(rn->rn_loop, EVBREAK_ALL);
}

static void
on_drain_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
stop(struct run *rn)
{
	/* SIGHUP still reloads while the proxy drains, instead of ending it half way. */
	for (size_t i = 0; i < 4; i++) {
		if (rn->rn_sig[i].signum != SIGHUP)
			ev_signal_stop(rn->rn_loop, &rn->rn_sig[i]);
	}
	ev_io_stop(rn->rn_loop, &rn->rn_sig_io);
	ev_timer_init(&rn->rn_drain_deadline, on_drain_deadline, DRAIN_S, 0.);
	ev_timer_start(rn->rn_loop, &rn->rn_drain_deadline);
	proxy_drain(rn->rn_px, drained, rn);
}

/* --- --server --- */

static void
on_server_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct run *rn = w->data;

	(void)loop;
	(void)revents;
	if (w->signum == SIGHUP)
		reload_now(rn->rn_reload);
	else
		stop(rn);
}

static int
listen_all(struct run *rn, enum proxy_entrance kind, const char *const *addrs, size_t n,
           const char *env, const char *def)
{
	struct errbuf err;
	const char *one = getenv(env);

	if (n == 0) {
		addrs = &one;
		n = 1;
		if (one == NULL || *one == '\0')
			one = def;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = proxy_listen(rn->rn_px, kind, addrs[i], &err);
		if (rc < 0) {
			cmd_error("%s", err.msg);
			return rc == -2 ? EXIT_USAGE : EXIT_INTERNAL;
		}
	}
	return 0;
}

int
cmd_server(const struct options *op)
{
	struct run rn = { .rn_sigfd = -1 };
	struct sockaddr_storage ss;
	char a[64], b[64];
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	int rc;

	if ((rc = run_setup(&rn, op)) != 0)
		goto out;
	if ((rc = listen_all(&rn, PROXY_EXPLICIT, op->op_listen, op->op_nlisten,
	                     "HTTPJAIL_HTTP_BIND", "127.0.0.1:8080")) != 0 ||
	    (rc = listen_all(&rn, PROXY_TRANSPARENT, op->op_listen_tls, op->op_nlisten_tls,
	                     "HTTPJAIL_HTTPS_BIND", "127.0.0.1:8443")) != 0)
		goto out;
	proxy_bound(rn.rn_px, PROXY_EXPLICIT, &ss);
	addr_format((struct sockaddr *)&ss, a, sizeof(a));
	proxy_bound(rn.rn_px, PROXY_TRANSPARENT, &ss);
	addr_format((struct sockaddr *)&ss, b, sizeof(b));
	/* One line a script can read the ports from when it asked for port 0. */
	fprintf(stderr, "httpjail: proxy on %s, transparent on %s\n", a, b);
	for (size_t i = 0; i < 3; i++) {
		ev_signal_init(&rn.rn_sig[i], on_server_signal, sigs[i]);
		rn.rn_sig[i].data = &rn;
		ev_signal_start(rn.rn_loop, &rn.rn_sig[i]);
	}
	if ((rc = run_go(&rn)) != 0)
		goto out;
	ev_run(rn.rn_loop, 0);
	print_tally(&rn);
	rc = 0;
out:
	rc = audit_finish(&rn, rc);
	run_teardown(&rn);
	return rc;
}

/* --- --weak --- */

static void
on_child(struct ev_loop *loop, ev_child *w, int revents)
{
	struct run *rn = w->data;

	(void)revents;
	ev_child_stop(loop, w);
	ev_timer_stop(loop, &rn->rn_timeout);
	ev_timer_stop(loop, &rn->rn_kill);
	rn->rn_exited = true;
	rn->rn_status = w->rstatus;
	stop(rn);
}

/* A signal the terminal sent (SI_KERNEL) has reached the command's process group
 * already: passing it on too would deliver it twice, and a second SIGINT can kill a
 * shell while it runs its INT trap. */
static void
on_forward_signal(struct ev_loop *loop, ev_io *w, int revents)
{
	struct run *rn = w->data;
	struct signalfd_siginfo si;

	(void)loop;
	(void)revents;
	while (read(rn->rn_sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		/* SPEC: SIGHUP reloads the policy, and the command gets it too. */
		if (si.ssi_signo == SIGHUP)
			reload_now(rn->rn_reload);
		if (si.ssi_code == SI_KERNEL)
			continue;
		if (rn->rn_jail != NULL)
			jail_signal(rn->rn_jail, (int)si.ssi_signo);
		else if (rn->rn_child > 0)
			kill(rn->rn_child, (int)si.ssi_signo);
	}
}

static void
on_kill(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *rn = w->data;

	(void)loop;
	(void)revents;
	if (rn->rn_jail != NULL)
		jail_kill(rn->rn_jail);
	else if (rn->rn_child > 0)
		kill(rn->rn_child, SIGKILL);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct run *rn = w->data;

	(void)revents;
	rn->rn_timed_out = true;
	if (rn->rn_jail != NULL)
		jail_signal(rn->rn_jail, SIGTERM);
	else if (rn->rn_child > 0)
		kill(rn->rn_child, SIGTERM);
	ev_timer_init(&rn->rn_kill, on_kill, KILL_AFTER_S, 0.);
	rn->rn_kill.data = rn;
	ev_timer_start(loop, &rn->rn_kill);
}

/* Copies FROM to TO (appending); -1 with errno on failure. */
static int
copy_file(const char *from, FILE *to)
{
	FILE *f = fopen(from, "r");
	char buf[65536];
	size_t n;

	if (f == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (fwrite(buf, 1, n, to) != n)
			break;
	n = ferror(f);
	fclose(f);
	return n || ferror(to) ? -1 : 0;
}

/*
 * What the command trusts, into F: the CAs in the file SYSTEM (NULL or missing:
 * none), then ours when TLS is intercepted, then --ca-file's, each on lines of its
 * own. --ca-file's are there for a host relayed blind (passthrough,
 * --no-tls-intercept): it shows the command a certificate that CA signed. 0, or -1
 * after saying why: F (called WHAT) could not take it all, or a --ca-file could not
 * be read, and the command would not trust what the proxy does.
 */
static int
trust_write(const struct run *rn, const char *system, FILE *f, const char *what)
{
	if (system != NULL)
		copy_file(system, f);
	if (rn->rn_ca != NULL)
		fprintf(f, "\n%s", ca_cert_pem(rn->rn_ca));
	for (size_t i = 0; i < rn->rn_op->op_nca_files && !ferror(f); i++) {
		fputc('\n', f);
		if (copy_file(rn->rn_op->op_ca_files[i], f) < 0 && !ferror(f)) {
			cmd_error("--ca-file %s: %s", rn->rn_op->op_ca_files[i], strerror(errno));
			return -1;
		}
	}
	if (ferror(f)) {
		cmd_error("%s: %s", what, strerror(errno));
		return -1;
	}
	return 0;
}

/* The jail's bundle: the system's CAs, ours and --ca-file's, kept in memory and
 * written only inside the jail, over the system bundle path, so that no file of it
 * is left on the host even when httpjail is killed. */
static int
bundle_build(struct run *rn, const char *system)
{
	FILE *f = open_memstream(&rn->rn_bundle, &rn->rn_bundle_len);
	int rc;

	if (f == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	rc = trust_write(rn, system, f, "the jail's CA bundle");
	if (fclose(f) != 0 && rc == 0) {
		cmd_error("out of memory");
		rc = -1;
	}
	return rc;
}

/* DIR/NAME holding trust_write()'s output for SYSTEM; 0, or -1 after saying why. */
static int
trust_file(const struct run *rn, const char *name, const char *system)
{
	char path[4200];
	FILE *f;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", rn->rn_trust_dir, name);
	if ((f = fopen(path, "w")) == NULL) {
		cmd_error("%s: %s", path, strerror(errno));
		return -1;
	}
	rc = trust_write(rn, system, f, path);
	if (fclose(f) != 0 && rc == 0) {
		cmd_error("%s: %s", path, strerror(errno));
		rc = -1;
	}
	return rc;
}

/*
 * The trust the command gets: a private directory (0700, removed at exit) with
 * bundle.pem, the system's CAs and the others of trust_write(), and ca.pem, the
 * others alone (NODE_EXTRA_CA_CERTS adds them to Node's own). Without a system
 * bundle the command trusts ours alone: that still works for every intercepted
 * connection. The host's own trust store is never touched.
 */
static int
trust_setup(struct run *rn)
{
	const char *tmp = getenv("TMPDIR"), *sys = getenv(X509_get_default_cert_file_env());

	snprintf(rn->rn_trust_dir, sizeof(rn->rn_trust_dir), "%s/httpjail-ca.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(rn->rn_trust_dir) == NULL) {
		cmd_error("%s: %s", rn->rn_trust_dir, strerror(errno));
		rn->rn_trust_dir[0] = '\0';
		return -1;
	}
	if (sys == NULL || *sys == '\0')
		sys = X509_get_default_cert_file();
	return trust_file(rn, "bundle.pem", sys) < 0 || trust_file(rn, "ca.pem", NULL) < 0 ?
	       -1 : 0;
}

struct envset {
	const char *ev_name;
	char       *ev_value;   /* NULL: the variable is removed */
};

/* The environment with each of SETS[] set or removed; the strings from *ADDED on
 * are ours to free. */
static char **
make_env(const struct envset *sets, size_t nsets, size_t *added)
{
	extern char **environ;
	size_t n = 0, k = 0;
	char **env;

	for (char **e = environ; *e; e++)
		n++;
	if ((env = calloc(n + nsets + 1, sizeof(*env))) == NULL)
		return NULL;
	for (char **e = environ; *e; e++) {
		bool drop = false;
		for (size_t i = 0; i < nsets && !drop; i++)
			drop = strncmp(*e, sets[i].ev_name, strlen(sets[i].ev_name)) == 0 &&
			       (*e)[strlen(sets[i].ev_name)] == '=';
		if (!drop)
			env[k++] = *e;
	}
	*added = k;
	for (size_t i = 0; i < nsets; i++) {
		if (sets[i].ev_value == NULL)
			continue;
		if (asprintf(&env[k++], "%s=%s", sets[i].ev_name, sets[i].ev_value) < 0)
			env[--k] = NULL;
	}
	env[k] = NULL;
	return env;
}

static void
on_dns(const struct dns_event *de, void *arg)
{
	struct run *rn = arg;

	const char *type = de->de_qtype == 28 ? "AAAA" : de->de_qtype == 1 ? "A" : "other";

	if (rn->rn_op->op_verbose > 0)
		fprintf(stderr, "httpjail: %sdns%s %.*s %s %s\n", rn->rn_color ? "\033[36m" : "",
		        rn->rn_color ? "\033[m" : "", (int)de->de_name.len, de->de_name.ptr, type,
		        de->de_answer);
	if (rn->rn_audit != NULL) {
		char url[300];
		int n = snprintf(url, sizeof(url), "dns:%.*s?type=%s", (int)de->de_name.len,
		                 de->de_name.ptr, type);
		struct request rq = {
			.rq_method = slice_cstr(type), .rq_scheme = SLICE_LIT("dns"),
			.rq_host = de->de_name, .rq_url = { url, n < (int)sizeof(url) ? (size_t)n :
			                                         sizeof(url) - 1 },
			.rq_port = 53, .rq_kind = REQ_DNS,
		};
		struct audit_decision ad = {
			.ad_rq = &rq, .ad_verdict = VERDICT_ALLOW, .ad_enforced = true,
			.ad_engine = "dns-stub", .ad_reason = de->de_answer, .ad_hook_exit = -1,
		};
		audit_add(rn->rn_audit, &ad);
	}
}

/* As root, the command runs as --user, else as the user who ran sudo. */
static int
jail_user(struct run *rn)
{
	const char *name = rn->rn_op->op_user;
	struct passwd pw, *res = NULL;
	char buf[4096];
	int n = 64;

	rn->rn_uid = (uid_t)-1;
	rn->rn_gid = (gid_t)-1;
	if (name == NULL && getuid() == 0)
		name = getenv("SUDO_USER");
	if (name == NULL || *name == '\0')
		return 0;
	if (getuid() != 0) {
		cmd_error("--user %s: only root can run the command as another user", name);
		return EXIT_USAGE;
	}
	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL) {
		cmd_error("--user %s: no such user", name);
		return EXIT_USAGE;
	}
	rn->rn_uid = pw.pw_uid;
	rn->rn_gid = pw.pw_gid;
	snprintf(rn->rn_home, sizeof(rn->rn_home), "%s", pw.pw_dir);
	snprintf(rn->rn_username, sizeof(rn->rn_username), "%s", pw.pw_name);
	if (getgrouplist(pw.pw_name, pw.pw_gid, rn->rn_groups, &n) < 0)
		n = 64;
	rn->rn_ngroups = (size_t)n;
	/* The command must be able to read the CA bundle made for it. */
	if (rn->rn_trust_dir[0] != '\0') {
		char path[4200];
		if (chown(rn->rn_trust_dir, rn->rn_uid, rn->rn_gid) < 0)
			return EXIT_INTERNAL;
		snprintf(path, sizeof(path), "%s/bundle.pem", rn->rn_trust_dir);
		if (chown(path, rn->rn_uid, rn->rn_gid) < 0)
			return EXIT_INTERNAL;
		snprintf(path, sizeof(path), "%s/ca.pem", rn->rn_trust_dir);
		if (chown(path, rn->rn_uid, rn->rn_gid) < 0)
			return EXIT_INTERNAL;
	}
	return 0;
}

/* The jail, its DNS stub and the proxy on the sockets made inside it. */
static int
jail_setup(struct run *rn, char **env)
{
	const struct options *op = rn->rn_op;
	struct jail_opts jo = {
		.jo_argv = op->op_args, .jo_envp = env,
		.jo_uid = (uid_t)-1, .jo_gid = (gid_t)-1,
	};
	struct jail_fds jf;
	struct errbuf err;
	const char *rt = getenv("XDG_RUNTIME_DIR");
	char rtbuf[64];
	const char **expose = NULL;
	size_t nexpose = policy_expose_count(rn->rn_po);
	int rc;

	/* The runtime directory of whoever the command runs as: under sudo that is
	 * not the one in our environment. */
	if (rn->rn_uid != (uid_t)-1 || rt == NULL || rt[0] != '/') {
		snprintf(rtbuf, sizeof(rtbuf), "/run/user/%u",
		         (unsigned)(rn->rn_uid != (uid_t)-1 ? rn->rn_uid : getuid()));
		rt = rtbuf;
	}
	jo.jo_uid = rn->rn_uid;
	jo.jo_gid = rn->rn_gid;
	jo.jo_groups = rn->rn_groups;
	jo.jo_ngroups = rn->rn_ngroups;
	jo.jo_hide = jail_default_hide(rt, rn->rn_uid != (uid_t)-1 ? rn->rn_uid : getuid(),
	                               &jo.jo_nhide);
	if (nexpose > 0 && (expose = calloc(nexpose, sizeof(*expose))) == NULL) {
		cmd_error("out of memory");
		return EXIT_INTERNAL;
	}
	for (size_t i = 0; i < nexpose; i++)
		expose[i] = policy_expose_get(rn->rn_po, i);
	jo.jo_expose = expose;
	jo.jo_nexpose = nexpose;
	jo.jo_bundle = rn->rn_bundle;
	jo.jo_bundle_len = rn->rn_bundle_len;
	if (op->op_verbose > 0) {
		for (size_t i = 0; i < jo.jo_nhide; i++) {
			bool exposed = false;
			for (size_t k = 0; k < nexpose; k++)
				exposed = exposed || strcmp(expose[k], jo.jo_hide[i]) == 0;
			if (!exposed && access(jo.jo_hide[i], F_OK) == 0)
				fprintf(stderr, "httpjail: hidden in the jail: %s\n", jo.jo_hide[i]);
		}
	}
	rn->rn_jail = jail_new(&jo, &jf, &err);
	free(expose);
	if (rn->rn_jail == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	if ((rn->rn_dns = dns_new(rn->rn_loop, jf.jf_dns_udp, jf.jf_dns_tcp, on_dns, rn,
	                          &err)) == NULL) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	proxy_set_dns(rn->rn_px, rn->rn_dns);
	if (proxy_listen_fd(rn->rn_px, PROXY_TRANSPARENT, jf.jf_proxy4, &err) < 0 ||
	    (jf.jf_proxy6 >= 0 &&
	     proxy_listen_fd(rn->rn_px, PROXY_TRANSPARENT, jf.jf_proxy6, &err) < 0) ||
	    jail_go(rn->rn_jail, &err) < 0) {
		cmd_error("%s", err.msg);
		return EXIT_INTERNAL;
	}
	rn->rn_child = jail_pid(rn->rn_jail);
	rc = 0;
	return rc;
}

/* --weak (STRONG false) and the jail: the command, its exit status, its signals. */
static int
run_command(const struct options *op, bool strong)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct run rn = { .rn_sigfd = -1 };
	struct errbuf err;
	struct sockaddr_storage ss;
	char hostport[64], url[80], **env = NULL;
	const char *system_bundle;
	sigset_t fwd;
	size_t added = 0;
	bool trust;
	int rc;

	if ((rc = run_setup(&rn, op)) != 0)
		goto out;
	if (!strong && proxy_listen(rn.rn_px, PROXY_EXPLICIT, "127.0.0.1:0", &err) < 0) {
		cmd_error("%s", err.msg);
		rc = EXIT_INTERNAL;
		goto out;
	}
	url[0] = '\0';
	if (!strong) {
		proxy_bound(rn.rn_px, PROXY_EXPLICIT, &ss);
		addr_format((struct sockaddr *)&ss, hostport, sizeof(hostport));
		snprintf(url, sizeof(url), "http://%s", hostport);
	}
	/* The command trusts more than the system's CAs when TLS is intercepted or
	 * --ca-file names CAs. In the jail the bundle can live on the system bundle's
	 * path, in memory; with --weak, or on a host without that file, it is a private
	 * directory. */
	trust = rn.rn_ca != NULL || op->op_nca_files > 0;
	system_bundle = strong && trust ? jail_bundle_path() : NULL;
	if (system_bundle != NULL && bundle_build(&rn, system_bundle) < 0) {
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (system_bundle == NULL && trust && trust_setup(&rn) < 0) {
		rc = EXIT_INTERNAL;
		goto out;
	}
	if (strong && (rc = jail_user(&rn)) != 0)
		goto out;

	{
		char bundle[4200], ca[4200];
		char *b = trust ? bundle : NULL, *c = trust ? ca : NULL;

		if (system_bundle != NULL)
			b = c = (char *)system_bundle;
		/* In the jail every connection goes to the proxy anyway: a proxy variable
		 * inherited from outside would only send requests the wrong way. */
		char *u = strong ? NULL : url;
		bool user = strong && rn.rn_uid != (uid_t)-1;
		struct envset sets[] = {
			{ "HOME", rn.rn_home }, { "USER", rn.rn_username },
			{ "LOGNAME", rn.rn_username },
			{ "HTTP_PROXY", u }, { "HTTPS_PROXY", u }, { "http_proxy", u },
			{ "https_proxy", u }, { "ALL_PROXY", u }, { "all_proxy", u },
			{ "NO_PROXY", NULL }, { "no_proxy", NULL },
			/* What the usual TLS clients read for their trusted CAs. */
			{ "SSL_CERT_FILE", b }, { "CURL_CA_BUNDLE", b }, { "REQUESTS_CA_BUNDLE", b },
			{ "GIT_SSL_CAINFO", b }, { "PIP_CERT", b }, { "CARGO_HTTP_CAINFO", b },
			{ "DENO_CERT", b }, { "NODE_EXTRA_CA_CERTS", c },
		};
		/* HOME and friends only under --user; the CA variables only with CAs to add. */
		size_t skip = user ? 0 : 3, nsets = trust ? sizeof(sets) / sizeof(sets[0]) : 11;
		if (system_bundle == NULL) {
			snprintf(bundle, sizeof(bundle), "%s/bundle.pem", rn.rn_trust_dir);
			snprintf(ca, sizeof(ca), "%s/ca.pem", rn.rn_trust_dir);
		}
		if ((env = make_env(sets + skip, nsets - skip, &added)) == NULL) {
			cmd_error("out of memory");
			rc = EXIT_INTERNAL;
			goto out;
		}
	}
	/* Blocked and queued before the child exists, so no signal meant for it is lost;
	 * the child unblocks them for itself. */
	sigemptyset(&fwd);
	for (size_t i = 0; i < 4; i++)
		sigaddset(&fwd, sigs[i]);
	sigprocmask(SIG_BLOCK, &fwd, NULL);
	if ((rn.rn_sigfd = signalfd(-1, &fwd, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		cmd_error("signalfd: %s", strerror(errno));
		rc = EXIT_INTERNAL;
		goto out;
	}
	ev_io_init(&rn.rn_sig_io, on_forward_signal, rn.rn_sigfd, EV_READ);
	rn.rn_sig_io.data = &rn;
	ev_io_start(rn.rn_loop, &rn.rn_sig_io);
	if (strong) {
		if ((rc = jail_setup(&rn, env)) != 0)
			goto out;
	} else {
		posix_spawnattr_t sa;
		sigset_t none, dfl;
		int e;

		sigemptyset(&none);
		sigemptyset(&dfl);
		for (size_t i = 0; i < 4; i++)
			sigaddset(&dfl, sigs[i]);
		sigaddset(&dfl, SIGPIPE);
		posix_spawnattr_init(&sa);
		posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
		posix_spawnattr_setsigmask(&sa, &none);
		posix_spawnattr_setsigdefault(&sa, &dfl);
		e = posix_spawnp(&rn.rn_child, op->op_args[0], NULL, &sa, op->op_args, env);
		posix_spawnattr_destroy(&sa);
		if (e != 0) {
			cmd_error("%s: %s", op->op_args[0], strerror(e));
			rc = e == ENOENT ? 127 : 126;
			goto out;
		}
	}
	ev_child_init(&rn.rn_child_w, on_child, rn.rn_child, 0);
	rn.rn_child_w.data = &rn;
	ev_child_start(rn.rn_loop, &rn.rn_child_w);
	if (op->op_timeout > 0) {
		ev_timer_init(&rn.rn_timeout, on_timeout, op->op_timeout, 0.);
		rn.rn_timeout.data = &rn;
		ev_timer_start(rn.rn_loop, &rn.rn_timeout);
	}
	if ((rc = run_go(&rn)) != 0) {
		if (rn.rn_child > 0)
			kill(rn.rn_child, SIGKILL);
		goto out;
	}
	ev_run(rn.rn_loop, 0);
	print_tally(&rn);
	if (rn.rn_timed_out)
		rc = 124;
	else if (strong && !rn.rn_exited)
		rc = EXIT_INTERNAL;
	else if (WIFEXITED(rn.rn_status))
		rc = WEXITSTATUS(rn.rn_status);
	else if (WIFSIGNALED(rn.rn_status))
		rc = 128 + WTERMSIG(rn.rn_status);
	else
		rc = EXIT_INTERNAL;
out:
	rc = audit_finish(&rn, rc);
	if (env != NULL) {
		for (char **e = env + added; *e; e++)
			free(*e);
		free(env);
	}
	run_teardown(&rn);
	return rc;
}

int
cmd_weak(const struct options *op)
{
	return run_command(op, false);
}

int
cmd_strong(const struct options *op)
{
	return run_command(op, true);
}
