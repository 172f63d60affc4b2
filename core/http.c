/*
 * http: strict HTTP/1.1 heads and chunked framing (RFC 9112, RFC 9110).
 *
 * This parser stands between an untrusted client and an upstream that parses the
 * same bytes again, so whatever two implementations could read differently is
 * rejected rather than repaired: that is how request smuggling is avoided.
 *
 * Decisions a caller must know:
 * - "Content-Length: 0" frames as HTTP_BODY_LENGTH with a length of 0, in
 *   requests and responses alike: NONE means that neither framing field was sent.
 * - Empty lines before a request line are skipped and counted in the head's
 *   length (RFC 9112 2.2), so the caller consumes them with the head.
 * - A status line without a reason phrase ("HTTP/1.1 200") is accepted: many
 *   servers send it, and the reason phrase carries no meaning (RFC 9112 4).
 * - Hosts in targets and in Host are letters, digits, '-', '.', '_' or a bracketed
 *   IPv6 address: percent-encoding and sub-delims in a host are rejected.
 * - Expect and Upgrade in an HTTP/1.0 request are ignored (RFC 9110 10.1.1, 7.8).
 * - The writers send one canonical Content-Length for a list or repeated fields
 *   (RFC 9110 8.6), and never drop Content-Length or Transfer-Encoding when
 *   Connection names them: the next hop must frame the body as we did.
 */
#include <arpa/inet.h>
#include <string.h>

#include "http.h"

static const char empty[] = "";
static const char slash[] = "/";

#define EMPTY ((struct slice){ empty, 0 })

