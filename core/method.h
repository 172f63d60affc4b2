/* method: HTTP method names as bits, so a rule's method set is one mask. */
#ifndef HTTPJAIL_METHOD_H
#define HTTPJAIL_METHOD_H

#include <stdint.h>

#include "slice.h"

#define METHOD_ALL 0xffffffffu

/* Bit of a method, case-insensitive; 0 for a method httpjail does not know. */
uint32_t    method_bit(struct slice name);
/* Upper-case name of a single bit (static storage). */
const char *method_name(uint32_t bit);
/* The known name closest to NAME, for "did you mean" hints, or NULL. */
const char *method_suggest(struct slice name);

#endif
