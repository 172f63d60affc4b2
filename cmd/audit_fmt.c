/* audit_fmt: rows as an aligned table, JSON, JSON lines or CSV; Markdown cells; the
 * command line of a run. */
#include <ctype.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "audit_fmt.h"

/* A table sizes its columns on this many rows, then prints the rest as they come, so
 * that a long listing needs no more memory than a short one. */
#define TABLE_HOLD 500

struct out {
	enum out_style     o_style;
	const char *const *o_names;
	size_t             o_ncol;
	size_t             o_nrows;
	/* OUT_TABLE */
	char             **o_held;   /* o_nheld rows of o_ncol cleaned cells */
	size_t             o_nheld;
	size_t            *o_width;
	bool              *o_text;   /* the column holds text: align it left */
	bool               o_fixed;  /* the header is out, the widths are final */
};

/* S for a terminal: controls (C0, DEL, C1) and invalid UTF-8 as visible escapes. */
static void
clean_write(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		size_t n = audit_utf8_seq(p + i, len - i);

		if (n == 0 || p[i] < 0x20 || p[i] == 0x7f) {
			fprintf(f, "\\x%02x", p[i]);
			i++;
		} else if (n == 2 && p[i] == 0xc2 && p[i + 1] < 0xa0) {
			fprintf(f, "\\u%04x", p[i + 1]);
			i += 2;
		} else {
			fwrite(p + i, 1, n, f);
			i += n;
		}
	}
}

/* Columns a cleaned cell takes: one per character. */
static size_t
width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		w += ((unsigned char)*s & 0xc0) != 0x80;
	return w;
}

void
json_write(FILE *f, const char *s, size_t len)
{
	sqlite3_str *sb = sqlite3_str_new(NULL);

	audit_json_str(sb, s, len);
	fwrite(sqlite3_str_value(sb), 1, (size_t)sqlite3_str_length(sb), f);
	sqlite3_free(sqlite3_str_finish(sb));
}

static void
csv_write(FILE *f, const char *s, size_t len)
{
	bool quote = len > 0 && (s[0] == ' ' || s[len - 1] == ' ');

	for (size_t i = 0; i < len && !quote; i++)
		quote = s[i] == ',' || s[i] == '"' || s[i] == '\r' || s[i] == '\n';
	if (!quote) {
		fwrite(s, 1, len, f);
		return;
	}
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', f);
		fputc(s[i], f);
	}
	fputc('"', f);
}

void
md_cell(FILE *f, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			fputc(' ', f);
		else if (strchr("\\|*_`<>[]&~", c) != NULL)
			fprintf(f, "\\%c", c);
		else
			fputc(c, f);
	}
}

