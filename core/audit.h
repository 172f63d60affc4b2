/* audit: the SQLite audit database. A run adds one row to `runs` and one row to
 * `decisions` per decision; a thread of its own writes them in batched transactions
 * so the loop never waits for the disk. `httpjail audit` opens the same file to read. */
#ifndef HTTPJAIL_AUDIT_H
#define HTTPJAIL_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "errbuf.h"
#include "policy.h"
#include "request.h"

/* 1: the columns of SPEC section 7, no application_id. 2: + runs.log_only, hostname,
 * version, lost; decisions.query, requester, outcome; application_id; an index on run_id.
 * 3: + runs.reloads. */
#define AUDIT_SCHEMA_VERSION 3
/* The oldest schema `httpjail audit` reads as it is, when it cannot bring it up to date
 * (a database of another user): its queries need no column added since. */
#define AUDIT_READ_VERSION   2
#define AUDIT_APPLICATION_ID 1212826953  /* PRAGMA application_id: "HJEI" */
/* A transaction of this many rows is written at once, else what is queued every
 * AUDIT_BATCH_MS. Small batches keep each burst of the writer short: with 2048, a busy
 * proxy's p99 latency was 2.9 ms instead of 1.1 ms without the audit, with 256 1.6 ms. */
#define AUDIT_BATCH_ROWS     256
#define AUDIT_BATCH_MS       200
/* A row decided less than this long ago whose exchange is still open waits for the next
 * batch: most end by then and are written once, complete, not inserted and updated. */
#define AUDIT_HOLD_MS        10

typedef struct sqlite3 sqlite3;
typedef struct sqlite3_str sqlite3_str;
struct audit;

/* What the run row says about the run. */
struct audit_run {
	const char  *ar_mode;            /* "strong", "weak", "server" */
	char *const *ar_argv;            /* the command, NULL-terminated; NULL for --server */
	const char  *ar_cwd, *ar_user;
	const char  *ar_policy;          /* JSON array of where the rules came from */
	const char  *ar_policy_sha256;   /* of the compiled pipeline's text */
	bool         ar_dry_run, ar_log_only;
};

/* One decision; everything is copied. */
struct audit_decision {
	const struct request *ad_rq;     /* kind, method, URL and its parts, requester */
	enum verdict          ad_verdict;
	bool                  ad_enforced;
	const struct rule    *ad_rule;   /* NULL: the default, or no rule was asked */
	const char           *ad_engine; /* "policy", "log-only", "loop", "dns-stub" */
	const char           *ad_reason;
	int                   ad_hook_exit;  /* -1: no hook ran */
	uint64_t              ad_decide_us;
};

/*
 * The default path: $HTTPJAIL_AUDIT_DB, else $XDG_STATE_HOME/httpjail/audit.db, else
 * HOME/.local/state/httpjail/audit.db, of OWNER (-1: the current user; another
 * user's home comes from the passwd database).
 */
int  audit_default_path(uid_t owner, char *out, size_t outsz, struct errbuf *err);

/*
 * Opens PATH for a run, creating it (and missing directories, owned by OWNER and
 * GROUP; -1 keeps ours) or migrating an older schema, and inserts the run's row.
 * Every failure (unwritable, corrupt, not httpjail's) is one line in ERR.
 */
struct audit *audit_open(const char *path, uid_t owner, gid_t group,
                         const struct audit_run *, struct errbuf *err);
int64_t       audit_run_id(const struct audit *);
/* Starts the writer thread; before it, rows only queue. */
int           audit_start(struct audit *, struct errbuf *err);
/* Queues one decision; returns its token for audit_end() (never 0). */
uint64_t      audit_add(struct audit *, const struct audit_decision *);
/* The exchange of TOKEN is over: its status (0: none), bytes and how it ended. */
void          audit_end(struct audit *, uint64_t token, int status, uint64_t bytes_up,
                        uint64_t bytes_down, const char *outcome);
/* The policy was reloaded; POLICY_SHA256 is the new one's digest. Decisions from the
 * next one on are its: runs.reloads gets {at, policy_sha256, first_id}. */
void          audit_reload(struct audit *, const char *policy_sha256);
/* How many rows were written before their exchange ended and completed later. */
uint64_t      audit_updates(const struct audit *);
/*
 * Writes what is queued, ends the run row with EXIT_CODE, stops the thread and frees.
 * Returns 0, or -1 with ERR saying what failed and how many decisions were lost.
 */
int           audit_close(struct audit *, int exit_code, struct errbuf *err);

/*
 * For reading (`httpjail audit`): opens an existing PATH, checks that it is an
 * httpjail audit database and brings an older schema up to date. Caller closes with
 * sqlite3_close(). The SQL function regexp(PATTERN, TEXT) is defined (PCRE2).
 */
sqlite3 *audit_open_db(const char *path, struct errbuf *err);

/* Appends LEN bytes of S to SB as a JSON string: quoted, controls as \u00XX,
 * invalid UTF-8 as U+FFFD. */
void     audit_json_str(sqlite3_str *sb, const char *s, size_t len);
/* The length of the valid UTF-8 sequence at P (of N bytes, N > 0), or 0. */
size_t   audit_utf8_seq(const unsigned char *p, size_t n);
/* Now as the audit writes times: RFC 3339, UTC, milliseconds ("...T10:00:01.123Z"). */
void     audit_time(char *out, size_t outsz);

#endif