static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* VCHAR, obs-text, SP and HTAB: what a field value and a reason phrase may hold. */
static bool
is_vchar_ws(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* LIT is a string literal, so its length costs nothing: heads are matched field by
 * field for every request. */
#define NAME_IS(s, lit) slice_caseeq((s), SLICE_LIT(lit))

static struct slice
trim_ows(struct slice s)
{
	while (s.len > 0 && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
		s.ptr++;
		s.len--;
	}
	while (s.len > 0 && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
		s.len--;
	return s;
}

/*
 * The next element of the comma-separated list V from *POS, OWS removed. Empty
 * elements are returned too: Content-Length must reject them, Connection skips them.
 */
static bool
list_next(struct slice v, size_t *pos, struct slice *elem)
{
	const char *comma;
	size_t end;

	if (*pos > v.len)
		return false;
	comma = memchr(v.ptr + *pos, ',', v.len - *pos);
	end = comma ? (size_t)(comma - v.ptr) : v.len;
	*elem = trim_ows((struct slice){ v.ptr + *pos, end - *pos });
	*pos = end + 1;
	return true;
}

/* Whether a field named NAME lists ELEM (case-insensitive), as Connection does. */
static bool
fields_list(const struct http_field *f, size_t n, struct slice name, struct slice elem)
{
	struct slice e;

	for (size_t i = 0; i < n; i++) {
		size_t pos = 0;

		if (!slice_caseeq(f[i].hf_name, name))
			continue;
		while (list_next(f[i].hf_value, &pos, &e))
			if (slice_caseeq(e, elem))
				return true;
	}
	return false;
}

static size_t
fields_count(const struct http_field *f, size_t n, struct slice name)
{
	size_t count = 0;

	for (size_t i = 0; i < n; i++)
		if (slice_caseeq(f[i].hf_name, name))
			count++;
	return count;
}

static struct slice
field_get(const struct http_field *f, size_t n, struct slice name)
{
	for (size_t i = 0; i < n; i++)
		if (slice_caseeq(f[i].hf_name, name))
			return f[i].hf_value;
	return EMPTY;
}

struct slice
http_field_get(const struct http_field *fields, size_t n, const char *name)
{
	return field_get(fields, n, slice_cstr(name));
}

/*
 * The next CRLF-terminated line of BUF[0..N) from *OFF, CRLF excluded. Returns 1,
 * 0 when no LF has come yet, or -1 on a bare LF or bare CR: the one line-ending
 * rule leaves no room for an upstream that splits lines elsewhere.
 */
static int
next_line(const char *buf, size_t n, size_t *off, struct slice *line, const char **why)
{
	const char *p = buf + *off, *lf;

	lf = memchr(p, '\n', n - *off);
	if (lf == NULL)
		return 0;
	if (lf == p || lf[-1] != '\r') {
		*why = "bare LF";
		return -1;
	}
	line->ptr = p;
	line->len = (size_t)(lf - p) - 1;
	if (memchr(p, '\r', line->len) != NULL) {
		*why = "bare CR";
		return -1;
	}
	*off += line->len + 2;
	return 1;
}

/* The start line: next_line() with a length limit; TOOLONG says which line it was. */
static int
start_line(const char *buf, size_t n, size_t *off, struct slice *line,
           const char *toolong, const char **why)
{
	int rc = next_line(buf, n, off, line, why);

	if ((rc == 0 && n - *off > HTTP_MAX_LINE + 1) || (rc == 1 && line->len > HTTP_MAX_LINE)) {
		*why = toolong;
		return -1;
	}
	return rc;
}

/* A head that is not complete yet: wait for more, unless it can no longer fit. */
static ssize_t
incomplete(size_t len, const char **why)
{
	if (len > HTTP_MAX_HEAD) {
		*why = "header section too large";
		return -1;
	}
	return 0;
}

static int
parse_field(struct slice line, struct http_field *f, const char **why)
{
	size_t i = 0;

	if (line.ptr[0] == ' ' || line.ptr[0] == '\t') {
		*why = "obs-fold";
		return -1;
	}
	while (i < line.len && is_tchar((unsigned char)line.ptr[i]))
		i++;
	if (i < line.len && (line.ptr[i] == ' ' || line.ptr[i] == '\t')) {
		*why = "whitespace before colon";
		return -1;
	}
	if (i == 0 || i == line.len || line.ptr[i] != ':') {
		*why = "invalid field name";
		return -1;
	}
	f->hf_name = (struct slice){ line.ptr, i };
	f->hf_value = trim_ows((struct slice){ line.ptr + i + 1, line.len - i - 1 });
	for (size_t j = 0; j < f->hf_value.len; j++) {
		unsigned char c = (unsigned char)f->hf_value.ptr[j];

		if (c == '\0') {
			*why = "NUL in field value";
			return -1;
		}
		if (!is_vchar_ws(c)) {
			*why = "control character in field value";
			return -1;
		}
	}
	return 0;
}

/* Field lines from OFF to the empty line: the head's length, 0 or -1. */
static ssize_t
parse_fields(const char *buf, size_t n, size_t off, struct http_field *fields,
             size_t *nfields, const char **why)
{
	struct slice line;
	int rc;

	for (;;) {
		if ((rc = next_line(buf, n, &off, &line, why)) <= 0)
			return rc;
		if (line.len == 0)
			return (ssize_t)off;
		if (*nfields == HTTP_MAX_FIELDS) {
			*why = "too many header fields";
			return -1;
		}
		if (parse_field(line, &fields[*nfields], why) == -1)
			return -1;
		(*nfields)++;
	}
}

/* The minor version of "HTTP/1.0" or "HTTP/1.1"; -1 for anything else. */
static int
parse_version(struct slice v)
{
	if (v.len != 8 || memcmp(v.ptr, "HTTP/1.", 7) != 0)
		return -1;
	if (v.ptr[7] == '0' || v.ptr[7] == '1')
		return v.ptr[7] - '0';
	return -1;
}

enum { AUTH_OK, AUTH_BAD_HOST, AUTH_BAD_PORT };

/*
 * uri-host [":" port] (RFC 3986 3.2.2), narrowed to what a policy can match:
 * a name of letters, digits, '-', '.', '_' (IPv4 included) or a bracketed IPv6
 * address; the port 1-65535 when present, and required when NEED_PORT.
 */
static int
parse_authority(struct slice s, bool need_port, struct slice *host, uint16_t *port)
{
	const char *p = s.ptr, *end = s.ptr + s.len;
	unsigned long v = 0;
	size_t ndigits;

	if (s.len > 0 && p[0] == '[') {
		const char *rb = memchr(p, ']', s.len);
		char addr[INET6_ADDRSTRLEN];
		struct in6_addr a6;

		if (rb == NULL || (size_t)(rb - p - 1) >= sizeof(addr))
			return AUTH_BAD_HOST;
		*host = (struct slice){ p + 1, (size_t)(rb - p - 1) };
		memcpy(addr, host->ptr, host->len);
		addr[host->len] = '\0';
		if (inet_pton(AF_INET6, addr, &a6) != 1)
			return AUTH_BAD_HOST;
		p = rb + 1;
	} else {
		const char *h = p;

		while (p < end && *p != ':') {
			unsigned char c = (unsigned char)*p;

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) ||
			    c == '-' || c == '.' || c == '_'))
				return AUTH_BAD_HOST;
			p++;
		}
		if (p == h || p - h > 255)
			return AUTH_BAD_HOST;
		*host = (struct slice){ h, (size_t)(p - h) };
	}
	*port = 0;
	if (p == end)
		return need_port ? AUTH_BAD_PORT : AUTH_OK;
	if (*p != ':')
		return AUTH_BAD_HOST;
	p++;
	ndigits = (size_t)(end - p);
	if (ndigits == 0 || ndigits > 5)
		return AUTH_BAD_PORT;
	for (; p < end; p++) {
		if (!is_digit((unsigned char)*p))
			return AUTH_BAD_PORT;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return AUTH_BAD_PORT;
	*port = (uint16_t)v;
	return AUTH_OK;
}

