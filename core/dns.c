/*
 * dns: the jail's DNS stub. A name asked for A or AAAA gets the next free index, and
 * the index is the address: the Nth name is the Nth usable address of 198.18.0.0/15
 * and 2001:db8::N. Nothing is forwarded, so nothing leaves the jail by DNS.
 *
 * What is answered and what is dropped: a packet that is not a well-formed query
 * (short, QR set, not exactly one question, a compressed or overlong name, bytes
 * after the last record) is dropped and counted: what may not be a query at all (a
 * response, noise) gets no reply that could feed a loop. A well-formed query we do
 * not serve gets an answer saying why: NOTIMP for another opcode, REFUSED for
 * another class, FORMERR for an additional record that is not EDNS's OPT, NXDOMAIN
 * for a name that cannot be a host name (bytes other than letters, digits, '-' and
 * '_'; reported with the other bytes as \DDD), SERVFAIL once the address space is
 * used up, NODATA for other types. Answers carry no OPT record: a client that sent
 * one reads that as "no EDNS".
 */
#include <sys/queue.h>
#include <sys/random.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "dns.h"

#define DNS_HDR          12
#define DNS_NAME_MAX     255   /* wire form, final zero included (RFC 1035 2.3.4) */
/* As text: 253 bytes, each of them escaped as \DDD at worst, and the NUL. */
#define DNS_TEXT_MAX     (4 * (DNS_NAME_MAX - 2) + 1)
#define DNS_ANSWER_MAX   512   /* ours are at most 12 + 259 + 28 = 299 bytes */
/* Room for EDNS options and RFC 8467 padding (blocks of 128); longer is dropped. */
#define DNS_QUERY_MAX    1232
#define DNS_TTL          60    /* a synthetic address means nothing after the run */
#define DNS_BURST        64    /* datagrams or accepts per wake-up: others get a turn */
#define DNS_TCP_CLIENTS  64
#define DNS_TCP_IDLE_S   10.
#define DNS_BACKOFF_S    1.

#define DNS_TYPE_A       1
#define DNS_TYPE_AAAA    28
#define DNS_TYPE_OPT     41
#define DNS_CLASS_IN     1

enum dns_rcode {
	RCODE_NOERROR,
	RCODE_FORMERR,
	RCODE_SERVFAIL,
	RCODE_NXDOMAIN,
	RCODE_NOTIMP,
	RCODE_REFUSED,
};

/*
 * 198.18.0.0/15 is 512 blocks of 256. Host parts .0 and .255 are skipped because
 * some software takes them for network and broadcast addresses whatever the mask.
 */
#define DNS_V4_BASE      0xc6120000u
#define DNS_V4_MASK      0xfffe0000u
#define DNS_PER_BLOCK    254
#define DNS_MAX_NAMES    (512 * DNS_PER_BLOCK)

/* An index, 1-based; 0 marks an empty slot. The hash spares most string compares. */
struct dns_slot {
	uint32_t ds_hash;
	uint32_t ds_index;
};

struct dns_client {
	LIST_ENTRY(dns_client) dc_entry;
	struct dns *dc_dns;
	int         dc_fd;
	bool        dc_eof;     /* the client shut down its side: flush, then close */
	ev_io       dc_rio, dc_wio;
	ev_timer    dc_timer;
	size_t      dc_inlen, dc_outlen;
	uint8_t     dc_in[2 + DNS_QUERY_MAX];
	/* Several answers, so that a client pipelining queries is not read one at a time. */
	uint8_t     dc_out[4 * (2 + DNS_ANSWER_MAX)];
};

struct dns {
	struct ev_loop  *dn_loop;
	int              dn_udpfd, dn_tcpfd;
	ev_io            dn_udpio, dn_tcpio;
	ev_timer         dn_backoff;   /* accept paused: out of descriptors or memory */
	dns_event_cb    *dn_cb;
	void            *dn_arg;
	uint64_t         dn_dropped;

