/* tally: what a run decided, counted for the one line -v prints at exit. */
#ifndef HTTPJAIL_TALLY_H
#define HTTPJAIL_TALLY_H

#include <stdbool.h>
#include <stddef.h>

#include "slice.h"

struct tally;

struct tally *tally_new(void);
void          tally_free(struct tally *);
/* Counts one decision on HOST (copied). A host that memory cannot hold is still
 * counted as a decision, only not among the distinct hosts. */
void          tally_add(struct tally *, bool allowed, bool enforced, struct slice host);
/* "12 allowed, 3 denied, 5 hosts" (", 2 would be denied" under --dry-run) into BUF. */
void          tally_format(const struct tally *, char *buf, size_t size);

#endif