/* Length of a leading "scheme://" scheme, or 0. */
static size_t
scheme_len(struct slice t)
{
	size_t i = 0;
	unsigned char c;

	if (t.len == 0 || !((t.ptr[0] | 0x20) >= 'a' && (t.ptr[0] | 0x20) <= 'z'))
		return 0;
	while (i < t.len) {
		c = (unsigned char)t.ptr[i];
		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !is_digit(c) &&
		    c != '+' && c != '-' && c != '.')
			break;
		i++;
	}
	if (t.len - i < 3 || memcmp(t.ptr + i, "://", 3) != 0)
		return 0;
	return i;
}

/* Length of a path separator at P (a slash, a backslash, or either percent-encoded),
 * or 0: servers differ on which of them they split on before removing dot segments. */
static size_t
sep_len(const char *p, const char *end)
{
	if (*p == '/' || *p == '\\')
		return 1;
	if (end - p >= 3 && p[0] == '%' && ((p[1] == '2' && (p[2] | 0x20) == 'f') ||
	                                    (p[1] == '5' && (p[2] | 0x20) == 'c')))
		return 3;
	return 0;
}

/* The origin resolves dot segments (RFC 3986 5.2.4) after the decision saw the path
 * as sent, so /v1/../admin would pass a rule allowing ^https://h/v1/. */
bool
http_dot_segment(struct slice path)
{
	const char *p = path.ptr, *end = path.ptr + path.len;

	while (p < end) {
		size_t dots = 0, n;
		bool other = false;

		while (p < end && (n = sep_len(p, end)) > 0)
			p += n;
		for (; p < end && sep_len(p, end) == 0 && *p != ';'; p++) {
			if (*p == '.')
				dots++;
			else if (end - p >= 3 && p[0] == '%' && p[1] == '2' && (p[2] | 0x20) == 'e') {
				dots++;
				p += 2;
			} else
				other = true;
		}
		if (!other && (dots == 1 || dots == 2))
			return true;
		while (p < end && sep_len(p, end) == 0)
			p++;
	}
	return false;
}

/* Splits "path[?query]" at T[OFF..]; an empty path becomes the static "/". */
static int
split_path(struct http_req *req, size_t off, const char **why)
{
	struct slice t = req->hr_target;
	const char *q = memchr(t.ptr + off, '?', t.len - off);
	size_t pend = q ? (size_t)(q - t.ptr) : t.len;

	if (pend > off)
		req->hr_path = (struct slice){ t.ptr + off, pend - off };
	else
		req->hr_path = (struct slice){ slash, 1 };
	if (q != NULL)
		req->hr_query = (struct slice){ q + 1, t.len - pend - 1 };
	if (http_dot_segment(req->hr_path)) {
		*why = "dot segment in path";
		return -1;
	}
	return 0;
}

static int
parse_absolute(struct http_req *req, size_t slen, const char **why)
{
	static const struct slice schemes[] = {
		SLICE_LIT("http"), SLICE_LIT("https"), SLICE_LIT("ws"), SLICE_LIT("wss"),
	};
	struct slice t = req->hr_target, auth;
	size_t i, aend;
	bool known = false;

	req->hr_scheme = (struct slice){ t.ptr, slen };
	for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
		known |= slice_caseeq(req->hr_scheme, schemes[i]);
	if (!known) {
		*why = "unsupported scheme in target";
		return -1;
	}
	for (aend = slen + 3; aend < t.len; aend++)
		if (t.ptr[aend] == '/' || t.ptr[aend] == '?')
			break;
	auth = (struct slice){ t.ptr + slen + 3, aend - slen - 3 };
	if (memchr(auth.ptr, '@', auth.len) != NULL) {
		*why = "userinfo in target";
		return -1;
	}
	switch (parse_authority(auth, false, &req->hr_host, &req->hr_port)) {
	case AUTH_BAD_HOST:
		*why = "invalid host in target";
		return -1;
	case AUTH_BAD_PORT:
		*why = "invalid port in target";
		return -1;
	}
	return split_path(req, aend, why);
}

