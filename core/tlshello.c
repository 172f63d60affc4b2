/*
 * The ClientHello is gathered from its records into a local buffer, then read
 * with a cursor whose first failure sticks, so the parse reads straight down
 * the RFC 8446 4.1.2 layout and checks its status once.  Every length is held
 * against two bounds: the vector that encloses it, which the sender declared
 * (overrunning it is BAD), and the bytes that have arrived (running out of
 * those is MORE).  That is what makes MORE mean "a valid prefix so far".
 *
 * The host name is found in the gathered copy and mapped back into BUF.  A
 * name whose bytes straddle a record boundary has no contiguous place in BUF
 * to point at; such a hello is BAD ("server name split across records").  No
 * client splits there: they send the hello in one record, and those that
 * split it (large post-quantum key shares) cut at the record size limit,
 * far from server_name, which comes early.
 */
#include <string.h>

#include "tlshello.h"

#define REC_HEADER	5
#define REC_HANDSHAKE	22
#define REC_MAX		(16384 + 256)	/* TLSCiphertext's bound, RFC 8446 5.2 */
#define HS_HEADER	4
#define HS_CLIENT_HELLO	1
#define EXT_SERVER_NAME	0
#define NAME_HOST	0
#define HOST_MAX	253
#define LABEL_MAX	63

/* The cursor over the gathered handshake message. */
struct rd {
	const uint8_t		*rd_msg;
	size_t			 rd_have;	/* bytes of it that have arrived */
	enum tlshello_status	 rd_st;		/* DONE until something is short or wrong */
	const char		*rd_why;
};

/* A vector of the message: [sp_pos, sp_end) as its length prefix declares. */
struct span {
	size_t	sp_pos;
	size_t	sp_end;
};

/*
 * Reads an N-byte big-endian number of which only HAVE bytes have arrived,
 * the rest taken as zero: the least the full number can be, so that a length
 * already too large is refused before its last byte comes.
 */
static size_t
be_least(const uint8_t *p, size_t have, size_t n)
{
	size_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | (i < have ? p[i] : 0);
	return v;
}

/* Checks the (possibly partial) record header at P; DONE sets *RLEN. */
static enum tlshello_status
record_header(const uint8_t *p, size_t n, size_t *rlen, const char **why)
{
	if (n >= 1 && p[0] != REC_HANDSHAKE) {
		*why = "not a TLS handshake record";
		return TLSHELLO_BAD;
	}
	if ((n >= 2 && p[1] != 3) || (n >= 3 && (p[2] < 1 || p[2] > 4))) {
		*why = "unknown TLS record version";
		return TLSHELLO_BAD;
	}
	if (n >= 4 && be_least(p + 3, n - 3, 2) > REC_MAX) {
		*why = "TLS record longer than 16640 bytes";
		return TLSHELLO_BAD;
	}
	if (n < REC_HEADER)
		return TLSHELLO_MORE;
	*rlen = be_least(p + 3, 2, 2);
	if (*rlen == 0) {
		/* RFC 8446 5.1 forbids them; allowing them would let a client
		 * make us walk any number of records for nothing. */
		*why = "empty TLS handshake record";
		return TLSHELLO_BAD;
	}
	return TLSHELLO_DONE;
}

/* Checks the (possibly partial) handshake header at P; DONE sets *WANT. */
static enum tlshello_status
handshake_header(const uint8_t *p, size_t n, size_t *want, const char **why)
{
	if (n >= 1 && p[0] != HS_CLIENT_HELLO) {
		*why = "handshake message is not a ClientHello";
		return TLSHELLO_BAD;
	}
	if (n >= 2 && be_least(p + 1, n - 1, 3) > TLSHELLO_MAX) {
		*why = "ClientHello longer than 16384 bytes";
		return TLSHELLO_BAD;
	}
	if (n < HS_HEADER)
		return TLSHELLO_MORE;
	*want = HS_HEADER + be_least(p + 1, 3, 3);
	return TLSHELLO_DONE;
}

static void
rd_fail(struct rd *r, enum tlshello_status st, const char *why)
{
	if (r->rd_st == TLSHELLO_DONE) {
		r->rd_st = st;
		r->rd_why = why;
	}
}

