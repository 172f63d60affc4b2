/* hslib: Vectorscan, loaded on first use. Most policies never need it (anchored
 * patterns and patterns with a literal have indexes of their own), and loading it
 * with the C++ runtime it pulls in cost every run 1.1 ms before main(). */
#ifndef HTTPJAIL_HSLIB_H
#define HTTPJAIL_HSLIB_H

#include <hs/hs.h>

struct hslib {
	__typeof__(&hs_expression_info)    expression_info;
	__typeof__(&hs_compile_multi)      compile_multi;
	__typeof__(&hs_free_compile_error) free_compile_error;
	__typeof__(&hs_free_database)      free_database;
	__typeof__(&hs_alloc_scratch)      alloc_scratch;
	__typeof__(&hs_free_scratch)       free_scratch;
	__typeof__(&hs_scan)               scan;
	__typeof__(&hs_version)            version;
};

/* The library's entry points (static, loaded once), or NULL when it cannot be loaded:
 * then hslib_error() says why. Not thread-safe on its first call. */
const struct hslib *hslib_get(void);
const char         *hslib_error(void);

#endif