void
md_code(FILE *f, const char *s, size_t len, bool cell)
{
	size_t run = 0, longest = 0;
	bool pad;

	if (len == 0)
		return;
	for (size_t i = 0; i < len; i++) {
		run = s[i] == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	/* CommonMark strips one space from each end of a span that has both. */
	pad = s[0] == '`' || s[len - 1] == '`' || s[0] == ' ' || s[len - 1] == ' ';
	for (size_t i = 0; i <= longest; i++)
		fputc('`', f);
	if (pad)
		fputc(' ', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			fputc(' ', f);
		else if (c == '|' && cell)
			fputs("\\|", f);  /* GFM splits cells before it reads code spans */
		else
			fputc(c, f);
	}
	if (pad)
		fputc(' ', f);
	for (size_t i = 0; i <= longest; i++)
		fputc('`', f);
}

struct cell
cell_str(const char *s)
{
	if (s == NULL)
		return (struct cell){ CELL_NULL, NULL, 0 };
	return (struct cell){ CELL_TEXT, s, strlen(s) };
}

struct out *
out_new(enum out_style style, const char *const *names, size_t ncol)
{
	struct out *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return NULL;
	o->o_style = style;
	o->o_names = names;
	o->o_ncol = ncol;
	if (style == OUT_TABLE) {
		o->o_held = calloc(TABLE_HOLD * ncol, sizeof(*o->o_held));
		o->o_width = calloc(ncol, sizeof(*o->o_width));
		o->o_text = calloc(ncol, sizeof(*o->o_text));
		if (o->o_held == NULL || o->o_width == NULL || o->o_text == NULL) {
			free(o->o_held);
			free(o->o_width);
			free(o->o_text);
			free(o);
			return NULL;
		}
		for (size_t i = 0; i < ncol; i++)
			o->o_width[i] = strlen(names[i]);
	} else if (style == OUT_CSV) {
		for (size_t i = 0; i < ncol; i++) {
			csv_write(stdout, names[i], strlen(names[i]));
			fputc(i + 1 < ncol ? ',' : '\n', stdout);
		}
	}
	return o;
}

/* One table line; the last column gets no trailing blanks. */
static void
table_line(const struct out *o, char *const *cells, bool header)
{
	for (size_t i = 0; i < o->o_ncol; i++) {
		const char *s = cells[i] ? cells[i] : "-";
		size_t pad = o->o_width[i] > width(s) ? o->o_width[i] - width(s) : 0;
		bool right = !o->o_text[i];

		if (i > 0)
			fputs("  ", stdout);
		if (right)
			printf("%*s", (int)pad, "");
		if (header)
			for (; *s; s++)
				putchar(toupper((unsigned char)*s));
		else
			fputs(s, stdout);
		if (!right && i + 1 < o->o_ncol)
			printf("%*s", (int)pad, "");
	}
	putchar('\n');
}

/* The widths are final: the header and every row held back go out. */
static void
table_fix(struct out *o)
{
	table_line(o, (char *const *)o->o_names, true);
	for (size_t r = 0; r < o->o_nheld; r++) {
		char **row = o->o_held + r * o->o_ncol;

		table_line(o, row, false);
		for (size_t i = 0; i < o->o_ncol; i++) {
			free(row[i]);
			row[i] = NULL;
		}
	}
	o->o_nheld = 0;
	o->o_fixed = true;
}

static void
table_row(struct out *o, const struct cell *cells)
{
	char **row = o->o_held + o->o_nheld * o->o_ncol;

	for (size_t i = 0; i < o->o_ncol; i++) {
		char *s = NULL;
		size_t n = 0;
		FILE *f;

		row[i] = NULL;
		if (cells[i].c_type == CELL_NULL)
			continue;
		if ((f = open_memstream(&s, &n)) != NULL) {
			clean_write(f, cells[i].c_s, cells[i].c_len);
			fclose(f);
		}
		row[i] = s;
		if (!o->o_fixed && cells[i].c_type != CELL_NUM)
			o->o_text[i] = true;
		if (s != NULL && !o->o_fixed && width(s) > o->o_width[i])
			o->o_width[i] = width(s);
	}
	if (o->o_fixed) {
		table_line(o, row, false);
		for (size_t i = 0; i < o->o_ncol; i++) {
			free(row[i]);
			row[i] = NULL;
		}
	} else if (++o->o_nheld == TABLE_HOLD) {
		table_fix(o);
	}
}

static void
json_row(const struct out *o, const struct cell *cells)
{
	putchar('{');
	for (size_t i = 0; i < o->o_ncol; i++) {
		const struct cell *c = &cells[i];

		if (i > 0)
			putchar(',');
		json_write(stdout, o->o_names[i], strlen(o->o_names[i]));
		putchar(':');
		if (c->c_type == CELL_NULL)
			fputs("null", stdout);
		else if (c->c_type == CELL_NUM || c->c_type == CELL_JSON)
			fwrite(c->c_s, 1, c->c_len, stdout);
		else
			json_write(stdout, c->c_s, c->c_len);
	}
	putchar('}');
}

void
out_row(struct out *o, const struct cell *cells)
{
	switch (o->o_style) {
	case OUT_TABLE:
		table_row(o, cells);
		break;
	case OUT_JSON:
		fputs(o->o_nrows == 0 ? "[\n" : ",\n", stdout);
		json_row(o, cells);
		break;
	case OUT_JSONL:
		json_row(o, cells);
		putchar('\n');
		break;
	case OUT_CSV:
		for (size_t i = 0; i < o->o_ncol; i++) {
			if (cells[i].c_type != CELL_NULL)
				csv_write(stdout, cells[i].c_s, cells[i].c_len);
			putchar(i + 1 < o->o_ncol ? ',' : '\n');
		}
		break;
	}
	o->o_nrows++;
}

int
out_end(struct out *o)
{
	if (o->o_style == OUT_TABLE && !o->o_fixed)
		table_fix(o);
	else if (o->o_style == OUT_JSON)
		fputs(o->o_nrows == 0 ? "[]\n" : "\n]\n", stdout);
	free(o->o_held);
	free(o->o_width);
	free(o->o_text);
	free(o);
	return fflush(stdout) == 0 && !ferror(stdout) ? 0 : -1;
}

static const char *
json_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static int
hex4(const char *p, const char *end, unsigned *v)
{
	*v = 0;
	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = (unsigned char)p[i];
		if (!isxdigit(c))
			return -1;
		*v = *v * 16 + (unsigned)(isdigit(c) ? c - '0' : tolower(c) - 'a' + 10);
	}
	return 0;
}

