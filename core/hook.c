/*
 * hook: one child per rule program, started with posix_spawn (a vfork-style clone:
 * cheap in a large proxy, and no code of ours runs in the child) into its own
 * process group, so that one kill(-pgid) also takes whatever it left running in
 * the background. libev's default loop reaps every child through its SIGCHLD
 * handler; a hook we stop watching (timeout, cancel) is reaped there too.
 */
#include <sys/queue.h>
#include <sys/wait.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "hook.h"

#define HOOK_TIMEOUT_MS   5000
#define HOOK_CACHE_MAX    4096	/* entries, and buckets: a power of two */
#define HOOK_READ_ROUNDS  16	/* per wake-up, so a chatty hook cannot hog the loop */
#define HOOK_DRAIN_ROUNDS 64	/* after exit; a straggler may still be writing */

/* What a CMD must contain to need /bin/sh. */
#define HOOK_SHELL_CHARS  " \t\n|&;<>()$`\\\"'*?[]#~=%{}"

struct hook_cent {
	SLIST_ENTRY(hook_cent)  hc_chain;
	STAILQ_ENTRY(hook_cent) hc_fifo;	/* insertion order = expiry order */
	uint64_t                hc_expires;	/* usec, CLOCK_MONOTONIC */
	uint64_t                hc_hash;
	enum hook_status        hc_status;	/* MATCH or NOMATCH only */
	size_t                  hc_keylen;
	size_t                  hc_outlen;
	char                    hc_data[];	/* key, then stdout */
};

SLIST_HEAD(hook_bucket, hook_cent);

struct hook {
	struct hook_runner *hk_runner;
	LIST_ENTRY(hook)    hk_entry;
	ev_child            hk_child;
	ev_io               hk_io;
	ev_timer            hk_timer;
	pid_t               hk_pid;	/* also its process group */
	int                 hk_fd;	/* read end of its stdout; -1 after EOF */
	uint64_t            hk_start;
	hook_cb            *hk_cb;
	void               *hk_arg;
	char               *hk_key;	/* NULL when not cacheable */
	size_t              hk_keylen;
	uint64_t            hk_hash;
	struct hook_result  hk_res;
};

struct hook_runner {
	struct ev_loop             *ru_loop;
	unsigned                    ru_timeout_ms;
	uint64_t                    ru_cache_usec;
	char                       *ru_run_id;
	LIST_HEAD(, hook)           ru_hooks;	/* in flight */
	struct hook_bucket         *ru_buckets;	/* NULL when the cache is off */
	STAILQ_HEAD(, hook_cent)    ru_fifo;
	size_t                      ru_ncached;
};

struct hook_sync {
	struct hook_result *hs_res;
	bool                hs_done;
};

static uint64_t
now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* "CMD\0METHOD\0host": methods are case-insensitive, hosts already lower case. */
static char *
cache_key(const char *cmd, const struct request *rq, size_t *lenp)
{
	size_t cl = strlen(cmd) + 1;
	size_t len = cl + rq->rq_method.len + 1 + rq->rq_host.len;
	char *key, *p;

	if ((key = malloc(len)) == NULL)
		return NULL;
	memcpy(key, cmd, cl);
	p = key + cl;
	for (size_t i = 0; i < rq->rq_method.len; i++)
		*p++ = (char)toupper((unsigned char)rq->rq_method.ptr[i]);
	*p++ = '\0';
	if (rq->rq_host.len > 0)
		memcpy(p, rq->rq_host.ptr, rq->rq_host.len);
	*lenp = len;
	return key;
}

static void
cache_drop_oldest(struct hook_runner *ru)
{
	struct hook_cent *c = STAILQ_FIRST(&ru->ru_fifo);

	STAILQ_REMOVE_HEAD(&ru->ru_fifo, hc_fifo);
	SLIST_REMOVE(&ru->ru_buckets[c->hc_hash & (HOOK_CACHE_MAX - 1)], c,
	    hook_cent, hc_chain);
	free(c);
	ru->ru_ncached--;
}

