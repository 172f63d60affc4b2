/*
 * jail: the recipe of ARCHITECTURE.md. The child makes the namespaces while it is
 * still single-threaded, sets up loopback, routes and one nftables table in-process
 * (exec would drop the capabilities), makes the listening sockets inside and hands
 * them out over a socketpair; then, on our word, its first child becomes pid 1 of
 * the jail and starts the command.
 */
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jail.h"
#include "jail_int.h"

#define PROXY_PORT 15001
#define DNS_PORT   15053
#define SETUP_MS   10000
#define TPROXY_MARK  1
#define TPROXY_TABLE 100

struct jail {
	pid_t jl_child;   /* our child: it outlives the jail's init and exits with its status */
	pid_t jl_init;    /* pid 1 of the jail, in our namespace */
	int   jl_sock;    /* to the child */
};

/* --- the child's half --- */

static void
report(int sock, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Tells the parent what failed, in one line, then the child exits. */
static void
report(int sock, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	msg[0] = 'E';
	va_start(ap, fmt);
	n = vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	send(sock, msg, 1 + ((size_t)n < sizeof(msg) - 1 ? (size_t)n : sizeof(msg) - 2), 0);
}

static int
lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (s < 0)
		return -1;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
		rc = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	close(s);
	return rc;
}

static void
rta_add(struct nlmsghdr *nh, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Zeroes the request NH starts (SIZE bytes in all) and fills in a header for TYPE,
 * followed by HDRLEN bytes of its fixed part. */
static void
rtnl_init(struct nlmsghdr *nh, size_t size, size_t hdrlen, unsigned short type)
{
	memset(nh, 0, size);
	nh->nlmsg_len = NLMSG_LENGTH(hdrlen);
	nh->nlmsg_type = type;
	nh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
}

/* Sends one rtnetlink request (REQ, its length in its header) and reads the ack. */
static int
rtnl_do(struct nlmsghdr *req)
{
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
	} ack;
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int s;
	ssize_t n;

	if ((s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) < 0)
		return -1;
	if (sendto(s, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (n = recv(s, &ack, sizeof(ack), 0)) < (ssize_t)sizeof(ack)) {
		close(s);
		return -1;
	}
	close(s);
	if (ack.nh.nlmsg_type == NLMSG_ERROR && ack.err.error != 0) {
		errno = -ack.err.error;
		return -1;
	}
	return 0;
}

/*
 * A route to every destination through lo. In the main table, "default dev lo src
 * SRC" (SRC given): every destination goes through lo, so that nftables sees it, and
 * a dropped one fails at once instead of hanging. In TPROXY_TABLE, "local default dev
 * lo" (SRC NULL): a marked packet is for a socket here, whatever its address.
 */
static int
route_all(int family, const void *src, size_t srclen)
{
	struct {
		struct nlmsghdr nh;
		struct rtmsg    rt;
		char            attrs[64];
	} req;
	int oif = (int)if_nametoindex("lo");
	uint32_t table = TPROXY_TABLE;

	rtnl_init(&req.nh, sizeof(req), sizeof(struct rtmsg), RTM_NEWROUTE);
	req.rt.rtm_family = (unsigned char)family;
	req.rt.rtm_protocol = RTPROT_BOOT;
	if (src != NULL) {
		req.rt.rtm_table = RT_TABLE_MAIN;
		req.rt.rtm_scope = RT_SCOPE_LINK;
		req.rt.rtm_type = RTN_UNICAST;
		rta_add(&req.nh, RTA_PREFSRC, src, srclen);
	} else {
		req.rt.rtm_table = RT_TABLE_UNSPEC;
		req.rt.rtm_scope = RT_SCOPE_HOST;
		req.rt.rtm_type = RTN_LOCAL;
		rta_add(&req.nh, RTA_TABLE, &table, sizeof(table));
	}
	rta_add(&req.nh, RTA_OIF, &oif, sizeof(oif));
	return rtnl_do(&req.nh);
}

/* "fwmark TPROXY_MARK lookup TPROXY_TABLE". */
static int
mark_rule(int family)
{
	struct {
		struct nlmsghdr     nh;
		struct fib_rule_hdr fr;
		char                attrs[64];
	} req;
	uint32_t mark = TPROXY_MARK, table = TPROXY_TABLE;

	rtnl_init(&req.nh, sizeof(req), sizeof(struct fib_rule_hdr), RTM_NEWRULE);
	req.fr.family = (unsigned char)family;
	req.fr.action = FR_ACT_TO_TBL;
	rta_add(&req.nh, FRA_FWMARK, &mark, sizeof(mark));
	rta_add(&req.nh, FRA_TABLE, &table, sizeof(table));
	return rtnl_do(&req.nh);
}

/*
 * The jail's table. IPv4 TCP for anywhere but loopback is delivered to the proxy's
 * socket by TPROXY, its destination untouched (the socket's own address is the
 * original one), and not tracked: conntrack and NAT on every packet cost a loopback
 * benchmark 10% of its throughput. Without TPROXY (a kernel without nft_tproxy) NAT
 * redirects it and the proxy asks conntrack where it was going. IPv6 TCP is always
 * redirected (TPROXY did not deliver locally made IPv6 packets here). DNS to anywhere
 * goes to the stub, and nothing else leaves.
 *
 * Every packet here is made here and comes back in through lo, so it meets the
 * output hook and then prerouting: each chain is one more pass on every packet of
 * the command (all of them together were 4% of a jailed benchmark's CPU). Hence one
 * filter chain, ahead of NAT, accepting what NAT then sends to loopback; and in
 * prerouting only TPROXY, as the conntrack state that output gave a packet (none)
 * stays with it through lo.
 */
static const char ruleset[] =
	"table inet httpjail {\n"
	"%s"
	"  chain filter_out {\n"
	"    type filter hook output priority -300; policy drop;\n"
	"%s"
	"    ip daddr 127.0.0.0/8 accept\n"
	"    ip6 daddr ::1 accept\n"
	"    meta l4proto tcp accept\n"
	"    udp dport 53 accept\n"
	"  }\n"
	"  chain nat_out {\n"
	"    type nat hook output priority -100; policy accept;\n"
	"    udp dport 53 redirect to :%d\n"
	"    tcp dport 53 redirect to :%d\n"
	"%s"
	"    ip6 daddr != ::1 meta l4proto tcp redirect to :%d\n"
	"  }\n"
	"}\n";

static const char chain_tproxy[] =
	"  chain tproxy_pre {\n"
	"    type filter hook prerouting priority -150; policy accept;\n"
	"    ip daddr != 127.0.0.0/8 tcp dport != 53 tproxy ip to 127.0.0.1:%d meta mark set %d\n"
	"  }\n";

/* DNS over TCP, to port 53 or the stub's, is NATed, and so tracked. */
static const char notrack_tproxy[] =
	"    meta nfproto ipv4 tcp dport != { 53, %d } tcp sport != { 53, %d } notrack accept\n";

static int
load_rules(bool tproxy, char *why, size_t whysz)
{
	struct nft_ctx *nft = nft_ctx_new(NFT_CTX_DEFAULT);
	char chain[sizeof(chain_tproxy) + 32], notrack[sizeof(notrack_tproxy) + 32],
	     redirect4[96];
	char text[sizeof(ruleset) + sizeof(chain) + sizeof(notrack) + sizeof(redirect4) + 32];
	int rc;

	if (nft == NULL) {
		snprintf(why, whysz, "cannot make an nftables context");
		return -1;
	}
	chain[0] = notrack[0] = redirect4[0] = '\0';
	if (tproxy) {
		snprintf(chain, sizeof(chain), chain_tproxy, PROXY_PORT, TPROXY_MARK);
		snprintf(notrack, sizeof(notrack), notrack_tproxy, DNS_PORT, DNS_PORT);
	} else {
		snprintf(redirect4, sizeof(redirect4),
		         "    ip daddr != 127.0.0.0/8 meta l4proto tcp redirect to :%d\n", PROXY_PORT);
	}
	snprintf(text, sizeof(text), ruleset, chain, notrack, DNS_PORT, DNS_PORT, redirect4,
	         PROXY_PORT);
	nft_ctx_buffer_error(nft);
	if ((rc = nft_run_cmd_from_buffer(nft, text)) != 0) {
		const char *e = nft_ctx_get_error_buffer(nft);
		snprintf(why, whysz, "%.*s", (int)strcspn(e ? e : "", "\n"), e ? e : "failed");
	}
	nft_ctx_free(nft);
	return rc == 0 ? 0 : -1;
}

/* A socket listening on loopback's PORT; TRANSPARENT (IPv4): also for connections
 * TPROXY hands it, whatever address they were made to. */
static int
listener(int family, int type, uint16_t port, bool transparent)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		s6->sin6_addr = in6addr_loopback;
		len = sizeof(*s6);
	}
	if ((fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if ((transparent && setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 1024) < 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sends the listening sockets; which of them exist is in the message itself. */
static int
send_fds(int sock, const int *fds, int n)
{
	char mask[4] = "";
	int have[4], k = 0;
	char cbuf[CMSG_SPACE(sizeof(have))];
	struct iovec iov = { mask, sizeof(mask) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	for (int i = 0; i < n; i++) {
		mask[i] = fds[i] >= 0 ? '1' : '0';
		if (fds[i] >= 0)
			have[k++] = fds[i];
	}
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_control = cbuf;
	mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)k);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)k);
	memcpy(CMSG_DATA(cm), have, sizeof(int) * (size_t)k);
	return sendmsg(sock, &mh, 0) < 0 ? -1 : 0;
}

