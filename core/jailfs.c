/* jailfs: the jail's mount namespace, see jail_int.h: daemon sockets hidden, what
 * jail.expose lists put back, resolv.conf and the CA bundle placed from tmpfs that
 * exist only in the jail. */
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jail.h"
#include "jail_int.h"

/* Daemons that act outside the jail for whoever reaches their socket, and name
 * resolution that would bypass the stub. */
static char tmux_dir[32];
static const char *hide_list[] = {
	NULL,   /* the user's runtime directory: D-Bus, systemd --user, podman, ... */
	tmux_dir,
	"/run/dbus/system_bus_socket", "/var/run/dbus/system_bus_socket",
	"/run/docker.sock", "/var/run/docker.sock", "/run/podman/podman.sock",
	"/run/containerd/containerd.sock", "/run/nscd/socket", "/var/run/nscd/socket",
	"/run/systemd/resolve/io.systemd.Resolve", "/run/systemd/private",
	"/run/systemd/io.system.ManagedOOM", "/run/screen", "/var/run/screen",
};

const char *const *
jail_default_hide(const char *runtime_dir, uid_t uid, size_t *n)
{
	/* tmux's server runs commands outside for anyone reaching its socket. */
	snprintf(tmux_dir, sizeof(tmux_dir), "/tmp/tmux-%u", (unsigned)uid);
	if (runtime_dir != NULL && runtime_dir[0] == '/') {
		hide_list[0] = runtime_dir;
		*n = sizeof(hide_list) / sizeof(hide_list[0]);
		return hide_list;
	}
	*n = sizeof(hide_list) / sizeof(hide_list[0]) - 1;
	return hide_list + 1;
}

/* An exposed path, cloned before a tmpfs goes over a directory above it. */
struct exposed {
	int  x_tree;   /* -1: nothing there to keep */
	bool x_dir;
};

static struct exposed
expose_clone(const char *path)
{
	struct stat st;
	struct exposed x = { -1, false };

	if (stat(path, &st) < 0)
		return x;
	x.x_dir = S_ISDIR(st.st_mode);
	x.x_tree = (int)syscall(SYS_open_tree, AT_FDCWD, path,
	                        OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	return x;
}

/*
 * Puts X's clone back at PATH, inside the tmpfs now over HIDDEN: the directories in
 * between are made there (mode 0700, owned as HIDDEN is, as $XDG_RUNTIME_DIR's are),
 * and PATH as a file or directory to mount on.
 */
static int
expose_place(const struct exposed *x, const char *hidden, const char *path)
{
	struct stat top;
	char sub[4096];
	int fd;

	if (stat(hidden, &top) < 0)
		return -1;
	if (snprintf(sub, sizeof(sub), "%s", path) >= (int)sizeof(sub)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *s = sub + strlen(hidden) + 1; (s = strchr(s, '/')) != NULL; *s++ = '/') {
		*s = '\0';
		if (mkdir(sub, 0700) == 0) {
			if (chown(sub, top.st_uid, top.st_gid) < 0)
				return -1;
		} else if (errno != EEXIST) {
			return -1;
		}
	}
	if (x->x_dir) {
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -1;
	} else if ((fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600)) >= 0) {
		close(fd);
	}
	return (int)syscall(SYS_move_mount, x->x_tree, "", AT_FDCWD, path,
	                    MOVE_MOUNT_F_EMPTY_PATH);
}

static int
is_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/*
 * Puts LEN bytes of DATA, read-only, over the file TARGET, from a tmpfs that is never
 * attached anywhere (fsopen/fsmount): nothing reaches the host's filesystem, and
 * move_mount works where a bind mount fails on a dangling symlink (resolv.conf of
 * systemd-resolved).
 */