	char           **dn_names;     /* index - 1 -> name, lower case */
	uint32_t         dn_count, dn_namecap;
	struct dns_slot *dn_slots;     /* open addressing, never more than half full */
	uint32_t         dn_nslots;
	/* Names come from the jailed command: a keyed hash keeps it from building one
	 * long probe chain that would stall the loop the proxy runs on. */
	uint64_t         dn_key[2];

	LIST_HEAD(, dns_client) dn_clients;
	unsigned         dn_nclients;

	/* What the last answered query reported; valid until the next query. */
	char             dn_evname[DNS_TEXT_MAX];
	char             dn_evanswer[INET6_ADDRSTRLEN];
	uint8_t          dn_udpin[DNS_QUERY_MAX];
};

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, size_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* SipHash-1-3 (Aumasson and Bernstein), the keyed hash Rust's HashMap uses. */
static uint64_t
rotl(uint64_t x, int b)
{
	return x << b | x >> (64 - b);
}

static void
sipround(uint64_t v[4])
{
	v[0] += v[1]; v[1] = rotl(v[1], 13); v[1] ^= v[0]; v[0] = rotl(v[0], 32);
	v[2] += v[3]; v[3] = rotl(v[3], 16); v[3] ^= v[2];
	v[0] += v[3]; v[3] = rotl(v[3], 21); v[3] ^= v[0];
	v[2] += v[1]; v[1] = rotl(v[1], 17); v[1] ^= v[2]; v[2] = rotl(v[2], 32);
}

