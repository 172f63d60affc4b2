/* reload: see reload.h. A thread looks at the watched files twice a second (a stat()
 * can hang on a network file system, and the loop must not) and, once a change has
 * held still for one look (an editor writing in place is not caught half way), tells
 * the loop, which starts a compile on another thread; that one looks at the files of
 * the result, and an ev_async brings it back to the loop. */
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "reload.h"
#include "thread.h"

#define LOOK_S 0.5

/* What a file looked like. Any difference is a change: an editor that writes a new
 * file and renames it over the old one changes the inode, not always the time. */
struct seen {
	char           *sn_path;
	bool            sn_exists;
	dev_t           sn_dev;
	ino_t           sn_ino;
	off_t           sn_size;
	struct timespec sn_mtime, sn_ctime;
};

struct snap {
	struct seen *sp_files;
	size_t       sp_n;
};

struct reload {
	struct ev_loop          *rl_loop;
	const struct policy_src *rl_src;
	reload_cb               *rl_cb;
	void                    *rl_arg;
	ev_async                 rl_done;
	ev_async                 rl_changed;  /* the watcher saw a change hold still */
	/* Under rl_mu while the watcher runs: it reads them, the loop writes them. */
	pthread_mutex_t          rl_mu;
	pthread_cond_t           rl_cv;
	struct snap              rl_watch;    /* the files as the current policy read them */
	unsigned                 rl_gen;      /* rl_watch's replacements */
	struct snap              rl_changes;  /* the watcher's: the files as they now are */
	bool                     rl_busy;     /* a thread is compiling */
	bool                     rl_stop;
	bool                     rl_watching;
	pthread_t                rl_watcher;
	bool                     rl_again;    /* reload_now() while a compile ran */
	pthread_t                rl_thread;
	/* Set before the compile thread starts, then that thread's until rl_done. */
	struct snap              rl_before;
	bool                     rl_look;     /* rl_before: look at its files first */
	struct policy           *rl_fresh;
	struct snap              rl_after;
	struct errbuf            rl_err;
	/* A source read from a pipe: read again, it would be empty, a policy denying
	 * everything. */
	char                     rl_pipe[256];
};

static void
snap_free(struct snap *sp)
{
	for (size_t i = 0; i < sp->sp_n; i++)
		free(sp->sp_files[i].sn_path);
	free(sp->sp_files);
	*sp = (struct snap){ 0 };
}

static void
look(struct seen *sn)
{
	struct stat st;

	sn->sn_exists = stat(sn->sn_path, &st) == 0;
	if (!sn->sn_exists)
		return;
	sn->sn_dev = st.st_dev;
	sn->sn_ino = st.st_ino;
	sn->sn_size = st.st_size;
	sn->sn_mtime = st.st_mtim;
	sn->sn_ctime = st.st_ctim;
}

static bool
seen_same(const struct seen *a, const struct seen *b)
{
	if (a->sn_exists != b->sn_exists)
		return false;
	return !a->sn_exists ||
	       (a->sn_dev == b->sn_dev && a->sn_ino == b->sn_ino && a->sn_size == b->sn_size &&
	        a->sn_mtime.tv_sec == b->sn_mtime.tv_sec &&
	        a->sn_mtime.tv_nsec == b->sn_mtime.tv_nsec &&
	        a->sn_ctime.tv_sec == b->sn_ctime.tv_sec &&
	        a->sn_ctime.tv_nsec == b->sn_ctime.tv_nsec);
}

static bool
snap_same(const struct snap *a, const struct snap *b)
{
	if (a->sp_n != b->sp_n)
		return false;
	for (size_t i = 0; i < a->sp_n; i++) {
		if (!seen_same(&a->sp_files[i], &b->sp_files[i]))
			return false;
	}
	return true;
}

/* Looks at PATHS (N of them) now into *SP; where LIKE already has a path, its entry is
 * taken instead, so that a change made while a compile ran is still a change. Only
 * regular files: a policy from a pipe cannot be read twice. -1: out of memory. */
