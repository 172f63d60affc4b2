/*
 * Unit tests of core/dns.c: queries built by hand go through dns_answer() and the
 * answers are parsed back; then the stub serves UDP and TCP on 127.0.0.1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ev.h>

#include "dns.h"
#include "unit.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define T_A     1
#define T_MX    15
#define T_AAAA  28
#define T_OPT   41
#define C_IN    1
#define C_CH    3

static struct ev_loop *evl;

static void
put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static unsigned
get16(const uint8_t *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* Encodes NAME ("a.b", "a.b." or "." for the root) at P; returns its length. */
static size_t
put_name(uint8_t *p, const char *name)
{
	size_t n = 0;

	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		if (len > 0) {
			p[n++] = (uint8_t)len;
			memcpy(p + n, name, len);
			n += len;
		}
		name += len + (dot != NULL);
	}
	p[n++] = 0;
	return n;
}

/* A query with one question, RD set, as a stub resolver sends it. */
static size_t
query(uint8_t *p, unsigned id, const char *name, unsigned qtype, unsigned qclass)
{
	size_t n;

	memset(p, 0, 12);
	put16(p, id);
	p[2] = 0x01;
	put16(p + 4, 1);
	n = 12 + put_name(p + 12, name);
	put16(p + n, qtype);
	put16(p + n + 2, qclass);
	return n + 4;
}

/* Appends an additional record of TYPE with the root as owner. */
static size_t
add_record(uint8_t *p, size_t n, unsigned type)
{
	put16(p + 10, 1);
	p[n++] = 0;
	put16(p + n, type);
	put16(p + n + 2, 1232);  /* OPT: the UDP payload size */
	memset(p + n + 4, 0, 4);
	put16(p + n + 8, 0);
	return n + 10;
}

struct answer {
	unsigned id, rcode, qd, an, ns, ar;
	bool     qr, rd, ra;
	size_t   qlen;           /* header and question */
	unsigned ptr, type, class, rdlen;
	uint32_t ttl;
	char     addr[INET6_ADDRSTRLEN];
};

/* Parses ANSWER back, trusting that its question is a copy of the query's (QLEN bytes). */
static void
parse(const uint8_t *p, size_t n, size_t qlen, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	a->id = get16(p);
	a->qr = p[2] & 0x80;
	a->rd = p[2] & 0x01;
	a->ra = p[3] & 0x80;
	a->rcode = p[3] & 0x0f;
	a->qd = get16(p + 4);
	a->an = get16(p + 6);
	a->ns = get16(p + 8);
	a->ar = get16(p + 10);
	a->qlen = qlen;
	if (a->an != 1 || n < qlen + 12)
		return;
	a->ptr = get16(p + qlen);
	a->type = get16(p + qlen + 2);
	a->class = get16(p + qlen + 4);
	a->ttl = (uint32_t)get16(p + qlen + 6) << 16 | get16(p + qlen + 8);
	a->rdlen = get16(p + qlen + 10);
	if (n == qlen + 12 + a->rdlen && (a->rdlen == 4 || a->rdlen == 16))
		inet_ntop(a->rdlen == 4 ? AF_INET : AF_INET6, p + qlen + 12, a->addr,
		    sizeof(a->addr));
}

/* Asks NAME of type QTYPE; returns the answer's length, fills A and EV. */
static ssize_t
ask(struct dns *dn, const char *name, unsigned qtype, unsigned qclass, struct answer *a,
    struct dns_event *ev)
{
	uint8_t q[512], out[512];
	size_t qlen = query(q, 0x1234, name, qtype, qclass);
	ssize_t n = dns_answer(dn, q, qlen, out, sizeof(out), ev);

	if (n > 0)
		parse(out, (size_t)n, qlen, a);
	return n;
}

/* The address NAME gets for QTYPE, or "" when the answer has none. */
static const char *
addr_of(struct dns *dn, const char *name, unsigned qtype)
{
	static char buf[INET6_ADDRSTRLEN];
	struct dns_event ev;
	struct answer a;

	if (ask(dn, name, qtype, C_IN, &a, &ev) <= 0 || a.an != 1)
		return "";
	strcpy(buf, a.addr);
	return buf;
}

