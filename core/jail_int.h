/* jail_int: what jail.c and jailfs.c share. Nothing outside the jail modules
 * includes it. */
#ifndef HTTPJAIL_JAIL_INT_H
#define HTTPJAIL_JAIL_INT_H

#include <stddef.h>

#include "jail.h"

/* In the jail's new mount namespace, before the command: hides the daemon sockets of
 * JO's list but what it exposes, places resolv.conf and the CA bundle. -1 with WHY. */
int jail_mounts(const struct jail_opts *jo, char *why, size_t whysz);

#endif
