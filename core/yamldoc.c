#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yamldoc.h"

#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_BYTES (16u << 20)

struct ydoc {
	struct ynode *yd_root;
	const char   *yd_name;
	/* Every node and string, freed together. */
	void        **yd_allocs;
	size_t        yd_nallocs, yd_capallocs;
};

static void *
ydoc_alloc(struct ydoc *d, size_t n)
{
	void *p;

	if (d->yd_nallocs == d->yd_capallocs) {
		size_t cap = d->yd_capallocs ? d->yd_capallocs * 2 : 64;
		void **na = realloc(d->yd_allocs, cap * sizeof(*na));
		if (na == NULL)
			return NULL;
		d->yd_allocs = na;
		d->yd_capallocs = cap;
	}
	if ((p = calloc(1, n ? n : 1)) == NULL)
		return NULL;
	d->yd_allocs[d->yd_nallocs++] = p;
	return p;
}

static struct ynode *
node_new(struct ydoc *d, enum ynode_type t, const yaml_mark_t *m)
{
	struct ynode *n = ydoc_alloc(d, sizeof(*n));

	if (n != NULL) {
		n->yn_type = t;
		n->yn_line = (unsigned)m->line + 1;
		n->yn_col = (unsigned)m->column + 1;
	}
	return n;
}

static int
node_push(struct ydoc *d, struct ynode *parent, struct ynode *child, size_t *cap)
{
	if (parent->yn_n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		struct ynode **items = ydoc_alloc(d, ncap * sizeof(*items));
		if (items == NULL)
			return -1;
		if (parent->yn_n)
			memcpy(items, parent->yn_items, parent->yn_n * sizeof(*items));
		parent->yn_items = items;
		*cap = ncap;
	}
	parent->yn_items[parent->yn_n++] = child;
	return 0;
}

static void
syntax_error(struct ydoc *d, yaml_parser_t *p, struct errbuf *err)
{
	const yaml_mark_t *m = p->problem ? &p->problem_mark : &p->context_mark;

	if (p->error == YAML_MEMORY_ERROR) {
		errbuf_set(err, "%s: out of memory", d->yd_name);
		return;
	}
	errbuf_set(err, "%s:%zu:%zu: YAML syntax error: %s%s%s", d->yd_name,
	           m->line + 1, m->column + 1, p->problem ? p->problem : "invalid",
	           p->context ? " " : "", p->context ? p->context : "");
}

static struct ynode *parse_node(struct ydoc *, yaml_parser_t *, yaml_event_t *,
                                int depth, struct errbuf *);

/* Parses the items of a sequence or mapping opened by the event already consumed. */
static int
parse_children(struct ydoc *d, yaml_parser_t *p, struct ynode *n,
               yaml_event_type_t end, int depth, struct errbuf *err)
{
	size_t cap = 0;
	yaml_event_t ev;

	for (;;) {
		struct ynode *child;

		if (!yaml_parser_parse(p, &ev)) {
			syntax_error(d, p, err);
			return -1;
		}
		if (ev.type == end) {
			yaml_event_delete(&ev);
			return 0;
		}
		child = parse_node(d, p, &ev, depth + 1, err);
		yaml_event_delete(&ev);
		if (child == NULL)
			return -1;
		if (n->yn_type == YNODE_MAP && n->yn_n % 2 == 0) {
			if (child->yn_type != YNODE_SCALAR) {
				errbuf_set(err, "%s:%u:%u: a key must be a plain word",
				           d->yd_name, child->yn_line, child->yn_col);
				return -1;
			}
			for (size_t i = 0; i < n->yn_n; i += 2) {
				if (strcmp(n->yn_items[i]->yn_value, child->yn_value) == 0) {
					errbuf_set(err, "%s:%u:%u: duplicate key '%s' (first at line %u)",
					           d->yd_name, child->yn_line, child->yn_col,
					           child->yn_value, n->yn_items[i]->yn_line);
					return -1;
				}
			}
		}
		if (node_push(d, n, child, &cap) < 0) {
			errbuf_set(err, "%s: out of memory", d->yd_name);
			return -1;
		}
	}
}

/* Builds the node that event EV opens; EV stays owned by the caller. */
static struct ynode *
parse_node(struct ydoc *d, yaml_parser_t *p, yaml_event_t *ev, int depth,
           struct errbuf *err)
{
	struct ynode *n;
	char *v;

