/* prefidx: rules whose pattern can only match a URL that starts with a known literal
 * ('^https://api\.github\.com/repos/' -> "https://api.github.com/repos/"), found by
 * hashing each prefix of the URL once instead of running the patterns. */
#ifndef HTTPJAIL_PREFIDX_H
#define HTTPJAIL_PREFIDX_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

#define PREFIDX_MAXLEN 255

struct prefidx;

struct prefidx *prefidx_new(void);
void            prefidx_free(struct prefidx *);
/* IDs of one literal must be added in ascending order. Returns -1 when out of memory. */
int             prefidx_add(struct prefidx *, struct slice literal, uint32_t id);

typedef void prefidx_cb(uint32_t id, void *arg);
/* Calls CB for every id whose literal is a prefix of SUBJECT. */
void            prefidx_lookup(const struct prefidx *, struct slice subject,
                               prefidx_cb *cb, void *arg);

/*
 * The literal that starts every subject PATTERN (PCRE2 syntax) matches, written to
 * OUT (at least PREFIDX_MAXLEN + 1 bytes). Returns its length, or 0 when there is
 * none worth indexing: the pattern is not anchored, has a top-level '|', or its
 * literal does not reach past "SCHEME://" into the host.
 */
size_t          prefidx_literal(const char *pattern, char *out);

#endif
