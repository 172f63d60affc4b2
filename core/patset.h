/* patset: every rule pattern in one Vectorscan database, scanned once per request to
 * find the rules whose pattern may match; PCRE2 then confirms them in rule order. */
#ifndef HTTPJAIL_PATSET_H
#define HTTPJAIL_PATSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errbuf.h"
#include "slice.h"

struct patset;
struct patset_scratch;

/*
 * Compiles PATTERNS[i] reporting IDS[i]. A pattern Vectorscan cannot take exactly
 * goes in as a prefilter (a superset); one it cannot take at all sets UNINDEXED[i]
 * and is never reported: the caller must treat it as always a candidate. So do all
 * of them when there are only a few, or when Vectorscan cannot be loaded.
 * Returns NULL with ERR set only when out of memory.
 */
struct patset *patset_new(const char *const *patterns, const uint32_t *ids,
                          size_t n, bool *unindexed, struct errbuf *err);
void           patset_free(struct patset *);

/* Per-thread scan state; _new owns. NULL when out of memory. */
struct patset_scratch *patset_scratch_new(const struct patset *);
void                   patset_scratch_free(struct patset_scratch *);

typedef void patset_cb(uint32_t id, void *arg);
/* Calls CB once for each id whose pattern may match SUBJECT, in no order.
 * Returns -1 when the scan failed: the caller must not trust a partial answer. */
int  patset_scan(const struct patset *, struct patset_scratch *,
                 struct slice subject, patset_cb *cb, void *arg);

#endif