	if (depth > YDOC_MAX_DEPTH) {
		errbuf_set(err, "%s:%zu:%zu: nesting deeper than %d levels", d->yd_name,
		           ev->start_mark.line + 1, ev->start_mark.column + 1,
		           YDOC_MAX_DEPTH);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		n = node_new(d, YNODE_SCALAR, &ev->start_mark);
		v = n ? ydoc_alloc(d, ev->data.scalar.length + 1) : NULL;
		if (v == NULL)
			break;
		memcpy(v, ev->data.scalar.value, ev->data.scalar.length);
		n->yn_value = v;
		n->yn_len = ev->data.scalar.length;
		n->yn_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		if (strlen(v) != n->yn_len) {
			errbuf_set(err, "%s:%u:%u: NUL byte in a value", d->yd_name,
			           n->yn_line, n->yn_col);
			return NULL;
		}
		return n;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int seq = ev->type == YAML_SEQUENCE_START_EVENT;
		n = node_new(d, seq ? YNODE_SEQ : YNODE_MAP, &ev->start_mark);
		if (n == NULL)
			break;
		if (parse_children(d, p, n, seq ? YAML_SEQUENCE_END_EVENT
		                                : YAML_MAPPING_END_EVENT, depth, err) < 0)
			return NULL;
		return n;
	}
	case YAML_ALIAS_EVENT:
		errbuf_set(err, "%s:%zu:%zu: YAML aliases (*%s) are not supported (write the value out in full)",
		           d->yd_name, ev->start_mark.line + 1,
		           ev->start_mark.column + 1, ev->data.alias.anchor);
		return NULL;
	default:
		errbuf_set(err, "%s:%zu:%zu: unexpected YAML event", d->yd_name,
		           ev->start_mark.line + 1, ev->start_mark.column + 1);
		return NULL;
	}
	errbuf_set(err, "%s: out of memory", d->yd_name);
	return NULL;
}

static int
parse_stream(struct ydoc *d, yaml_parser_t *p, struct errbuf *err)
{
	yaml_event_t ev;
	int docs = 0;

	for (;;) {
		if (!yaml_parser_parse(p, &ev)) {
			syntax_error(d, p, err);
			return -1;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				errbuf_set(err, "%s:%zu:%zu: more than one YAML document",
				           d->yd_name, ev.start_mark.line + 1,
				           ev.start_mark.column + 1);
				yaml_event_delete(&ev);
				return -1;
			}
			break;
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			break;
		default:
			d->yd_root = parse_node(d, p, &ev, 0, err);
			if (d->yd_root == NULL) {
				yaml_event_delete(&ev);
				return -1;
			}
			break;
		}
		yaml_event_delete(&ev);
	}
}

struct ydoc *
ydoc_load_buf(const char *buf, size_t len, const char *name, struct errbuf *err)
{
	struct ydoc *d = calloc(1, sizeof(*d));
	yaml_parser_t p;
	int rc;

	if (d == NULL) {
		errbuf_set(err, "%s: out of memory", name);
		return NULL;
	}
	d->yd_name = name;
	if (!yaml_parser_initialize(&p)) {
		errbuf_set(err, "%s: out of memory", name);
		free(d);
		return NULL;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	rc = parse_stream(d, &p, err);
	yaml_parser_delete(&p);
	d->yd_name = NULL;
	if (rc < 0) {
		ydoc_free(d);
		return NULL;
	}
	return d;
}

struct ydoc *
ydoc_load_file(const char *path, const char *name, struct errbuf *err)
{
	FILE *f = fopen(path, "rb");
	struct ydoc *d;
	char *buf;
	size_t len = 0, cap = 65536;

	if (f == NULL) {
		errbuf_set(err, "%s: %s", name, strerror(errno));
		return NULL;
	}
	if ((buf = malloc(cap)) == NULL) {
		fclose(f);
		errbuf_set(err, "%s: out of memory", name);
		return NULL;
	}
	for (;;) {
		size_t n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
		if (len == cap) {
			char *nb;
			if (cap >= YDOC_MAX_BYTES) {
				errbuf_set(err, "%s: larger than %u MiB", name,
				           YDOC_MAX_BYTES >> 20);
				goto fail;
			}
			if ((nb = realloc(buf, cap * 2)) == NULL) {
				errbuf_set(err, "%s: out of memory", name);
				goto fail;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (ferror(f)) {
		errbuf_set(err, "%s: %s", name, strerror(errno));
		goto fail;
	}
	fclose(f);
	d = ydoc_load_buf(buf, len, name, err);
	free(buf);
	return d;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

const struct ynode *
ydoc_root(const struct ydoc *d)
{
	return d->yd_root;
}

void
ydoc_free(struct ydoc *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->yd_nallocs; i++)
		free(d->yd_allocs[i]);
	free(d->yd_allocs);
	free(d);
}
