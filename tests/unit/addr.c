/* Unit tests of address classification: what the proxy refuses to dial. */
#include "addr.h"
#include "unit.h"

int
main(void)
{
	static const struct { const char *addr; enum addr_class want; } cases[] = {
		{ "127.0.0.1", ADDR_LOOPBACK }, { "127.255.0.9", ADDR_LOOPBACK },
		{ "::1", ADDR_LOOPBACK }, { "::ffff:127.0.0.1", ADDR_LOOPBACK },
		{ "10.1.2.3", ADDR_PRIVATE }, { "172.16.0.1", ADDR_PRIVATE },
		{ "172.31.255.255", ADDR_PRIVATE }, { "172.32.0.1", ADDR_PUBLIC },
		{ "192.168.1.1", ADDR_PRIVATE }, { "::ffff:10.0.0.1", ADDR_PRIVATE },
		{ "fc00::1", ADDR_PRIVATE }, { "fd12:3456::1", ADDR_PRIVATE },
		{ "169.254.169.254", ADDR_LINKLOCAL }, { "fe80::1", ADDR_LINKLOCAL },
		{ "100.64.0.1", ADDR_SHARED }, { "100.127.255.255", ADDR_SHARED },
		{ "100.128.0.1", ADDR_PUBLIC },
		{ "198.18.0.1", ADDR_SYNTHETIC }, { "198.19.255.255", ADDR_SYNTHETIC },
		{ "198.20.0.1", ADDR_PUBLIC }, { "2001:db8::5", ADDR_SYNTHETIC },
		{ "0.0.0.0", ADDR_UNROUTABLE }, { "224.0.0.1", ADDR_UNROUTABLE },
		{ "255.255.255.255", ADDR_UNROUTABLE }, { "::", ADDR_UNROUTABLE },
		{ "ff02::1", ADDR_UNROUTABLE },
		{ "93.184.216.34", ADDR_PUBLIC }, { "2606:4700::1", ADDR_PUBLIC },
		{ "203.0.113.7", ADDR_PUBLIC },
	};
	struct sockaddr_storage ss, ss2;
	socklen_t len;
	char text[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK(addr_parse(cases[i].addr, 443, &ss, &len) == 0);
		if (addr_classify((struct sockaddr *)&ss, NULL) != cases[i].want) {
			fprintf(stderr, "  %s: got %s\n", cases[i].addr,
			        addr_class_str(addr_classify((struct sockaddr *)&ss, NULL)));
			CHECK(0);
		} else {
			CHECK(1);
		}
	}
	CHECK(addr_parse("[2001:db8::1]", 8443, &ss, &len) == 0);
	addr_format((struct sockaddr *)&ss, text, sizeof(text));
	CHECK_STR(text, "[2001:db8::1]:8443");
	CHECK(addr_parse("192.0.2.1", 80, &ss, &len) == 0);
	addr_format((struct sockaddr *)&ss, text, sizeof(text));
	CHECK_STR(text, "192.0.2.1:80");
	CHECK(addr_parse("a.test", 80, &ss, &len) == -1);
	CHECK(addr_parse("1.2.3", 80, &ss, &len) == -1);
	CHECK(addr_parse("192.0.2.1", 80, &ss, &len) == 0);
	CHECK(addr_parse("192.0.2.1", 80, &ss2, &len) == 0);
	CHECK(addr_equal((struct sockaddr *)&ss, (struct sockaddr *)&ss2));
	CHECK(addr_parse("192.0.2.1", 81, &ss2, &len) == 0);
	CHECK(!addr_equal((struct sockaddr *)&ss, (struct sockaddr *)&ss2));
	CHECK_STR(addr_class_phrase(ADDR_SELF), "one of this host's own addresses");
	return unit_done("unit/addr");
}