/* RFC 9112 3.2: which form the target has, and whether the method allows it. */
static int
parse_target(struct http_req *req, const char **why)
{
	struct slice t = req->hr_target;
	bool connect = slice_eq(req->hr_method, "CONNECT");
	size_t slen = 0;
	int rc;

	for (size_t i = 0; i < t.len; i++) {
		unsigned char c = (unsigned char)t.ptr[i];

		if (c < 0x21 || c > 0x7e) {
			*why = "invalid character in target";
			return -1;
		}
	}
	if (memchr(t.ptr, '#', t.len) != NULL) {
		*why = "fragment in target";
		return -1;
	}
	if (slice_eq(t, "*")) {
		req->hr_form = HTTP_TARGET_ASTERISK;
		if (!slice_eq(req->hr_method, "OPTIONS")) {
			*why = "asterisk-form target without OPTIONS";
			return -1;
		}
		return 0;
	}
	if (t.ptr[0] == '/' || (slen = scheme_len(t)) > 0) {
		if (connect) {
			*why = "CONNECT without an authority-form target";
			return -1;
		}
		if (t.ptr[0] == '/') {
			req->hr_form = HTTP_TARGET_ORIGIN;
			return split_path(req, 0, why);
		}
		req->hr_form = HTTP_TARGET_ABSOLUTE;
		return parse_absolute(req, slen, why);
	}
	req->hr_form = HTTP_TARGET_AUTHORITY;
	rc = parse_authority(t, true, &req->hr_host, &req->hr_port);
	if (!connect) {
		*why = rc == AUTH_OK ? "authority-form target without CONNECT" : "invalid target";
		return -1;
	}
	if (rc != AUTH_OK) {
		*why = rc == AUTH_BAD_HOST ? "invalid host in target" : "invalid port in target";
		return -1;
	}
	return 0;
}

static int
parse_request_line(struct slice line, struct http_req *req, const char **why)
{
	const char *sp1, *sp2, *end = line.ptr + line.len;
	struct slice version;

	sp1 = memchr(line.ptr, ' ', line.len);
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (sp2 == NULL || sp1 == line.ptr || sp2 == sp1 + 1 || sp2 + 1 == end ||
	    memchr(sp2 + 1, ' ', (size_t)(end - sp2 - 1)) != NULL) {
		*why = "invalid request line";
		return -1;
	}
	req->hr_method = (struct slice){ line.ptr, (size_t)(sp1 - line.ptr) };
	req->hr_target = (struct slice){ sp1 + 1, (size_t)(sp2 - sp1 - 1) };
	version = (struct slice){ sp2 + 1, (size_t)(end - sp2 - 1) };
	for (size_t i = 0; i < req->hr_method.len; i++) {
		if (!is_tchar((unsigned char)req->hr_method.ptr[i])) {
			*why = "invalid method";
			return -1;
		}
	}
	if ((req->hr_minor = parse_version(version)) == -1) {
		*why = "invalid HTTP version";
		return -1;
	}
	return parse_target(req, why);
}

/*
 * The value of every Content-Length field (RFC 9110 8.6): 1*DIGIT of at most 18
 * digits so that it fits, and a list or repeated fields only with equal values.
 * Returns 1 with *LENGTH, 0 when there is none, -1 when malformed.
 */
static int
content_length(const struct http_field *f, size_t n, uint64_t *length, const char **why)
{
	bool seen = false;
	struct slice e;

	for (size_t i = 0; i < n; i++) {
		size_t pos = 0;

		if (!NAME_IS(f[i].hf_name, "Content-Length"))
			continue;
		while (list_next(f[i].hf_value, &pos, &e)) {
			uint64_t v = 0;

			if (e.len == 0 || e.len > 18) {
				*why = "invalid Content-Length";
				return -1;
			}
			for (size_t j = 0; j < e.len; j++) {
				if (!is_digit((unsigned char)e.ptr[j])) {
					*why = "invalid Content-Length";
					return -1;
				}
				v = v * 10 + (uint64_t)(e.ptr[j] - '0');
			}
			if (seen && v != *length) {
				*why = "differing Content-Length values";
				return -1;
			}
			seen = true;
			*length = v;
		}
	}
	return seen ? 1 : 0;
}

/*
 * RFC 9112 6.1-6.3, narrowed: Transfer-Encoding must be a single "chunked", the
 * only coding forwarded, and never alongside Content-Length or in HTTP/1.0.
 * Sets *FRAMING to NONE when neither field is present.
 */
static int
body_framing(const struct http_field *f, size_t n, int minor, enum http_framing *framing,
             uint64_t *length, const char **why)
{
	size_t nte = fields_count(f, n, SLICE_LIT("Transfer-Encoding"));
	int rc;

	*length = 0;
	if (nte > 0) {
		if (fields_count(f, n, SLICE_LIT("Content-Length")) > 0) {
			*why = "both Content-Length and Transfer-Encoding";
			return -1;
		}
		if (minor == 0) {
			*why = "Transfer-Encoding in HTTP/1.0";
			return -1;
		}
		if (nte > 1) {
			*why = "repeated Transfer-Encoding";
			return -1;
		}
		if (!slice_caseeq(field_get(f, n, SLICE_LIT("Transfer-Encoding")),
		                  SLICE_LIT("chunked"))) {
			*why = "unsupported Transfer-Encoding";
			return -1;
		}
		*framing = HTTP_BODY_CHUNKED;
		return 0;
	}
	if ((rc = content_length(f, n, length, why)) == -1)
		return -1;
	*framing = rc ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	return 0;
}

