/* xdg: see xdg.h. */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xdg.h"

/* The home directory in UID's passwd entry; it points into *BUFP, which the caller frees. */
static const char *
passwd_home(uid_t uid, bool self, const char *env, const char *what, char **bufp,
            struct errbuf *err)
{
	struct passwd pw, *res = NULL;
	long max = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t sz = max > 0 ? (size_t)max : 4096;
	char *buf;
	int e;

	for (;;) {
		if ((buf = realloc(*bufp, sz)) == NULL) {
			errbuf_set(err, "out of memory");
			return NULL;
		}
		*bufp = buf;
		if ((e = getpwuid_r(uid, &pw, buf, sz, &res)) != ERANGE || sz >= 1 << 20)
			break;
		sz *= 2;
	}
	if (res != NULL && pw.pw_dir != NULL && pw.pw_dir[0] != '\0')
		return pw.pw_dir;
	if (e != 0)
		errbuf_set(err, "cannot read the passwd entry of uid %u: %s",
		           (unsigned)uid, strerror(e));
	else if (self)
		errbuf_set(err, "no home directory %s: HOME is not set and uid %u "
		           "has no home in the passwd database (set HOME or %s)",
		           what, (unsigned)uid, env);
	else
		errbuf_set(err, "no home directory %s: uid %u has no home in the "
		           "passwd database", what, (unsigned)uid);
	return NULL;
}

int
xdg_dir(uid_t owner, const char *env, const char *fallback, const char *what,
        char *out, size_t outsz, struct errbuf *err)
{
	bool self = owner == (uid_t)-1 || owner == getuid();
	const char *xdg = self ? getenv(env) : NULL;
	const char *base = self ? getenv("HOME") : NULL, *sub = fallback;
	char *pwbuf = NULL;
	int n = -1;

	/* The XDG base directory spec says to ignore a relative path. */
	if (xdg != NULL && xdg[0] == '/') {
		base = xdg;
		sub = NULL;
	} else if (base == NULL || base[0] == '\0')
		base = passwd_home(self ? getuid() : owner, self, env, what, &pwbuf, err);
	if (base != NULL) {
		n = sub ? snprintf(out, outsz, "%s/%s/httpjail", base, sub)
		        : snprintf(out, outsz, "%s/httpjail", base);
		if (n < 0 || (size_t)n >= outsz) {
			errbuf_set(err, "%s/%s/httpjail: path too long", base, sub ? sub : "");
			n = -1;
		}
	}
	free(pwbuf);
	return n < 0 ? -1 : 0;
}

int
xdg_mkdirs(const char *path, uid_t owner, gid_t group, struct errbuf *err)
{
	char p[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(p)) {
		errbuf_set(err, "%s: path too long", path);
		return -1;
	}
	memcpy(p, path, n + 1);
	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';
		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, last ? 0700 : 0755) == 0) {
			/* lchown: a symlink swapped in must not turn this into a chown of its target. */
			if ((owner != (uid_t)-1 || group != (gid_t)-1) &&
			    lchown(p, owner, group) < 0) {
				errbuf_set(err, "%s: cannot change owner: %s", p, strerror(errno));
				return -1;
			}
		} else if (errno != EEXIST) {
			errbuf_set(err, "%s: cannot create: %s", p, strerror(errno));
			return -1;
		}
		if (last)
			return 0;
		*s = '/';
	}
}
