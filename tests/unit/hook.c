/* Unit tests for core/hook.c: real children on libev's default loop. */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "hook.h"
#include "unit.h"

#define WAIT_MS 5000

struct rec {
	int                calls;
	int                matches;
	struct hook_result res;
};

static struct ev_loop *evl;
static char tmpd[] = "/tmp/hooktest.XXXXXX";
static struct request rq;
static char rqbuf[512];

static void
rec_cb(const struct hook_result *res, void *arg)
{
	struct rec *r = arg;

	r->calls++;
	if (res->hr_status == HOOK_MATCH)
		r->matches++;
	r->res = *res;
}

/* hr_out is not NUL-terminated. */
static const char *
out(const struct hook_result *res)
{
	static char buf[HOOK_OUT_MAX + 1];

	memcpy(buf, res->hr_out, res->hr_outlen);
	buf[res->hr_outlen] = '\0';
	return buf;
}

static uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Lets libev's SIGCHLD handler reap while a test waits. */
static void
pump(void)
{
	ev_run(evl, EVRUN_NOWAIT);
	usleep(10000);
}

static char
proc_state(pid_t pid, pid_t *pgrp)
{
	char path[64], buf[512], *p, state;
	size_t n;
	FILE *f;
	int ppid, pg;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d %d", &state, &ppid, &pg) != 3)
		return 0;
	if (pgrp != NULL)
		*pgrp = pg;
	return state;
}

/* Our own children must be reaped, not merely dead. */
static bool
reaped(pid_t pid)
{
	for (uint64_t end = ms_now() + WAIT_MS; ms_now() < end; pump()) {
		if (kill(pid, 0) == -1 && errno == ESRCH)
			return true;
	}
	return false;
}

/* Orphans go to a PID 1 that may never reap them: a zombie counts as gone. */
static bool
gone(pid_t pid)
{
	for (uint64_t end = ms_now() + WAIT_MS; ms_now() < end; pump()) {
		if ((kill(pid, 0) == -1 && errno == ESRCH) ||
		    proc_state(pid, NULL) == 'Z')
			return true;
	}
	return false;
}