/* Every entry lives equally long, so the expired ones are all at the front. */
static void
cache_expire(struct hook_runner *ru, uint64_t now)
{
	struct hook_cent *c;

	while ((c = STAILQ_FIRST(&ru->ru_fifo)) != NULL && c->hc_expires <= now)
		cache_drop_oldest(ru);
}

static struct hook_cent *
cache_find(struct hook_runner *ru, const char *key, size_t len, uint64_t hash)
{
	struct hook_cent *c;

	SLIST_FOREACH(c, &ru->ru_buckets[hash & (HOOK_CACHE_MAX - 1)], hc_chain) {
		if (c->hc_hash == hash && c->hc_keylen == len &&
		    memcmp(c->hc_data, key, len) == 0)
			return c;
	}
	return NULL;
}

static void
cache_put(struct hook_runner *ru, const struct hook *h, uint64_t now)
{
	const struct hook_result *res = &h->hk_res;
	struct hook_cent *c;

	cache_expire(ru, now);
	/* Two hooks for one key raced; the first answer is as good as the second. */
	if (cache_find(ru, h->hk_key, h->hk_keylen, h->hk_hash) != NULL)
		return;
	if (ru->ru_ncached >= HOOK_CACHE_MAX)
		cache_drop_oldest(ru);
	if ((c = malloc(sizeof *c + h->hk_keylen + res->hr_outlen)) == NULL)
		return;
	c->hc_expires = now + ru->ru_cache_usec;
	c->hc_hash = h->hk_hash;
	c->hc_status = res->hr_status;
	c->hc_keylen = h->hk_keylen;
	c->hc_outlen = res->hr_outlen;
	memcpy(c->hc_data, h->hk_key, h->hk_keylen);
	memcpy(c->hc_data + h->hk_keylen, res->hr_out, res->hr_outlen);
	SLIST_INSERT_HEAD(&ru->ru_buckets[h->hk_hash & (HOOK_CACHE_MAX - 1)], c,
	    hc_chain);
	STAILQ_INSERT_TAIL(&ru->ru_fifo, c, hc_fifo);
	ru->ru_ncached++;
}

static void
cache_answer(const struct hook_cent *c, struct hook_result *res)
{
	memset(res, 0, sizeof *res);
	res->hr_status = c->hc_status;
	res->hr_exit = c->hc_status == HOOK_MATCH ? 0 : 1;
	res->hr_cached = true;
	res->hr_outlen = c->hc_outlen;
	memcpy(res->hr_out, c->hc_data + c->hc_keylen, c->hc_outlen);
}

static void
cannot_run(struct hook_result *res, int error)
{
	memset(res, 0, sizeof *res);
	res->hr_status = HOOK_ERROR;
	res->hr_exit = -1;
	snprintf(res->hr_reason, sizeof res->hr_reason, "cannot run: %s",
	    strerror(error));
}

static void
set_verdict(struct hook_result *res, int wstatus)
{
	const char *abbrev;
	int sig;

	if (WIFEXITED(wstatus)) {
		res->hr_exit = WEXITSTATUS(wstatus);
		if (res->hr_exit == 0)
			res->hr_status = HOOK_MATCH;
		else if (res->hr_exit == 1)
			res->hr_status = HOOK_NOMATCH;
		else {
			res->hr_status = HOOK_ERROR;
			snprintf(res->hr_reason, sizeof res->hr_reason, "exit %d",
			    res->hr_exit);
		}
		return;
	}
	/* An untraced ev_child reports only deaths: this one was a signal. */
	sig = WTERMSIG(wstatus);
	res->hr_status = HOOK_ERROR;
	res->hr_exit = -1;
	res->hr_signal = sig;
	if ((abbrev = sigabbrev_np(sig)) != NULL)
		snprintf(res->hr_reason, sizeof res->hr_reason,
		    "killed by signal %d (SIG%s)", sig, abbrev);
	else
		snprintf(res->hr_reason, sizeof res->hr_reason,
		    "killed by signal %d", sig);
}