/* Connection: close wins over keep-alive; HTTP/1.1 persists by default (RFC 9112 9.3). */
static bool
keep_alive(const struct http_field *f, size_t n, int minor)
{
	if (fields_list(f, n, SLICE_LIT("Connection"), SLICE_LIT("close")))
		return false;
	return minor >= 1 ||
	       fields_list(f, n, SLICE_LIT("Connection"), SLICE_LIT("keep-alive"));
}

static int
check_host(struct http_req *req, const char **why)
{
	size_t nhost = fields_count(req->hr_fields, req->hr_nfields, SLICE_LIT("Host"));
	struct slice host;
	uint16_t port;

	if (nhost > 1) {
		*why = "repeated Host";
		return -1;
	}
	if (nhost == 0) {
		if (req->hr_minor >= 1) {
			*why = "missing Host";
			return -1;
		}
		return 0;
	}
	req->hr_host_header = field_get(req->hr_fields, req->hr_nfields, SLICE_LIT("Host"));
	/* RFC 9110 7.2 allows an empty Host; anything else must be an authority. */
	if (req->hr_host_header.len > 0 &&
	    parse_authority(req->hr_host_header, false, &host, &port) != AUTH_OK) {
		*why = "invalid Host";
		return -1;
	}
	return 0;
}

ssize_t
http_parse_request(const char *buf, size_t len, struct http_req *req, const char **why)
{
	size_t n = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, off = 0;
	const struct http_field *f = req->hr_fields;
	struct slice line;
	ssize_t end;
	int rc;

	memset(req, 0, sizeof(*req));
	req->hr_method = req->hr_target = req->hr_scheme = req->hr_host = EMPTY;
	req->hr_path = req->hr_query = req->hr_host_header = EMPTY;

	while (n - off >= 2 && buf[off] == '\r' && buf[off + 1] == '\n')
		off += 2;
	if ((rc = start_line(buf, n, &off, &line, "request line too long", why)) != 1)
		return rc == 0 ? incomplete(len, why) : -1;
	if (parse_request_line(line, req, why) == -1)
		return -1;
	if ((end = parse_fields(buf, n, off, req->hr_fields, &req->hr_nfields, why)) <= 0)
		return end == 0 ? incomplete(len, why) : -1;

	if (check_host(req, why) == -1)
		return -1;
	if (body_framing(f, req->hr_nfields, req->hr_minor, &req->hr_framing,
	    &req->hr_length, why) == -1)
		return -1;
	req->hr_keep_alive = keep_alive(f, req->hr_nfields, req->hr_minor);
	if (req->hr_minor >= 1) {
		req->hr_expect_continue = fields_list(f, req->hr_nfields, SLICE_LIT("Expect"),
		    SLICE_LIT("100-continue"));
		req->hr_upgrade = fields_list(f, req->hr_nfields, SLICE_LIT("Connection"),
		    SLICE_LIT("upgrade")) &&
		    fields_count(f, req->hr_nfields, SLICE_LIT("Upgrade")) > 0;
	}
	req->hr_head_len = (size_t)end;
	return end;
}

/* "HTTP/1.x SP 3DIGIT [SP reason-phrase]": see the top of the file on the reason. */
static int
parse_status_line(struct slice line, struct http_resp *resp, const char **why)
{
	const char *sp = memchr(line.ptr, ' ', line.len);
	const char *p, *end = line.ptr + line.len;

	if (sp == NULL) {
		*why = "invalid status line";
		return -1;
	}
	if ((resp->hs_minor = parse_version((struct slice){ line.ptr,
	    (size_t)(sp - line.ptr) })) == -1) {
		*why = "invalid HTTP version";
		return -1;
	}
	p = sp + 1;
	if (end - p < 3 || !is_digit((unsigned char)p[0]) || !is_digit((unsigned char)p[1]) ||
	    !is_digit((unsigned char)p[2]) || (end - p > 3 && p[3] != ' ')) {
		*why = "invalid status line";
		return -1;
	}
	resp->hs_status = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	if (resp->hs_status < 100 || resp->hs_status > 599) {
		*why = "invalid status code";
		return -1;
	}
	p += 3;
	if (p < end)
		p++;
	resp->hs_reason = (struct slice){ p, (size_t)(end - p) };
	for (; p < end; p++) {
		if (!is_vchar_ws((unsigned char)*p)) {
			*why = "invalid reason phrase";
			return -1;
		}
	}
	return 0;
}