/* Takes N bytes from S; NULL if they overrun S or have not all arrived. */
static const uint8_t *
rd_take(struct rd *r, struct span *s, size_t n, const char *what)
{
	const uint8_t *p;

	if (r->rd_st != TLSHELLO_DONE)
		return NULL;
	if (n > s->sp_end - s->sp_pos) {
		rd_fail(r, TLSHELLO_BAD, what);
		return NULL;
	}
	if (s->sp_pos + n > r->rd_have) {
		rd_fail(r, TLSHELLO_MORE, NULL);
		return NULL;
	}
	p = r->rd_msg + s->sp_pos;
	s->sp_pos += n;
	return p;
}

static size_t
rd_num(struct rd *r, struct span *s, size_t n, const char *what)
{
	const uint8_t *p = rd_take(r, s, n, what);

	return p != NULL ? be_least(p, n, n) : 0;
}

/*
 * Reads the N-byte length of a vector of S and steps S over the vector,
 * whose bytes need not have arrived yet: they are checked when read.
 */
static struct span
rd_vec(struct rd *r, struct span *s, size_t n, const char *what)
{
	struct span v;
	size_t len = rd_num(r, s, n, what);

	if (r->rd_st != TLSHELLO_DONE)
		return (struct span){ 0, 0 };
	if (len > s->sp_end - s->sp_pos) {
		rd_fail(r, TLSHELLO_BAD, what);
		return (struct span){ 0, 0 };
	}
	v.sp_pos = s->sp_pos;
	v.sp_end = s->sp_pos + len;
	s->sp_pos = v.sp_end;
	return v;
}

/* Returns why the N bytes at P are not a DNS host name, or NULL if they are. */
static const char *
host_invalid(const uint8_t *p, size_t n)
{
	size_t label = 0;

	if (n == 0)
		return "empty server name";
	if (n > HOST_MAX)
		return "server name longer than 253 bytes";
	if (p[n - 1] == '.')
		return "server name ends in a dot";
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];

		if (c == '.') {
			if (label == 0)
				return "empty label in server name";
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return "invalid character in server name";
		if (++label > LABEL_MAX)
			return "server name label longer than 63 bytes";
	}
	return NULL;
}

/* RFC 6066 3: the first entry must be the host_name, the only type defined. */
static void
server_name(struct rd *r, struct span ext, struct span *name)
{
	struct span list = rd_vec(r, &ext, 2, "server_name list overruns its extension");
	const uint8_t *p;
	const char *why;
	size_t type, n;
	int first = 1;

	if (ext.sp_pos != ext.sp_end)
		rd_fail(r, TLSHELLO_BAD, "bytes after the server_name list");
	while (r->rd_st == TLSHELLO_DONE && list.sp_pos < list.sp_end) {
		type = rd_num(r, &list, 1, "server_name entry overruns its list");
		n = rd_num(r, &list, 2, "server_name entry overruns its list");
		p = rd_take(r, &list, n, "server name overruns its list");
		if (p == NULL)
			break;
		if (first) {
			if (type != NAME_HOST)
				rd_fail(r, TLSHELLO_BAD, "first server name is not a host_name");
			else if ((why = host_invalid(p, n)) != NULL)
				rd_fail(r, TLSHELLO_BAD, why);
			else
				*name = (struct span){ (size_t)(p - r->rd_msg),
				                       (size_t)(p - r->rd_msg) + n };
			first = 0;
		} else if (type == NAME_HOST) {
			rd_fail(r, TLSHELLO_BAD, "more than one host_name");
		}
	}
	if (first)
		rd_fail(r, TLSHELLO_BAD, "empty server_name list");
}

