#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char *procname;
static enum log_level level = LOG_LVL_WARN;

void
log_procinit(const char *name)
{
	procname = name;
}

void
log_setlevel(enum log_level l)
{
	level = l;
}

enum log_level
log_getlevel(void)
{
	return level;
}

static void
vlog(enum log_level l, int errnum, const char *fmt, va_list ap)
{
	char msg[2048];

	if (l > level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (procname != NULL)
		fprintf(stderr, "httpjail[%s]: ", procname);
	else
		fputs("httpjail: ", stderr);
	if (errnum != 0)
		fprintf(stderr, "%s: %s\n", msg, strerror(errnum));
	else
		fprintf(stderr, "%s\n", msg);
}

void
log_warn(const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, e, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_WARN, 0, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_INFO, 0, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_LVL_ERROR, 0, fmt, ap);
	va_end(ap);
	abort();
}