/*
 * The parent's environment minus any HTTPJAIL_* it carried, which a hook must not
 * mistake for the request's, plus the request. One allocation: pointers, then text.
 */
static char **
hook_env(const struct request *rq, const char *run_id)
{
	char port[8], **envp, *p;

	snprintf(port, sizeof port, "%u", (unsigned)rq->rq_port);
	struct {
		const char   *name;
		struct slice  val;
	} vars[] = {
		{ "HTTPJAIL_URL", rq->rq_url },
		{ "HTTPJAIL_METHOD", rq->rq_method },
		{ "HTTPJAIL_SCHEME", rq->rq_scheme },
		{ "HTTPJAIL_HOST", rq->rq_host },
		{ "HTTPJAIL_PORT", slice_cstr(port) },
		{ "HTTPJAIL_PATH", rq->rq_path },
		{ "HTTPJAIL_QUERY", rq->rq_query },
		{ "HTTPJAIL_REQUESTER_IP", rq->rq_requester },
		{ "HTTPJAIL_RUN_ID", slice_cstr(run_id) },
	};
	size_t nvars = sizeof vars / sizeof vars[0], nenv = 0, textsz = 0, k = 0;

	for (char **e = environ; *e != NULL; e++)
		nenv++;
	for (size_t i = 0; i < nvars; i++)
		textsz += strlen(vars[i].name) + 1 + vars[i].val.len + 1;
	if ((envp = malloc((nenv + nvars + 1) * sizeof *envp + textsz)) == NULL)
		return NULL;
	p = (char *)(envp + nenv + nvars + 1);
	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "HTTPJAIL_", 9) != 0)
			envp[k++] = *e;
	}
	for (size_t i = 0; i < nvars; i++) {
		envp[k++] = p;
		p = stpcpy(p, vars[i].name);
		*p++ = '=';
		if (vars[i].val.len > 0)
			memcpy(p, vars[i].val.ptr, vars[i].val.len);
		p += vars[i].val.len;
		*p++ = '\0';
	}
	envp[k] = NULL;
	return envp;
}

/* Returns 0 or an errno value; glibc waits for the exec, so its failure too. */
static int
hook_spawn(const char *cmd, char **envp, int outfd, pid_t *pid)
{
	posix_spawnattr_t sa;
	posix_spawn_file_actions_t fa;
	sigset_t none, dfl;
	char *shargv[] = { "sh", "-c", (char *)cmd, NULL };
	char *argv[] = { (char *)cmd, NULL };
	int error;

	sigemptyset(&none);
	/* SIG_IGN survives exec: the proxy's ignored SIGPIPE must not reach a hook. */
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGHUP);
	if ((error = posix_spawnattr_init(&sa)) != 0)
		return error;
	if ((error = posix_spawn_file_actions_init(&fa)) != 0) {
		posix_spawnattr_destroy(&sa);
		return error;
	}
	if ((error = posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0 &&
	    (error = posix_spawnattr_setpgroup(&sa, 0)) == 0 &&
	    (error = posix_spawnattr_setsigmask(&sa, &none)) == 0 &&
	    (error = posix_spawnattr_setsigdefault(&sa, &dfl)) == 0 &&
	    /* dup2 before the open: in a parent without stdin, OUTFD may be 0. */
	    (error = posix_spawn_file_actions_adddup2(&fa, outfd,
	    STDOUT_FILENO)) == 0 &&
	    (error = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO,
	    "/dev/null", O_RDONLY, 0)) == 0 &&
	    (error = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) == 0) {
		if (strpbrk(cmd, HOOK_SHELL_CHARS) != NULL)
			error = posix_spawn(pid, "/bin/sh", &fa, &sa, shargv, envp);
		else
			error = posix_spawnp(pid, cmd, &fa, &sa, argv, envp);
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	return error;
}

