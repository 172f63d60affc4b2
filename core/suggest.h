/* suggest: "did you mean" hints for misspelt keys, actions and methods. */
#ifndef HTTPJAIL_SUGGEST_H
#define HTTPJAIL_SUGGEST_H

#include <stddef.h>

#include "slice.h"

/* The candidate within a small edit distance of WORD (case-insensitive), or NULL. */
const char *suggest_closest(struct slice word, const char *const *candidates,
                            size_t n);

#endif