static const char *
name_of4(struct dns *dn, const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, addr, &sin.sin_addr);
	return dns_name_of(dn, (struct sockaddr *)&sin);
}

static const char *
name_of6(struct dns *dn, const char *addr)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	inet_pton(AF_INET6, addr, &sin6.sin6_addr);
	return dns_name_of(dn, (struct sockaddr *)&sin6);
}

static void
test_answers(void)
{
	struct errbuf err;
	struct dns *dn = dns_new(evl, -1, -1, NULL, NULL, &err);
	uint8_t q[512], out[512];
	struct dns_event ev;
	struct answer a;
	size_t qlen;
	ssize_t n;

	CHECK(dn != NULL);
	if (dn == NULL)
		return;

	/* The first name: index 1 for A and AAAA alike, parsed back field by field. */
	n = ask(dn, "example.test", T_A, C_IN, &a, &ev);
	CHECK(n == (ssize_t)(a.qlen + 16));
	CHECK(a.id == 0x1234 && a.qr && a.rd && a.ra && a.rcode == 0);
	CHECK(a.qd == 1 && a.an == 1 && a.ns == 0 && a.ar == 0);
	CHECK(a.ptr == 0xc00c && a.type == T_A && a.class == C_IN);
	CHECK(a.ttl == 60 && a.rdlen == 4);
	CHECK_STR(a.addr, "198.18.0.1");
	CHECK(slice_eq(ev.de_name, "example.test"));
	CHECK(ev.de_qtype == T_A && !ev.de_tcp);
	CHECK_STR(ev.de_answer, "198.18.0.1");

	n = ask(dn, "example.test", T_AAAA, C_IN, &a, &ev);
	CHECK(n == (ssize_t)(a.qlen + 28));
	CHECK(a.an == 1 && a.ptr == 0xc00c && a.type == T_AAAA && a.ttl == 60 &&
	    a.rdlen == 16);
	CHECK_STR(a.addr, "2001:db8::1");
	CHECK_STR(ev.de_answer, "2001:db8::1");
	CHECK(ev.de_qtype == T_AAAA);

	/* The same name, however written, is the same address. */
	CHECK_STR(addr_of(dn, "example.test", T_A), "198.18.0.1");
	CHECK_STR(addr_of(dn, "Example.TEST", T_A), "198.18.0.1");
	CHECK_STR(addr_of(dn, "EXAMPLE.test", T_AAAA), "2001:db8::1");
	CHECK_STR(addr_of(dn, "example.test.", T_A), "198.18.0.1");

	/* The question comes back as asked: a resolver using the 0x20 trick checks it. */
	qlen = query(q, 7, "ExAmPle.TeSt", T_A, C_IN);
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n > (ssize_t)qlen && memcmp(out + 12, q + 12, qlen - 12) == 0);
	CHECK(slice_eq(ev.de_name, "example.test"));

	/* Another name, another index; AAAA first works the same. */
	CHECK_STR(addr_of(dn, "other.test", T_AAAA), "2001:db8::2");
	CHECK_STR(addr_of(dn, "other.test", T_A), "198.18.0.2");
	CHECK_STR(addr_of(dn, "_dmarc.x-y.test", T_A), "198.18.0.3");
	CHECK_STR(addr_of(dn, "localhost", T_A), "198.18.0.4");

	/* Other types: NODATA, and no index taken. */
	n = ask(dn, "mail.test", T_MX, C_IN, &a, &ev);
	CHECK(n == (ssize_t)a.qlen && a.rcode == 0 && a.qd == 1 && a.an == 0 && a.qr);
	CHECK_STR(ev.de_answer, "NODATA");
	CHECK(slice_eq(ev.de_name, "mail.test") && ev.de_qtype == T_MX);
	n = ask(dn, "example.test", 65, C_IN, &a, &ev);
	CHECK(n > 0 && a.rcode == 0 && a.an == 0);
	CHECK_STR(ev.de_answer, "NODATA");
	n = ask(dn, ".", T_A, C_IN, &a, &ev);
	CHECK(n > 0 && a.rcode == 0 && a.an == 0 && ev.de_name.len == 0);
	CHECK_STR(ev.de_answer, "NODATA");
	CHECK_STR(addr_of(dn, "new.test", T_A), "198.18.0.5");

	/* Another class is refused, another opcode not implemented. */
	n = ask(dn, "example.test", T_A, C_CH, &a, &ev);
	CHECK(n == (ssize_t)a.qlen && a.rcode == 5 && a.an == 0 && a.qd == 1);
	CHECK_STR(ev.de_answer, "REFUSED");
	qlen = query(q, 9, "example.test", T_A, C_IN);
	q[2] |= 2 << 3;
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n == 12);
	if (n == 12) {
		parse(out, 12, 12, &a);
		CHECK(a.id == 9 && a.qr && a.rcode == 4 && a.qd == 0 && a.an == 0);
		CHECK((out[2] >> 3 & 0xf) == 2);
	}
	CHECK_STR(ev.de_answer, "NOTIMP");

	/* Names no host can have: NXDOMAIN, not an address. */
	n = ask(dn, "a b.test", T_A, C_IN, &a, &ev);
	CHECK(n > 0 && a.rcode == 3 && a.an == 0);
	CHECK_STR(ev.de_answer, "NXDOMAIN");
	CHECK(slice_eq(ev.de_name, "a\\032b.test"));
	qlen = query(q, 1, "a-b.test", T_A, C_IN);
	q[14] = '.';  /* "a.b" as one label must not pass for the name a.b.test */
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n > 0 && (out[3] & 0xf) == 3);
	CHECK(slice_eq(ev.de_name, "a\\046b.test"));
	q[14] = 0xff;
	q[15] = '\n';
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n > 0 && (out[3] & 0xf) == 3);
	CHECK(slice_eq(ev.de_name, "a\\255\\010.test"));

	/* EDNS: an OPT record is accepted (and not echoed); another record is FORMERR. */
	qlen = add_record(q, query(q, 2, "example.test", T_A, C_IN), T_OPT);
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n > 0);
	if (n > 0) {
		parse(out, (size_t)n, qlen - 11, &a);
		CHECK(a.rcode == 0 && a.an == 1 && a.ar == 0);
		CHECK_STR(a.addr, "198.18.0.1");
	}
	qlen = add_record(q, query(q, 2, "example.test", T_A, C_IN), T_A);
	n = dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	CHECK(n > 0 && (out[3] & 0xf) == 1 && get16(out + 6) == 0);
	CHECK_STR(ev.de_answer, "FORMERR");

	/* An answer that does not fit is not sent, and the query is not counted bad. */
	qlen = query(q, 3, "example.test", T_AAAA, C_IN);
	CHECK(dns_answer(dn, q, qlen, out, qlen + 27, &ev) == -1);
	CHECK(dns_answer(dn, q, qlen, out, qlen + 28, &ev) == (ssize_t)qlen + 28);
	CHECK(dns_dropped(dn) == 0);

	/* Addresses back to names. */
	CHECK_STR(name_of4(dn, "198.18.0.1"), "example.test");
	CHECK_STR(name_of4(dn, "198.18.0.2"), "other.test");
	CHECK_STR(name_of6(dn, "2001:db8::1"), "example.test");
	CHECK_STR(name_of6(dn, "2001:db8::2"), "other.test");
	CHECK_STR(name_of6(dn, "::ffff:198.18.0.1"), "example.test");
	CHECK(name_of4(dn, "198.18.5.5") == NULL);
	CHECK(name_of4(dn, "198.18.0.6") == NULL);
	CHECK(name_of4(dn, "198.18.0.0") == NULL);
	CHECK(name_of4(dn, "10.0.0.1") == NULL);
	CHECK(name_of4(dn, "198.20.0.1") == NULL);
	CHECK(name_of6(dn, "2001:db9::1") == NULL);
	CHECK(name_of6(dn, "2001:db8::6") == NULL);
	CHECK(name_of6(dn, "2001:db8::") == NULL);
	CHECK(name_of6(dn, "2001:db8:1::1") == NULL);
	CHECK(name_of6(dn, "::ffff:10.0.0.1") == NULL);
	CHECK(name_of6(dn, "::1") == NULL);
	CHECK(dns_name_of(dn, &(struct sockaddr){ .sa_family = AF_UNIX }) == NULL);

	dns_free(dn);
}