static int
snap_take(struct snap *sp, const char *const *paths, size_t n, const struct snap *like)
{
	*sp = (struct snap){ 0 };
	if (n > 0 && (sp->sp_files = calloc(n, sizeof(*sp->sp_files))) == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		struct seen sn = { .sn_path = (char *)paths[i] };
		const struct seen *old = NULL;

		for (size_t j = 0; like != NULL && j < like->sp_n && old == NULL; j++) {
			if (strcmp(like->sp_files[j].sn_path, paths[i]) == 0)
				old = &like->sp_files[j];
		}
		if (old != NULL) {
			sn = *old;
		} else {
			struct stat st;
			if (stat(paths[i], &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			look(&sn);
		}
		if ((sn.sn_path = strdup(paths[i])) == NULL) {
			snap_free(sp);
			return -1;
		}
		sp->sp_files[sp->sp_n++] = sn;
	}
	return 0;
}

/* The files of PO, as they are now (LIKE: see snap_take()). */
static int
snap_policy(struct snap *sp, const struct policy *po, const struct snap *like)
{
	size_t n = policy_file_count(po);
	const char **paths = calloc(n ? n : 1, sizeof(*paths));
	int rc;

	if (paths == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		paths[i] = policy_file_get(po, i);
	rc = snap_take(sp, paths, n, like);
	free(paths);
	return rc;
}

/* SP's files looked at again, into *NOW. */
static int
snap_again(struct snap *now, const struct snap *sp)
{
	*now = (struct snap){ 0 };
	if (sp->sp_n > 0 && (now->sp_files = calloc(sp->sp_n, sizeof(*now->sp_files))) == NULL)
		return -1;
	for (size_t i = 0; i < sp->sp_n; i++) {
		struct seen *sn = &now->sp_files[i];
		if ((sn->sn_path = strdup(sp->sp_files[i].sn_path)) == NULL) {
			snap_free(now);
			return -1;
		}
		now->sp_n++;
		look(sn);
	}
	return 0;
}

/* A copy of SP, into *OUT: its paths, and what they looked like. */
static int
snap_copy(struct snap *out, const struct snap *sp)
{
	*out = (struct snap){ 0 };
	if (sp->sp_n > 0 && (out->sp_files = calloc(sp->sp_n, sizeof(*out->sp_files))) == NULL)
		return -1;
	for (size_t i = 0; i < sp->sp_n; i++) {
		out->sp_files[i] = sp->sp_files[i];
		if ((out->sp_files[i].sn_path = strdup(sp->sp_files[i].sn_path)) == NULL) {
			snap_free(out);
			return -1;
		}
		out->sp_n++;
	}
	return 0;
}

static void *
compile_thread(void *arg)
{
	struct reload *rl = arg;

	if (rl->rl_look) {
		struct snap paths = rl->rl_before;
		if (snap_again(&rl->rl_before, &paths) < 0) {
			rl->rl_before = paths;
			errbuf_set(&rl->rl_err, "out of memory");
			ev_async_send(rl->rl_loop, &rl->rl_done);
			return NULL;
		}
		snap_free(&paths);
	}
	rl->rl_fresh = policy_compile(rl->rl_src, &rl->rl_err);
	if (rl->rl_fresh != NULL && snap_policy(&rl->rl_after, rl->rl_fresh, &rl->rl_before) < 0) {
		policy_free(rl->rl_fresh);
		rl->rl_fresh = NULL;
		errbuf_set(&rl->rl_err, "out of memory");
	}
	ev_async_send(rl->rl_loop, &rl->rl_done);
	return NULL;
}

/* Compiles, the files being as BEFORE (taken), or, with LOOK, as the thread finds
 * the files of BEFORE. */
static void
start(struct reload *rl, struct snap *before, bool look)
{
	rl->rl_before = *before;
	*before = (struct snap){ 0 };
	rl->rl_look = look;
	rl->rl_fresh = NULL;
	rl->rl_after = (struct snap){ 0 };
	rl->rl_err.msg[0] = '\0';
	pthread_mutex_lock(&rl->rl_mu);
	rl->rl_busy = thread_start(&rl->rl_thread, compile_thread, rl, "httpjail-reload") == 0;
	pthread_mutex_unlock(&rl->rl_mu);
	if (!rl->rl_busy) {
		snap_free(&rl->rl_before);
		rl->rl_cb(NULL, "cannot start a thread to compile the policy", rl->rl_arg);
	}
}

static void
on_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct reload *rl = w->data;
	struct policy *fresh = rl->rl_fresh;

	(void)loop;
	(void)revents;
	pthread_join(rl->rl_thread, NULL);
	pthread_mutex_lock(&rl->rl_mu);
	rl->rl_busy = false;
	snap_free(&rl->rl_watch);
	/* A policy that did not compile is not tried again until its files change. */
	if (fresh != NULL) {
		rl->rl_watch = rl->rl_after;
		snap_free(&rl->rl_before);
	} else {
		rl->rl_watch = rl->rl_before;
	}
	rl->rl_gen++;
	snap_free(&rl->rl_changes);
	pthread_mutex_unlock(&rl->rl_mu);
	rl->rl_before = rl->rl_after = (struct snap){ 0 };
	rl->rl_fresh = NULL;
	rl->rl_cb(fresh, fresh ? NULL : rl->rl_err.msg, rl->rl_arg);
	if (rl->rl_again) {
		rl->rl_again = false;
		reload_now(rl);
	}
}

static void
on_changed(struct ev_loop *loop, ev_async *w, int revents)
{
	struct reload *rl = w->data;
	struct snap now;

	(void)loop;
	(void)revents;
	pthread_mutex_lock(&rl->rl_mu);
	now = rl->rl_changes;
	rl->rl_changes = (struct snap){ 0 };
	pthread_mutex_unlock(&rl->rl_mu);
	if (rl->rl_busy || now.sp_n == 0)
		snap_free(&now);
	else
		start(rl, &now, false);
}

/* Compares the files with the current policy's every LOOK_S; a difference that the
 * next look finds again goes to the loop. */
static void *
watch_thread(void *arg)
{
	struct reload *rl = arg;
	struct snap moved = { 0 }, watch, now;
	unsigned gen = 0;

	pthread_mutex_lock(&rl->rl_mu);
	for (;;) {
		struct timespec until;
		int rc;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_nsec += (long)(LOOK_S * 1e9);
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		while (!rl->rl_stop &&
		       pthread_cond_timedwait(&rl->rl_cv, &rl->rl_mu, &until) != ETIMEDOUT)
			;
		if (rl->rl_stop)
			break;
		if (rl->rl_gen != gen) {
			gen = rl->rl_gen;
			snap_free(&moved);
		}
		if (rl->rl_busy || rl->rl_changes.sp_n > 0 || snap_copy(&watch, &rl->rl_watch) < 0)
			continue;
		pthread_mutex_unlock(&rl->rl_mu);
		rc = snap_again(&now, &watch);
		pthread_mutex_lock(&rl->rl_mu);
		/* The policy changed while we looked: look again at its own files. */
		if (rc < 0 || rl->rl_gen != gen || rl->rl_busy) {
			snap_free(&watch);
			if (rc == 0)
				snap_free(&now);
			continue;
		}
		if (snap_same(&now, &watch)) {
			snap_free(&now);
			snap_free(&moved);
		} else if (moved.sp_n > 0 && snap_same(&now, &moved)) {
			snap_free(&moved);
			rl->rl_changes = now;
			ev_async_send(rl->rl_loop, &rl->rl_changed);
		} else {
			snap_free(&moved);
			moved = now;
		}
		snap_free(&watch);
	}
	pthread_mutex_unlock(&rl->rl_mu);
	snap_free(&moved);
	return NULL;
}

struct reload *
reload_new(struct ev_loop *loop, const struct policy_src *src, const struct policy *current,
           bool watch, reload_cb *cb, void *arg, struct errbuf *err)
{
	struct reload *rl = calloc(1, sizeof(*rl));

	if (rl == NULL || snap_policy(&rl->rl_watch, current, NULL) < 0) {
		free(rl);
		errbuf_set(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < src->ps_nfiles && rl->rl_pipe[0] == '\0'; i++) {
		struct stat st;
		if (stat(src->ps_files[i], &st) == 0 && !S_ISREG(st.st_mode))
			snprintf(rl->rl_pipe, sizeof(rl->rl_pipe), "%s", src->ps_files[i]);
	}
	rl->rl_loop = loop;
	rl->rl_src = src;
	rl->rl_cb = cb;
	rl->rl_arg = arg;
	pthread_mutex_init(&rl->rl_mu, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&rl->rl_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	ev_async_init(&rl->rl_done, on_done);
	rl->rl_done.data = rl;
	ev_async_start(loop, &rl->rl_done);
	ev_async_init(&rl->rl_changed, on_changed);
	rl->rl_changed.data = rl;
	ev_async_start(loop, &rl->rl_changed);
	/* Neither is a reason to keep a run going: a compile that was never asked for,
	 * or files that may change. */
	ev_unref(loop);
	ev_unref(loop);
	if (watch && rl->rl_watch.sp_n > 0 &&
	    thread_start(&rl->rl_watcher, watch_thread, rl, "httpjail-watch") != 0) {
		reload_free(rl);
		errbuf_set(err, "cannot start a thread to watch the policy files");
		return NULL;
	}
	rl->rl_watching = watch && rl->rl_watch.sp_n > 0;
	return rl;
}

void
reload_now(struct reload *rl)
{
	struct snap paths;

	if (rl->rl_busy) {
		rl->rl_again = true;
		return;
	}
	if (rl->rl_pipe[0] != '\0') {
		char why[320];
		snprintf(why, sizeof(why), "%s: a policy read from a pipe cannot be read again",
		         rl->rl_pipe);
		rl->rl_cb(NULL, why, rl->rl_arg);
		return;
	}
	pthread_mutex_lock(&rl->rl_mu);
	int rc = snap_copy(&paths, &rl->rl_watch);
	pthread_mutex_unlock(&rl->rl_mu);
	if (rc < 0) {
		rl->rl_cb(NULL, "out of memory", rl->rl_arg);
		return;
	}
	start(rl, &paths, true);
}

void
reload_free(struct reload *rl)
{
	if (rl == NULL)
		return;
	if (rl->rl_watching) {
		pthread_mutex_lock(&rl->rl_mu);
		rl->rl_stop = true;
		pthread_cond_signal(&rl->rl_cv);
		pthread_mutex_unlock(&rl->rl_mu);
	}
	if (rl->rl_busy) {
		pthread_join(rl->rl_thread, NULL);
		policy_free(rl->rl_fresh);
		snap_free(&rl->rl_before);
		snap_free(&rl->rl_after);
	}
	if (rl->rl_watching) {
		struct timespec until;

		/* A stat() hung on a dead file server must not hold the run's end: the
		 * thread and what it uses are left to the exit that follows. */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 2;
		if (pthread_timedjoin_np(rl->rl_watcher, NULL, &until) != 0)
			return;
	}
	ev_ref(rl->rl_loop);
	ev_async_stop(rl->rl_loop, &rl->rl_done);
	ev_ref(rl->rl_loop);
	ev_async_stop(rl->rl_loop, &rl->rl_changed);
	snap_free(&rl->rl_watch);
	snap_free(&rl->rl_changes);
	pthread_cond_destroy(&rl->rl_cv);
	pthread_mutex_destroy(&rl->rl_mu);
	free(rl);
}
