#include <stdarg.h>
#include <stdio.h>

#include "errbuf.h"

void
errbuf_set(struct errbuf *err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}
