/* yamldoc: a YAML file as a tree whose every node knows its line and column, so
 * that each policy error can point at its place. */
#ifndef HTTPJAIL_YAMLDOC_H
#define HTTPJAIL_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "errbuf.h"

enum ynode_type { YNODE_SCALAR, YNODE_SEQ, YNODE_MAP };

/* Read-only once loaded; every node is owned by its struct ydoc. */
struct ynode {
	enum ynode_type yn_type;
	unsigned        yn_line, yn_col;  /* 1-based */
	const char     *yn_value;         /* scalars: NUL-terminated text */
	size_t          yn_len;
	bool            yn_plain;         /* unquoted scalar: may be a bool, number, null */
	struct ynode  **yn_items;         /* seq: items; map: key, value, key, value ... */
	size_t          yn_n;             /* number of yn_items */
};

struct ydoc;

/* NAME is how errors name the file. Returns NULL with ERR "NAME:L:C: ..." set. */
struct ydoc        *ydoc_load_file(const char *path, const char *name,
                                   struct errbuf *err);
struct ydoc        *ydoc_load_buf(const char *buf, size_t len, const char *name,
                                  struct errbuf *err);
/* The document's root, or NULL for a file with no document (empty, comments only). */
const struct ynode *ydoc_root(const struct ydoc *);
void                ydoc_free(struct ydoc *);

#endif
