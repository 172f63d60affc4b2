/* jail: the command in its own user, network, mount and PID namespaces, where the
 * only route is loopback and nftables sends every TCP connection to the proxy and
 * every DNS query to the stub. Sockets are made inside and handed out, so the proxy
 * runs in the host's namespace and nothing is left on the host when the run ends. */
#ifndef HTTPJAIL_JAIL_H
#define HTTPJAIL_JAIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "errbuf.h"

struct jail;

struct jail_opts {
	char *const *jo_argv;          /* the command */
	char *const *jo_envp;
	uid_t        jo_uid;           /* who the command runs as; the caller when -1 */
	gid_t        jo_gid;
	const gid_t *jo_groups;        /* supplementary groups with jo_uid */
	size_t       jo_ngroups;
	const char  *jo_home;          /* HOME for that user, or NULL to keep it */
	/* Path sockets and their directories hidden from the command (a tmpfs over a
	 * directory, /dev/null over a socket), except what EXPOSE keeps. */
	const char *const *jo_hide;
	size_t             jo_nhide;
	const char *const *jo_expose;
	size_t             jo_nexpose;
	/* A CA bundle (JO_BUNDLE_LEN bytes) put over the system's bundle files,
	 * read-only, from a tmpfs that exists only in the jail; NULL for none. */
	const char        *jo_bundle;
	size_t             jo_bundle_len;
};

/* The system bundle file the jail puts jo_bundle over (the one to name in
 * SSL_CERT_FILE and friends), or NULL when this host has none. */
const char *jail_bundle_path(void);

/* The path sockets a jail hides by default for user UID whose runtime directory is
 * RUNTIME_DIR (may be NULL). Static storage; *N gets the count. */
const char *const *jail_default_hide(const char *runtime_dir, uid_t uid, size_t *n);

/* What the jail hands to the proxy and the DNS stub; the caller owns the fds. */
struct jail_fds {
	int jf_proxy4, jf_proxy6;      /* listening TCP: 127.0.0.1 and ::1 (-1 without IPv6) */
	int jf_dns_udp, jf_dns_tcp;
};

/*
 * Builds the jail and starts the command in it. Returns NULL with ERR set, and a
 * status of 125 in *FAIL_STATUS when isolation cannot be had (never runs the command
 * with less). The command starts only after jail_go().
 */
struct jail *jail_new(const struct jail_opts *, struct jail_fds *fds, struct errbuf *err);
/* Lets the command run: call once the proxy listens on the handed-out sockets. */
int          jail_go(struct jail *, struct errbuf *err);
/* The host pid of the jail's first process (watch it with ev_child); its exit
 * status carries the command's: the exit code, or 128+N for signal N. */
pid_t        jail_pid(const struct jail *);
/* Sends SIG to the command (through the jail's init). */
void         jail_signal(struct jail *, int sig);
/* Kills every process of the jail. */
void         jail_kill(struct jail *);
void         jail_free(struct jail *);

#endif