ssize_t
http_parse_response(const char *buf, size_t len, struct slice req_method,
                    struct http_resp *resp, const char **why)
{
	size_t n = len < HTTP_MAX_HEAD ? len : HTTP_MAX_HEAD, off = 0;
	const struct http_field *f = resp->hs_fields;
	int status, rc;
	struct slice line;
	ssize_t end;

	memset(resp, 0, sizeof(*resp));
	resp->hs_reason = EMPTY;

	if ((rc = start_line(buf, n, &off, &line, "status line too long", why)) != 1)
		return rc == 0 ? incomplete(len, why) : -1;
	if (parse_status_line(line, resp, why) == -1)
		return -1;
	if ((end = parse_fields(buf, n, off, resp->hs_fields, &resp->hs_nfields, why)) <= 0)
		return end == 0 ? incomplete(len, why) : -1;

	/* Framing fields are checked even where the status overrides them below. */
	if (body_framing(f, resp->hs_nfields, resp->hs_minor, &resp->hs_framing,
	    &resp->hs_length, why) == -1)
		return -1;
	status = resp->hs_status;
	if (slice_eq(req_method, "HEAD") || status < 200 || status == 204 || status == 304 ||
	    (slice_eq(req_method, "CONNECT") && status < 300)) {
		resp->hs_framing = HTTP_BODY_NONE;
		resp->hs_length = 0;
	} else if (resp->hs_framing == HTTP_BODY_NONE) {
		resp->hs_framing = HTTP_BODY_CLOSE;
	}
	resp->hs_keep_alive = resp->hs_framing != HTTP_BODY_CLOSE &&
	    keep_alive(f, resp->hs_nfields, resp->hs_minor);
	resp->hs_head_len = (size_t)end;
	return end;
}

enum {
	CH_SIZE,        /* chunk-size; hc_linelen counts the line, hc_left the size */
	CH_EXT,         /* chunk-ext up to CR */
	CH_SIZE_LF,
	CH_DATA,        /* hc_left bytes of chunk-data */
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TRAILER,     /* start of a trailer line; hc_left counts the trailer section */
	CH_TNAME,
	CH_TVALUE,
	CH_TRAILER_LF,
	CH_END_LF,
	CH_DONE,
	CH_FAILED,
};

void
http_chunked_init(struct http_chunked *ch)
{
	ch->hc_state = CH_SIZE;
	ch->hc_left = 0;
	ch->hc_linelen = 0;
}

static ssize_t
chunked_fail(struct http_chunked *ch, const char **why, const char *reason)
{
	ch->hc_state = CH_FAILED;
	*why = reason;
	return -1;
}

/*
 * RFC 9112 7.1: chunk-size [chunk-ext] CRLF chunk-data CRLF ... "0" [chunk-ext]
 * CRLF *(trailer-field CRLF) CRLF. No whitespace after the size (the BWS of
 * 7.1.1 is where parsers disagree), at most 16 hex digits, leading zeros
 * included, and no control byte in a chunk-ext or trailer, so that every parser
 * sees each line end where we do. Extensions and trailers are not interpreted.
 */