static int
place_file(const char *target, const char *data, size_t len, char *why, size_t whysz)
{
	int fsfd = -1, mnt = -1, fd = -1, tree = -1, rc = -1;

	if ((fsfd = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC)) < 0 ||
	    syscall(SYS_fsconfig, fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0 ||
	    (mnt = (int)syscall(SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, 0)) < 0 ||
	    (fd = openat(mnt, "file", O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) < 0 ||
	    write(fd, data, len) != (ssize_t)len ||
	    (tree = (int)syscall(SYS_open_tree, mnt, "file",
	                         OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)) < 0 ||
	    syscall(SYS_move_mount, tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0 ||
	    mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		snprintf(why, whysz, "cannot place %s in the jail: %s", target, strerror(errno));
	else
		rc = 0;
	if (fd >= 0)
		close(fd);
	if (tree >= 0)
		close(tree);
	if (mnt >= 0)
		close(mnt);
	if (fsfd >= 0)
		close(fsfd);
	return rc;
}

static const char *const bundles[] = {
	"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/cert.pem", "/usr/lib/ssl/cert.pem",
};

const char *
jail_bundle_path(void)
{
	struct stat st;

	for (size_t i = 0; i < sizeof(bundles) / sizeof(bundles[0]); i++)
		if (stat(bundles[i], &st) == 0 && S_ISREG(st.st_mode))
			return bundles[i];
	return NULL;
}

/* Whether P, one of the paths to hide, is listed in jail.expose itself. */
static bool
hide_exposed(const struct jail_opts *jo, const char *p)
{
	for (size_t k = 0; k < jo->jo_nexpose; k++)
		if (strcmp(jo->jo_expose[k], p) == 0)
			return true;
	return false;
}

int
jail_mounts(const struct jail_opts *jo, char *why, size_t whysz)
{
	static const char resolv[] = "# httpjail: every DNS query is answered by its stub\n"
	                             "nameserver 127.0.0.1\n";
	struct stat placed[sizeof(bundles) / sizeof(bundles[0])];
	struct exposed *xs = calloc(jo->jo_nexpose + 1, sizeof(*xs));   /* never 0 bytes */
	size_t nplaced = 0;
	int rc = -1;

	if (xs == NULL) {
		snprintf(why, whysz, "out of memory");
		return -1;
	}
	/* Every entry is set before any way out: out: closes the trees. */
	for (size_t i = 0; i < jo->jo_nexpose; i++)
		xs[i] = expose_clone(jo->jo_expose[i]);
	if (place_file("/etc/resolv.conf", resolv, sizeof(resolv) - 1, why, whysz) < 0)
		goto out;
	for (size_t i = 0; i < jo->jo_nhide; i++) {
		const char *p = jo->jo_hide[i];
		struct stat st;

		if (hide_exposed(jo, p) || lstat(p, &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			char opts[64];
			snprintf(opts, sizeof(opts), "mode=0700,uid=%u,gid=%u", (unsigned)st.st_uid,
			         (unsigned)st.st_gid);
			if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0) {
				snprintf(why, whysz, "cannot hide %s: %s", p, strerror(errno));
				goto out;
			}
		} else if (mount("/dev/null", p, NULL, MS_BIND, NULL) < 0) {
			snprintf(why, whysz, "cannot hide %s: %s", p, strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; i < jo->jo_nexpose; i++) {
		const char *hidden = NULL;
		/* The innermost hidden directory above it: the tmpfs it is put back in. */
		for (size_t k = 0; k < jo->jo_nhide; k++)
			if (is_under(jo->jo_expose[i], jo->jo_hide[k]) &&
			    strcmp(jo->jo_expose[i], jo->jo_hide[k]) != 0 &&
			    !hide_exposed(jo, jo->jo_hide[k]) &&
			    (hidden == NULL || strlen(jo->jo_hide[k]) > strlen(hidden)))
				hidden = jo->jo_hide[k];
		if (xs[i].x_tree >= 0 && hidden != NULL &&
		    expose_place(&xs[i], hidden, jo->jo_expose[i]) < 0) {
			snprintf(why, whysz, "cannot expose %s: %s", jo->jo_expose[i], strerror(errno));
			goto out;
		}
	}
	for (size_t i = 0; jo->jo_bundle != NULL && i < sizeof(bundles) / sizeof(bundles[0]); i++) {
		struct stat st;
		bool ours = false;
		/* Programs that ignore SSL_CERT_FILE read the system bundle: that is ours here.
		 * A path that is a symlink to one placed already leads to ours as it is. */
		if (stat(bundles[i], &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		for (size_t k = 0; k < nplaced; k++)
			ours = ours || (placed[k].st_dev == st.st_dev && placed[k].st_ino == st.st_ino);
		if (ours)
			continue;
		if (place_file(bundles[i], jo->jo_bundle, jo->jo_bundle_len, why, whysz) < 0)
			goto out;
		if (stat(bundles[i], &placed[nplaced]) == 0)
			nplaced++;
	}
	rc = 0;
out:
	for (size_t i = 0; i < jo->jo_nexpose; i++)
		if (xs[i].x_tree >= 0)
			close(xs[i].x_tree);
	free(xs);
	return rc;
}
