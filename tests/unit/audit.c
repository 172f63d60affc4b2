/* Unit tests of the audit writer: rows the writer takes while their exchanges are still
 * open get their ends later, each on its own row, whatever its place in a multi-row
 * INSERT; rows that ended before are written whole; under a steady load, rows whose
 * exchanges end within AUDIT_HOLD_MS are written whole too, not inserted and updated;
 * reloads point at the first decision after them. */
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audit.h"
#include "request.h"
#include "unit.h"

#define OPEN_ROWS  100   /* INSERTs of 64, 8, 8, 8, 8, 1, 1, 1 and 1 rows */
#define ENDED_ROWS 40
#define LOAD_ROWS  4000
#define IN_FLIGHT  32    /* like wrk's connections */

static struct audit *
open_audit(const char *path)
{
	struct audit_run ar = { .ar_mode = "weak", .ar_cwd = "/", .ar_user = "unit",
	                        .ar_policy = "[]", .ar_policy_sha256 = "" };
	struct errbuf err;
	struct audit *au = audit_open(path, (uid_t)-1, (gid_t)-1, &ar, &err);

	if (au == NULL || audit_start(au, &err) < 0) {
		fprintf(stderr, "audit: %s\n", err.msg);
		exit(1);
	}
	return au;
}

/* One decision for /N; returns its token. */
static uint64_t
add(struct audit *au, int n)
{
	char url[64], buf[1024];
	struct errbuf err;
	struct request rq;
	struct audit_decision ad = { .ad_rq = &rq, .ad_verdict = VERDICT_ALLOW,
	                             .ad_enforced = true, .ad_engine = "policy",
	                             .ad_reason = "rule", .ad_hook_exit = -1 };

	snprintf(url, sizeof(url), "http://a.test/%d", n);
	if (request_from_url(&rq, "GET", url, buf, sizeof(buf), &err) < 0) {
		fprintf(stderr, "request: %s\n", err.msg);
		exit(1);
	}
	return audit_add(au, &ad);
}

