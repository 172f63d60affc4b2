#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>

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
