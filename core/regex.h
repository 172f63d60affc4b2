/* regex: the one wrapper around PCRE2 (JIT when the CPU has it). Patterns are
 * searched, unanchored, in their subject: PCRE2 is what rules mean. */
#ifndef HTTPJAIL_REGEX_H
#define HTTPJAIL_REGEX_H

#include <stdbool.h>

#include "errbuf.h"
#include "slice.h"

struct regex;
struct regex_md;  /* match data: one per thread, reused across matches */

/* Returns NULL with ERR "invalid regex (WHY at offset N)"; *OFFSET gets N. */
struct regex    *regex_new(const char *pattern, size_t *offset, struct errbuf *err);
void             regex_free(struct regex *);
/* True when every match must start at the subject's start (PCRE2's own analysis). */
bool             regex_anchored(const struct regex *);
struct regex_md *regex_md_new(void);
void             regex_md_free(struct regex_md *);
/* 1 match, 0 no match, -1 error (match or depth limit): callers fail closed. */
int              regex_match(const struct regex *, struct slice subject,
                             struct regex_md *);

/* Syntax checks on a pattern's text, for the indexes that read literals out of it. */
/* True when P has constructs that can hide a bracket or a '|' from a plain scan. */
bool             regex_text_opaque(const char *p);
/* True when P has a '|' outside every group and class. */
bool             regex_text_alternates(const char *p);

#endif
