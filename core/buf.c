#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define BUF_FIRST 16384
#define BUF_SPARE 64

/* First blocks of released buffers, kept for the next buffer: a busy keep-alive
 * connection would otherwise allocate and free them with every request. One loop
 * per process uses them, so there is no lock. */
static char  *spare[BUF_SPARE];
static size_t nspare;

void
buf_init(struct buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->b_max = max;
}

void
buf_release(struct buf *b)
{
	if (b->b_cap == BUF_FIRST && nspare < BUF_SPARE)
		spare[nspare++] = b->b_data;
	else
		free(b->b_data);
	b->b_data = NULL;
	b->b_off = b->b_len = b->b_cap = 0;
}

char *
buf_space(struct buf *b, size_t min, size_t *room)
{
	size_t want;

	if (b->b_len >= b->b_max)
		return NULL;
	if (b->b_len == 0)
		b->b_off = 0;
	if (b->b_cap - b->b_off - b->b_len < min && b->b_off > 0) {
		memmove(b->b_data, b->b_data + b->b_off, b->b_len);
		b->b_off = 0;
	}
	if (b->b_cap == 0 && min <= BUF_FIRST && BUF_FIRST <= b->b_max && nspare > 0) {
		b->b_data = spare[--nspare];
		b->b_cap = BUF_FIRST;
	}
	if (b->b_cap - b->b_len < min && b->b_cap < b->b_max) {
		char *nd;
		want = b->b_cap ? b->b_cap * 2 : BUF_FIRST;
		while (want < b->b_len + min)
			want *= 2;
		if (want > b->b_max)
			want = b->b_max;
		if ((nd = realloc(b->b_data, want)) == NULL)
			return NULL;
		b->b_data = nd;
		b->b_cap = want;
	}
	*room = b->b_cap - b->b_off - b->b_len;
	if (*room == 0)
		return NULL;
	return b->b_data + b->b_off + b->b_len;
}

void
buf_commit(struct buf *b, size_t n)
{
	b->b_len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->b_off += n;
	b->b_len -= n;
	if (b->b_len == 0)
		b->b_off = 0;
}

int
buf_append(struct buf *b, const char *p, size_t n)
{
	size_t room;
	char *dst = buf_space(b, n, &room);

	if (dst == NULL || room < n)
		return -1;
	memcpy(dst, p, n);
	buf_commit(b, n);
	return 0;
}
