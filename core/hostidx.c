#include <stdlib.h>
#include <string.h>

#include "hostidx.h"
#include "idmap.h"

struct hostidx {
	struct idmap *hx_exact;  /* "a.example" */
	struct idmap *hx_suffix; /* "*.example", stored as "example" */
};

struct hostidx *
hostidx_new(void)
{
	struct hostidx *hx = calloc(1, sizeof(*hx));

	if (hx == NULL)
		return NULL;
	if ((hx->hx_exact = idmap_new()) == NULL ||
	    (hx->hx_suffix = idmap_new()) == NULL) {
		hostidx_free(hx);
		return NULL;
	}
	return hx;
}

void
hostidx_free(struct hostidx *hx)
{
	if (hx == NULL)
		return;
	idmap_free(hx->hx_exact);
	idmap_free(hx->hx_suffix);
	free(hx);
}

int
hostidx_add(struct hostidx *hx, const char *name, uint32_t id)
{
	bool suffix = strncmp(name, "*.", 2) == 0;
	struct slice key = slice_cstr(suffix ? name + 2 : name);

	return idmap_add(suffix ? hx->hx_suffix : hx->hx_exact, key, slice_hash(key), id);
}

static void
emit(const struct idmap *im, struct slice key, hostidx_cb *cb, void *arg)
{
	size_t n;
	const uint32_t *ids = idmap_get(im, key, slice_hash(key), &n);

	for (size_t i = 0; i < n; i++)
		cb(ids[i], arg);
}

void
hostidx_lookup(const struct hostidx *hx, struct slice host, hostidx_cb *cb,
               void *arg)
{
	emit(hx->hx_exact, host, cb, arg);
	/* "*.example.com" is stored as suffix "example.com": try every parent domain. */
	for (size_t i = 0; i < host.len; i++) {
		if (host.ptr[i] != '.' || i + 1 == host.len)
			continue;
		emit(hx->hx_suffix, (struct slice){ host.ptr + i + 1, host.len - i - 1 },
		     cb, arg);
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