/* Returns true once the pipe is done (EOF or broken), false when it would block. */
static bool
hook_read(struct hook *h, int rounds)
{
	struct hook_result *res = &h->hk_res;
	char junk[16384];
	ssize_t n;
	bool keep;

	while (rounds-- > 0) {
		/* Past the limit we still read, or the hook blocks on a full pipe. */
		if ((keep = res->hr_outlen < HOOK_OUT_MAX))
			n = read(h->hk_fd, res->hr_out + res->hr_outlen,
			    HOOK_OUT_MAX - res->hr_outlen);
		else
			n = read(h->hk_fd, junk, sizeof junk);
		if (n > 0) {
			if (keep)
				res->hr_outlen += (size_t)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		return n == 0 || errno != EAGAIN;
	}
	return false;
}

static void
hook_close_pipe(struct hook *h)
{
	ev_io_stop(h->hk_runner->ru_loop, &h->hk_io);
	close(h->hk_fd);
	h->hk_fd = -1;
}

/*
 * Kills the process group (leftover background jobs included) and forgets the
 * hook. A leader not yet reaped is left to libev's SIGCHLD handler.
 */
static void
hook_detach(struct hook *h)
{
	struct ev_loop *loop = h->hk_runner->ru_loop;

	kill(-h->hk_pid, SIGKILL);
	ev_child_stop(loop, &h->hk_child);
	ev_timer_stop(loop, &h->hk_timer);
	if (h->hk_fd != -1)
		hook_close_pipe(h);
	LIST_REMOVE(h, hk_entry);
}

static void
hook_finish(struct hook *h)
{
	struct hook_runner *ru = h->hk_runner;
	struct hook_result *res = &h->hk_res;
	uint64_t now = now_usec();

	res->hr_usec = now - h->hk_start;
	/* The pipe keeps what the hook wrote before it died; collect it. */
	if (h->hk_fd != -1)
		hook_read(h, HOOK_DRAIN_ROUNDS);
	hook_detach(h);
	if (h->hk_key != NULL && res->hr_status != HOOK_ERROR)
		cache_put(ru, h, now);
	/* Detached first: the callback may free the runner or start new hooks. */
	h->hk_cb(res, h->hk_arg);
	free(h->hk_key);
	free(h);
}

static void
hook_child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	struct hook *h = w->data;

	(void)loop;
	(void)revents;
	set_verdict(&h->hk_res, w->rstatus);
	hook_finish(h);
}

static void
hook_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct hook *h = w->data;

	(void)loop;
	(void)revents;
	if (hook_read(h, HOOK_READ_ROUNDS))
		hook_close_pipe(h);
}

/* Answers at once rather than after the death: SIGKILL can wait on a stuck disk. */
static void
hook_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct hook *h = w->data;
	struct hook_result *res = &h->hk_res;

	(void)loop;
	(void)revents;
	res->hr_status = HOOK_ERROR;
	res->hr_exit = -1;
	res->hr_timed_out = true;
	snprintf(res->hr_reason, sizeof res->hr_reason, "timed out after %u ms",
	    h->hk_runner->ru_timeout_ms);
	hook_finish(h);
}

struct hook_runner *
hook_runner_new(struct ev_loop *loop, const struct hook_opts *opts)
{
	struct hook_runner *ru;

	if ((ru = calloc(1, sizeof *ru)) == NULL)
		return NULL;
	ru->ru_loop = loop;
	ru->ru_timeout_ms = opts->ho_timeout_ms ? opts->ho_timeout_ms :
	    HOOK_TIMEOUT_MS;
	ru->ru_cache_usec = (uint64_t)opts->ho_cache_ms * 1000;
	LIST_INIT(&ru->ru_hooks);
	STAILQ_INIT(&ru->ru_fifo);
	if ((opts->ho_run_id != NULL &&
	    (ru->ru_run_id = strdup(opts->ho_run_id)) == NULL) ||
	    (opts->ho_cache_ms > 0 && (ru->ru_buckets = calloc(HOOK_CACHE_MAX,
	    sizeof *ru->ru_buckets)) == NULL)) {
		hook_runner_free(ru);
		return NULL;
	}
	return ru;
}