static uint64_t
siphash(const uint64_t key[2], const char *p, size_t len)
{
	uint64_t v[4] = {
		key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
		key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL,
	};
	uint64_t m;
	size_t i, j;

	for (i = 0; i + 8 <= len; i += 8) {
		for (m = 0, j = 0; j < 8; j++)
			m |= (uint64_t)(unsigned char)p[i + j] << (8 * j);
		v[3] ^= m;
		sipround(v);
		v[0] ^= m;
	}
	for (m = (uint64_t)len << 56, j = 0; i + j < len; j++)
		m |= (uint64_t)(unsigned char)p[i + j] << (8 * j);
	v[3] ^= m;
	sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	sipround(v);
	sipround(v);
	sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static int
table_grow(struct dns *dn)
{
	struct dns_slot *slots;
	uint32_t n = dn->dn_nslots * 2, mask = n - 1, i, j;

	if ((slots = calloc(n, sizeof(*slots))) == NULL)
		return -1;
	for (i = 0; i < dn->dn_nslots; i++) {
		if (dn->dn_slots[i].ds_index == 0)
			continue;
		for (j = dn->dn_slots[i].ds_hash & mask; slots[j].ds_index != 0;
		    j = (j + 1) & mask)
			;
		slots[j] = dn->dn_slots[i];
	}
	free(dn->dn_slots);
	dn->dn_slots = slots;
	dn->dn_nslots = n;
	return 0;
}

/* The index of NAME (LEN bytes, NUL-terminated), given one if new; 0 when full. */
static uint32_t
table_index(struct dns *dn, const char *name, size_t len)
{
	uint32_t h = (uint32_t)siphash(dn->dn_key, name, len), mask, i;
	struct dns_slot *s;
	char *copy;

	mask = dn->dn_nslots - 1;
	for (i = h & mask; (s = &dn->dn_slots[i])->ds_index != 0; i = (i + 1) & mask)
		if (s->ds_hash == h && strcmp(dn->dn_names[s->ds_index - 1], name) == 0)
			return s->ds_index;

	if (dn->dn_count == DNS_MAX_NAMES)
		return 0;
	if (dn->dn_count == dn->dn_namecap) {
		uint32_t cap = dn->dn_namecap ? 2 * dn->dn_namecap : 256;
		char **names = realloc(dn->dn_names, cap * sizeof(*names));

		if (names == NULL)
			return 0;
		dn->dn_names = names;
		dn->dn_namecap = cap;
	}
	if (2 * (dn->dn_count + 1) > dn->dn_nslots) {
		if (table_grow(dn) == -1)
			return 0;
		mask = dn->dn_nslots - 1;
		for (i = h & mask; dn->dn_slots[i].ds_index != 0; i = (i + 1) & mask)
			;
		s = &dn->dn_slots[i];
	}
	/* One allocation per name, never moved: dns_name_of() lends these out. */
	if ((copy = malloc(len + 1)) == NULL)
		return 0;
	memcpy(copy, name, len + 1);
	dn->dn_names[dn->dn_count++] = copy;
	s->ds_hash = h;
	s->ds_index = dn->dn_count;
	return s->ds_index;
}

/* The address of INDEX: 4 bytes for A, 16 for AAAA, in network order. */
static void
synth_addr(uint32_t index, uint16_t qtype, uint8_t *addr)
{
	uint32_t off = (index - 1) / DNS_PER_BLOCK * 256 + (index - 1) % DNS_PER_BLOCK + 1;
	uint32_t v = qtype == DNS_TYPE_A ? DNS_V4_BASE + off : index;
	uint8_t *low = addr;

	if (qtype == DNS_TYPE_AAAA) {
		memset(addr, 0, 16);
		addr[0] = 0x20;
		addr[1] = 0x01;
		addr[2] = 0x0d;
		addr[3] = 0xb8;
		low = addr + 12;
	}
	low[0] = (uint8_t)(v >> 24);
	low[1] = (uint8_t)(v >> 16);
	low[2] = (uint8_t)(v >> 8);
	low[3] = (uint8_t)v;
}

static uint32_t
v4_index(const uint8_t *a)
{
	uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
	uint32_t off = v - DNS_V4_BASE;

	if ((v & DNS_V4_MASK) != DNS_V4_BASE || a[3] == 0 || a[3] == 255)
		return 0;
	return (off >> 8) * DNS_PER_BLOCK + a[3];
}

const char *
dns_name_of(const struct dns *dn, const struct sockaddr *sa)
{
	static const uint8_t v6pfx[12] = { 0x20, 0x01, 0x0d, 0xb8 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };
	const uint8_t *a;
	uint32_t index;

	if (sa->sa_family == AF_INET) {
		index = v4_index((const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
	} else if (sa->sa_family == AF_INET6) {
		a = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a, mapped, 12) == 0)
			index = v4_index(a + 12);
		else if (memcmp(a, v6pfx, 12) == 0)
			index = (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
			    (uint32_t)a[14] << 8 | a[15];
		else
			index = 0;
	} else {
		index = 0;
	}
	if (index == 0 || index > dn->dn_count)
		return NULL;
	return dn->dn_names[index - 1];
}

uint64_t
dns_dropped(const struct dns *dn)
{
	return dn->dn_dropped;
}

/*
 * Reads the name at *OFF into TEXT (lower case, dotted, no final dot) and tells in
 * *HOST whether it can be a host name: letters, digits, '-' and '_'. Any other byte
 * is written \DDD, as dig does: the name goes to logs and the audit, and a dot inside
 * a label must not read as another name. TEXT (DNS_TEXT_MAX bytes) may be NULL to
 * skip a name. A compression pointer is refused: a question has nothing before it
 * to point at, and following none keeps the parser free of loops. The 0x40 and 0x80
 * label types (RFC 6891 5) are refused with it.
 */
static int
read_name(const uint8_t *q, size_t qlen, size_t *off, char *text, size_t *textlen,
          bool *host)
{
	size_t o = *off, wire = 0, n = 0;
	uint8_t len;

	do {
		if (o == qlen)
			return -1;
		len = q[o++];
		if ((len & 0xc0) != 0 || len > qlen - o || (wire += 1 + len) > DNS_NAME_MAX)
			return -1;
		for (size_t i = 0; text != NULL && i < len; i++) {
			uint8_t c = q[o + i];

			if (i == 0 && n > 0)
				text[n++] = '.';
			if (c >= 'A' && c <= 'Z') {
				text[n++] = (char)(c - 'A' + 'a');
			} else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_') {
				text[n++] = (char)c;
			} else {
				text[n++] = '\\';
				text[n++] = (char)('0' + c / 100);
				text[n++] = (char)('0' + c / 10 % 10);
				text[n++] = (char)('0' + c % 10);
				*host = false;
			}
		}
		o += len;
	} while (len != 0);
	if (text != NULL) {
		text[n] = '\0';
		*textlen = n;
	}
	*off = o;
	return 0;
}

/*
 * Writes the answer: the query's ID, opcode and RD; the question as asked (a
 * resolver using the 0x20 trick checks its case); for INDEX, one record of QTYPE
 * naming the question by pointer.
 */
static ssize_t
reply(const uint8_t *q, size_t qend, enum dns_rcode rcode, uint16_t qtype,
      uint32_t index, uint8_t *out, size_t outsz)
{
	size_t alen = qtype == DNS_TYPE_A ? 4 : 16, n = qend;

	if (outsz < qend + (index ? 12 + alen : 0))
		return -1;
	memcpy(out, q, 2);
	out[2] = 0x80 | (q[2] & 0x79);          /* QR; opcode and RD copied */
	out[3] = 0x80 | rcode;                  /* RA: we are the recursive server */
	put16(out + 4, qend > DNS_HDR);
	put16(out + 6, index != 0);
	put16(out + 8, 0);
	put16(out + 10, 0);
	memcpy(out + DNS_HDR, q + DNS_HDR, qend - DNS_HDR);
	if (index != 0) {
		put16(out + n, 0xc000 | DNS_HDR);
		put16(out + n + 2, qtype);
		put16(out + n + 4, DNS_CLASS_IN);
		put16(out + n + 6, 0);
		put16(out + n + 8, DNS_TTL);
		put16(out + n + 10, alen);
		synth_addr(index, qtype, out + n + 12);
		n += 12 + alen;
	}
	return (ssize_t)n;
}

/*
 * An answer that does not fit OUTSZ is -1 too, but not counted as dropped: the
 * query was fine. 512 bytes always suffice.
 */
ssize_t
dns_answer(struct dns *dn, const uint8_t *q, size_t qlen, uint8_t *out, size_t outsz,
           struct dns_event *ev)
{
	static const char *const rcode_str[] = {
		[RCODE_FORMERR] = "FORMERR", [RCODE_SERVFAIL] = "SERVFAIL",
		[RCODE_NXDOMAIN] = "NXDOMAIN", [RCODE_NOTIMP] = "NOTIMP",
		[RCODE_REFUSED] = "REFUSED",
	};
	enum dns_rcode rcode = RCODE_NOERROR;
	size_t off = DNS_HDR, qend, namelen = 0, owner;
	uint16_t qtype = 0, qclass = 0;
	uint32_t index = 0;
	bool opt = true, host = true;
	uint8_t addr[16];
	ssize_t n;

	if (qlen < DNS_HDR || (q[2] & 0x80) != 0)
		goto drop;
	if ((q[2] >> 3 & 0xf) != 0) {
		rcode = RCODE_NOTIMP;
		qend = DNS_HDR;
		goto answer;
	}
	if (get16(q + 4) != 1 || get16(q + 6) != 0 || get16(q + 8) != 0 ||
	    get16(q + 10) > 1)
		goto drop;
	if (read_name(q, qlen, &off, dn->dn_evname, &namelen, &host) == -1 || qlen - off < 4)
		goto drop;
	qtype = get16(q + off);
	qclass = get16(q + off + 2);
	qend = off += 4;
	if (get16(q + 10) == 1) {
		owner = off;
		if (read_name(q, qlen, &off, NULL, NULL, NULL) == -1 || qlen - off < 10 ||
		    get16(q + off + 8) > qlen - off - 10)
			goto drop;
		opt = off == owner + 1 && get16(q + off) == DNS_TYPE_OPT;
		off += 10 + get16(q + off + 8);
	}
	if (off != qlen)
		goto drop;

	if (!opt)
		rcode = RCODE_FORMERR;
	else if (qclass != DNS_CLASS_IN)
		rcode = RCODE_REFUSED;
	else if (!host)
		rcode = RCODE_NXDOMAIN;
	/* The root has no address; it gets NODATA like any other name without one. */
	else if ((qtype == DNS_TYPE_A || qtype == DNS_TYPE_AAAA) && namelen > 0 &&
	    (index = table_index(dn, dn->dn_evname, namelen)) == 0)
		rcode = RCODE_SERVFAIL;

answer:
	if ((n = reply(q, qend, rcode, qtype, index, out, outsz)) == -1)
		return -1;
	ev->de_name = (struct slice){ dn->dn_evname, namelen };
	ev->de_qtype = qtype;
	ev->de_tcp = false;
	if (index != 0) {
		synth_addr(index, qtype, addr);
		inet_ntop(qtype == DNS_TYPE_A ? AF_INET : AF_INET6, addr, dn->dn_evanswer,
		    sizeof(dn->dn_evanswer));
		ev->de_answer = dn->dn_evanswer;
	} else {
		ev->de_answer = rcode == RCODE_NOERROR ? "NODATA" : rcode_str[rcode];
	}
	return n;
drop:
	dn->dn_dropped++;
	return -1;
}

static void
report(struct dns *dn, struct dns_event *ev, bool tcp)
{
	ev->de_tcp = tcp;
	if (dn->dn_cb != NULL)
		dn->dn_cb(ev, dn->dn_arg);
}

static void
on_udp(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns *dn = w->data;
	uint8_t out[DNS_ANSWER_MAX];
	struct dns_event ev;

	(void)loop;
	(void)revents;
	for (int i = 0; i < DNS_BURST; i++) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);
		/* MSG_TRUNC: the datagram's real length, so that a long one is not
		 * answered from its first bytes. */
		ssize_t n = recvfrom(dn->dn_udpfd, dn->dn_udpin, sizeof(dn->dn_udpin),
		    MSG_TRUNC, (struct sockaddr *)&peer, &plen);

		if (n < 0)
			return;
		if ((size_t)n > sizeof(dn->dn_udpin)) {
			dn->dn_dropped++;
			continue;
		}
		if ((n = dns_answer(dn, dn->dn_udpin, (size_t)n, out, sizeof(out), &ev)) < 0)
			continue;
		/* A full socket buffer loses this answer; the client asks again. */
		(void)sendto(dn->dn_udpfd, out, (size_t)n, MSG_DONTWAIT,
		    (struct sockaddr *)&peer, plen);
		report(dn, &ev, false);
	}
}

