/* cmd: the command-line front end; only cmd/ prints to stdout and picks exit codes. */
#ifndef HTTPJAIL_CMD_H
#define HTTPJAIL_CMD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy.h"

#define EXIT_USAGE    2
#define EXIT_INTERNAL 125

struct options {
	const char **op_files;  size_t op_nfiles;
	const char **op_rules;  size_t op_nrules;
	const char **op_sh;     size_t op_nsh;
	bool         op_no_tls_intercept;
	bool         op_server, op_weak, op_dry_run, op_log_only;
	const char **op_listen;     size_t op_nlisten;
	const char **op_listen_tls; size_t op_nlisten_tls;
	const char **op_resolve;    size_t op_nresolve;
	const char  *op_request_log;
	const char  *op_audit_db;   /* --audit-db */
	bool         op_no_audit;
	const char **op_ca_files;   size_t op_nca_files;
	double       op_timeout;    /* seconds; 0 for none */
	const char  *op_user;       /* --user */
	int          op_verbose;  /* -v count minus -q count */
	char       **op_args;     /* positionals after the options */
	int          op_nargs;
};

/* Appends S (borrowed) to the growing array *V of *N; -1 after saying out of memory. */
int cmd_push(const char ***v, size_t *n, const char *s);
/* Prints "httpjail: MSG" on stderr. */
void cmd_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Compiles the policy the options name; prints the error and returns NULL on failure. */
struct policy *cmd_policy(const struct options *);
/* Fills SRC from OP; returns the ruleset path SRC points to, for the caller to free. */
char          *cmd_policy_src(const struct options *, struct policy_src *src);

struct hook_runner;
struct hook_result;
/*
 * Decides RQ, running the hooks the walk asks for one at a time (blocking). SC and
 * *HR are the caller's (*HR is made on first need; the caller frees it). RES gets
 * the last hook's result. Returns 0, or -1 when hooks cannot be run.
 */
int cmd_decide(const struct policy *po, struct policy_scratch *sc, struct hook_runner **hr,
               const struct request *rq, struct decision *dc, struct hook_result *res);

struct proxy_pin;
/* Parses --resolve's HOST:PORT:ADDR into PP, whose host then points into HOST (of
 * HOSTSZ bytes, made lower case); -1 after saying what is wrong. */
int cmd_pin_parse(const char *s, struct proxy_pin *pp, char *host, size_t hostsz);

int cmd_check(const struct options *);
int cmd_test(const struct options *);
int cmd_server(const struct options *);
int cmd_weak(const struct options *);
int cmd_strong(const struct options *);
int cmd_ca(int argc, char **argv);

/* Under sudo, the user who ran sudo, whose CA and audit database httpjail uses in
 * their own directories; else -1 and -1 (ourselves). */
void cmd_invoker(uid_t *uid, gid_t *gid);

/* The CA of the invoking user (under sudo: of $SUDO_UID), made on first use. */
struct ca *cmd_ca_load(struct errbuf *err);

#endif
