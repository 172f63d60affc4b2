/* idmap: byte strings to ascending lists of rule ids. The caller hashes the key with
 * slice_hash() or slice_hash_step(), so that it can hash every prefix of a URL in one pass. */
#ifndef HTTPJAIL_IDMAP_H
#define HTTPJAIL_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "slice.h"

struct idmap;

struct idmap   *idmap_new(void);
void            idmap_free(struct idmap *);
/* IDs of one key must come in ascending order; a repeat of the last is ignored.
 * Returns -1 when out of memory. */
int             idmap_add(struct idmap *, struct slice key, uint64_t hash, uint32_t id);
/* The ids of KEY (borrowed), or NULL with *N set to 0. */
const uint32_t *idmap_get(const struct idmap *, struct slice key, uint64_t hash,
                          size_t *n);

#endif