/* The listener runs while there is room for a client and accept is not backing off. */
static void
listen_update(struct dns *dn)
{
	if (dn->dn_tcpfd != -1 && dn->dn_nclients < DNS_TCP_CLIENTS &&
	    !ev_is_active(&dn->dn_backoff))
		ev_io_start(dn->dn_loop, &dn->dn_tcpio);
	else
		ev_io_stop(dn->dn_loop, &dn->dn_tcpio);
}

static void
client_close(struct dns_client *dc)
{
	struct dns *dn = dc->dc_dns;

	ev_io_stop(dn->dn_loop, &dc->dc_rio);
	ev_io_stop(dn->dn_loop, &dc->dc_wio);
	ev_timer_stop(dn->dn_loop, &dc->dc_timer);
	close(dc->dc_fd);
	LIST_REMOVE(dc, dc_entry);
	free(dc);
	dn->dn_nclients--;
	listen_update(dn);
}

static void
watch(struct ev_loop *loop, ev_io *w, bool on)
{
	if (on)
		ev_io_start(loop, w);
	else
		ev_io_stop(loop, w);
}

/*
 * Answers the whole queries buffered while there is room for their answers. Returns
 * -1 when it closed the client, 1 when it stopped for want of room, 0 otherwise.
 */
static int
client_answer(struct dns_client *dc)
{
	struct dns *dn = dc->dc_dns;
	struct dns_event ev;
	size_t used = 0, len;
	ssize_t n;
	int full = 0;

	while (dc->dc_inlen - used >= 2) {
		len = get16(dc->dc_in + used);
		if (len > DNS_QUERY_MAX) {
			dn->dn_dropped++;
			client_close(dc);
			return -1;
		}
		if (dc->dc_inlen - used - 2 < len)
			break;
		if (sizeof(dc->dc_out) - dc->dc_outlen < 2 + DNS_ANSWER_MAX) {
			full = 1;
			break;
		}
		n = dns_answer(dn, dc->dc_in + used + 2, len, dc->dc_out + dc->dc_outlen + 2,
		    DNS_ANSWER_MAX, &ev);
		used += 2 + len;
		/* Idle means no whole query: a byte now and then does not keep a slot. */
		ev_timer_again(dn->dn_loop, &dc->dc_timer);
		if (n < 0)
			continue;
		put16(dc->dc_out + dc->dc_outlen, (size_t)n);
		dc->dc_outlen += 2 + (size_t)n;
		report(dn, &ev, true);
	}
	memmove(dc->dc_in, dc->dc_in + used, dc->dc_inlen - used);
	dc->dc_inlen -= used;
	return full;
}