ssize_t
http_chunked_feed(struct http_chunked *ch, const char *buf, size_t len, bool *done,
                  const char **why)
{
	*done = ch->hc_state == CH_DONE;
	if (ch->hc_state == CH_DONE)
		return 0;
	if (ch->hc_state == CH_FAILED) {
		*why = "chunked body already failed";
		return -1;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)buf[i];
		size_t take;
		int h;

		if (ch->hc_state >= CH_TRAILER && ++ch->hc_left > HTTP_MAX_HEAD)
			return chunked_fail(ch, why, "trailer section too large");
		switch (ch->hc_state) {
		case CH_SIZE:
			if ((h = hex_value(c)) != -1) {
				if (ch->hc_linelen == 16)
					return chunked_fail(ch, why, "chunk size too large");
				ch->hc_left = ch->hc_left << 4 | (uint64_t)h;
				ch->hc_linelen++;
			} else if (c == '\n') {
				return chunked_fail(ch, why, "bare LF");
			} else if (ch->hc_linelen == 0 || (c != ';' && c != '\r')) {
				return chunked_fail(ch, why, "invalid chunk size");
			} else if (c == ';') {
				ch->hc_state = CH_EXT;
				ch->hc_linelen++;
			} else {
				ch->hc_state = CH_SIZE_LF;
			}
			break;
		case CH_EXT:
			if (c == '\r') {
				ch->hc_state = CH_SIZE_LF;
			} else if (c == '\n') {
				return chunked_fail(ch, why, "bare LF");
			} else if (!is_vchar_ws(c)) {
				return chunked_fail(ch, why, "invalid chunk extension");
			} else if (++ch->hc_linelen > HTTP_MAX_LINE) {
				return chunked_fail(ch, why, "chunk size line too long");
			}
			break;
		case CH_SIZE_LF:
			if (c != '\n')
				return chunked_fail(ch, why, "bare CR");
			ch->hc_linelen = 0;
			ch->hc_state = ch->hc_left > 0 ? CH_DATA : CH_TRAILER;
			break;
		case CH_DATA:
			take = len - i;
			if (ch->hc_left < take)
				take = (size_t)ch->hc_left;
			ch->hc_left -= take;
			i += take - 1;
			if (ch->hc_left == 0)
				ch->hc_state = CH_DATA_CR;
			break;
		case CH_DATA_CR:
			if (c != '\r')
				return chunked_fail(ch, why, "missing CRLF after chunk data");
			ch->hc_state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (c != '\n')
				return chunked_fail(ch, why, "missing CRLF after chunk data");
			ch->hc_state = CH_SIZE;
			break;
		case CH_TRAILER:
			if (c == '\r') {
				ch->hc_state = CH_END_LF;
				break;
			}
			if (!is_tchar(c))
				return chunked_fail(ch, why, "invalid trailer field");
			ch->hc_state = CH_TNAME;
			ch->hc_linelen = 1;
			break;
		case CH_TNAME:
			if (c == ':')
				ch->hc_state = CH_TVALUE;
			else if (!is_tchar(c))
				return chunked_fail(ch, why, "invalid trailer field");
			if (++ch->hc_linelen > HTTP_MAX_LINE)
				return chunked_fail(ch, why, "trailer line too long");
			break;
		case CH_TVALUE:
			if (c == '\r') {
				ch->hc_state = CH_TRAILER_LF;
				break;
			}
			if (c == '\n')
				return chunked_fail(ch, why, "bare LF");
			if (!is_vchar_ws(c))
				return chunked_fail(ch, why, "invalid trailer field");
			if (++ch->hc_linelen > HTTP_MAX_LINE)
				return chunked_fail(ch, why, "trailer line too long");
			break;
		case CH_TRAILER_LF:
			if (c != '\n')
				return chunked_fail(ch, why, "bare CR");
			ch->hc_state = CH_TRAILER;
			break;
		case CH_END_LF:
			if (c != '\n')
				return chunked_fail(ch, why, "bare CR");
			ch->hc_state = CH_DONE;
			*done = true;
			return (ssize_t)(i + 1);
		}
	}
	return (ssize_t)len;
}

/* A bounded output: once something does not fit, the whole write fails. */
struct out {
	char   *o_buf;
	size_t  o_len;
	size_t  o_size;
	bool    o_over;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->o_over || n > o->o_size - o->o_len) {
		o->o_over = true;
		return;
	}
	if (n > 0)
		memcpy(o->o_buf + o->o_len, s, n);
	o->o_len += n;
}

static void
put_str(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_slice(struct out *o, struct slice s)
{
	put(o, s.ptr, s.len);
}

#define CONNECTION_NAMES 8

/* What the Connection fields of a head list, to be compared with each of its fields:
 * CONNECTION_NAMES at most, else *COUNT is SIZE_MAX and the fields are searched again
 * for each. Empty elements are left out; they name no field. */
static void
connection_names(const struct http_field *f, size_t n, struct slice *names, size_t *count)
{
	struct slice e;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		size_t pos = 0;

		if (!NAME_IS(f[i].hf_name, "Connection"))
			continue;
		while (list_next(f[i].hf_value, &pos, &e)) {
			if (e.len == 0)
				continue;
			if (k == CONNECTION_NAMES) {
				*count = SIZE_MAX;
				return;
			}
			names[k++] = e;
		}
	}
	*count = k;
}

/*
 * Whether F must not cross the proxy: the hop-by-hop fields of RFC 9110 7.6.1 and
 * those Connection names (NAMES, NNAMES of connection_names()), except the framing
 * fields, which the next hop must see as we did whatever Connection claims.
 */
static bool
hop_by_hop(const struct http_field *fields, size_t n, const struct http_field *f,
           bool keep_upgrade, const struct slice *names, size_t nnames)
{
	static const struct slice hop[] = {
		SLICE_LIT("Connection"), SLICE_LIT("Keep-Alive"), SLICE_LIT("Proxy-Connection"),
		SLICE_LIT("Proxy-Authorization"), SLICE_LIT("Proxy-Authenticate"), SLICE_LIT("TE"),
	};

	if (NAME_IS(f->hf_name, "Upgrade"))
		return !keep_upgrade;
	if (NAME_IS(f->hf_name, "Content-Length") || NAME_IS(f->hf_name, "Transfer-Encoding"))
		return false;
	for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
		if (slice_caseeq(f->hf_name, hop[i]))
			return true;
	if (nnames == SIZE_MAX)
		return fields_list(fields, n, SLICE_LIT("Connection"), f->hf_name);
	for (size_t i = 0; i < nnames; i++)
		if (slice_caseeq(f->hf_name, names[i]))
			return true;
	return false;
}