static long long
count(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long n = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/*
 * A proxy's pattern: each exchange ends IN_FLIGHT decisions after its own. The writer
 * takes a batch each AUDIT_BATCH_ROWS rows, when the last IN_FLIGHT are still open.
 * Written at once, each batch would leave IN_FLIGHT rows to update (about 500 in all);
 * held, none, unless this thread stalls for AUDIT_HOLD_MS just then.
 */
static void
check_load(const char *path)
{
	static uint64_t tok[LOAD_ROWS];
	struct errbuf err;
	struct audit *au = open_audit(path);
	uint64_t updates;
	bool queued = true;
	sqlite3 *db;

	for (int i = 0; i < LOAD_ROWS + IN_FLIGHT; i++) {
		if (i < LOAD_ROWS)
			queued = (tok[i] = add(au, i)) != 0 && queued;
		if (i >= IN_FLIGHT)
			audit_end(au, tok[i - IN_FLIGHT], 200, (uint64_t)(i - IN_FLIGHT),
			          (uint64_t)(i - IN_FLIGHT) * 1000, "ok");
		usleep(50);   /* a pace the writer keeps up with */
	}
	CHECK(queued);
	usleep((AUDIT_BATCH_MS + 300) * 1000);
	updates = audit_updates(au);
	CHECK(audit_close(au, 0, &err) == 0);
	if (updates >= 2 * IN_FLIGHT)
		fprintf(stderr, "unit/audit: %llu rows of %d updated\n",
		        (unsigned long long)updates, LOAD_ROWS);
	CHECK(updates < 2 * IN_FLIGHT);
	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CHECK(count(db, "SELECT count(*) FROM decisions WHERE status = 200 AND outcome = 'ok'"
	                " AND bytes_up = CAST(substr(path, 2) AS INTEGER)"
	                " AND bytes_down = 1000 * bytes_up") == LOAD_ROWS);
	CHECK(count(db, "SELECT count(*) FROM decisions a JOIN decisions b ON b.id = a.id + 1"
	                " WHERE CAST(substr(b.path, 2) AS INTEGER) !="
	                " CAST(substr(a.path, 2) AS INTEGER) + 1") == 0);
	sqlite3_close(db);
}

/* Reloads: the first with rows after it points at the first of them; the last, with
 * none, at null. The first is noted while rows before it are still queued. */
static void
check_reloads(const char *path)
{
	struct errbuf err;
	struct audit *au = open_audit(path);
	sqlite3 *db;

	for (int i = 0; i < 5; i++)
		audit_end(au, add(au, i), 200, 0, 0, "ok");
	audit_reload(au, "aa");
	for (int i = 5; i < 8; i++)
		audit_end(au, add(au, i), 200, 0, 0, "ok");
	audit_reload(au, "bb");
	CHECK(audit_close(au, 0, &err) == 0);
	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CHECK(count(db, "SELECT json_array_length(reloads) FROM runs") == 2);
	CHECK(count(db, "SELECT count(*) FROM runs, decisions WHERE path = '/5' AND"
	                " json_extract(reloads, '$[0].first_id') = decisions.id AND"
	                " json_extract(reloads, '$[0].policy_sha256') = 'aa'") == 1);
	CHECK(count(db, "SELECT count(*) FROM runs WHERE"
	                " json_type(reloads, '$[1].first_id') = 'null' AND"
	                " json_extract(reloads, '$[1].policy_sha256') = 'bb' AND"
	                " json_extract(reloads, '$[1].at') >= json_extract(reloads, '$[0].at')") == 1);
	sqlite3_close(db);
}

static void
remove_db(const char *path)
{
	char p[320];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

int
main(void)
{
	char dir[] = "/tmp/httpjail-unit-audit.XXXXXX", path[300];
	uint64_t tok[OPEN_ROWS];
	struct errbuf err;
	struct audit *au;
	sqlite3 *db;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/audit.db", dir);
	au = open_audit(path);
	for (int i = 0; i < OPEN_ROWS; i++)
		CHECK((tok[i] = add(au, i)) != 0);
	/* The writer takes them by its timer, all still open. */
	usleep((AUDIT_BATCH_MS + 300) * 1000);
	for (int i = 0; i < OPEN_ROWS; i++)
		audit_end(au, tok[i], 200 + i, (uint64_t)i, (uint64_t)i * 1000, "ok");
	for (int i = OPEN_ROWS; i < OPEN_ROWS + ENDED_ROWS; i++)
		audit_end(au, add(au, i), 300 + i, (uint64_t)i, (uint64_t)i * 1000, "ok");
	CHECK(audit_close(au, 0, &err) == 0);

	CHECK(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
	CHECK(count(db, "SELECT count(*) FROM decisions") == OPEN_ROWS + ENDED_ROWS);
	/* Each row's end is its own: status, bytes and path agree. */
	CHECK(count(db, "SELECT count(*) FROM decisions WHERE"
	                " bytes_up = CAST(substr(path, 2) AS INTEGER)"
	                " AND bytes_down = 1000 * bytes_up AND outcome = 'ok' AND status ="
	                " CASE WHEN bytes_up < 100 THEN 200 ELSE 300 END + bytes_up") ==
	      OPEN_ROWS + ENDED_ROWS);
	CHECK(count(db, "SELECT count(DISTINCT path) FROM decisions") == OPEN_ROWS + ENDED_ROWS);
	/* Rows are in the order they were added. */
	CHECK(count(db, "SELECT count(*) FROM decisions a JOIN decisions b ON b.id = a.id + 1"
	                " WHERE CAST(substr(b.path, 2) AS INTEGER) !="
	                " CAST(substr(a.path, 2) AS INTEGER) + 1") == 0);
	sqlite3_close(db);
	remove_db(path);
	snprintf(path, sizeof(path), "%s/load.db", dir);
	check_load(path);
	remove_db(path);
	snprintf(path, sizeof(path), "%s/reloads.db", dir);
	check_reloads(path);
	remove_db(path);
	rmdir(dir);
	return unit_done("unit/audit");
}
