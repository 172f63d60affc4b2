/* version: the libraries httpjail runs with, for --version and bug reports. */
#ifndef HTTPJAIL_VERSION_H
#define HTTPJAIL_VERSION_H

#include <stddef.h>

/* One "NAME VERSION" line per library into BUF (truncated to SIZE). */
void version_libs(char *buf, size_t size);

#endif
