/* httpjail: option parsing and dispatch. */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_cmd.h"
#include "cmd.h"
#include "log.h"
#include "proxy.h"
#include "version.h"

#ifndef HTTPJAIL_DATADIR
#define HTTPJAIL_DATADIR "/usr/local/share/httpjail"
#endif

enum {
	OPT_SH = 256,
	OPT_TEST,
	OPT_NO_TLS_INTERCEPT,
	OPT_SERVER,
	OPT_WEAK,
	OPT_LISTEN,
	OPT_LISTEN_TLS,
	OPT_RESOLVE,
	OPT_REQUEST_LOG,
	OPT_DRY_RUN,
	OPT_LOG_ONLY,
	OPT_TIMEOUT,
	OPT_CA_FILE,
	OPT_USER,
	OPT_AUDIT_DB,
	OPT_NO_AUDIT,
};

static const struct option longopts[] = {
	{ "rule",             required_argument, NULL, 'r' },
	{ "config",           required_argument, NULL, 'c' },
	{ "sh",               required_argument, NULL, OPT_SH },
	{ "test",             no_argument,       NULL, OPT_TEST },
	{ "no-tls-intercept", no_argument,       NULL, OPT_NO_TLS_INTERCEPT },
	{ "server",           no_argument,       NULL, OPT_SERVER },
	{ "weak",             no_argument,       NULL, OPT_WEAK },
	{ "listen",           required_argument, NULL, OPT_LISTEN },
	{ "listen-tls",       required_argument, NULL, OPT_LISTEN_TLS },
	{ "resolve",          required_argument, NULL, OPT_RESOLVE },
	{ "request-log",      required_argument, NULL, OPT_REQUEST_LOG },
	{ "dry-run",          no_argument,       NULL, OPT_DRY_RUN },
	{ "log-only",         no_argument,       NULL, OPT_LOG_ONLY },
	{ "timeout",          required_argument, NULL, OPT_TIMEOUT },
	{ "ca-file",          required_argument, NULL, OPT_CA_FILE },
	{ "user",             required_argument, NULL, OPT_USER },
	{ "audit-db",         required_argument, NULL, OPT_AUDIT_DB },
	{ "no-audit",         no_argument,       NULL, OPT_NO_AUDIT },
	{ "verbose",          no_argument,       NULL, 'v' },
	{ "quiet",            no_argument,       NULL, 'q' },
	{ "help",             no_argument,       NULL, 'h' },
	{ "version",          no_argument,       NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char usage_text[] =
	"usage: httpjail [OPTIONS] -- COMMAND [ARG...]\n"
	"       httpjail [OPTIONS] --weak -- COMMAND [ARG...]\n"
	"       httpjail [OPTIONS] --server\n"
	"       httpjail [OPTIONS] --test [METHOD] URL\n"
	"       httpjail check [-c FILE]... [-r RULE]... [--sh CMD]\n"
	"       httpjail ca path|show|export|regenerate\n"
	"       httpjail audit [runs|summary|suggest|replay|report|export] [OPTIONS] (see audit --help)\n"
	"\n"
	"  -r, --rule 'ACTION[-METHOD,...]: REGEX'  add a rule (allow or deny); repeatable, ordered\n"
	"  -c, --config FILE        a YAML policy (httpjail.yaml(5)); repeatable\n"
	"      --sh CMD             last rule: allow when CMD exits 0 (HTTPJAIL_* in its environment)\n"
	"      --test [METHOD] URL  print the decision and the deciding rule; exit 0 allow, 1 deny\n"
	"      --no-tls-intercept   decide HTTPS on the host only (method CONNECT)\n"
	"      --weak               run COMMAND with HTTP_PROXY and friends pointing at the proxy\n"
	"      --server             run the proxy alone until SIGINT or SIGTERM\n"
	"      --listen ADDR:PORT   --server's proxy address (default 127.0.0.1:8080)\n"
	"      --listen-tls ADDR:PORT  --server's transparent address (default 127.0.0.1:8443)\n"
	"      --resolve HOST:PORT:ADDR  connect to ADDR for HOST:PORT (repeatable)\n"
	"      --request-log FILE   append one line per decision to FILE\n"
	"      --audit-db PATH      record decisions in PATH (default $HTTPJAIL_AUDIT_DB, else\n"
	"                           ~/.local/state/httpjail/audit.db)\n"
	"      --no-audit           record nothing in the audit database\n"
	"      --dry-run            decide and record every request, block none\n"
	"      --log-only           decide nothing: allow and record every request\n"
	"      --timeout SECONDS    stop COMMAND after this long (exit 124)\n"
	"      --ca-file FILE       also trust FILE's CA certificates for upstream TLS\n"
	"      --user NAME          run COMMAND as NAME (as root; default $SUDO_USER)\n"
	"  -v, --verbose            more diagnostics\n"
	"  -q, --quiet              only errors\n"
	"  -h, --help               this help\n"
	"  -V, --version            print the version\n"
	"\n"
	"Exit status: 2 for a usage or policy error; see httpjail(1).\n";

void
cmd_error(const char *fmt, ...)
{
	va_list ap;

	fputs("httpjail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int
cmd_push(const char ***v, size_t *n, const char *s)
{
	const char **nv = realloc(*v, (*n + 1) * sizeof(*nv));

	if (nv == NULL) {
		cmd_error("out of memory");
		return -1;
	}
	*v = nv;
	nv[(*n)++] = s;
	return 0;
}

/* $HTTPJAIL_RULESETS, rulesets/ beside the binary, then the installed share dir. */
static char *
ruleset_dirs(void)
{
	const char *env = getenv("HTTPJAIL_RULESETS");
	char exe[PATH_MAX], share[PATH_MAX + 32], real[PATH_MAX], *slash, *out;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	exe[n > 0 ? n : 0] = '\0';
	if ((slash = strrchr(exe, '/')) != NULL)
		*slash = '\0';
	/* Resolved, so that check names /usr/share/..., not /usr/bin/../share/... */
	snprintf(share, sizeof(share), "%s/../share/httpjail/rulesets", exe);
	if (asprintf(&out, "%s%s%s/rulesets:%s:%s/rulesets", env ? env : "", env ? ":" : "",
	             exe, realpath(share, real) != NULL ? real : share, HTTPJAIL_DATADIR) < 0)
		return NULL;
	return out;
}

char *
cmd_policy_src(const struct options *op, struct policy_src *src)
{
	char *dirs = ruleset_dirs();

	*src = (struct policy_src){
		.ps_files = op->op_files, .ps_nfiles = op->op_nfiles,
		.ps_rules = op->op_rules, .ps_nrules = op->op_nrules,
		.ps_sh = op->op_sh, .ps_nsh = op->op_nsh,
		.ps_no_tls_intercept = op->op_no_tls_intercept,
		.ps_ruleset_dirs = dirs,
	};
	return dirs;
}

struct policy *
cmd_policy(const struct options *op)
{
	struct errbuf err = { "" };
	struct policy_src src;
	char *dirs = cmd_policy_src(op, &src);
	struct policy *po = policy_compile(&src, &err);

	if (po == NULL)
		cmd_error("%s", err.msg);
	free(dirs);
	return po;
}

static int
parse(int argc, char **argv, struct options *op, bool *test)
{
	int ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":r:c:vqhV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'r':
			if (cmd_push(&op->op_rules, &op->op_nrules, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case 'c':
			if (cmd_push(&op->op_files, &op->op_nfiles, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case OPT_SH:
			if (cmd_push(&op->op_sh, &op->op_nsh, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case OPT_TEST:
			*test = true;
			break;
		case OPT_NO_TLS_INTERCEPT:
			op->op_no_tls_intercept = true;
			break;
		case OPT_SERVER:
			op->op_server = true;
			break;
		case OPT_WEAK:
			op->op_weak = true;
			break;
		case OPT_DRY_RUN:
			op->op_dry_run = true;
			break;
		case OPT_LOG_ONLY:
			op->op_log_only = true;
			break;
		case OPT_REQUEST_LOG:
			op->op_request_log = optarg;
			break;
		case OPT_LISTEN:
			if (cmd_push(&op->op_listen, &op->op_nlisten, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case OPT_LISTEN_TLS:
			if (cmd_push(&op->op_listen_tls, &op->op_nlisten_tls, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case OPT_USER:
			op->op_user = optarg;
			break;
		case OPT_AUDIT_DB:
			op->op_audit_db = optarg;
			break;
		case OPT_NO_AUDIT:
			op->op_no_audit = true;
			break;
		case OPT_CA_FILE:
			if (cmd_push(&op->op_ca_files, &op->op_nca_files, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		case OPT_RESOLVE: {
			/* Checked here too, so that --test and check do not take a typo. */
			struct proxy_pin pp;
			char host[256];

			if (cmd_pin_parse(optarg, &pp, host, sizeof(host)) < 0)
				return EXIT_USAGE;
			if (cmd_push(&op->op_resolve, &op->op_nresolve, optarg) < 0)
				return EXIT_INTERNAL;
			break;
		}
		case OPT_TIMEOUT: {
			char *end;
			op->op_timeout = strtod(optarg, &end);
			if (*end != '\0' || end == optarg || !(op->op_timeout > 0)) {
				cmd_error("--timeout '%s': expected a number of seconds", optarg);
				return EXIT_USAGE;
			}
			break;
		}
		case 'v':
			op->op_verbose++;
			break;
		case 'q':
			op->op_verbose--;
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case 'V': {
			char libs[1024];
			version_libs(libs, sizeof(libs));
			printf("httpjail %s\n%s", HTTPJAIL_VERSION, libs);
			exit(0);
		}
		case ':':
			cmd_error("%s: missing argument (see httpjail --help)", argv[optind - 1]);
			return EXIT_USAGE;
		default:
			if (optopt != 0)
				cmd_error("-%c: unknown option (see httpjail --help)", optopt);
			else
				cmd_error("%s: unknown option (see httpjail --help)", argv[optind - 1]);
			return EXIT_USAGE;
		}
	}
	op->op_args = argv + optind;
	op->op_nargs = argc - optind;
	return 0;
}

int
main(int argc, char **argv)
{
	struct options op = { 0 };
	bool test = false, check = false;
	int rc;

	if (argc > 1 && strcmp(argv[1], "ca") == 0)
		return cmd_ca(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "check") == 0) {
		check = true;
		argv++;
		argc--;
	}
	if ((rc = parse(argc, argv, &op, &test)) != 0)
		goto out;
	log_setlevel(op.op_verbose > 0 ? LOG_LVL_DEBUG :
	             op.op_verbose < 0 ? LOG_LVL_ERROR : LOG_LVL_WARN);
	if (check) {
		if (test || op.op_nargs > 0) {
			cmd_error("check: unexpected argument '%s' (usage: httpjail check [-c FILE]... [-r RULE]...)",
			          test ? "--test" : op.op_args[0]);
			rc = EXIT_USAGE;
		} else {
			rc = cmd_check(&op);
		}
	} else if (test) {
		rc = cmd_test(&op);
	} else if (op.op_server) {
		if (op.op_nargs > 0 || op.op_weak) {
			cmd_error("--server runs no command (usage: httpjail [OPTIONS] --server)");
			rc = EXIT_USAGE;
		} else if (op.op_timeout > 0) {
			cmd_error("--timeout limits a command; --server runs none");
			rc = EXIT_USAGE;
		} else if (op.op_user != NULL) {
			cmd_error("--user is who the jailed command runs as; --server runs none");
			rc = EXIT_USAGE;
		} else {
			rc = cmd_server(&op);
		}
	} else if (op.op_nlisten > 0 || op.op_nlisten_tls > 0) {
		cmd_error("--listen and --listen-tls go with --server");
		rc = EXIT_USAGE;
	} else if (op.op_nargs == 0) {
		cmd_error("nothing to run (usage: httpjail [OPTIONS] -- COMMAND, or --test URL; see --help)");
		rc = EXIT_USAGE;
	} else if (op.op_weak) {
		if (op.op_user != NULL) {
			cmd_error("--user needs the jail; --weak runs the command as you");
			rc = EXIT_USAGE;
		} else {
			rc = cmd_weak(&op);
		}
	} else {
		rc = cmd_strong(&op);
	}
out:
	free(op.op_files);
	free(op.op_rules);
	free(op.op_sh);
	free(op.op_listen);
	free(op.op_listen_tls);
	free(op.op_resolve);
	free(op.op_ca_files);
	return rc;
}
