/* litidx: rules whose unanchored pattern can only match a URL that contains a known
 * literal ('svc9\.example\.(com|net)/api' -> "svc9.example."). Each literal is filed
 * under its rarest 4-byte piece, so a URL costs one probe per byte however many
 * rules there are: Vectorscan slows down when thousands of literals share a suffix. */
#ifndef HTTPJAIL_LITIDX_H
#define HTTPJAIL_LITIDX_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

#define LITIDX_MINLEN 4
#define LITIDX_MAXLEN 255
#define LITIDX_MAXRUN 32

struct litidx;

struct litidx *litidx_new(void);
void           litidx_free(struct litidx *);
/* Copies LITERAL (LITIDX_MINLEN to LITIDX_MAXLEN bytes). Returns -1 when it is out of
 * that range or out of memory. Add every literal, then call litidx_build() once. */
int            litidx_add(struct litidx *, struct slice literal, uint32_t id);
typedef void litidx_cb(uint32_t id, void *arg);
/* Files every literal, except those whose rarest gram more than LITIDX_MAXRUN others
 * share: a URL with that gram would walk them all, so they go to REJECT for the
 * caller to index another way. Returns -1 when out of memory. */
int            litidx_build(struct litidx *, litidx_cb *reject, void *arg);

/* Calls CB, in no order and maybe more than once, for every id whose literal occurs
 * in SUBJECT. */
void           litidx_lookup(const struct litidx *, struct slice subject,
                             litidx_cb *cb, void *arg);

/*
 * The longest literal that every subject PATTERN (PCRE2 syntax, no options) matches
 * contains, written to OUT (at least LITIDX_MAXLEN + 1 bytes). Returns its length, or
 * 0 when none of LITIDX_MINLEN bytes is certain: a top-level '|', or text this scan
 * does not read exactly (it stops there and keeps what it found before).
 */
size_t         litidx_literal(const char *pattern, char *out);

#endif
