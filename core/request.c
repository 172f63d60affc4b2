#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "method.h"
#include "request.h"

uint16_t
request_default_port(struct slice scheme)
{
	if (slice_eq(scheme, "http") || slice_eq(scheme, "ws"))
		return 80;
	if (slice_eq(scheme, "https") || slice_eq(scheme, "wss"))
		return 443;
	return 0;
}

static enum req_kind
kind_of(struct slice scheme, struct slice method)
{
	if (slice_eq(scheme, "tcp"))
		return REQ_TCP;
	if (method.len == 7 && strncasecmp(method.ptr, "CONNECT", 7) == 0)
		return REQ_CONNECT;
	if (slice_eq(scheme, "https") || slice_eq(scheme, "wss"))
		return REQ_HTTPS;
	return REQ_HTTP;
}

/* Host names, IPv4 and IPv6 literals: anything else has no business in a URL host. */
static int
host_char_ok(unsigned char c, int v6)
{
	if (isalnum(c) || c == '-' || c == '.' || c == '_')
		return 1;
	return v6 && (c == ':' || c == '%');
}

/* Appends S to BUF at *OFF, lower-cased when LOWER; returns the copy's slice. */
static struct slice
put(char *buf, size_t bufsz, size_t *off, struct slice s, int lower, int *over)
{
	struct slice out = { buf + *off, s.len };

	if (*over || s.len >= bufsz - *off) {
		*over = 1;
		return (struct slice){ "", 0 };
	}
	for (size_t i = 0; i < s.len; i++)
		buf[*off + i] = lower ? (char)tolower((unsigned char)s.ptr[i]) : s.ptr[i];
	*off += s.len;
	return out;
}

int
request_build(struct request *rq, struct slice method, struct slice scheme,
              struct slice host, uint16_t port, struct slice path,
              struct slice query, char *buf, size_t bufsz, struct errbuf *err)
{
	size_t off = 0, urlstart;
	int over = 0, v6;
	char portbuf[8];

	if (host.len > 0 && host.ptr[host.len - 1] == '.')
		host.len--;
	if (host.len == 0) {
		errbuf_set(err, "URL has no host");
		return -1;
	}
	v6 = memchr(host.ptr, ':', host.len) != NULL;
	for (size_t i = 0; i < host.len; i++) {
		if (!host_char_ok((unsigned char)host.ptr[i], v6)) {
			errbuf_set(err, "invalid character '%c' in host '%.*s'",
			           host.ptr[i], (int)host.len, host.ptr);
			return -1;
		}
	}
	if (bufsz == 0) {
		errbuf_set(err, "URL too long");
		return -1;
	}

	memset(rq, 0, sizeof(*rq));
	/* Copied too, so that the request outlives whatever the caller built it from. */
	rq->rq_method = put(buf, bufsz, &off, method, 0, &over);
	rq->rq_method_bit = method_bit(method);
	rq->rq_scheme = put(buf, bufsz, &off, scheme, 1, &over);
	rq->rq_host = put(buf, bufsz, &off, host, 1, &over);
	rq->rq_port = port;
	rq->rq_kind = kind_of(rq->rq_scheme, method);
	if (path.len == 0 && !slice_eq(rq->rq_scheme, "tcp"))
		path = SLICE_LIT("/");

	urlstart = off;
	put(buf, bufsz, &off, rq->rq_scheme, 0, &over);
	put(buf, bufsz, &off, SLICE_LIT("://"), 0, &over);
	if (v6)
		put(buf, bufsz, &off, SLICE_LIT("["), 0, &over);
	put(buf, bufsz, &off, rq->rq_host, 0, &over);
	if (v6)
		put(buf, bufsz, &off, SLICE_LIT("]"), 0, &over);
	if (port != request_default_port(rq->rq_scheme)) {
		portbuf[0] = ':';
		put(buf, bufsz, &off,
		    (struct slice){ portbuf, 1 + slice_u64(portbuf + 1, port).len }, 0, &over);
	}
	rq->rq_path = put(buf, bufsz, &off, path, 0, &over);
	if (query.len > 0) {
		put(buf, bufsz, &off, SLICE_LIT("?"), 0, &over);
		rq->rq_query = put(buf, bufsz, &off, query, 0, &over);
	} else {
		rq->rq_query = (struct slice){ buf + off, 0 };
	}
	rq->rq_url = (struct slice){ buf + urlstart, off - urlstart };
	if (over) {
		errbuf_set(err, "URL too long");
		return -1;
	}
	buf[off] = '\0';
	return 0;
}

int
request_from_url(struct request *rq, const char *method, const char *url,
                 char *buf, size_t bufsz, struct errbuf *err)
{
	const char *p = strstr(url, "://"), *auth, *end, *hend;
	struct slice scheme, host, path = { "", 0 }, query = { NULL, 0 };
	char lscheme[16];
	unsigned long port;

	if (p == NULL || p == url) {
		errbuf_set(err, "'%s': not an absolute URL (expected SCHEME://HOST/...)", url);
		return -1;
	}
	if ((size_t)(p - url) >= sizeof(lscheme)) {
		errbuf_set(err, "'%s': invalid scheme", url);
		return -1;
	}
	for (size_t i = 0; url + i < p; i++) {
		if (!isalpha((unsigned char)url[i])) {
			errbuf_set(err, "'%s': invalid scheme", url);
			return -1;
		}
		lscheme[i] = (char)tolower((unsigned char)url[i]);
	}
	scheme = (struct slice){ lscheme, (size_t)(p - url) };
	auth = p + 3;
	end = auth + strcspn(auth, "/?#");
	if (memchr(auth, '@', (size_t)(end - auth)) != NULL) {
		errbuf_set(err, "'%s': user information in URLs is not supported", url);
		return -1;
	}
	if (*auth == '[') {
		hend = memchr(auth, ']', (size_t)(end - auth));
		if (hend == NULL) {
			errbuf_set(err, "'%s': unterminated IPv6 address", url);
			return -1;
		}
		host = (struct slice){ auth + 1, (size_t)(hend - auth - 1) };
		hend++;
	} else {
		hend = memchr(auth, ':', (size_t)(end - auth));
		if (hend == NULL)
			hend = end;
		host = (struct slice){ auth, (size_t)(hend - auth) };
	}
	port = request_default_port(scheme);
	if (hend < end) {
		char *e;
		if (*hend != ':' || hend + 1 == end) {
			errbuf_set(err, "'%s': bad port", url);
			return -1;
		}
		port = strtoul(hend + 1, &e, 10);
		if (e != end || port == 0 || port > 65535 || !isdigit((unsigned char)hend[1])) {
			errbuf_set(err, "'%s': bad port", url);
			return -1;
		}
	} else if (port == 0) {
		errbuf_set(err, "'%s': a %.*s URL needs a port", url,
		           (int)scheme.len, scheme.ptr);
		return -1;
	}
	if (*end == '/') {
		const char *pe = end + strcspn(end, "?#");
		path = (struct slice){ end, (size_t)(pe - end) };
		end = pe;
	}
	if (*end == '?') {
		const char *qe = end + 1 + strcspn(end + 1, "#");
		query = (struct slice){ end + 1, (size_t)(qe - end - 1) };
	}
	return request_build(rq, slice_cstr(method), scheme, host, (uint16_t)port,
	                     path, query, buf, bufsz, err);
}
