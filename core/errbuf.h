/* errbuf: where the library leaves one error line for cmd/ to print. */
#ifndef HTTPJAIL_ERRBUF_H
#define HTTPJAIL_ERRBUF_H

#define ERRBUF_MAX 1024

/* Messages carry no "httpjail: " prefix and no newline; the printer adds both. */
struct errbuf {
	char msg[ERRBUF_MAX];
};

void errbuf_set(struct errbuf *, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