void
hook_runner_free(struct hook_runner *ru)
{
	struct hook *h;

	if (ru == NULL)
		return;
	while ((h = LIST_FIRST(&ru->ru_hooks)) != NULL)
		hook_cancel(h);
	if (ru->ru_buckets != NULL) {
		while (!STAILQ_EMPTY(&ru->ru_fifo))
			cache_drop_oldest(ru);
		free(ru->ru_buckets);
	}
	free(ru->ru_run_id);
	free(ru);
}

/*
 * A direct CMD that cannot be executed (not found, not executable) returns NULL
 * with "cannot run: ..."; through sh the same mistake is "exit 127" via CB.
 */
struct hook *
hook_start(struct hook_runner *ru, const char *cmd, const struct request *rq,
           hook_cb *cb, void *arg, struct hook_result *now)
{
	struct hook_cent *c;
	struct hook *h;
	char *key = NULL, **envp;
	size_t keylen = 0;
	uint64_t hash = 0;
	int fds[2] = { -1, -1 }, error = 0;

	/* Without memory for the key the hook still runs, only uncached. */
	if (ru->ru_buckets != NULL &&
	    (key = cache_key(cmd, rq, &keylen)) != NULL) {
		hash = slice_hash((struct slice){ key, keylen });
		cache_expire(ru, now_usec());
		if ((c = cache_find(ru, key, keylen, hash)) != NULL) {
			free(key);
			cache_answer(c, now);
			return NULL;
		}
	}
	if ((h = calloc(1, sizeof *h)) == NULL) {
		free(key);
		cannot_run(now, errno);
		return NULL;
	}
	if ((envp = hook_env(rq, ru->ru_run_id)) == NULL ||
	    pipe2(fds, O_CLOEXEC) == -1 ||
	    fcntl(fds[0], F_SETFL, O_NONBLOCK) == -1)
		error = errno;
	else {
		h->hk_start = now_usec();
		error = hook_spawn(cmd, envp, fds[1], &h->hk_pid);
	}
	free(envp);
	if (fds[1] != -1)
		close(fds[1]);
	if (error != 0) {
		if (fds[0] != -1)
			close(fds[0]);
		free(key);
		free(h);
		cannot_run(now, error);
		return NULL;
	}
	h->hk_runner = ru;
	h->hk_fd = fds[0];
	h->hk_cb = cb;
	h->hk_arg = arg;
	h->hk_key = key;
	h->hk_keylen = keylen;
	h->hk_hash = hash;
	ev_child_init(&h->hk_child, hook_child_cb, h->hk_pid, 0);
	ev_io_init(&h->hk_io, hook_io_cb, h->hk_fd, EV_READ);
	ev_timer_init(&h->hk_timer, hook_timer_cb, ru->ru_timeout_ms / 1e3, 0.);
	h->hk_child.data = h->hk_io.data = h->hk_timer.data = h;
	/* ev_now may be stale here; a stale base would fire the timeout early. */
	ev_now_update(ru->ru_loop);
	ev_child_start(ru->ru_loop, &h->hk_child);
	ev_io_start(ru->ru_loop, &h->hk_io);
	ev_timer_start(ru->ru_loop, &h->hk_timer);
	LIST_INSERT_HEAD(&ru->ru_hooks, h, hk_entry);
	return h;
}

void
hook_cancel(struct hook *h)
{
	hook_detach(h);
	free(h->hk_key);
	free(h);
}

static void
hook_sync_cb(const struct hook_result *res, void *arg)
{
	struct hook_sync *hs = arg;

	memcpy(hs->hs_res, res, sizeof *res);
	hs->hs_done = true;
}

void
hook_run_sync(struct hook_runner *ru, const char *cmd, const struct request *rq,
              struct hook_result *res)
{
	struct hook_sync hs = { res, false };

	if (hook_start(ru, cmd, rq, hook_sync_cb, &hs, res) == NULL)
		return;
	/* Bounded: the hook's timer ends it at the latest. */
	while (!hs.hs_done)
		ev_run(ru->ru_loop, EVRUN_ONCE);
}
