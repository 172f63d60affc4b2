/* http: strict HTTP/1.1 message heads and body framing (RFC 9112, RFC 9110), parsed
 * from bytes the caller owns: no sockets, so every parser can be fuzzed alone. */
#ifndef HTTPJAIL_HTTP_H
#define HTTPJAIL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "slice.h"

#define HTTP_MAX_LINE   8192   /* request line or status line */
#define HTTP_MAX_HEAD   65536  /* whole head, request line to the empty line */
#define HTTP_MAX_FIELDS 100

struct http_field {
	struct slice hf_name;   /* as sent; compare case-insensitively */
	struct slice hf_value;  /* leading and trailing whitespace removed */
};

enum http_framing {
	HTTP_BODY_NONE,     /* no body */
	HTTP_BODY_LENGTH,   /* Content-Length bytes */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
	HTTP_BODY_CLOSE,    /* responses only: until the server closes */
};

enum http_target {
	HTTP_TARGET_ORIGIN,     /* /path?query */
	HTTP_TARGET_ABSOLUTE,   /* http://host[:port]/path?query */
	HTTP_TARGET_AUTHORITY,  /* host:port, CONNECT only */
	HTTP_TARGET_ASTERISK,   /* *, OPTIONS only */
};

/* Every slice points into the buffer given to http_parse_request(). */
struct http_req {
	struct slice       hr_method;
	struct slice       hr_target;       /* as sent */
	enum http_target   hr_form;
	/* From an absolute-form or authority-form target (empty otherwise). */
	struct slice       hr_scheme;       /* absolute form: "http", "https", "ws", "wss" as sent */
	struct slice       hr_host;         /* without brackets for IPv6; not lower-cased */
	uint16_t           hr_port;         /* 0 when the target gave none */
	/* Origin-form and absolute-form: path (never empty: "/" when absent) and query. */
	struct slice       hr_path;
	struct slice       hr_query;        /* without '?'; empty when none */
	int                hr_minor;        /* 0 for HTTP/1.0, 1 for HTTP/1.1 */
	struct http_field  hr_fields[HTTP_MAX_FIELDS];
	size_t             hr_nfields;
	struct slice       hr_host_header;  /* value of Host; empty when absent */
	enum http_framing  hr_framing;      /* NONE, LENGTH or CHUNKED */
	uint64_t           hr_length;       /* with HTTP_BODY_LENGTH */
	bool               hr_keep_alive;   /* the client wants the connection kept */
	bool               hr_expect_continue;
	bool               hr_upgrade;      /* Connection: upgrade with an Upgrade field */
	size_t             hr_head_len;     /* bytes of the head, empty line included */
};

struct http_resp {
	int                hs_status;
	int                hs_minor;
	struct slice       hs_reason;
	struct http_field  hs_fields[HTTP_MAX_FIELDS];
	size_t             hs_nfields;
	enum http_framing  hs_framing;
	uint64_t           hs_length;
	bool               hs_keep_alive;   /* the server will keep the connection */
	size_t             hs_head_len;
};

/*
 * Parses a request head from BUF. Returns the head's length when it is complete,
 * 0 when more bytes are needed (and the limits are not yet exceeded), or -1 when
 * it is malformed or too large, with *WHY a static one-line reason ("both
 * Content-Length and Transfer-Encoding", "obs-fold", "header section too large").
 * Rejected, per RFC 9112: both Content-Length and Transfer-Encoding; differing,
 * repeated-different or malformed Content-Length; a Transfer-Encoding other than
 * one final "chunked"; obs-fold; bare CR; NUL and other control bytes; whitespace
 * before a colon; an invalid method token, target or version; more than
 * HTTP_MAX_FIELDS fields; an HTTP/1.1 request without exactly one Host; a CONNECT
 * whose target is not authority-form, and authority-form for any other method.
 */
ssize_t http_parse_request(const char *buf, size_t len, struct http_req *req,
                           const char **why);

/*
 * Parses a response head. REQ_METHOD is the request's method: a response to HEAD,
 * and every 1xx, 204 and 304, has no body; a 2xx to CONNECT is a tunnel (NONE).
 * Same return convention as http_parse_request().
 */
ssize_t http_parse_response(const char *buf, size_t len, struct slice req_method,
                            struct http_resp *resp, const char **why);

/* Whether PATH has a "." or ".." segment, also percent-encoded, followed by ";params"
 * or split by a backslash or an encoded slash: such a request is refused (400), as
 * curl and browsers never send one. */
bool http_dot_segment(struct slice path);

/* The value of the first field named NAME (case-insensitive), or an empty slice. */
struct slice http_field_get(const struct http_field *fields, size_t n, const char *name);

/* Chunked framing, followed without decoding: the proxy forwards the bytes as sent. */
struct http_chunked {
	int      hc_state;
	uint64_t hc_left;     /* data bytes left in the current chunk */
	size_t   hc_linelen;  /* bytes of the current size or trailer line so far */
};

void    http_chunked_init(struct http_chunked *);
/*
 * Consumes BUF; returns how many of its bytes belong to the body (all of them
 * unless the body ended inside BUF), sets *DONE when the last chunk and the
 * trailer section are complete, or returns -1 with *WHY on a bad chunk size,
 * a missing CRLF, a size line or trailer over HTTP_MAX_LINE, or bare CR.
 */
ssize_t http_chunked_feed(struct http_chunked *, const char *buf, size_t len,
                          bool *done, const char **why);

/*
 * Writes the head to send upstream for REQ into OUT: the request line in origin
 * form (authority form for CONNECT), Host set to HOST_HEADER (the authority the
 * decision used), hop-by-hop fields removed (Connection and the fields it names,
 * Keep-Alive, Proxy-Connection, Proxy-Authorization, Proxy-Authenticate, TE,
 * Upgrade unless KEEP_UPGRADE), "Connection: upgrade" added back when KEEP_UPGRADE,
 * nothing added that names the client. Returns the length, or -1 when OUTSZ is too
 * small.
 */
ssize_t http_write_request_head(const struct http_req *req, struct slice host_header,
                                bool keep_upgrade, char *out, size_t outsz);

/* The same for a response going back to the client: hop-by-hop fields removed,
 * "Connection: close" added when CLOSE, "Connection: upgrade" kept for a 101. */
ssize_t http_write_response_head(const struct http_resp *resp, bool close,
                                 char *out, size_t outsz);

#endif
