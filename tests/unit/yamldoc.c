/* Unit tests of the YAML loader; with an argument it reads that file (or - for
 * stdin) and only reports, so it doubles as a fuzz driver. */
#include <stdlib.h>

#include "unit.h"
#include "yamldoc.h"

static int
drive(const char *path)
{
	static char buf[1 << 20];
	struct errbuf err;
	struct ydoc *d;
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return 2;
	n = fread(buf, 1, sizeof(buf), f);
	if (f != stdin)
		fclose(f);
	d = ydoc_load_buf(buf, n, "input", &err);
	if (d == NULL)
		printf("%s\n", err.msg);
	ydoc_free(d);
	return 0;
}

static void
test_positions(void)
{
	static const char text[] =
		"a: 1\n"
		"list:\n"
		"  - x\n"
		"  - {k: 'v w'}\n"
		"b: \"q\"\n";
	struct errbuf err;
	struct ydoc *d = ydoc_load_buf(text, sizeof(text) - 1, "t.yaml", &err);
	const struct ynode *r, *l, *m;

	CHECK(d != NULL);
	if (d == NULL)
		return;
	r = ydoc_root(d);
	CHECK(r->yn_type == YNODE_MAP && r->yn_n == 6);
	CHECK_STR(r->yn_items[0]->yn_value, "a");
	CHECK(r->yn_items[1]->yn_line == 1 && r->yn_items[1]->yn_col == 4);
	CHECK(r->yn_items[1]->yn_plain);
	l = r->yn_items[3];
	CHECK(l->yn_type == YNODE_SEQ && l->yn_n == 2);
	CHECK(l->yn_items[0]->yn_line == 3 && l->yn_items[0]->yn_col == 5);
	m = l->yn_items[1];
	CHECK(m->yn_type == YNODE_MAP && m->yn_line == 4 && m->yn_col == 5);
	CHECK_STR(m->yn_items[1]->yn_value, "v w");
	CHECK(!m->yn_items[1]->yn_plain);
	CHECK(m->yn_items[1]->yn_col == 9);
	CHECK(!r->yn_items[5]->yn_plain);
	ydoc_free(d);

	d = ydoc_load_buf("", 0, "empty.yaml", &err);
	CHECK(d != NULL && ydoc_root(d) == NULL);
	ydoc_free(d);
}

static void
test_errors(void)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "a: [1\n", "t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence" },
		{ "a: 1\na: 2\n", "t.yaml:2:1: duplicate key 'a' (first at line 1)" },
		{ "x: &a 1\ny: *a\n", "t.yaml:2:4: YAML aliases (*a) are not supported (write the value out in full)" },
		{ "a: 1\n---\nb: 2\n", "t.yaml:2:1: more than one YAML document" },
		{ "[1]: x\n", "t.yaml:1:1: a key must be a plain word" },
		{ "a: \"x\\0y\"\n", "t.yaml:1:4: NUL byte in a value" },
	};
	struct errbuf err;
	char deep[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ydoc *d = ydoc_load_buf(cases[i].text, strlen(cases[i].text), "t.yaml", &err);
		CHECK(d == NULL);
		if (d == NULL)
			CHECK_STR(err.msg, cases[i].msg);
		ydoc_free(d);
	}
	/* Nesting is bounded so a hostile file cannot exhaust the stack. */
	memset(deep, '[', 100);
	deep[100] = '\0';
	CHECK(ydoc_load_buf(deep, 100, "t.yaml", &err) == NULL);
	CHECK_STR(err.msg, "t.yaml:1:66: nesting deeper than 64 levels");
	CHECK(ydoc_load_file("/nonexistent.yaml", "n.yaml", &err) == NULL);
	CHECK_STR(err.msg, "n.yaml: No such file or directory");
	CHECK(ydoc_load_file("/", "root", &err) == NULL);
	CHECK_STR(err.msg, "root: Is a directory");
}

int
main(int argc, char **argv)
{
	if (argc > 1)
		return drive(argv[1]);
	test_positions();
	test_errors();
	return unit_done("unit/yamldoc");
}
