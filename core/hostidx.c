#include <stdlib.h>
#include <string.h>

#include "hostidx.h"

struct hentry {
	char     *he_name;   /* NULL for an empty slot */
	size_t    he_len;
	bool      he_suffix; /* from "*.name" */
	uint32_t *he_ids;
	size_t    he_nids, he_capids;
};

struct hostidx {
	struct hentry *hx_slots;
	size_t         hx_cap, hx_used; /* hx_cap a power of two */
};

static uint64_t
hash(const char *s, size_t n, bool suffix)
{
	uint64_t h = suffix ? 0x9e3779b97f4a7c15ULL : 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

struct hostidx *
hostidx_new(void)
{
	struct hostidx *hx = calloc(1, sizeof(*hx));

	if (hx == NULL)
		return NULL;
	hx->hx_cap = 64;
	if ((hx->hx_slots = calloc(hx->hx_cap, sizeof(*hx->hx_slots))) == NULL) {
		free(hx);
		return NULL;
	}
	return hx;
}

void
hostidx_free(struct hostidx *hx)
{
	if (hx == NULL)
		return;
	for (size_t i = 0; i < hx->hx_cap; i++) {
		free(hx->hx_slots[i].he_name);
		free(hx->hx_slots[i].he_ids);
	}
	free(hx->hx_slots);
	free(hx);
}

static struct hentry *
find(const struct hostidx *hx, const char *s, size_t n, bool suffix)
{
	size_t mask = hx->hx_cap - 1, i = hash(s, n, suffix) & mask;

	for (;; i = (i + 1) & mask) {
		struct hentry *e = &hx->hx_slots[i];
		if (e->he_name == NULL ||
		    (e->he_suffix == suffix && e->he_len == n &&
		     memcmp(e->he_name, s, n) == 0))
			return e;
	}
}

static int
grow(struct hostidx *hx)
{
	struct hentry *old = hx->hx_slots;
	size_t oldcap = hx->hx_cap;

	hx->hx_cap *= 2;
	if ((hx->hx_slots = calloc(hx->hx_cap, sizeof(*old))) == NULL) {
		hx->hx_slots = old;
		hx->hx_cap = oldcap;
		return -1;
	}
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].he_name != NULL)
			*find(hx, old[i].he_name, old[i].he_len, old[i].he_suffix) = old[i];
	free(old);
	return 0;
}

int
hostidx_add(struct hostidx *hx, const char *name, uint32_t id)
{
	bool suffix = strncmp(name, "*.", 2) == 0;
	const char *s = suffix ? name + 2 : name;
	size_t n = strlen(s);
	struct hentry *e;

	if ((hx->hx_used + 1) * 2 > hx->hx_cap && grow(hx) < 0)
		return -1;
	e = find(hx, s, n, suffix);
	if (e->he_name == NULL) {
		if ((e->he_name = strdup(s)) == NULL)
			return -1;
		e->he_len = n;
		e->he_suffix = suffix;
		hx->hx_used++;
	}
	if (e->he_nids > 0 && e->he_ids[e->he_nids - 1] == id)
		return 0;
	if (e->he_nids == e->he_capids) {
		size_t cap = e->he_capids ? e->he_capids * 2 : 2;
		uint32_t *ids = realloc(e->he_ids, cap * sizeof(*ids));
		if (ids == NULL)
			return -1;
		e->he_ids = ids;
		e->he_capids = cap;
	}
	e->he_ids[e->he_nids++] = id;
	return 0;
}

static void
emit(const struct hentry *e, hostidx_cb *cb, void *arg)
{
	for (size_t i = 0; i < e->he_nids; i++)
		cb(e->he_ids[i], arg);
}

void
hostidx_lookup(const struct hostidx *hx, struct slice host, hostidx_cb *cb,
               void *arg)
{
	const struct hentry *e = find(hx, host.ptr, host.len, false);

	if (e->he_name != NULL)
		emit(e, cb, arg);
	/* "*.example.com" is stored as suffix "example.com": try every parent domain. */
	for (size_t i = 0; i < host.len; i++) {
		if (host.ptr[i] != '.' || i + 1 == host.len)
			continue;
		e = find(hx, host.ptr + i + 1, host.len - i - 1, true);
		if (e->he_name != NULL)
			emit(e, cb, arg);
	}
}

static void
found(uint32_t id, void *arg)
{
	(void)id;
	*(bool *)arg = true;
}

bool
hostidx_contains(const struct hostidx *hx, struct slice host)
{
	bool hit = false;

	hostidx_lookup(hx, host, found, &hit);
	return hit;
}
