/* hook: runs `sh` rule programs as child processes watched by a libev loop, so
 * that many requests can wait on hooks at once without blocking the loop. */
#ifndef HTTPJAIL_HOOK_H
#define HTTPJAIL_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "request.h"

struct ev_loop;
struct hook_runner;
struct hook;

#define HOOK_OUT_MAX 4096

enum hook_status {
	HOOK_MATCH,   /* exit 0 */
	HOOK_NOMATCH, /* exit 1 */
	HOOK_ERROR,   /* any other exit, a signal, the timeout, or it could not start */
};

struct hook_result {
	enum hook_status hr_status;
	int              hr_exit;      /* exit code, -1 when it did not exit */
	int              hr_signal;    /* signal that ended it, 0 if none */
	bool             hr_timed_out;
	bool             hr_cached;    /* answered from the verdict cache */
	uint64_t         hr_usec;      /* spawn to verdict; 0 when cached */
	size_t           hr_outlen;
	char             hr_out[HOOK_OUT_MAX]; /* first 4 KiB of stdout, not NUL-terminated */
	char             hr_reason[160];       /* "exit 3", "killed by signal 9",
	                                          "timed out after 5000 ms", "cannot run: ..." */
};

struct hook_opts {
	unsigned    ho_timeout_ms;  /* 0 means the default, 5000 */
	unsigned    ho_cache_ms;    /* 0 disables the verdict cache */
	const char *ho_run_id;      /* HTTPJAIL_RUN_ID; copied */
};

/* Called once per started hook; RES is valid only during the call. */
typedef void hook_cb(const struct hook_result *res, void *arg);

/* LOOP must be libev's default loop (ev_child watchers live only there). */
struct hook_runner *hook_runner_new(struct ev_loop *loop, const struct hook_opts *);
/* Kills every hook still running (SIGKILL to its process group); no callback runs. */
void                hook_runner_free(struct hook_runner *);

/*
 * Starts CMD for RQ. CMD with a space or shell syntax runs as `/bin/sh -c CMD`,
 * otherwise it is executed directly (PATH search). Returns a handle the runner owns
 * until CB has run; returns NULL when the result is known at once (cache hit, or the
 * program could not be started) and then fills *NOW and never calls CB.
 */
struct hook *hook_start(struct hook_runner *, const char *cmd,
                        const struct request *rq, hook_cb *cb, void *arg,
                        struct hook_result *now);
/* Abandons a running hook: kills its process group; CB is never called. */
void         hook_cancel(struct hook *);

/* Blocking convenience for --test and tests: runs the loop until CMD ends. */
void         hook_run_sync(struct hook_runner *, const char *cmd,
                           const struct request *rq, struct hook_result *res);

#endif