static void
test_malformed(void)
{
	struct errbuf err;
	struct dns *dn = dns_new(evl, -1, -1, NULL, NULL, &err);
	uint8_t q[600], out[512], *p;
	struct dns_event ev;
	uint64_t dropped = 0;
	size_t qlen, n;
	char name[300];

	CHECK(dn != NULL);
	if (dn == NULL)
		return;
#define DROPPED(len)                                                          \
	do {                                                                  \
		CHECK(dns_answer(dn, q, (len), out, sizeof(out), &ev) == -1); \
		CHECK(dns_dropped(dn) == ++dropped);                          \
	} while (0)

	qlen = query(q, 1, "example.test", T_A, C_IN);
	DROPPED(0);
	DROPPED(11);                            /* short header */
	DROPPED(qlen - 1);                      /* truncated question */
	DROPPED(qlen - 4);                      /* no type and class */
	DROPPED(17);                            /* truncated label */
	q[qlen] = 0;
	DROPPED(qlen + 1);                      /* trailing garbage */

	q[2] |= 0x80;                           /* a response */
	DROPPED(qlen);
	q[2] &= 0x7f;
	put16(q + 4, 2);                        /* two questions */
	DROPPED(qlen);
	put16(q + 4, 0);
	DROPPED(qlen);
	put16(q + 4, 1);
	put16(q + 6, 1);                        /* an answer in a query */
	DROPPED(qlen);
	put16(q + 6, 0);
	put16(q + 8, 1);
	DROPPED(qlen);
	put16(q + 8, 0);
	put16(q + 10, 1);                       /* an additional record that is not there */
	DROPPED(qlen);
	put16(q + 10, 2);
	DROPPED(qlen);
	put16(q + 10, 0);
	CHECK(dns_answer(dn, q, qlen, out, sizeof(out), &ev) > 0);

	/* A compression pointer in the question, to the name's own start or past it. */
	p = q + 12 + 8;                         /* after "\7example" */
	p[0] = 0xc0;
	p[1] = 12;
	put16(p + 2, T_A);
	put16(p + 4, C_IN);
	DROPPED(12 + 8 + 6);
	p[0] = 0x40;                            /* the extended label type */
	DROPPED(12 + 8 + 6);

	/* A label of 64 bytes; a name of 256. */
	memset(name, 'a', 64);
	strcpy(name + 64, ".test");
	qlen = query(q, 1, name, T_A, C_IN);
	DROPPED(qlen);
	name[63] = '.';
	qlen = query(q, 1, name, T_A, C_IN);
	CHECK(dns_answer(dn, q, qlen, out, sizeof(out), &ev) > 0);

	/* Names of 257 and 256 bytes are too long; 255 with the final zero is the most. */
	for (n = 0; n < 4; n++) {
		memset(name + 64 * n, 'b', 63);
		name[64 * n + 63] = '.';
	}
	name[256] = '\0';
	DROPPED(query(q, 1, name, T_A, C_IN));
	name[64 * 3 + 62] = '\0';
	DROPPED(query(q, 1, name, T_A, C_IN));
	name[64 * 3 + 61] = '\0';
	qlen = query(q, 1, name, T_A, C_IN);
	CHECK(qlen == 12 + 255 + 4);
	CHECK(dns_answer(dn, q, qlen, out, sizeof(out), &ev) > 0);
	CHECK(ev.de_name.len == 253);

	/* An OPT record with a length past the end; one with the length right. */
	qlen = add_record(q, query(q, 1, "example.test", T_A, C_IN), T_OPT);
	put16(q + qlen - 2, 4);
	DROPPED(qlen);
	memset(q + qlen, 0, 5);
	CHECK(dns_answer(dn, q, qlen + 4, out, sizeof(out), &ev) > 0);
	DROPPED(qlen + 5);

	/* The answer is no query. */
	qlen = query(q, 1, "example.test", T_A, C_IN);
	n = (size_t)dns_answer(dn, q, qlen, out, sizeof(out), &ev);
	memcpy(q, out, n);
	DROPPED(n);
#undef DROPPED
	dns_free(dn);
}

