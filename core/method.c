#include <stddef.h>
#include <strings.h>

#include "method.h"
#include "suggest.h"

/* RFC 9110 methods, PATCH, and the WebDAV ones git and package managers use. */
static const char *const names[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
	"PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
	"UNLOCK", "REPORT", "SEARCH", "MKACTIVITY", "CHECKOUT", "MERGE",
};
#define NNAMES (sizeof(names) / sizeof(names[0]))

uint32_t
method_bit(struct slice name)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (strlen(names[i]) == name.len &&
		    strncasecmp(names[i], name.ptr, name.len) == 0)
			return 1u << i;
	return 0;
}

const char *
method_name(uint32_t bit)
{
	for (size_t i = 0; i < NNAMES; i++)
		if (bit == 1u << i)
			return names[i];
	return "?";
}

const char *
method_suggest(struct slice name)
{
	return suggest_closest(name, names, NNAMES);
}