static void
utf8_put(FILE *f, unsigned cp)
{
	if (cp < 0x80) {
		fputc((int)cp, f);
	} else if (cp < 0x800) {
		fputc((int)(0xc0 | cp >> 6), f);
		fputc((int)(0x80 | (cp & 0x3f)), f);
	} else if (cp < 0x10000) {
		fputc((int)(0xe0 | cp >> 12), f);
		fputc((int)(0x80 | (cp >> 6 & 0x3f)), f);
		fputc((int)(0x80 | (cp & 0x3f)), f);
	} else {
		fputc((int)(0xf0 | cp >> 18), f);
		fputc((int)(0x80 | (cp >> 12 & 0x3f)), f);
		fputc((int)(0x80 | (cp >> 6 & 0x3f)), f);
		fputc((int)(0x80 | (cp & 0x3f)), f);
	}
}

/* The JSON string at P (its opening quote), decoded into OUT when not NULL; returns
 * where it ends, or NULL when it is not strict JSON (raw controls, bad UTF-8). */
static const char *
json_string(const char *p, const char *end, FILE *out)
{
	static const char esc[] = "\"\"\\\\//b\bf\fn\nr\rt\t";

	if (p >= end || *p++ != '"')
		return NULL;
	while (p < end && *p != '"') {
		const unsigned char *u = (const unsigned char *)p;
		size_t n = audit_utf8_seq(u, (size_t)(end - p));
		unsigned cp, lo;
		const char *e;

		if (n == 0 || *u < 0x20)
			return NULL;
		if (*p != '\\') {
			if (out != NULL)
				fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		if (++p >= end)
			return NULL;
		if (*p != 'u') {
			if (*p == '\0' || (e = strchr(esc, *p)) == NULL || (e - esc) % 2 != 0)
				return NULL;
			if (out != NULL)
				fputc(e[1], out);
			p++;
			continue;
		}
		if (hex4(p + 1, end, &cp) < 0)
			return NULL;
		p += 5;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return NULL;
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &lo) < 0 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return NULL;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			p += 6;
		}
		if (out != NULL)
			utf8_put(out, cp);
	}
	return p < end ? p + 1 : NULL;
}

/* WORD as one shell word: bare when nothing in it is special, else single-quoted. */
static void
shell_word(FILE *f, const char *w, size_t len)
{
	bool bare = len > 0;

	for (size_t i = 0; i < len && bare; i++)
		bare = isalnum((unsigned char)w[i]) ||
		       (w[i] != '\0' && strchr("@%+=:,./_-", w[i]) != NULL);
	if (bare) {
		fwrite(w, 1, len, f);
		return;
	}
	fputc('\'', f);
	for (size_t i = 0; i < len; i++) {
		if (w[i] == '\'')
			fputs("'\\''", f);
		else
			fputc(w[i], f);
	}
	fputc('\'', f);
}

/* Walks the array; LINE NULL only checks it. */
static int
argv_walk(const char *json, size_t len, FILE *line)
{
	const char *p = json, *end = json + len;
	bool first = true;

	p = json_ws(p, end);
	if (p >= end || *p++ != '[')
		return -1;
	p = json_ws(p, end);
	if (p < end && *p == ']')
		return json_ws(p + 1, end) == end ? 0 : -1;
	for (;;) {
		char *word = NULL;
		size_t n = 0;
		FILE *f = line != NULL ? open_memstream(&word, &n) : NULL;

		if (line != NULL && f == NULL)
			return -1;
		p = json_string(p, end, f);
		if (f != NULL) {
			fclose(f);
			if (p != NULL) {
				if (!first)
					fputc(' ', line);
				shell_word(line, word, n);
			}
			free(word);
		}
		if (p == NULL)
			return -1;
		first = false;
		p = json_ws(p, end);
		if (p < end && *p == ']')
			return json_ws(p + 1, end) == end ? 0 : -1;
		if (p >= end || *p++ != ',')
			return -1;
		p = json_ws(p, end);
	}
}

int
argv_json(const char *json, size_t len, FILE *line)
{
	if (json == NULL || argv_walk(json, len, NULL) < 0)
		return -1;
	return line != NULL ? argv_walk(json, len, line) : 0;
}
