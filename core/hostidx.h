/* hostidx: which rules name a host, found by hashing the host and each of its parent
 * domains instead of scanning every rule. */
#ifndef HTTPJAIL_HOSTIDX_H
#define HTTPJAIL_HOSTIDX_H

#include <stdbool.h>
#include <stdint.h>

#include "slice.h"

struct hostidx;

struct hostidx *hostidx_new(void);
void            hostidx_free(struct hostidx *);
/* NAME is "a.example" (exact) or "*.example" (any name below example). IDs of one
 * name must be added in ascending order. Returns -1 when out of memory. */
int             hostidx_add(struct hostidx *, const char *name, uint32_t id);

typedef void hostidx_cb(uint32_t id, void *arg);
/* Calls CB for every id whose name matches HOST (lower case, no trailing dot). */
void            hostidx_lookup(const struct hostidx *, struct slice host,
                               hostidx_cb *cb, void *arg);
bool            hostidx_contains(const struct hostidx *, struct slice host);

#endif