/*
 * Answers and sends until neither makes progress, then sets the watchers: a client
 * that does not read its answers is not read either, so no buffer grows past its
 * size.
 */
static void
client_run(struct dns_client *dc)
{
	struct ev_loop *loop = dc->dc_dns->dn_loop;
	ssize_t n;
	int full;

	do {
		if ((full = client_answer(dc)) == -1)
			return;
		if (dc->dc_outlen == 0)
			break;
		n = send(dc->dc_fd, dc->dc_out, dc->dc_outlen, MSG_NOSIGNAL);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			client_close(dc);
			return;
		}
		if (n > 0) {
			memmove(dc->dc_out, dc->dc_out + n, dc->dc_outlen - (size_t)n);
			dc->dc_outlen -= (size_t)n;
		}
	} while (full && n > 0);
	if (dc->dc_eof && dc->dc_outlen == 0) {
		client_close(dc);
		return;
	}
	watch(loop, &dc->dc_rio, !dc->dc_eof && dc->dc_inlen < sizeof(dc->dc_in) &&
	    sizeof(dc->dc_out) - dc->dc_outlen >= 2 + DNS_ANSWER_MAX);
	watch(loop, &dc->dc_wio, dc->dc_outlen > 0);
}

static void
on_client_read(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns_client *dc = w->data;
	ssize_t n;

	(void)loop;
	(void)revents;
	n = recv(dc->dc_fd, dc->dc_in + dc->dc_inlen, sizeof(dc->dc_in) - dc->dc_inlen, 0);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			client_close(dc);
		return;
	}
	if (n == 0)
		dc->dc_eof = true;
	dc->dc_inlen += (size_t)n;
	client_run(dc);
}