/* Indexes past 254 skip .255 and .0; the /15 holds 130,048 names, then SERVFAIL. */
static void
test_space(void)
{
	struct errbuf err;
	struct dns *dn = dns_new(evl, -1, -1, NULL, NULL, &err);
	struct dns_event ev;
	struct answer a;
	char name[32];
	uint32_t i;
	bool ok = true;

	CHECK(dn != NULL);
	if (dn == NULL)
		return;
	for (i = 1; i <= 130048; i++) {
		snprintf(name, sizeof(name), "n%u.test", (unsigned)i);
		if (ask(dn, name, T_A, C_IN, &a, &ev) <= 0 || a.an != 1)
			ok = false;
		if (i == 254)
			CHECK_STR(a.addr, "198.18.0.254");
		if (i == 255)
			CHECK_STR(a.addr, "198.18.1.1");
		if (i == 508)
			CHECK_STR(a.addr, "198.18.1.254");
		if (i == 509)
			CHECK_STR(a.addr, "198.18.2.1");
		if (i == 130048)
			CHECK_STR(a.addr, "198.19.255.254");
	}
	CHECK(ok);
	CHECK_STR(addr_of(dn, "n255.test", T_AAAA), "2001:db8::ff");
	CHECK_STR(addr_of(dn, "n130048.test", T_AAAA), "2001:db8::1:fc00");
	CHECK_STR(name_of4(dn, "198.18.1.1"), "n255.test");
	CHECK_STR(name_of6(dn, "2001:db8::ff"), "n255.test");
	CHECK_STR(name_of4(dn, "198.19.255.254"), "n130048.test");
	CHECK_STR(name_of4(dn, "198.18.77.77"), "n19635.test");
	CHECK(name_of4(dn, "198.18.0.255") == NULL);
	CHECK(name_of4(dn, "198.18.1.0") == NULL);
	CHECK(name_of4(dn, "198.19.255.255") == NULL);
	CHECK(name_of6(dn, "2001:db8::1:fc01") == NULL);

	/* Full: a new name fails, known names still answer. */
	CHECK(ask(dn, "one-more.test", T_A, C_IN, &a, &ev) > 0 && a.rcode == 2 && a.an == 0);
	CHECK_STR(ev.de_answer, "SERVFAIL");
	CHECK_STR(addr_of(dn, "n1.test", T_A), "198.18.0.1");
	CHECK_STR(addr_of(dn, "n77.test", T_AAAA), "2001:db8::4d");
	dns_free(dn);
}

