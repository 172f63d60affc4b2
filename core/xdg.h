/* xdg: httpjail's directories of the XDG base directory spec, for the user it works
 * for (under sudo, the invoking user rather than root). */
#ifndef HTTPJAIL_XDG_H
#define HTTPJAIL_XDG_H

#include <stddef.h>
#include <sys/types.h>

#include "errbuf.h"

/*
 * Writes $ENV/httpjail to OUT, else HOME/FALLBACK/httpjail ("XDG_STATE_HOME",
 * ".local/state"), for OWNER (a uid; -1 means the current user, whose HOME and ENV
 * come from the environment; another user's home comes from the passwd database).
 * WHAT names the use in errors ("for the CA").
 */
int xdg_dir(uid_t owner, const char *env, const char *fallback, const char *what,
            char *out, size_t outsz, struct errbuf *err);

/* Makes PATH and its missing parents (0755, PATH itself 0700), each one made handed
 * to OWNER and GROUP (-1 keeps ours). An existing PATH is fine. */
int xdg_mkdirs(const char *path, uid_t owner, gid_t group, struct errbuf *err);

#endif