static void
on_client_write(struct ev_loop *loop, ev_io *w, int revents)
{
	(void)loop;
	(void)revents;
	client_run(w->data);
}

static void
on_client_idle(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	client_close(w->data);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct dns *dn = w->data;
	struct dns_client *dc;
	int fd;

	(void)revents;
	for (int i = 0; i < DNS_BURST && dn->dn_nclients < DNS_TCP_CLIENTS; i++) {
		if ((fd = accept4(dn->dn_tcpfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
			/* The listener stays readable and would spin the loop: pause it. */
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM)
				ev_timer_start(loop, &dn->dn_backoff);
			break;
		}
		if ((dc = calloc(1, sizeof(*dc))) == NULL) {
			close(fd);
			ev_timer_start(loop, &dn->dn_backoff);
			break;
		}
		dc->dc_dns = dn;
		dc->dc_fd = fd;
		ev_io_init(&dc->dc_rio, on_client_read, fd, EV_READ);
		ev_io_init(&dc->dc_wio, on_client_write, fd, EV_WRITE);
		ev_init(&dc->dc_timer, on_client_idle);
		dc->dc_timer.repeat = DNS_TCP_IDLE_S;
		dc->dc_rio.data = dc->dc_wio.data = dc->dc_timer.data = dc;
		LIST_INSERT_HEAD(&dn->dn_clients, dc, dc_entry);
		dn->dn_nclients++;
		ev_timer_again(loop, &dc->dc_timer);
		ev_io_start(loop, &dc->dc_rio);
	}
	listen_update(dn);
}

static void
on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)loop;
	(void)revents;
	listen_update(w->data);
}