struct seen {
	int  n;
	bool tcp[16];
	char answer[16][INET6_ADDRSTRLEN];
};

static void
on_event(const struct dns_event *ev, void *arg)
{
	struct seen *s = arg;

	if (s->n < (int)NELEM(s->tcp)) {
		s->tcp[s->n] = ev->de_tcp;
		snprintf(s->answer[s->n], sizeof(s->answer[0]), "%s", ev->de_answer);
	}
	s->n++;
}

/*
 * Runs the loop and reads FD until it has WANT bytes, or with WANT 0 until EOF, for
 * at most TRIES times 10 ms. Returns the bytes read.
 */
static ssize_t
drain(int fd, uint8_t *buf, size_t want, size_t cap, int tries)
{
	size_t got = 0;

	for (int i = 0; i < tries; i++) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		ev_run(evl, EVRUN_NOWAIT);
		if (poll(&pfd, 1, 10) <= 0)
			continue;
		if ((n = recv(fd, buf + got, cap - got, MSG_DONTWAIT)) < 0) {
			if (errno == EAGAIN)
				continue;
			return -1;
		}
		if (n == 0)
			return (ssize_t)got;
		got += (size_t)n;
		if (want > 0 && got >= want)
			return (ssize_t)got;
	}
	return (ssize_t)got;
}

