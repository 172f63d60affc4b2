/* log: diagnostics on stderr, "httpjail: " or "httpjail[jail]: " first. */
#ifndef HTTPJAIL_LOG_H
#define HTTPJAIL_LOG_H

enum log_level { LOG_LVL_ERROR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Names the process in every line after this ("jail", "hook"); NULL for none. */
void log_procinit(const char *procname);
void log_setlevel(enum log_level);
enum log_level log_getlevel(void);

/* log_warn appends ": strerror(errno)"; the x forms do not. */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For broken invariants only, never for bad input: prints and aborts. */
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
