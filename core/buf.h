/* buf: a byte buffer with a fixed maximum, read at the front and filled at the back.
 * Storage is allocated on first use and released by buf_release() when empty, so
 * an idle connection holds none. */
#ifndef HTTPJAIL_BUF_H
#define HTTPJAIL_BUF_H

#include <stdbool.h>
#include <stddef.h>

#include "slice.h"

struct buf {
	char   *b_data;
	size_t  b_off, b_len;   /* bytes held: [b_off, b_off + b_len) */
	size_t  b_cap, b_max;
};

/* An empty buffer that may grow to MAX bytes; allocates nothing yet. */
void   buf_init(struct buf *, size_t max);
/* Frees the storage; the buffer stays usable. */
void   buf_release(struct buf *);
/* Room to append at least MIN bytes (up to what is left below the maximum): returns
 * the place and sets *ROOM, or NULL when full or out of memory. */
char  *buf_space(struct buf *, size_t min, size_t *room);
void   buf_commit(struct buf *, size_t n);
void   buf_consume(struct buf *, size_t n);
int    buf_append(struct buf *, const char *p, size_t n); /* -1 when it does not fit */
static inline struct slice
buf_data(const struct buf *b)
{
	return (struct slice){ b->b_data + b->b_off, b->b_len };
}
static inline bool
buf_full(const struct buf *b)
{
	return b->b_len >= b->b_max;
}

#endif