/* The fields that go on, Content-Length once with its value in canonical form. */
static void
put_fields(struct out *o, const struct http_field *f, size_t n, bool keep_upgrade,
           bool skip_host)
{
	struct slice names[CONNECTION_NAMES], v;
	bool cl_done = false;
	size_t nnames;
	uint64_t length;
	const char *why;
	char num[24];

	/* A parsed head cannot fail here; a hand-built one fails rather than guesses. */
	if (content_length(f, n, &length, &why) == -1) {
		o->o_over = true;
		return;
	}
	connection_names(f, n, names, &nnames);
	for (size_t i = 0; i < n; i++) {
		if ((skip_host && NAME_IS(f[i].hf_name, "Host")) ||
		    hop_by_hop(f, n, &f[i], keep_upgrade, names, nnames))
			continue;
		v = f[i].hf_value;
		if (NAME_IS(f[i].hf_name, "Content-Length")) {
			if (cl_done)
				continue;
			cl_done = true;
			v = slice_u64(num, length);
		}
		put_slice(o, f[i].hf_name);
		put(o, ": ", 2);
		put_slice(o, v);
		put(o, "\r\n", 2);
	}
}

ssize_t
http_write_request_head(const struct http_req *req, struct slice host_header,
                        bool keep_upgrade, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, false };
	char port[8] = ":";

	/* The Host we write must not carry a line break into the head. */
	for (size_t i = 0; i < host_header.len; i++)
		if (!is_vchar_ws((unsigned char)host_header.ptr[i]))
			return -1;

	put_slice(&o, req->hr_method);
	put(&o, " ", 1);
	switch (req->hr_form) {
	case HTTP_TARGET_AUTHORITY:
		if (memchr(req->hr_host.ptr, ':', req->hr_host.len) != NULL) {
			put(&o, "[", 1);
			put_slice(&o, req->hr_host);
			put(&o, "]", 1);
		} else {
			put_slice(&o, req->hr_host);
		}
		put(&o, port, 1 + slice_u64(port + 1, req->hr_port).len);
		break;
	case HTTP_TARGET_ASTERISK:
		put(&o, "*", 1);
		break;
	case HTTP_TARGET_ORIGIN:
	case HTTP_TARGET_ABSOLUTE:
		/* The path and query are the target's tail, unless the path is the "/" supplied. */
		if (req->hr_path.ptr == slash) {
			const char *q = memchr(req->hr_target.ptr, '?', req->hr_target.len);

			put(&o, "/", 1);
			if (q != NULL)
				put(&o, q, (size_t)(req->hr_target.ptr + req->hr_target.len - q));
		} else {
			put(&o, req->hr_path.ptr,
			    (size_t)(req->hr_target.ptr + req->hr_target.len - req->hr_path.ptr));
		}
		break;
	}
	put_str(&o, " HTTP/1.1\r\nHost: ");
	put_slice(&o, host_header);
	put(&o, "\r\n", 2);
	put_fields(&o, req->hr_fields, req->hr_nfields, keep_upgrade, true);
	if (keep_upgrade)
		put_str(&o, "Connection: upgrade\r\n");
	put(&o, "\r\n", 2);
	return o.o_over ? -1 : (ssize_t)o.o_len;
}

ssize_t
http_write_response_head(const struct http_resp *resp, bool close, char *out, size_t outsz)
{
	struct out o = { out, 0, outsz, false };
	bool upgrade = resp->hs_status == 101;
	char status[] = "HTTP/1.1 000 ";

	if (resp->hs_status < 0 || resp->hs_status > 999)
		return -1;
	status[9] = (char)('0' + resp->hs_status / 100);
	status[10] = (char)('0' + resp->hs_status / 10 % 10);
	status[11] = (char)('0' + resp->hs_status % 10);
	put(&o, status, sizeof(status) - 1);
	put_slice(&o, resp->hs_reason);
	put(&o, "\r\n", 2);
	put_fields(&o, resp->hs_fields, resp->hs_nfields, upgrade, false);
	/* After a 101 the connection is the tunnel's: close means nothing there. */
	if (upgrade)
		put_str(&o, "Connection: upgrade\r\n");
	else if (close)
		put_str(&o, "Connection: close\r\n");
	put(&o, "\r\n", 2);
	return o.o_over ? -1 : (ssize_t)o.o_len;
}