static int
tcp_connect(const struct sockaddr_in *sin)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd != -1 && connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void
test_live(void)
{
	struct sockaddr_in udpsin = { .sin_family = AF_INET }, tcpsin;
	socklen_t len = sizeof(udpsin);
	int udpfd, tcpfd, c, cs[65];
	uint8_t q[1024], buf[2048], big[4096], buf2[8192];
	struct seen seen = { 0 };
	struct errbuf err;
	struct answer a;
	struct dns *dn;
	size_t qlen, q2len;
	ssize_t n;

	udpsin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	tcpsin = udpsin;
	udpfd = socket(AF_INET, SOCK_DGRAM, 0);
	tcpfd = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(udpfd != -1 && tcpfd != -1);
	CHECK(bind(udpfd, (struct sockaddr *)&udpsin, sizeof(udpsin)) == 0);
	CHECK(getsockname(udpfd, (struct sockaddr *)&udpsin, &len) == 0);
	len = sizeof(tcpsin);
	CHECK(bind(tcpfd, (struct sockaddr *)&tcpsin, sizeof(tcpsin)) == 0);
	CHECK(listen(tcpfd, 128) == 0);
	CHECK(getsockname(tcpfd, (struct sockaddr *)&tcpsin, &len) == 0);
	dn = dns_new(evl, udpfd, tcpfd, on_event, &seen, &err);
	CHECK(dn != NULL);
	if (dn == NULL)
		return;

	/* UDP: one query, one answer. */
	c = socket(AF_INET, SOCK_DGRAM, 0);
	qlen = query(q, 0x4242, "udp.test", T_A, C_IN);
	CHECK(sendto(c, q, qlen, 0, (struct sockaddr *)&udpsin, sizeof(udpsin)) ==
	    (ssize_t)qlen);
	n = drain(c, buf, 1, sizeof(buf), 300);
	CHECK(n == (ssize_t)qlen + 16);
	if (n > 0) {
		parse(buf, (size_t)n, qlen, &a);
		CHECK(a.id == 0x4242 && a.an == 1);
		CHECK_STR(a.addr, "198.18.0.1");
	}
	/* A response sent to the stub is dropped, silently. */
	CHECK(sendto(c, buf, (size_t)n, 0, (struct sockaddr *)&udpsin, sizeof(udpsin)) == n);
	CHECK(drain(c, buf, 1, sizeof(buf), 20) == 0);
	CHECK(dns_dropped(dn) == 1);
	close(c);

	/* TCP: two queries in one write, two answers. */
	c = tcp_connect(&tcpsin);
	CHECK(c != -1);
	qlen = query(q + 2, 1, "tcp.test", T_AAAA, C_IN);
	put16(q, (unsigned)qlen);
	q2len = query(q + 2 + qlen + 2, 2, "udp.test", T_AAAA, C_IN);
	put16(q + 2 + qlen, (unsigned)q2len);
	CHECK(write(c, q, 4 + qlen + q2len) == (ssize_t)(4 + qlen + q2len));
	n = drain(c, buf, 4 + qlen + 28 + q2len + 28, sizeof(buf), 300);
	CHECK(n == (ssize_t)(4 + qlen + 28 + q2len + 28));
	if (n == (ssize_t)(4 + qlen + 28 + q2len + 28)) {
		CHECK(get16(buf) == qlen + 28);
		parse(buf + 2, qlen + 28, qlen, &a);
		CHECK(a.id == 1 && a.an == 1);
		CHECK_STR(a.addr, "2001:db8::2");
		CHECK(get16(buf + 2 + qlen + 28) == q2len + 28);
		parse(buf + 4 + qlen + 28, q2len + 28, q2len, &a);
		CHECK(a.id == 2 && a.an == 1);
		CHECK_STR(a.addr, "2001:db8::1");
	}
	CHECK(seen.n == 3);
	CHECK(!seen.tcp[0] && seen.tcp[1] && seen.tcp[2]);
	CHECK_STR(seen.answer[0], "198.18.0.1");
	CHECK_STR(seen.answer[1], "2001:db8::2");
	CHECK_STR(seen.answer[2], "2001:db8::1");

	/* A query split across writes, then EOF: the answer still comes, then EOF. */
	qlen = query(q + 2, 3, "tcp.test", T_A, C_IN);
	put16(q, (unsigned)qlen);
	CHECK(write(c, q, 5) == 5);
	CHECK(drain(c, buf, 1, sizeof(buf), 20) == 0);
	CHECK(write(c, q + 5, qlen - 3) == (ssize_t)qlen - 3);
	shutdown(c, SHUT_WR);
	n = drain(c, buf, 0, sizeof(buf), 300);
	CHECK(n == (ssize_t)(2 + qlen + 16));
	if (n == (ssize_t)(2 + qlen + 16)) {
		parse(buf + 2, qlen + 16, qlen, &a);
		CHECK_STR(a.addr, "198.18.0.2");
	}
	close(c);
	CHECK(seen.n == 4 && seen.tcp[3]);

	/*
	 * Many small queries in one write: 50 are read at once but answered in two
	 * rounds, the output having room for 40; 150 take several reads.
	 */
	qlen = query(q + 2, 5, "q.t", T_A, C_IN);
	put16(q, (unsigned)qlen);
	for (int i = 0; i < 150; i++)
		memcpy(big + (size_t)i * (2 + qlen), q, 2 + qlen);
	for (int k = 50; k <= 150; k += 100) {
		c = tcp_connect(&tcpsin);
		CHECK(write(c, big, k * (2 + qlen)) == (ssize_t)(k * (2 + qlen)));
		n = drain(c, buf2, k * (2 + qlen + 16), sizeof(buf2), 300);
		CHECK(n == (ssize_t)(k * (2 + qlen + 16)));
		close(c);
	}
	CHECK(seen.n == 204);

	/* A length no query has closes the connection. */
	c = tcp_connect(&tcpsin);
	put16(q, 0xffff);
	CHECK(write(c, q, 2) == 2);
	CHECK(drain(c, buf, 0, sizeof(buf), 300) == 0);
	CHECK(dns_dropped(dn) == 2);
	close(c);

	/* 64 clients at most: the 65th waits until one leaves. */
	for (size_t i = 0; i < NELEM(cs); i++)
		cs[i] = tcp_connect(&tcpsin);
	qlen = query(q + 2, 4, "last.test", T_A, C_IN);
	put16(q, (unsigned)qlen);
	CHECK(cs[64] != -1 && write(cs[64], q, 2 + qlen) == (ssize_t)(2 + qlen));
	CHECK(drain(cs[64], buf, 1, sizeof(buf), 20) == 0);
	close(cs[0]);
	n = drain(cs[64], buf, 2 + qlen + 16, sizeof(buf), 300);
	CHECK(n == (ssize_t)(2 + qlen + 16));
	for (size_t i = 1; i < NELEM(cs); i++)
		close(cs[i]);
	for (int i = 0; i < 10; i++)
		ev_run(evl, EVRUN_NOWAIT);

	dns_free(dn);
}

int
main(void)
{
	evl = ev_default_loop(0);
	test_answers();
	test_malformed();
	test_space();
	test_live();
	ev_loop_destroy(evl);
	return unit_done("unit/dns");
}
