/* audit_fmt: how `httpjail audit` prints rows (an aligned table, a JSON array, JSON
 * lines, CSV) and Markdown cells; every byte a jailed program chose is escaped. */
#ifndef HTTPJAIL_AUDIT_FMT_H
#define HTTPJAIL_AUDIT_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum out_style { OUT_TABLE, OUT_JSON, OUT_JSONL, OUT_CSV };

enum cell_type {
	CELL_NULL,  /* "-" in a table, null in JSON, empty in CSV */
	CELL_NUM,   /* c_s is a JSON number */
	CELL_TEXT,  /* c_s is any bytes */
	CELL_JSON,  /* c_s is valid JSON, written as is in JSON and as text elsewhere */
};

struct cell {
	enum cell_type c_type;
	const char    *c_s;
	size_t         c_len;
};

struct out;

/* Rows of NCOL columns named NAMES (borrowed) in STYLE on stdout; NULL: no memory. */
struct out *out_new(enum out_style style, const char *const *names, size_t ncol);
/* One row of ncol cells; the cells are copied when they must be kept. */
void        out_row(struct out *, const struct cell *cells);
/* Writes what is held back, frees, and returns 0, or -1 when stdout failed. */
int         out_end(struct out *);

/* A cell of the C string S (NULL: a null cell). */
struct cell cell_str(const char *s);

/* S as a JSON string, quotes included: invalid UTF-8 as U+FFFD, controls as \u00XX. */
void json_write(FILE *, const char *s, size_t len);
/* S as a Markdown table cell: controls as spaces, '|' and '\' escaped. */
void md_cell(FILE *, const char *s, size_t len);
/* S as a Markdown code span, in a table cell when CELL is true. */
void md_code(FILE *, const char *s, size_t len, bool cell);

/*
 * Checks that JSON is an array of strings (httpjail's runs.command) and, when LINE is
 * not NULL, writes it there as a shell-quoted command line. Returns 0, or -1 when it
 * is anything else (then nothing is written).
 */
int  argv_json(const char *json, size_t len, FILE *line);

#endif