static bool
group_alive(pid_t pgid)
{
	struct dirent *de;
	bool alive = false;
	pid_t pg;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return true;
	while (!alive && (de = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		char st = proc_state((pid_t)atoi(de->d_name), &pg);
		alive = st != 0 && st != 'Z' && pg == pgid;
	}
	closedir(d);
	return alive;
}

static bool
group_gone(pid_t pgid)
{
	for (uint64_t end = ms_now() + WAIT_MS; ms_now() < end; pump()) {
		if (!group_alive(pgid))
			return true;
	}
	return false;
}

/* Waits for a hook to write its pid; 0 if it never does. */
static pid_t
read_pid(const char *name)
{
	char path[256];
	FILE *f;
	int pid;

	snprintf(path, sizeof path, "%s/%s", tmpd, name);
	for (uint64_t end = ms_now() + WAIT_MS; ms_now() < end; pump()) {
		if ((f = fopen(path, "r")) == NULL)
			continue;
		pid = 0;
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
		if (pid > 0)
			return pid;
	}
	return 0;
}

static int
count_lines(const char *name)
{
	char path[256];
	FILE *f;
	int c, n = 0;

	snprintf(path, sizeof path, "%s/%s", tmpd, name);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* CMD with every "@" replaced by the temp dir. */
static const char *
cmdf(const char *tmpl)
{
	static char buf[2048];
	char *p = buf;

	for (; *tmpl != '\0' && p < buf + sizeof buf - sizeof tmpd; tmpl++) {
		if (*tmpl == '@')
			p = stpcpy(p, tmpd);
		else
			*p++ = *tmpl;
	}
	*p = '\0';
	return buf;
}

static struct hook_runner *
runner(unsigned timeout_ms, unsigned cache_ms, const char *run_id)
{
	struct hook_opts o = { timeout_ms, cache_ms, run_id };

	return hook_runner_new(evl, &o);
}

static void
test_env(void)
{
	struct hook_runner *ru;
	struct hook_result res;

	setenv("HTTPJAIL_HOST", "evil.test", 1);
	setenv("HTTPJAIL_STALE", "x", 1);
	setenv("HOOKTEST_KEEP", "kept", 1);
	ru = runner(0, 0, "run-42");
	hook_run_sync(ru, "printf '%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s' "
	    "\"$HTTPJAIL_URL\" \"$HTTPJAIL_METHOD\" \"$HTTPJAIL_SCHEME\" "
	    "\"$HTTPJAIL_HOST\" \"$HTTPJAIL_PORT\" \"$HTTPJAIL_PATH\" "
	    "\"$HTTPJAIL_QUERY\" \"$HTTPJAIL_REQUESTER_IP\" \"$HTTPJAIL_RUN_ID\" "
	    "\"${HTTPJAIL_STALE-unset}\" \"$HOOKTEST_KEEP\"", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH);
	CHECK_STR(out(&res), "https://api.example.test:8443/p/a?x=1&y=2|GET|https|"
	    "api.example.test|8443|/p/a|x=1&y=2|127.0.0.1|run-42|unset|kept");
	hook_run_sync(ru, "env | grep -c '^HTTPJAIL_'", &rq, &res);
	CHECK_STR(out(&res), "9\n");
	hook_runner_free(ru);
	CHECK_STR(getenv("HTTPJAIL_HOST"), "evil.test");

	ru = runner(0, 0, NULL);
	hook_run_sync(ru, "printf '[%s]' \"${HTTPJAIL_RUN_ID-unset}\"", &rq, &res);
	CHECK_STR(out(&res), "[]");
	hook_runner_free(ru);
	unsetenv("HTTPJAIL_HOST");
	unsetenv("HTTPJAIL_STALE");
	unsetenv("HOOKTEST_KEEP");
}

static void
test_status(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result res;

	hook_run_sync(ru, "echo hello; exit 0", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH);
	CHECK(res.hr_exit == 0 && res.hr_signal == 0 && !res.hr_timed_out);
	CHECK(!res.hr_cached);
	CHECK(res.hr_usec > 0 && res.hr_usec < 5000000);
	CHECK_STR(out(&res), "hello\n");
	CHECK_STR(res.hr_reason, "");

	hook_run_sync(ru, "exit 1", &rq, &res);
	CHECK(res.hr_status == HOOK_NOMATCH);
	CHECK(res.hr_exit == 1);

	hook_run_sync(ru, "exit 2", &rq, &res);
	CHECK(res.hr_status == HOOK_ERROR);
	CHECK(res.hr_exit == 2 && res.hr_signal == 0);
	CHECK_STR(res.hr_reason, "exit 2");

	hook_run_sync(ru, "kill -9 $$", &rq, &res);
	CHECK(res.hr_status == HOOK_ERROR);
	CHECK(res.hr_signal == 9 && res.hr_exit == -1 && !res.hr_timed_out);
	CHECK_STR(res.hr_reason, "killed by signal 9 (SIGKILL)");

	/* Direct exec, no shell. */
	hook_run_sync(ru, "true", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH);
	hook_run_sync(ru, "false", &rq, &res);
	CHECK(res.hr_status == HOOK_NOMATCH);

	/* stdin is /dev/null: cat sees EOF at once. */
	hook_run_sync(ru, "cat", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH && res.hr_outlen == 0);
	hook_run_sync(ru, "wc -c", &rq, &res);
	CHECK_STR(out(&res), "0\n");
	hook_runner_free(ru);
}

/* The proxy ignores SIGPIPE and may block signals; a hook must start clean. */
static void
test_signals(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result res;
	struct sigaction ign = { .sa_handler = SIG_IGN }, old;
	sigset_t term, oldmask;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaction(SIGPIPE, &ign, &old);
	sigprocmask(SIG_BLOCK, &term, &oldmask);
	hook_run_sync(ru, "kill -PIPE $$", &rq, &res);
	CHECK(res.hr_signal == SIGPIPE);
	CHECK_STR(res.hr_reason, "killed by signal 13 (SIGPIPE)");
	hook_run_sync(ru, "kill -TERM $$", &rq, &res);
	CHECK(res.hr_signal == SIGTERM);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	sigaction(SIGPIPE, &old, NULL);
	hook_runner_free(ru);
}

static void
test_cannot_run(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result res;
	struct rec r = { 0 };

	/* Run directly, a missing program is known at once. */
	CHECK(hook_start(ru, "/nonexistent/prog", &rq, rec_cb, &r, &res) == NULL);
	CHECK(res.hr_status == HOOK_ERROR && res.hr_exit == -1);
	CHECK_STR(res.hr_reason, "cannot run: No such file or directory");
	CHECK(hook_start(ru, "httpjail-no-such-program", &rq, rec_cb, &r,
	    &res) == NULL);
	CHECK(res.hr_status == HOOK_ERROR);
	hook_run_sync(ru, "/nonexistent/prog", &rq, &res);
	CHECK(res.hr_status == HOOK_ERROR);
	CHECK_STR(res.hr_reason, "cannot run: No such file or directory");
	CHECK(r.calls == 0);

	/* Through sh it is the shell's 127. */
	hook_run_sync(ru, "/nonexistent/prog arg 2>/dev/null", &rq, &res);
	CHECK(res.hr_status == HOOK_ERROR && res.hr_exit == 127);
	CHECK_STR(res.hr_reason, "exit 127");
	hook_runner_free(ru);
}

static void
test_timeout(void)
{
	struct hook_runner *ru = runner(300, 0, NULL);
	struct hook_result res;
	pid_t pid, bg;

	hook_run_sync(ru, cmdf("sleep 10 & echo $! > @/tbg; echo $$ > @/tpid; "
	    "sleep 10"), &rq, &res);
	CHECK(res.hr_status == HOOK_ERROR);
	CHECK(res.hr_timed_out && res.hr_exit == -1);
	CHECK_STR(res.hr_reason, "timed out after 300 ms");
	CHECK(res.hr_usec >= 300000 && res.hr_usec < 3000000);
	CHECK((pid = read_pid("tpid")) > 0);
	CHECK((bg = read_pid("tbg")) > 0);
	CHECK(reaped(pid));
	CHECK(gone(bg));
	CHECK(group_gone(pid));
	hook_runner_free(ru);
}

/* The hook exits but leaves a job holding its stdout: no waiting for EOF. */
static void
test_background(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result res;

	hook_run_sync(ru, "sleep 10 & echo $!", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH);
	CHECK(res.hr_usec < 3000000);
	CHECK(gone((pid_t)atoi(out(&res))));
	hook_runner_free(ru);
}

static void
test_big_output(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result res;
	bool allx = true;

	hook_run_sync(ru, "head -c 1000000 /dev/zero | tr '\\0' x", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH);
	CHECK(res.hr_outlen == HOOK_OUT_MAX);
	for (size_t i = 0; i < res.hr_outlen; i++)
		allx = allx && res.hr_out[i] == 'x';
	CHECK(allx);
	hook_run_sync(ru, "yes | head -c 20000000", &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH && res.hr_outlen == HOOK_OUT_MAX);
	hook_runner_free(ru);
}

static void
test_cache(void)
{
	struct hook_runner *ru = runner(0, 60000, NULL);
	struct hook_result res, now;
	struct request other, post, lower;
	char obuf[512], pbuf[512], lbuf[512];
	struct errbuf err;
	struct rec r = { 0 };
	const char *cmd = cmdf("echo run >> @/count; echo out");

	CHECK(request_from_url(&other, "GET", "https://other.test/p", obuf,
	    sizeof obuf, &err) == 0);
	CHECK(request_from_url(&post, "POST", "https://api.example.test:8443/p/a",
	    pbuf, sizeof pbuf, &err) == 0);
	CHECK(request_from_url(&lower, "get", "https://api.example.test/elsewhere",
	    lbuf, sizeof lbuf, &err) == 0);

	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(res.hr_status == HOOK_MATCH && !res.hr_cached);
	CHECK(hook_start(ru, cmd, &rq, rec_cb, &r, &now) == NULL);
	CHECK(now.hr_cached && now.hr_status == HOOK_MATCH && now.hr_exit == 0);
	CHECK(now.hr_usec == 0);
	CHECK_STR(out(&now), "out\n");
	CHECK(r.calls == 0);
	CHECK(count_lines("count") == 1);

	/* Same method (any case) and host: the key ignores port, path and query. */
	hook_run_sync(ru, cmd, &lower, &res);
	CHECK(res.hr_cached && res.hr_status == HOOK_MATCH);
	CHECK(count_lines("count") == 1);
	hook_run_sync(ru, cmd, &other, &res);
	CHECK(!res.hr_cached && res.hr_status == HOOK_MATCH);
	CHECK(count_lines("count") == 2);
	hook_run_sync(ru, cmd, &post, &res);
	CHECK(!res.hr_cached);
	CHECK(count_lines("count") == 3);

	cmd = cmdf("echo run >> @/nomatch; exit 1");
	hook_run_sync(ru, cmd, &rq, &res);
	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(res.hr_cached && res.hr_status == HOOK_NOMATCH && res.hr_exit == 1);
	CHECK(count_lines("nomatch") == 1);

	cmd = cmdf("echo run >> @/err; exit 3");
	hook_run_sync(ru, cmd, &rq, &res);
	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(!res.hr_cached && res.hr_status == HOOK_ERROR);
	CHECK_STR(res.hr_reason, "exit 3");
	CHECK(count_lines("err") == 2);
	hook_runner_free(ru);

	ru = runner(0, 100, NULL);
	cmd = cmdf("echo run >> @/expire");
	hook_run_sync(ru, cmd, &rq, &res);
	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(res.hr_cached);
	usleep(250000);
	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(!res.hr_cached);
	CHECK(count_lines("expire") == 2);
	hook_runner_free(ru);

	ru = runner(0, 0, NULL);
	cmd = cmdf("echo run >> @/nocache");
	hook_run_sync(ru, cmd, &rq, &res);
	hook_run_sync(ru, cmd, &rq, &res);
	CHECK(!res.hr_cached);
	CHECK(count_lines("nocache") == 2);
	hook_runner_free(ru);
}

/* Each hook waits until all 50 exist: they can only all match if they overlap. */
static void
test_concurrent(void)
{
	struct hook_runner *ru = runner(30000, 0, NULL);
	struct hook_result now;
	struct rec r = { 0 };
	char dir[256];
	int started = 0;

	snprintf(dir, sizeof dir, "%s/conc", tmpd);
	CHECK(mkdir(dir, 0700) == 0);
	const char *cmd = cmdf("touch @/conc/$$; i=0; "
	    "while [ $(ls @/conc | wc -l) -lt 50 ] && [ $i -lt 200 ]; "
	    "do sleep 0.05; i=$((i+1)); done; [ $(ls @/conc | wc -l) -ge 50 ]");
	for (int i = 0; i < 50; i++)
		started += hook_start(ru, cmd, &rq, rec_cb, &r, &now) != NULL;
	CHECK(started == 50);
	for (uint64_t end = ms_now() + 40000; r.calls < started && ms_now() < end;)
		ev_run(evl, EVRUN_ONCE);
	CHECK(r.calls == 50);
	CHECK(r.matches == 50);
	hook_runner_free(ru);
}

static void
test_cancel(void)
{
	struct hook_runner *ru = runner(0, 0, NULL);
	struct hook_result now, res;
	struct hook *h;
	struct rec r = { 0 };
	pid_t pid;

	h = hook_start(ru, cmdf("echo $$ > @/cpid; sleep 10"), &rq, rec_cb, &r,
	    &now);
	CHECK(h != NULL);
	CHECK((pid = read_pid("cpid")) > 0);
	hook_cancel(h);
	CHECK(reaped(pid));
	CHECK(group_gone(pid));
	hook_run_sync(ru, "true", &rq, &res);
	CHECK(r.calls == 0);
	hook_runner_free(ru);
}

static void
test_runner_free(void)
{
	struct hook_runner *ru = runner(0, 60000, NULL);
	struct hook_result now;
	struct rec r = { 0 };
	char cmd[64], name[16];
	pid_t pids[3];

	for (int i = 0; i < 3; i++) {
		snprintf(cmd, sizeof cmd, "echo $$ > @/free%d; sleep 10", i);
		CHECK(hook_start(ru, cmdf(cmd), &rq, rec_cb, &r, &now) != NULL);
	}
	for (int i = 0; i < 3; i++) {
		snprintf(name, sizeof name, "free%d", i);
		pids[i] = read_pid(name);
		CHECK(pids[i] > 0);
	}
	hook_runner_free(ru);
	for (int i = 0; i < 3; i++) {
		if (pids[i] > 0) {
			CHECK(reaped(pids[i]));
			CHECK(group_gone(pids[i]));
		}
	}
	CHECK(r.calls == 0);
}

struct freer {
	struct hook_runner *fr_runner;
	int                 fr_calls;
};

static void
free_cb(const struct hook_result *res, void *arg)
{
	struct freer *fr = arg;

	(void)res;
	fr->fr_calls++;
	hook_runner_free(fr->fr_runner);
}

/* A callback may free its runner, other hooks still in flight. */
static void
test_free_in_callback(void)
{
	struct freer fr = { runner(0, 60000, NULL), 0 };
	struct hook_result now;
	struct rec r = { 0 };
	pid_t pid;

	CHECK(hook_start(fr.fr_runner, cmdf("echo $$ > @/fcb; sleep 10"), &rq,
	    rec_cb, &r, &now) != NULL);
	CHECK((pid = read_pid("fcb")) > 0);
	CHECK(hook_start(fr.fr_runner, "true", &rq, free_cb, &fr, &now) != NULL);
	for (uint64_t end = ms_now() + WAIT_MS; fr.fr_calls == 0 && ms_now() < end;)
		ev_run(evl, EVRUN_ONCE);
	CHECK(fr.fr_calls == 1);
	CHECK(pid > 0 && reaped(pid));
	CHECK(r.calls == 0);
}

/* ASan sees leaked memory, not leaked pipes. */
static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (d == NULL)
		return -1;
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	struct errbuf err;
	int fds;

	evl = ev_default_loop(0);
	if (evl == NULL || mkdtemp(tmpd) == NULL) {
		perror("hook test setup");
		return 1;
	}
	CHECK(request_from_url(&rq, "GET",
	    "https://Api.Example.test:8443/p/a?x=1&y=2", rqbuf, sizeof rqbuf,
	    &err) == 0);
	rq.rq_requester = SLICE_LIT("127.0.0.1");
	fds = count_fds();

	test_env();
	test_status();
	test_signals();
	test_cannot_run();
	test_timeout();
	test_background();
	test_big_output();
	test_cache();
	test_concurrent();
	test_cancel();
	test_runner_free();
	test_free_in_callback();
	CHECK(count_fds() == fds);

	CHECK(nftw(tmpd, rm_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
	ev_loop_destroy(evl);
	return unit_done("unit/hook");
}