/* RFC 8446 4.1.2; leaves *NAME alone when there is no server_name. */
static void
client_hello(struct rd *r, struct span body, struct span *name)
{
	static const char short_hello[] = "ClientHello too short";
	uint8_t seen[65536 / 8];
	struct span v, exts;
	size_t version, type;

	version = rd_num(r, &body, 2, short_hello);
	if (version < 0x0301 || version > 0x0304)
		rd_fail(r, TLSHELLO_BAD, "unknown ClientHello version");
	rd_take(r, &body, 32, short_hello);
	v = rd_vec(r, &body, 1, "session_id overruns the ClientHello");
	if (v.sp_end - v.sp_pos > 32)
		rd_fail(r, TLSHELLO_BAD, "session_id longer than 32 bytes");
	v = rd_vec(r, &body, 2, "cipher_suites overrun the ClientHello");
	if (v.sp_end - v.sp_pos < 2 || (v.sp_end - v.sp_pos) % 2 != 0)
		rd_fail(r, TLSHELLO_BAD, "cipher_suites length not a positive even number");
	v = rd_vec(r, &body, 1, "compression_methods overrun the ClientHello");
	if (v.sp_pos == v.sp_end)
		rd_fail(r, TLSHELLO_BAD, "no compression_methods");
	/* Hellos from before RFC 3546 end here. */
	if (r->rd_st != TLSHELLO_DONE || body.sp_pos == body.sp_end)
		return;

	exts = rd_vec(r, &body, 2, "extensions overrun the ClientHello");
	if (body.sp_pos != body.sp_end)
		rd_fail(r, TLSHELLO_BAD, "bytes after the extensions");
	memset(seen, 0, sizeof(seen));
	while (r->rd_st == TLSHELLO_DONE && exts.sp_pos < exts.sp_end) {
		type = rd_num(r, &exts, 2, "extension overruns the extensions");
		v = rd_vec(r, &exts, 2, "extension overruns the extensions");
		if (r->rd_st != TLSHELLO_DONE)
			break;
		/* RFC 8446 4.2: two of a type would leave peers free to disagree. */
		if (seen[type / 8] & (1u << (type % 8)))
			rd_fail(r, TLSHELLO_BAD, "duplicate extension");
		seen[type / 8] |= (uint8_t)(1u << (type % 8));
		if (type == EXT_SERVER_NAME)
			server_name(r, v, name);
	}
}

/*
 * Maps the handshake stream's bytes [OFF, OFF + N) into BUF, whose records
 * up to there have been checked; NULL when they cross into another record.
 */
static const uint8_t *
map_back(const uint8_t *buf, size_t off, size_t n)
{
	size_t at = 0, rlen;

	for (;;) {
		rlen = be_least(buf + at + 3, 2, 2);
		if (off < rlen)
			return off + n <= rlen ? buf + at + REC_HEADER + off : NULL;
		off -= rlen;
		at += REC_HEADER + rlen;
	}
}

enum tlshello_status
tlshello_parse(const uint8_t *buf, size_t len, struct slice *sni, const char **why)
{
	uint8_t msg[HS_HEADER + TLSHELLO_MAX];
	size_t have = 0, want = sizeof(msg), at = 0, rlen = 0, n;
	enum tlshello_status st = TLSHELLO_MORE;
	struct span name = { 0, 0 };
	struct rd r;
	const uint8_t *p;

	*sni = (struct slice){ (const char *)buf, 0 };
	*why = NULL;

	/* Gather the fragments: records up to the one holding the hello's last byte. */
	while (have < want) {
		st = record_header(buf + at, len - at, &rlen, why);
		if (st != TLSHELLO_DONE)
			break;
		n = len - at - REC_HEADER;
		if (n > rlen)
			n = rlen;
		if (n > sizeof(msg) - have)
			n = sizeof(msg) - have;
		memcpy(msg + have, buf + at + REC_HEADER, n);
		if (handshake_header(msg, have + n, &want, why) == TLSHELLO_BAD)
			return TLSHELLO_BAD;
		/* The hello ends a record: in TLS 1.3 a key change follows it
		 * (RFC 8446 5.1), and in older versions nothing else does. */
		if (rlen > want - have) {
			*why = "TLS record runs past the ClientHello";
			return TLSHELLO_BAD;
		}
		have += n;
		if (n < rlen)
			break;
		at += REC_HEADER + rlen;
	}
	if (st == TLSHELLO_BAD)
		return TLSHELLO_BAD;
	if (have < HS_HEADER)
		return TLSHELLO_MORE;

	r = (struct rd){ msg, have, TLSHELLO_DONE, NULL };
	client_hello(&r, (struct span){ HS_HEADER, want }, &name);
	if (r.rd_st == TLSHELLO_BAD) {
		*why = r.rd_why;
		return TLSHELLO_BAD;
	}
	if (r.rd_st == TLSHELLO_MORE || have < want)
		return TLSHELLO_MORE;
	if (name.sp_end > name.sp_pos) {
		n = name.sp_end - name.sp_pos;
		if ((p = map_back(buf, name.sp_pos, n)) == NULL) {
			*why = "server name split across records";
			return TLSHELLO_BAD;
		}
		*sni = (struct slice){ (const char *)p, n };
	}
	return TLSHELLO_DONE;
}
