#include <stdlib.h>
#include <string.h>

#include "idmap.h"

struct ientry {
	char     *ie_key;   /* NULL for an empty slot */
	size_t    ie_len;
	uint64_t  ie_hash;
	uint32_t *ie_ids;
	size_t    ie_nids, ie_capids;
};

struct idmap {
	struct ientry *im_slots;
	size_t         im_cap, im_used;  /* im_cap a power of two */
};

struct idmap *
idmap_new(void)
{
	struct idmap *im = calloc(1, sizeof(*im));

	if (im == NULL)
		return NULL;
	im->im_cap = 64;
	if ((im->im_slots = calloc(im->im_cap, sizeof(*im->im_slots))) == NULL) {
		free(im);
		return NULL;
	}
	return im;
}

void
idmap_free(struct idmap *im)
{
	if (im == NULL)
		return;
	for (size_t i = 0; i < im->im_cap; i++) {
		free(im->im_slots[i].ie_key);
		free(im->im_slots[i].ie_ids);
	}
	free(im->im_slots);
	free(im);
}

static struct ientry *
find(const struct idmap *im, struct slice key, uint64_t h)
{
	size_t mask = im->im_cap - 1, i = (size_t)(h ^ (h >> 31)) & mask;

	for (;; i = (i + 1) & mask) {
		struct ientry *e = &im->im_slots[i];
		if (e->ie_key == NULL ||
		    (e->ie_hash == h && e->ie_len == key.len &&
		     memcmp(e->ie_key, key.ptr, key.len) == 0))
			return e;
	}
}

static int
grow(struct idmap *im)
{
	struct ientry *old = im->im_slots;
	size_t oldcap = im->im_cap;

	if ((im->im_slots = calloc(oldcap * 2, sizeof(*old))) == NULL) {
		im->im_slots = old;
		return -1;
	}
	im->im_cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].ie_key != NULL)
			*find(im, (struct slice){ old[i].ie_key, old[i].ie_len },
			      old[i].ie_hash) = old[i];
	free(old);
	return 0;
}

int
idmap_add(struct idmap *im, struct slice key, uint64_t h, uint32_t id)
{
	struct ientry *e;

	if ((im->im_used + 1) * 2 > im->im_cap && grow(im) < 0)
		return -1;
	e = find(im, key, h);
	if (e->ie_key == NULL) {
		if ((e->ie_key = malloc(key.len ? key.len : 1)) == NULL)
			return -1;
		memcpy(e->ie_key, key.ptr, key.len);
		e->ie_len = key.len;
		e->ie_hash = h;
		im->im_used++;
	}
	if (e->ie_nids > 0 && e->ie_ids[e->ie_nids - 1] == id)
		return 0;
	if (e->ie_nids == e->ie_capids) {
		size_t cap = e->ie_capids ? e->ie_capids * 2 : 2;
		uint32_t *ids = realloc(e->ie_ids, cap * sizeof(*ids));
		if (ids == NULL)
			return -1;
		e->ie_ids = ids;
		e->ie_capids = cap;
	}
	e->ie_ids[e->ie_nids++] = id;
	return 0;
}

const uint32_t *
idmap_get(const struct idmap *im, struct slice key, uint64_t h, size_t *n)
{
	const struct ientry *e = find(im, key, h);

	*n = e->ie_nids;
	return e->ie_key != NULL ? e->ie_ids : NULL;
}
