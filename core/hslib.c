#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include "hslib.h"

/* A policy is compiled on the loop's thread at start and on a thread of its own when
 * it is reloaded: the library is loaded once, whichever comes first. */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static struct hslib   lib;
static bool           loaded;
static char           why[256];

static void *
sym(void *h, const char *name, bool *ok)
{
	void *p = dlsym(h, name);

	if (p == NULL && *ok) {
		snprintf(why, sizeof(why), "%s: no symbol %s", HTTPJAIL_HS_SONAME, name);
		*ok = false;
	}
	return p;
}

static void
load(void)
{
	void *h;
	bool ok = true;

	if ((h = dlopen(HTTPJAIL_HS_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		snprintf(why, sizeof(why), "%s", dlerror());
		return;
	}
	/* dlsym's void * to a function pointer: POSIX guarantees it works. */
	*(void **)&lib.expression_info = sym(h, "hs_expression_info", &ok);
	*(void **)&lib.compile_multi = sym(h, "hs_compile_multi", &ok);
	*(void **)&lib.free_compile_error = sym(h, "hs_free_compile_error", &ok);
	*(void **)&lib.free_database = sym(h, "hs_free_database", &ok);
	*(void **)&lib.alloc_scratch = sym(h, "hs_alloc_scratch", &ok);
	*(void **)&lib.free_scratch = sym(h, "hs_free_scratch", &ok);
	*(void **)&lib.scan = sym(h, "hs_scan", &ok);
	*(void **)&lib.version = sym(h, "hs_version", &ok);
	if (!ok) {
		dlclose(h);
		return;
	}
	loaded = true;
}

const struct hslib *
hslib_get(void)
{
	pthread_once(&once, load);
	return loaded ? &lib : NULL;
}

const char *
hslib_error(void)
{
	return why;
}
