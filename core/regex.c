#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "regex.h"

struct regex {
	pcre2_code *re_code;
	bool        re_jit;
};

struct regex_md {
	pcre2_match_data *md_data;
};

struct regex *
regex_new(const char *pattern, size_t *offset, struct errbuf *err)
{
	struct regex *re;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE erroff = 0;
	int code;

	if ((re = calloc(1, sizeof(*re))) == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	re->re_code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0,
	                            &code, &erroff, NULL);
	if (re->re_code == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		errbuf_set(err, "invalid regex (%s at offset %zu)", (char *)msg,
		           (size_t)erroff);
		if (offset != NULL)
			*offset = erroff;
		free(re);
		return NULL;
	}
	/* Without JIT (no executable memory, odd CPU) the interpreter gives the same answers. */
	re->re_jit = pcre2_jit_compile(re->re_code, PCRE2_JIT_COMPLETE) == 0;
	return re;
}

void
regex_free(struct regex *re)
{
	if (re == NULL)
		return;
	pcre2_code_free(re->re_code);
	free(re);
}

bool
regex_anchored(const struct regex *re)
{
	uint32_t opts = 0;

	return pcre2_pattern_info(re->re_code, PCRE2_INFO_ALLOPTIONS, &opts) == 0 &&
	       (opts & PCRE2_ANCHORED) != 0;
}

struct regex_md *
regex_md_new(void)
{
	struct regex_md *md = calloc(1, sizeof(*md));

	if (md == NULL)
		return NULL;
	/* One pair: we only ask whether it matched, a too-small ovector still says so. */
	if ((md->md_data = pcre2_match_data_create(1, NULL)) == NULL) {
		free(md);
		return NULL;
	}
	return md;
}

void
regex_md_free(struct regex_md *md)
{
	if (md == NULL)
		return;
	pcre2_match_data_free(md->md_data);
	free(md);
}

int
regex_match(const struct regex *re, struct slice s, struct regex_md *md)
{
	int rc;

	if (re->re_jit)
		rc = pcre2_jit_match(re->re_code, (PCRE2_SPTR)s.ptr, s.len, 0, 0,
		                     md->md_data, NULL);
	else
		rc = pcre2_match(re->re_code, (PCRE2_SPTR)s.ptr, s.len, 0, 0,
		                 md->md_data, NULL);
	if (rc >= 0)
		return 1;
	return rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* \Q...\E quoting, \c followed by any byte, extended mode's comments, verbs such as (*CR). */
bool
regex_text_opaque(const char *p)
{
	if (strstr(p, "\\Q") != NULL || strstr(p, "\\c") != NULL || strstr(p, "(*") != NULL)
		return true;
	for (const char *q = p; (q = strstr(q, "(?")) != NULL; q += 2) {
		size_t n = strspn(q + 2, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ^-");
		if (memchr(q + 2, 'x', n) != NULL)
			return true;
	}
	return false;
}

/* Whether P has a '|' outside every group and class: then '^' binds one branch only. */
bool
regex_text_alternates(const char *p)
{
	int depth = 0;
	bool cls = false;

	for (; *p; p++) {
		if (*p == '\\') {
			if (p[1] == '\0')
				return true;
			p++;
		} else if (cls) {
			cls = *p != ']';
		} else if (*p == '[') {
			cls = true;
			if (p[1] == '^')
				p++;
			if (p[1] == ']')
				p++;
		} else if (*p == '(') {
			depth++;
		} else if (*p == ')') {
			depth--;
		} else if (*p == '|' && depth <= 0) {
			return true;
		}
	}
	return false;
}
