/* audit_run: the audit database a run writes to, and what its run row says. */
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "audit_cmd.h"

/* One element more of the JSON array in SB: PRE and S as one string. */
static void
json_append(sqlite3_str *sb, const char *pre, const char *s)
{
	char *both = sqlite3_mprintf("%s%s", pre, s);

	if (sqlite3_str_length(sb) > 1)
		sqlite3_str_appendchar(sb, 1, ',');
	audit_json_str(sb, both ? both : "", both ? strlen(both) : 0);
	sqlite3_free(both);
}

/* Where the rules came from, as a JSON array; sqlite3_free() it. */
static char *
policy_sources(const struct options *op, const struct policy *po)
{
	sqlite3_str *sb = sqlite3_str_new(NULL);

	sqlite3_str_appendchar(sb, 1, '[');
	for (size_t i = 0; i < policy_file_count(po); i++)
		json_append(sb, "", policy_file_get(po, i));
	for (size_t i = 0; i < op->op_nrules; i++)
		json_append(sb, "-r ", op->op_rules[i]);
	for (size_t i = 0; i < op->op_nsh; i++)
		json_append(sb, "--sh ", op->op_sh[i]);
	sqlite3_str_appendchar(sb, 1, ']');
	return sqlite3_str_finish(sb);
}

/* SHA-256 of the pipeline as `httpjail check` shows it: same digest, same rules. */
static void
policy_digest(const struct policy *po, char out[65])
{
	sqlite3_str *sb = sqlite3_str_new(NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	char *text;

	for (size_t i = 0; i < policy_rule_count(po); i++) {
		const struct rule *r = policy_rule_get(po, i);
		sqlite3_str_appendf(sb, "%llu %s %s\n", (unsigned long long)i + 1, rule_source(r),
		                    rule_text(r));
	}
	sqlite3_str_appendf(sb, "default %s\n",
	                    policy_default(po) == VERDICT_ALLOW ? "allow" : "deny");
	text = sqlite3_str_finish(sb);
	out[0] = '\0';
	if (text != NULL && EVP_Digest(text, strlen(text), md, &len, EVP_sha256(), NULL) == 1)
		for (unsigned i = 0; i < len && i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", md[i]);
	sqlite3_free(text);
}

void
cmd_audit_reload(struct audit *au, const struct policy *po)
{
	char sha[65];

	policy_digest(po, sha);
	audit_reload(au, sha);
}

struct audit *
cmd_audit_begin(const struct options *op, const struct policy *po, struct errbuf *err)
{
	char path[4096], cwd[4096], sha[65], user[64];
	struct audit_run ar = { 0 };
	struct audit *au;
	struct passwd *pw;
	uid_t uid;
	gid_t gid;
	char *sources;

	cmd_invoker(&uid, &gid);
	if (op->op_audit_db != NULL)
		snprintf(path, sizeof(path), "%s", op->op_audit_db);
	else if (policy_audit_db(po) != NULL)
		snprintf(path, sizeof(path), "%s", policy_audit_db(po));
	else if (audit_default_path(uid, path, sizeof(path), err) < 0)
		return NULL;
	if (getenv("SUDO_USER") != NULL && uid != (uid_t)-1)
		snprintf(user, sizeof(user), "%s", getenv("SUDO_USER"));
	else if ((pw = getpwuid(getuid())) != NULL)
		snprintf(user, sizeof(user), "%s", pw->pw_name);
	else
		snprintf(user, sizeof(user), "%u", (unsigned)getuid());
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		cwd[0] = '\0';
	policy_digest(po, sha);
	sources = policy_sources(op, po);
	ar.ar_mode = op->op_server ? "server" : op->op_weak ? "weak" : "strong";
	ar.ar_argv = op->op_server ? NULL : op->op_args;
	ar.ar_cwd = cwd;
	ar.ar_user = user;
	ar.ar_policy = sources ? sources : "[]";
	ar.ar_policy_sha256 = sha;
	ar.ar_dry_run = op->op_dry_run || policy_dry_run(po);
	ar.ar_log_only = op->op_log_only;
	au = audit_open(path, uid, gid, &ar, err);
	sqlite3_free(sources);
	return au;
}
