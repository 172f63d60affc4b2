#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "idmap.h"
#include "prefidx.h"
#include "regex.h"

struct prefidx {
	struct idmap *px_map;
	/* Bit n set when some literal is n bytes long: only those prefixes are probed. */
	uint64_t      px_lens[(PREFIDX_MAXLEN + 64) / 64];
};

struct prefidx *
prefidx_new(void)
{
	struct prefidx *px = calloc(1, sizeof(*px));

	if (px == NULL)
		return NULL;
	if ((px->px_map = idmap_new()) == NULL) {
		free(px);
		return NULL;
	}
	return px;
}

void
prefidx_free(struct prefidx *px)
{
	if (px == NULL)
		return;
	idmap_free(px->px_map);
	free(px);
}

int
prefidx_add(struct prefidx *px, struct slice lit, uint32_t id)
{
	if (lit.len == 0 || lit.len > PREFIDX_MAXLEN)
		return -1;
	if (idmap_add(px->px_map, lit, slice_hash(lit), id) < 0)
		return -1;
	px->px_lens[lit.len / 64] |= 1ULL << (lit.len % 64);
	return 0;
}

void
prefidx_lookup(const struct prefidx *px, struct slice s, prefidx_cb *cb, void *arg)
{
	size_t max = s.len < PREFIDX_MAXLEN ? s.len : PREFIDX_MAXLEN, n;
	uint64_t h = SLICE_HASH_INIT;

	/* FNV-1a extends one byte at a time, so every prefix costs one step. */
	for (size_t len = 1; len <= max; len++) {
		const uint32_t *ids;
		h = slice_hash_step(h, (unsigned char)s.ptr[len - 1]);
		if (!(px->px_lens[len / 64] & (1ULL << (len % 64))))
			continue;
		ids = idmap_get(px->px_map, (struct slice){ s.ptr, len }, h, &n);
		for (size_t i = 0; i < n; i++)
			cb(ids[i], arg);
	}
}

size_t
prefidx_literal(const char *p, char *out)
{
	const char *sep;
	size_t n = 0;

	if (p[0] == '^')
		p += 1;
	else if (p[0] == '\\' && p[1] == 'A')
		p += 2;
	else
		return 0;
	if (regex_text_opaque(p) || regex_text_alternates(p))
		return 0;
	for (; *p && n < PREFIDX_MAXLEN; p++) {
		if (strchr("*+?{", *p) != NULL) {
			/* The atom before a quantifier may repeat zero times: not part of it. */
			if (n > 0)
				n--;
			break;
		}
		if (*p == '\\') {
			if (p[1] == '\0' || isalnum((unsigned char)p[1]))
				break;
			p++;
		} else if (strchr(".[()|$^", *p) != NULL) {
			break;
		}
		/* A quantifier after a full-length literal would cut the last byte. */
		if (n == PREFIDX_MAXLEN - 1 && p[1] != '\0')
			break;
		out[n++] = *p;
	}
	out[n] = '\0';
	sep = strstr(out, "://");
	if (sep == NULL || sep[3] == '\0')
		return 0;
	return n;
}
