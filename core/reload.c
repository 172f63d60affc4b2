/* reload: see reload.h. The loop looks at the watched files twice a second and starts
 * a compile once a change has held still for one look (an editor writing in place is
 * not caught half way); a thread compiles and looks at the files of the result; an
 * ev_async brings it back to the loop. */
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reload.h"

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
	ev_timer                 rl_timer;
	ev_async                 rl_done;
	struct snap              rl_watch;   /* the files as the current policy read them */
	struct snap              rl_moved;   /* a change seen at the last look */
	bool                     rl_busy;    /* a thread is compiling */
	bool                     rl_again;   /* reload_now() while it was */
	pthread_t                rl_thread;
	/* Set before the thread starts, then the thread's until rl_done. */
	struct snap              rl_before;
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

static void *
compile_thread(void *arg)
{
	struct reload *rl = arg;

	rl->rl_fresh = policy_compile(rl->rl_src, &rl->rl_err);
	if (rl->rl_fresh != NULL && snap_policy(&rl->rl_after, rl->rl_fresh, &rl->rl_before) < 0) {
		policy_free(rl->rl_fresh);
		rl->rl_fresh = NULL;
		errbuf_set(&rl->rl_err, "out of memory");
	}
	ev_async_send(rl->rl_loop, &rl->rl_done);
	return NULL;
}

/* Compiles, the files being as BEFORE (taken). */
static void
start(struct reload *rl, struct snap *before)
{
	sigset_t all, old;
	int e;

	rl->rl_before = *before;
	*before = (struct snap){ 0 };
	rl->rl_fresh = NULL;
	rl->rl_after = (struct snap){ 0 };
	rl->rl_err.msg[0] = '\0';
	/* Signals stay with the loop's thread, which waits for them. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&rl->rl_thread, NULL, compile_thread, rl);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		snap_free(&rl->rl_before);
		rl->rl_cb(NULL, "cannot start a thread to compile the policy", rl->rl_arg);
		return;
	}
	rl->rl_busy = true;
}

static void
on_done(struct ev_loop *loop, ev_async *w, int revents)
{
	struct reload *rl = w->data;
	struct policy *fresh = rl->rl_fresh;

	(void)loop;
	(void)revents;
	pthread_join(rl->rl_thread, NULL);
	rl->rl_busy = false;
	snap_free(&rl->rl_watch);
	snap_free(&rl->rl_moved);
	/* A policy that did not compile is not tried again until its files change. */
	if (fresh != NULL) {
		rl->rl_watch = rl->rl_after;
		snap_free(&rl->rl_before);
	} else {
		rl->rl_watch = rl->rl_before;
	}
	rl->rl_before = rl->rl_after = (struct snap){ 0 };
	rl->rl_fresh = NULL;
	rl->rl_cb(fresh, fresh ? NULL : rl->rl_err.msg, rl->rl_arg);
	if (rl->rl_again) {
		rl->rl_again = false;
		reload_now(rl);
	}
}

static void
on_look(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct reload *rl = w->data;
	struct snap now;

	(void)loop;
	(void)revents;
	if (rl->rl_busy || snap_again(&now, &rl->rl_watch) < 0)
		return;
	if (snap_same(&now, &rl->rl_watch)) {
		snap_free(&now);
		snap_free(&rl->rl_moved);
	} else if (rl->rl_moved.sp_n > 0 && snap_same(&now, &rl->rl_moved)) {
		snap_free(&rl->rl_moved);
		start(rl, &now);
	} else {
		snap_free(&rl->rl_moved);
		rl->rl_moved = now;
	}
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
	ev_async_init(&rl->rl_done, on_done);
	rl->rl_done.data = rl;
	ev_async_start(loop, &rl->rl_done);
	ev_timer_init(&rl->rl_timer, on_look, LOOK_S, LOOK_S);
	rl->rl_timer.data = rl;
	if (watch && rl->rl_watch.sp_n > 0) {
		ev_timer_start(loop, &rl->rl_timer);
		/* Looking at files is no reason to keep a run going. */
		ev_unref(loop);
	}
	/* Nor is waiting for a compile that was never asked for. */
	ev_unref(loop);
	return rl;
}

void
reload_now(struct reload *rl)
{
	struct snap now;

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
	if (snap_again(&now, &rl->rl_watch) < 0) {
		rl->rl_cb(NULL, "out of memory", rl->rl_arg);
		return;
	}
	snap_free(&rl->rl_moved);
	start(rl, &now);
}

void
reload_free(struct reload *rl)
{
	if (rl == NULL)
		return;
	if (rl->rl_busy) {
		pthread_join(rl->rl_thread, NULL);
		policy_free(rl->rl_fresh);
		snap_free(&rl->rl_before);
		snap_free(&rl->rl_after);
	}
	if (ev_is_active(&rl->rl_timer)) {
		ev_ref(rl->rl_loop);
		ev_timer_stop(rl->rl_loop, &rl->rl_timer);
	}
	ev_ref(rl->rl_loop);
	ev_async_stop(rl->rl_loop, &rl->rl_done);
	snap_free(&rl->rl_watch);
	snap_free(&rl->rl_moved);
	free(rl);
}