static int
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl == -1 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

struct dns *
dns_new(struct ev_loop *loop, int udpfd, int tcpfd, dns_event_cb *cb, void *arg,
        struct errbuf *err)
{
	struct dns *dn;

	if ((dn = calloc(1, sizeof(*dn))) == NULL) {
		errbuf_set(err, "dns: out of memory");
		if (udpfd != -1)
			close(udpfd);
		if (tcpfd != -1)
			close(tcpfd);
		return NULL;
	}
	dn->dn_loop = loop;
	dn->dn_udpfd = udpfd;
	dn->dn_tcpfd = tcpfd;
	dn->dn_cb = cb;
	dn->dn_arg = arg;
	LIST_INIT(&dn->dn_clients);
	ev_io_init(&dn->dn_udpio, on_udp, udpfd, EV_READ);
	ev_io_init(&dn->dn_tcpio, on_accept, tcpfd, EV_READ);
	ev_timer_init(&dn->dn_backoff, on_backoff, DNS_BACKOFF_S, 0.);
	dn->dn_udpio.data = dn->dn_tcpio.data = dn->dn_backoff.data = dn;

	if (getrandom(dn->dn_key, sizeof(dn->dn_key), 0) != (ssize_t)sizeof(dn->dn_key)) {
		errbuf_set(err, "dns: getrandom: %s", strerror(errno));
		goto fail;
	}
	dn->dn_nslots = 256;
	if ((dn->dn_slots = calloc(dn->dn_nslots, sizeof(*dn->dn_slots))) == NULL) {
		errbuf_set(err, "dns: out of memory");
		goto fail;
	}
	if ((udpfd != -1 && set_nonblock(udpfd) == -1) ||
	    (tcpfd != -1 && set_nonblock(tcpfd) == -1)) {
		errbuf_set(err, "dns: socket: %s", strerror(errno));
		goto fail;
	}
	if (udpfd != -1)
		ev_io_start(loop, &dn->dn_udpio);
	listen_update(dn);
	return dn;
fail:
	dns_free(dn);
	return NULL;
}

void
dns_free(struct dns *dn)
{
	if (dn == NULL)
		return;
	while (!LIST_EMPTY(&dn->dn_clients))
		client_close(LIST_FIRST(&dn->dn_clients));
	ev_io_stop(dn->dn_loop, &dn->dn_udpio);
	ev_io_stop(dn->dn_loop, &dn->dn_tcpio);
	ev_timer_stop(dn->dn_loop, &dn->dn_backoff);
	if (dn->dn_udpfd != -1)
		close(dn->dn_udpfd);
	if (dn->dn_tcpfd != -1)
		close(dn->dn_tcpfd);
	for (uint32_t i = 0; i < dn->dn_count; i++)
		free(dn->dn_names[i]);
	free(dn->dn_names);
	free(dn->dn_slots);
	free(dn);
}
