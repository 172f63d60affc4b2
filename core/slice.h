/* slice: a borrowed view of bytes; never owns, never NUL-terminated by contract. */
#ifndef HTTPJAIL_SLICE_H
#define HTTPJAIL_SLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct slice {
	const char *ptr;
	size_t      len;
};

#define SLICE_LIT(s) ((struct slice){ (s), sizeof(s) - 1 })

static inline struct slice
slice_cstr(const char *s)
{
	return (struct slice){ s, s ? strlen(s) : 0 };
}

static inline bool
slice_eq(struct slice a, const char *s)
{
	size_t n = strlen(s);
	return a.len == n && memcmp(a.ptr, s, n) == 0;
}

/* ASCII case-insensitive: strncasecmp() follows the locale, where 'I' need not fold
 * to 'i'. Inline, as most calls end at the lengths. */
static inline bool
slice_caseeq(struct slice a, struct slice b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char x = (unsigned char)a.ptr[i], y = (unsigned char)b.ptr[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

/* V in decimal at OUT (20 bytes at most, no NUL), as a slice of OUT. For the heads and
 * URLs made for every request: snprintf() was 1.6% of the proxy loop's time. */
static inline struct slice
slice_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return (struct slice){ out, n };
}

#define SLICE_HASH_INIT 0xcbf29ce484222325ULL

/* FNV-1a, one byte at a time so that a caller can hash every prefix in one pass. It is
 * not collision-resistant: use it only where a collision costs a longer chain. */
static inline uint64_t
slice_hash_step(uint64_t h, unsigned char c)
{
	return (h ^ c) * 0x100000001b3ULL;
}

static inline uint64_t
slice_hash(struct slice s)
{
	uint64_t h = SLICE_HASH_INIT;

	for (size_t i = 0; i < s.len; i++)
		h = slice_hash_step(h, (unsigned char)s.ptr[i]);
	return h;
}

#endif