static volatile sig_atomic_t cmd_pid;

/* What the terminal sent (SI_KERNEL) reached the command's process group itself. */
static void
forward(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (cmd_pid > 0 && si->si_code != SI_KERNEL)
		kill((pid_t)cmd_pid, sig);
}

/*
 * Takes from the command, for good, what a root command could undo the jail with in
 * its namespaces: CAP_SYS_ADMIN unmounts what hides sockets, CAP_NET_ADMIN changes
 * the nftables table, CAP_SYS_PTRACE would borrow pid 1's capabilities. Out of the
 * bounding set, no exec gives them back; out of the inheritable and ambient sets too,
 * which root's exec would add. Called before the command's user is set: it needs
 * CAP_SETPCAP. -1 with errno on failure.
 */
static int
drop_caps(void)
{
	static const int caps[] = { CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE };
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (prctl(PR_CAPBSET_DROP, caps[i], 0, 0, 0) < 0)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		data[caps[i] / 32].inheritable &= ~(1u << (caps[i] % 32));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* Pid 1 of the jail: starts the command, passes signals on, reaps everything, and
 * exits with the command's status (128+N for a signal). */
static void __attribute__((noreturn))
init_main(const struct jail_opts *jo, int sock)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	struct sigaction sa;
	sigset_t all, old;
	int status = 0, code = 125;
	pid_t pid;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		report(sock, "mount /proc in the jail: %s", strerror(errno));
		_exit(125);
	}
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	if ((pid = fork()) < 0) {
		report(sock, "fork: %s", strerror(errno));
		_exit(125);
	}
	if (pid == 0) {
		close(sock);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (drop_caps() < 0) {
			fprintf(stderr, "httpjail: cannot drop capabilities: %s\n", strerror(errno));
			_exit(125);
		}
		if (jo->jo_gid != (gid_t)-1 &&
		    (setgroups(jo->jo_ngroups, jo->jo_groups) < 0 ||
		     setresgid(jo->jo_gid, jo->jo_gid, jo->jo_gid) < 0)) {
			fprintf(stderr, "httpjail: cannot become group %u: %s\n",
			        (unsigned)jo->jo_gid, strerror(errno));
			_exit(125);
		}
		if (jo->jo_uid != (uid_t)-1 &&
		    setresuid(jo->jo_uid, jo->jo_uid, jo->jo_uid) < 0) {
			fprintf(stderr, "httpjail: cannot become user %u: %s\n",
			        (unsigned)jo->jo_uid, strerror(errno));
			_exit(125);
		}
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		execvpe(jo->jo_argv[0], jo->jo_argv, jo->jo_envp);
		fprintf(stderr, "httpjail: %s: %s\n", jo->jo_argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	cmd_pid = pid;
	close(sock);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward;
	sa.sa_flags = SA_RESTART | SA_SIGINFO;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (;;) {
		pid_t w = waitpid(-1, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
		if (w == pid) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			/* What the command left running dies with the jail. */
			kill(-1, SIGKILL);
		}
	}
	_exit(code);
}

static void __attribute__((noreturn))
child_main(const struct jail_opts *jo, int sock, pid_t parent)
{
	static const uint8_t lo6[16] = { [15] = 1 };
	struct in_addr lo4 = { htonl(INADDR_LOOPBACK) };
	int fds[4], status;
	char why[300] = "", go;
	bool v6, tproxy;
	sigset_t none;
	pid_t init;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(125);
	if (unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID) < 0) {
		report(sock, "%s: %s", errno == ENOSPC ? "user namespaces are disabled "
		       "(user.max_user_namespaces=0)" : "cannot make the jail's namespaces",
		       strerror(errno));
		_exit(125);
	}
	/* The parent writes our uid and gid maps; wait until it has. */
	if (send(sock, "U", 1, 0) != 1 || recv(sock, &go, 1, 0) != 1 || go != 'M')
		_exit(125);
	if (lo_up() < 0) {
		report(sock, "cannot bring up lo in the jail: %s", strerror(errno));
		_exit(125);
	}
	if (route_all(AF_INET, &lo4, sizeof(lo4)) < 0) {
		report(sock, "cannot route through lo in the jail: %s", strerror(errno));
		_exit(125);
	}
	/* IPv6 may be off on this host: then the jail has none either. */
	v6 = route_all(AF_INET6, lo6, sizeof(lo6)) == 0;
	/* TPROXY needs marked packets routed to this host and a transparent listener;
	 * short of any of it, NAT redirects. */
	tproxy = getenv("HTTPJAIL_NO_TPROXY") == NULL && route_all(AF_INET, NULL, 0) == 0 &&
	         mark_rule(AF_INET) == 0;
	for (int tries = 0; tries < 2; tries++, tproxy = false) {
		fds[0] = listener(AF_INET, SOCK_STREAM, PROXY_PORT, tproxy);
		fds[1] = v6 ? listener(AF_INET6, SOCK_STREAM, PROXY_PORT, false) : -1;
		if (fds[0] >= 0 && load_rules(tproxy, why, sizeof(why)) == 0)
			break;
		if (fds[0] >= 0)
			close(fds[0]);
		if (fds[1] >= 0)
			close(fds[1]);
		fds[0] = fds[1] = -1;
	}
	if (fds[0] < 0) {
		if (why[0] != '\0')
			report(sock, "nftables refused the jail's rules: %s", why);
		else
			report(sock, "cannot listen inside the jail: %s", strerror(errno));
		_exit(125);
	}
	fds[2] = listener(AF_INET, SOCK_DGRAM, DNS_PORT, false);
	fds[3] = listener(AF_INET, SOCK_STREAM, DNS_PORT, false);
	if (fds[2] < 0 || fds[3] < 0) {
		report(sock, "cannot listen inside the jail: %s", strerror(errno));
		_exit(125);
	}
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		report(sock, "cannot make the jail's mounts private: %s", strerror(errno));
		_exit(125);
	}
	if (jail_mounts(jo, why, sizeof(why)) < 0) {
		report(sock, "%s", why);
		_exit(125);
	}
	/* Ours to wait in: a Ctrl-C for the terminal's process group is the command's. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	/* httpjail blocked them to queue them for itself. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (send_fds(sock, fds, 4) < 0)
		_exit(125);
	for (int i = 0; i < 4; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	/* Nothing runs before the proxy listens on those sockets. */
	if (recv(sock, &go, 1, 0) != 1 || go != 'G')
		_exit(125);
	if ((init = fork()) < 0) {
		report(sock, "fork: %s", strerror(errno));
		_exit(125);
	}
	if (init == 0)
		init_main(jo, sock);
	send(sock, &init, sizeof(init), 0);
	close(sock);
	while (waitpid(init, &status, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* --- the parent's half --- */

static int
write_file(pid_t pid, const char *name, const char *text)
{
	char path[64];
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	rc = write(fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -1;
	close(fd);
	return rc;
}

/* Always a user namespace, also as root: root maps everything to itself, anyone
 * else just their own ids (and may then not change groups). */
static int
write_maps(pid_t pid, struct errbuf *err)
{
	char map[64];

	/* Root of a namespace that owns only its own ids (unshare -r) gets the same
	 * single mapping as anyone else. */
	if (getuid() == 0 && write_file(pid, "uid_map", "0 0 4294967295") == 0) {
		if (write_file(pid, "gid_map", "0 0 4294967295") < 0)
			goto fail;
		return 0;
	}
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)getuid(), (unsigned)getuid());
	if (write_file(pid, "setgroups", "deny") < 0 || write_file(pid, "uid_map", map) < 0)
		goto fail;
	snprintf(map, sizeof(map), "%u %u 1", (unsigned)getgid(), (unsigned)getgid());
	if (write_file(pid, "gid_map", map) < 0)
		goto fail;
	return 0;
fail:
	errbuf_set(err, "cannot map ids into the jail's user namespace: %s (run with sudo, "
	           "or use --weak)", strerror(errno));
	return -1;
}

/* Waits for the child's next message, SETUP_MS at most. */
static ssize_t
recv_wait(int sock, struct msghdr *mh)
{
	struct pollfd pfd = { sock, POLLIN, 0 };

	if (poll(&pfd, 1, SETUP_MS) != 1)
		return -1;
	return recvmsg(sock, mh, 0);
}

static int
child_error(const char *buf, ssize_t n, struct errbuf *err)
{
	if (n > 1 && buf[0] == 'E') {
		errbuf_set(err, "%.*s; run with sudo, or use --weak", (int)(n - 1), buf + 1);
		return -1;
	}
	errbuf_set(err, "the jail did not start (its setup ended early)");
	return -1;
}

struct jail *
jail_new(const struct jail_opts *jo, struct jail_fds *jf, struct errbuf *err)
{
	struct jail *jl = calloc(1, sizeof(*jl));
	int sv[2], got[4], k = 0;
	char buf[600], cbuf[CMSG_SPACE(sizeof(got))];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;
	ssize_t n;
	pid_t self = getpid();

	jf->jf_proxy4 = jf->jf_proxy6 = jf->jf_dns_udp = jf->jf_dns_tcp = -1;
	if (jl == NULL) {
		errbuf_set(err, "out of memory");
		return NULL;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		errbuf_set(err, "socketpair: %s", strerror(errno));
		free(jl);
		return NULL;
	}
	if ((jl->jl_child = fork()) < 0) {
		errbuf_set(err, "fork: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		free(jl);
		return NULL;
	}
	if (jl->jl_child == 0) {
		close(sv[0]);
		child_main(jo, sv[1], self);
	}
	close(sv[1]);
	jl->jl_sock = sv[0];
	jl->jl_init = -1;
	n = recv_wait(jl->jl_sock, &mh);
	if (n != 1 || buf[0] != 'U') {
		child_error(buf, n, err);
		goto fail;
	}
	if (write_maps(jl->jl_child, err) < 0 || send(jl->jl_sock, "M", 1, 0) != 1)
		goto fail;
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	n = recv_wait(jl->jl_sock, &mh);
	if (n != 4 || (cm = CMSG_FIRSTHDR(&mh)) == NULL || cm->cmsg_type != SCM_RIGHTS) {
		child_error(buf, n, err);
		goto fail;
	}
	memcpy(got, CMSG_DATA(cm), cm->cmsg_len - CMSG_LEN(0));
	{
		int *slot[4] = { &jf->jf_proxy4, &jf->jf_proxy6, &jf->jf_dns_udp, &jf->jf_dns_tcp };
		for (int i = 0; i < 4; i++)
			if (buf[i] == '1')
				*slot[i] = got[k++];
	}
	return jl;
fail:
	kill(jl->jl_child, SIGKILL);
	waitpid(jl->jl_child, NULL, 0);
	jail_free(jl);
	return NULL;
}

int
jail_go(struct jail *jl, struct errbuf *err)
{
	char buf[600];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (send(jl->jl_sock, "G", 1, 0) != 1) {
		errbuf_set(err, "the jail ended before the command started");
		return -1;
	}
	n = recv_wait(jl->jl_sock, &mh);
	if (n != sizeof(pid_t))
		return child_error(buf, n, err);
	memcpy(&jl->jl_init, buf, sizeof(pid_t));
	return 0;
}

pid_t
jail_pid(const struct jail *jl)
{
	return jl->jl_child;
}

void
jail_signal(struct jail *jl, int sig)
{
	if (jl->jl_init > 0)
		kill(jl->jl_init, sig);
}

void
jail_kill(struct jail *jl)
{
	/* Pid 1 gone, the kernel kills every process of the namespace. */
	if (jl->jl_init > 0)
		kill(jl->jl_init, SIGKILL);
	if (jl->jl_child > 0)
		kill(jl->jl_child, SIGKILL);
}

void
jail_free(struct jail *jl)
{
	if (jl == NULL)
		return;
	if (jl->jl_sock >= 0)
		close(jl->jl_sock);
	free(jl);
}
