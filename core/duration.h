/* duration: "500ms", "5s", "2m", "1h", or a bare number of seconds. */
#ifndef HTTPJAIL_DURATION_H
#define HTTPJAIL_DURATION_H

/* Returns 0 and sets *MS, or -1 when S is not a duration of at most a day. */
int duration_parse(const char *s, unsigned *ms);

#endif
