/* reload: the policy compiled again when one of its files changes (looked at twice a
 * second, on a thread: a stat() can hang on a network file system) or when asked
 * (SIGHUP), on a thread of its own so that the loop never waits for a compile: a
 * large pattern set takes seconds. */
#ifndef HTTPJAIL_RELOAD_H
#define HTTPJAIL_RELOAD_H

#include <stdbool.h>

#include "errbuf.h"
#include "policy.h"

struct ev_loop;
struct reload;

/* On the loop: FRESH is the new policy, owned by the callee; or FRESH is NULL and
 * ERR says why the files did not compile. */
typedef void reload_cb(struct policy *fresh, const char *err, void *arg);

/*
 * Compiles SRC again on reload_now(), and with WATCH also when one of the files
 * CURRENT was read from (borrowed; only regular files: a policy read from a pipe is
 * not reloaded) changes. SRC and every string it points to are borrowed for the
 * reload's life.
 */
struct reload *reload_new(struct ev_loop *, const struct policy_src *src,
                          const struct policy *current, bool watch, reload_cb *cb,
                          void *arg, struct errbuf *err);
/* Compiles again, changed or not; refused (CB is told why) when a source is a pipe. */
void           reload_now(struct reload *);
/* Waits for a compile in progress and drops its result. A look at the files that
 * has not ended in 2 s (a hung file server) is left running, with the reload. */
void           reload_free(struct reload *);

#endif
