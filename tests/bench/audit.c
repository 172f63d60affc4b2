/* bench_audit: rows per second the audit writer sustains, and what one audit_add()
 * costs the loop that calls it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "request.h"

#define ROWS 500000

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(void)
{
	char dir[] = "/tmp/httpjail-bench-audit.XXXXXX", path[300], buf[1024];
	struct audit_run ar = { .ar_mode = "weak", .ar_cwd = "/", .ar_user = "bench",
	                        .ar_policy = "[]", .ar_policy_sha256 = "" };
	struct errbuf err;
	struct request rq;
	struct audit *au;
	double t0, t1, t2;

	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(path, sizeof(path), "%s/audit.db", dir);
	if (request_from_url(&rq, "GET", "https://registry.npmjs.org/react/-/react-18.2.0.tgz?x=1",
	                     buf, sizeof(buf), &err) < 0 ||
	    (au = audit_open(path, (uid_t)-1, (gid_t)-1, &ar, &err)) == NULL ||
	    audit_start(au, &err) < 0) {
		fprintf(stderr, "bench_audit: %s\n", err.msg);
		return 1;
	}
	struct audit_decision ad = {
		.ad_rq = &rq, .ad_verdict = VERDICT_ALLOW, .ad_enforced = true,
		.ad_engine = "policy", .ad_reason = "rule", .ad_hook_exit = -1, .ad_decide_us = 1,
	};
	t0 = now();
	for (int i = 0; i < ROWS; i++) {
		uint64_t tok = audit_add(au, &ad);
		audit_end(au, tok, 200, 120, 4096, "ok");
	}
	t1 = now();
	if (audit_close(au, 0, &err) < 0) {
		fprintf(stderr, "bench_audit: %s\n", err.msg);
		return 1;
	}
	t2 = now();
	printf("| audit writer | rows | rows/s written (to the last commit) | loop cost per row (add + end) |\n");
	printf("|---|---:|---:|---:|\n");
	printf("| WAL, batches of %d rows or %d ms | %d | %.0f | %.2f us |\n", AUDIT_BATCH_ROWS,
	       AUDIT_BATCH_MS, ROWS, ROWS / (t2 - t0),
	       (t1 - t0) * 1e6 / ROWS);
	snprintf(buf, sizeof(buf), "rm -rf '%s'", dir);
	return system(buf) == 0 ? 0 : 1;
}
