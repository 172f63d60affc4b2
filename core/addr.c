#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"

struct net {
	struct sockaddr_storage nt_addr;
	struct sockaddr_storage nt_mask;
};

struct addr_local {
	struct net *al_nets;
	size_t      al_n;
};

struct addr_local *
addr_local_new(struct errbuf *err)
{
	struct ifaddrs *ifa, *i;
	struct addr_local *al = calloc(1, sizeof(*al));
	size_t n = 0;

	if (al == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if (getifaddrs(&ifa) < 0) {
		errbuf_set(err, "getifaddrs: %m");
		free(al);
		return NULL;
	}
	for (i = ifa; i != NULL; i = i->ifa_next)
		n++;
	if ((al->al_nets = calloc(n ? n : 1, sizeof(*al->al_nets))) == NULL) {
		freeifaddrs(ifa);
		free(al);
		errbuf_set(err, "out of memory");
		return NULL;
	}
	for (i = ifa; i != NULL; i = i->ifa_next) {
		size_t sz;
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			sz = sizeof(struct sockaddr_in);
		else if (i->ifa_addr->sa_family == AF_INET6)
			sz = sizeof(struct sockaddr_in6);
		else
			continue;
		memcpy(&al->al_nets[al->al_n].nt_addr, i->ifa_addr, sz);
		memcpy(&al->al_nets[al->al_n].nt_mask, i->ifa_netmask, sz);
		al->al_n++;
	}
	freeifaddrs(ifa);
	return al;
}

void
addr_local_free(struct addr_local *al)
{
	if (al == NULL)
		return;
	free(al->al_nets);
	free(al);
}

static const uint8_t *
bytes_of(const struct sockaddr *sa, size_t *n)
{
	if (sa->sa_family == AF_INET) {
		*n = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	}
	*n = 16;
	return (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
}

static bool
in_prefix(const uint8_t *a, const uint8_t *p, unsigned bits)
{
	unsigned full = bits / 8, rest = bits % 8;

	if (memcmp(a, p, full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ p[full]) & (0xff << (8 - rest))) == 0;
}

struct range {
	uint8_t         rg_net[16];
	unsigned        rg_bits;
	enum addr_class rg_class;
};

static const struct range v4[] = {
	{ { 127 }, 8, ADDR_LOOPBACK },
	{ { 10 }, 8, ADDR_PRIVATE },
	{ { 172, 16 }, 12, ADDR_PRIVATE },
	{ { 192, 168 }, 16, ADDR_PRIVATE },
	{ { 169, 254 }, 16, ADDR_LINKLOCAL },
	{ { 100, 64 }, 10, ADDR_SHARED },
	{ { 198, 18 }, 15, ADDR_SYNTHETIC },
	{ { 0 }, 8, ADDR_UNROUTABLE },
	{ { 224 }, 4, ADDR_UNROUTABLE },
	{ { 240 }, 4, ADDR_UNROUTABLE },
};

static const struct range v6[] = {
	{ { 0 }, 128, ADDR_UNROUTABLE },                                  /* :: */
	{ { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, ADDR_LOOPBACK },
	{ { 0xfc }, 7, ADDR_PRIVATE },
	{ { 0xfe, 0x80 }, 10, ADDR_LINKLOCAL },
	{ { 0x20, 0x01, 0x0d, 0xb8 }, 32, ADDR_SYNTHETIC },
	{ { 0xff }, 8, ADDR_UNROUTABLE },
};

static enum addr_class
classify_bytes(const uint8_t *a, size_t n)
{
	const struct range *r = n == 4 ? v4 : v6;
	size_t nr = n == 4 ? sizeof(v4) / sizeof(v4[0]) : sizeof(v6) / sizeof(v6[0]);

	for (size_t i = 0; i < nr; i++)
		if (in_prefix(a, r[i].rg_net, r[i].rg_bits))
			return r[i].rg_class;
	if (n == 4 && a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
		return ADDR_UNROUTABLE;
	return ADDR_PUBLIC;
}

enum addr_class
addr_classify(const struct sockaddr *sa, const struct addr_local *al)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	size_t n;
	const uint8_t *a = bytes_of(sa, &n);
	enum addr_class c;

	/* ::ffff:10.0.0.1 is 10.0.0.1 to the kernel: judge it as such. */
	if (n == 16 && memcmp(a, mapped, 12) == 0) {
		a += 12;
		n = 4;
	}
	if ((c = classify_bytes(a, n)) != ADDR_PUBLIC)
		return c;
	for (size_t i = 0; al != NULL && i < al->al_n; i++) {
		size_t m;
		const uint8_t *na = bytes_of((const struct sockaddr *)&al->al_nets[i].nt_addr, &m);
		const uint8_t *mask = bytes_of((const struct sockaddr *)&al->al_nets[i].nt_mask, &m);
		bool same = true, self = true;
		if (m != n)
			continue;
		for (size_t k = 0; k < n; k++) {
			same = same && ((a[k] ^ na[k]) & mask[k]) == 0;
			self = self && a[k] == na[k];
		}
		if (self)
			return ADDR_SELF;
		if (same)
			c = ADDR_LOCAL_NET;
	}
	return c;
}

const char *
addr_class_str(enum addr_class c)
{
	switch (c) {
	case ADDR_PUBLIC:     return "public";
	case ADDR_LOOPBACK:   return "loopback";
	case ADDR_PRIVATE:    return "private";
	case ADDR_LINKLOCAL:  return "link-local";
	case ADDR_SHARED:     return "shared";
	case ADDR_SYNTHETIC:  return "synthetic";
	case ADDR_UNROUTABLE: return "unroutable";
	case ADDR_LOCAL_NET:  return "local network";
	case ADDR_SELF:       return "self";
	}
	return "?";
}

const char *
addr_class_phrase(enum addr_class c)
{
	switch (c) {
	case ADDR_PUBLIC:     return "a public address";
	case ADDR_LOOPBACK:   return "a loopback address";
	case ADDR_PRIVATE:    return "a private address";
	case ADDR_LINKLOCAL:  return "a link-local address";
	case ADDR_SHARED:     return "a shared (carrier-grade NAT) address";
	case ADDR_SYNTHETIC:  return "a synthetic address";
	case ADDR_UNROUTABLE: return "an unroutable address";
	case ADDR_LOCAL_NET:  return "an address on a directly connected network";
	case ADDR_SELF:       return "one of this host's own addresses";
	}
	return "?";
}

void
addr_format(const struct sockaddr *sa, char *out, size_t outsz)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(out, outsz, "%s:%u", ip, ntohs(s4->sin_port));
	} else {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(out, outsz, "[%s]:%u", ip, ntohs(s6->sin6_port));
	}
}

int
addr_parse(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	char tmp[INET6_ADDRSTRLEN + 2];
	size_t n = strlen(text);
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (n >= sizeof(tmp))
		return -1;
	if (text[0] == '[' && n > 2 && text[n - 1] == ']') {
		memcpy(tmp, text + 1, n - 2);
		tmp[n - 2] = '\0';
	} else {
		memcpy(tmp, text, n + 1);
	}
	if (inet_pton(AF_INET, tmp, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		*len = sizeof(*s4);
		return 0;
	}
	if (inet_pton(AF_INET6, tmp, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		*len = sizeof(*s6);
		return 0;
	}
	return -1;
}

bool
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
}
