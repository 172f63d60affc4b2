#!/bin/bash
# Escape attempts from the strong jail, one case each: every one must fail, quickly,
# and where httpjail records what happened, the request log shows it was decided.
. "$(dirname "$0")/proxylib.sh"

if ! unshare -U true 2>/dev/null; then
	skip "escape" "the kernel refuses user namespaces here"
	exit 0
fi
start_origin origin
OP=$origin_PORT
J=("$HTTPJAIL_BIN" -r "allow-get: ^http://a\\.test:$OP/echo" --resolve "a.test:$OP:127.0.0.1"
	--request-log "$TMP/req.log")

# jrun NAME STATUS CMD...: run, bounded by 30 s; how long it took goes to $MS.
jrun() {
	local name=$1 want=$2 t0 rc
	shift 2
	t0=$(date +%s%N)
	run "$name" "$want" timeout 30 "$@"
	rc=$?
	MS=$((($(date +%s%N) - t0) / 1000000))
	return $rc
}
# quick NAME: the last jrun, jail setup included, took less than 5 s.
quick() {
	if [ "$MS" -lt 5000 ]; then pass "$1 (${MS} ms)"; else fail "$1" "took $MS ms"; fi
}
# absent NAME TEXT WORD: WORD is nowhere in TEXT.
absent() {
	if grep -qF -- "$3" <<<"$2"; then fail "$1" "'$3' in: $2"; else pass "$1"; fi
}

# 1. UDP to a port other than 53: the filter drops it, and sendto says so at once.
jrun "udp" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('203.0.113.9', 9999)); print('sent')
except OSError as e:
    print('refused', e.errno)" &&
	expect_eq "UDP to 203.0.113.9:9999 fails with EPERM" "$OUT" "refused 1" && quick "UDP fails at once"

# 2. ICMP: ping, and the sockets ping would use (an unprivileged ICMP datagram socket,
# a raw ICMP socket): creating them or sending an echo request fails.
if timeout 30 "${J[@]}" -- sh -c 'command -v ping' >/dev/null 2>&1; then
	jrun "ping" 0 "${J[@]}" -- sh -c 'ping -c1 -W2 203.0.113.9 >/dev/null 2>&1; echo $?' &&
		{ [ "$OUT" != 0 ] && pass "ping 203.0.113.9 fails (exit $OUT)" ||
			fail "ping 203.0.113.9 fails" "ping exited 0"; } && quick "ping fails at once"
else
	skip "ping" "no ping in the jail"
fi
jrun "icmp" 0 "${J[@]}" -- python3 -c "
import socket
echo = bytes([8, 0, 0xf7, 0xff, 0, 0, 0, 0])
for name, t in (('dgram', socket.SOCK_DGRAM), ('raw', socket.SOCK_RAW)):
    try:
        s = socket.socket(socket.AF_INET, t, socket.IPPROTO_ICMP)
    except OSError as e:
        print(name, 'create refused', e.errno); continue
    try:
        s.sendto(echo, ('203.0.113.9', 0)); print(name, 'sent')
    except OSError as e:
        print(name, 'send refused', e.errno)" &&
	absent "no ICMP echo request leaves the jail ($(tr '\n' ';' <<<"$OUT"))" "$OUT" "sent" &&
	quick "ICMP fails at once"

# 3. A raw IP socket with a header of its own: root in the jail's user namespace may
# create one, but a packet to 203.0.113.9 is refused (the same packet to 127.0.0.1,
# which the filter accepts, shows that it is well formed).
cat > "$TMP/rawip.py" <<'PY'
import socket, struct
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
except OSError as e:
    print("create refused", e.errno)
    raise SystemExit
for dst in ("127.0.0.1", "203.0.113.9"):
    udp = struct.pack(">HHHH", 40000, 9999, 9, 0) + b"x"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("127.0.0.1"), socket.inet_aton(dst))
    try:
        s.sendto(ip + udp, (dst, 0))
        print(dst, "sent")
    except OSError as e:
        print(dst, "refused", e.errno)
PY
jrun "raw socket" 0 "${J[@]}" -- python3 "$TMP/rawip.py" && {
	if [[ $OUT == "create refused"* ]]; then
		pass "a raw socket cannot be made in the jail ($OUT)"
	else
		expect "a raw IP packet to 203.0.113.9 is refused with EPERM" "$OUT" "203.0.113.9 refused 1"
		expect "the same raw packet to the jail's own 127.0.0.1 goes" "$OUT" "127.0.0.1 sent"
	fi
	quick "a raw packet fails at once"
}

# 4. IPv6 literals: TCP goes to the proxy and is decided; UDP is dropped.
if [ -e /proc/net/if_inet6 ]; then
	jrun "ipv6 tcp" 0 "${J[@]}" -- curl -s --noproxy '*' --max-time 10 -g -o /dev/null \
		-w '%{http_code}' 'http://[2001:db8::9]:81/' &&
		expect_eq "TCP to [2001:db8::9]:81 reaches the proxy and is denied" "$OUT" "403" &&
		quick "TCP to an IPv6 literal is decided at once"
	expect "TCP to an IPv6 literal is recorded as decided" "$(cat "$TMP/req.log" 2>/dev/null)" \
		"- GET http://[2001:db8::9]:81/"
	jrun "ipv6 udp" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('2001:db8::9', 9999)); print('sent')
except OSError as e:
    print('refused', e.errno)" &&
		expect_eq "UDP to [2001:db8::9]:9999 fails with EPERM" "$OUT" "refused 1" &&
		quick "IPv6 UDP fails at once"
else
	skip "ipv6" "IPv6 is off on this host"
fi

# 5. DNS to a server of the command's choosing, over UDP and TCP: the stub answers
# with a synthetic address, so the query did not leave.
cat > "$TMP/dns.py" <<'PY'
import random, socket, struct, sys

def skipname(m, i):
    while m[i]:
        if m[i] & 0xC0 == 0xC0:
            return i + 2
        i += 1 + m[i]
    return i + 1

proto, server = sys.argv[1], sys.argv[2]
qid = random.randrange(65536)
q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in "x.test".split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
try:
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, (server, 53))
        m = s.recv(4096)
    else:
        s = socket.create_connection((server, 53), timeout=3)
        s.sendall(struct.pack(">H", len(q)) + q)
        m = b""
        while len(m) < 2 or len(m) < 2 + struct.unpack(">H", m[:2])[0]:
            d = s.recv(4096)
            if not d:
                break
            m += d
        m = m[2:]
except OSError as e:
    print("error", e)
    raise SystemExit
rid, flags, qd, an = struct.unpack(">HHHH", m[:8])
if rid != qid:
    print("wrong id")
    raise SystemExit
i = 12
for _ in range(qd):
    i = skipname(m, i) + 4
for _ in range(an):
    i = skipname(m, i)
    t, c, ttl, n = struct.unpack(">HHIH", m[i:i + 10])
    i += 10
    if t == 1 and n == 4:
        print(socket.inet_ntoa(m[i:i + 4]))
        raise SystemExit
    i += n
print("no address, rcode", flags & 15)
PY
for proto in udp tcp; do
	jrun "dns $proto" 0 "${J[@]}" -v -- python3 "$TMP/dns.py" $proto 203.0.113.53 && {
		[[ $OUT =~ ^198\.1[89]\.[0-9]+\.[0-9]+$ ]] &&
			pass "DNS over $proto to 203.0.113.53 is answered by the stub ($OUT)" ||
			fail "DNS over $proto to 203.0.113.53 is answered by the stub" "$OUT"
		expect "the stub saw the $proto query" "$ERR" "x.test"
		quick "DNS over $proto is answered at once"
	}
done

# 6. A service on the host's 127.0.0.1: the jail's lo is its own.
jrun "host loopback" 0 "${J[@]}" -- python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.1', $OP), timeout=3); print('connected')
except OSError as e:
    print('refused', e.errno)" &&
	expect_eq "the host's 127.0.0.1:$OP is refused in the jail" "$OUT" "refused 111" &&
	quick "the host's loopback is refused at once"

# 7. An abstract unix socket of the host: those are per network namespace.
abs=httpjail-test-$$-$RANDOM
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"\0" + sys.argv[1].encode())
s.listen(16)
print("READY", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"host\n")
    c.close()
' "$abs" > "$TMP/abstract.out" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q READY "$TMP/abstract.out" && break; sleep 0.05; done
cat > "$TMP/abstract.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(3)
try:
    s.connect(b"\0" + sys.argv[1].encode())
    print("connected", s.recv(100).decode().strip())
except OSError as e:
    print("refused", e.errno)
PY
out=$(timeout 10 python3 "$TMP/abstract.py" "$abs" 2>&1)
expect_eq "the abstract socket works outside the jail" "$out" "connected host"
jrun "abstract socket" 0 "${J[@]}" -- python3 "$TMP/abstract.py" "$abs" && {
	[[ $OUT == "refused 111" || $OUT == "refused 2" ]] &&
		pass "the host's abstract socket is out of reach ($OUT)" ||
		fail "the host's abstract socket is out of reach" "$OUT"
	quick "an abstract socket fails at once"
}

# 8. nsenter into httpjail's own network namespace, given its host pid: the jail's
# /proc shows no host pids. bash's $$ is httpjail's pid once bash execs it.
jrun "nsenter" 0 bash -c 'exec "$@" "$$"' nsenter "${J[@]}" -- sh -c '
[ -e "/proc/$1" ] && echo "pid $1 visible"
nsenter --net="/proc/$1/ns/net" true 2>/dev/null; echo "nsenter $?"' jailed &&
	{ [[ $OUT =~ ^nsenter\ [1-9][0-9]*$ ]] && pass "nsenter into httpjail's netns fails ($OUT)" ||
		fail "nsenter into httpjail's netns fails" "$OUT"; } && quick "nsenter fails at once"

# 9. Signalling or ptracing a host process.
sleep 300 &
victim=$!
PIDS+=($victim)
jrun "signal host" 0 "${J[@]}" -- sh -c '
kill -0 "$1" 2>/dev/null && echo "kill -0 ok" || echo "kill -0 failed"
kill -9 "$1" 2>/dev/null && echo "kill -9 ok" || echo "kill -9 failed"
python3 -c "
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, int(sys.argv[1]), None, None)
print(\"ptrace ok\" if r == 0 else \"ptrace failed %d\" % ctypes.get_errno())" "$1"' jailed "$victim" && {
	expect "kill -0 of a host pid fails in the jail" "$OUT" "kill -0 failed"
	expect "kill -9 of a host pid fails in the jail" "$OUT" "kill -9 failed"
	expect "PTRACE_ATTACH to a host pid fails in the jail" "$OUT" "ptrace failed"
	quick "signalling the host fails at once"
}
sleep 0.2
kill -0 "$victim" 2>/dev/null && pass "the host's sleep still runs" ||
	fail "the host's sleep still runs" "it was killed from the jail"
kill "$victim" 2>/dev/null

# 10. Root in the jail flushes the jail's nftables: it has no CAP_NET_ADMIN, so the
# rules stay and a request to an address is still decided by the proxy; the host's
# ruleset is untouched. In a namespace with only lo (the test's own) a marker table
# makes a flush that reached the host visible.
if [ "$(id -u)" = 0 ] && command -v nft >/dev/null; then
	marker=""
	if [ -z "$(ip -o link show 2>/dev/null | grep -v ': lo:')" ] &&
		nft add table inet httpjail_escape_$$ 2>/dev/null; then
		marker=httpjail_escape_$$
	fi
	before=$(nft list ruleset 2>&1)
	jrun "nft flush" 0 "${J[@]}" -- sh -c '
nft flush ruleset 2>/dev/null; echo "flush $?"
nft list ruleset >/dev/null 2>&1; echo "list $?"
curl -s --noproxy "*" --max-time 10 -o /dev/null -w "status %{http_code}\n" http://203.0.113.9:83/' && {
		expect "root in the jail has no CAP_NET_ADMIN: nft flush fails" "$OUT" "flush 1"
		expect "root in the jail cannot even list the jail's rules" "$OUT" "list 1"
		expect "after the flush, a request to an address is still denied by the proxy" \
			"$OUT" "status 403"
		expect "and recorded" "$(cat "$TMP/req.log")" "- GET http://203.0.113.9:83/"
	}
	after=$(nft list ruleset 2>&1)
	expect_eq "the host's ruleset is unchanged by a flush in the jail" "$after" "$before"
	[ -n "$marker" ] && nft delete table inet "$marker" 2>/dev/null
else
	skip "nft flush" "needs root (and nft)"
fi

# 12. Root in the jail unmounts what hides the runtime directory's sockets (it has no
# CAP_SYS_ADMIN), or has pid 1 of the jail, which has every capability, do it through
# ptrace (no CAP_SYS_PTRACE; ptrace needs the capabilities pid 1 has): the socket
# stays out of reach, and no capability comes back through an exec.
mkdir -p "$TMP/rt"
unix_listen "$TMP/rt/bus"
jrun "unhide" 0 env XDG_RUNTIME_DIR="$TMP/rt" "${J[@]}" -- sh -c '
id -u
umount "$1" 2>/dev/null && echo "umount ok" || echo "umount failed"
umount -l "$1" 2>/dev/null && echo "umount -l ok" || echo "umount -l failed"
mount -t tmpfs none /mnt 2>/dev/null && echo "mount ok" || echo "mount failed"
python3 -c "
import ctypes, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
r = libc.ptrace(16, 1, None, None)
print(\"ptrace 1 ok\" if r == 0 else \"ptrace 1 failed %d\" % ctypes.get_errno())
if r == 0:   # let pid 1 go on, or the jail hangs
    import os; os.waitpid(1, 0x40000000); libc.ptrace(17, 1, None, None)
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1] + \"/bus\"); print(\"bus connected\")
except OSError as e:
    print(\"bus refused\", e.errno)" "$1"
grep ^CapBnd /proc/self/status' jailed "$TMP/rt" && {
	expect "the jailed command is root in its namespaces" "$(head -1 <<<"$OUT")" "0"
	expect "root in the jail cannot unmount what hides a directory" "$OUT" "umount failed"
	expect "nor detach it" "$OUT" "umount -l failed"
	expect "nor mount" "$OUT" "mount failed"
	expect "root in the jail cannot ptrace the jail's pid 1" "$OUT" "ptrace 1 failed 1"
	expect "the hidden socket stays out of reach" "$OUT" "bus refused"
	bnd=$(sed -n 's/^CapBnd:[[:space:]]*//p' <<<"$OUT")
	# CAP_NET_ADMIN 12, CAP_SYS_PTRACE 19, CAP_SYS_ADMIN 21
	if [ -n "$bnd" ] && (( (16#$bnd & (1 << 12 | 1 << 19 | 1 << 21)) == 0 )); then
		pass "none of the three is in the command's bounding set ($bnd)"
	else
		fail "none of the three is in the command's bounding set" "CapBnd ${bnd:-missing}"
	fi
	quick "undoing the jail as root fails at once"
}

# 11. 8 jails at once against an allowed origin: all succeed.
pids=()
for i in $(seq 8); do
	timeout 30 "$HTTPJAIL_BIN" -r "allow-get: ^http://a\\.test:$OP/echo" \
		--resolve "a.test:$OP:127.0.0.1" --request-log "$TMP/par.log" -- \
		curl -s --noproxy '*' --max-time 10 "http://a.test:$OP/echo?par$i" \
		> "$TMP/par$i.out" 2> "$TMP/par$i.err" &
	pids+=($!)
done
ok=0 bad=""
for i in $(seq 8); do
	wait "${pids[$((i - 1))]}"
	rc=$?
	if [ "$rc" -eq 0 ] && grep -qF "\"query\": \"par$i\"" "$TMP/par$i.out"; then
		ok=$((ok + 1))
	else
		bad="$bad [jail $i: exit $rc, $(head -c 300 "$TMP/par$i.out") $(head -c 300 "$TMP/par$i.err")]"
	fi
done
expect_eq "8 jails at once all reach the allowed origin$bad" "$ok" "8"
expect_eq "8 jails at once: 8 requests recorded as allowed" \
	"$(grep -c '+ GET http://a\.test:'"$OP"'/echo?par' "$TMP/par.log" 2>/dev/null)" "8"


# 13. User namespaces refused: in a throw-away user namespace the limit can be lowered
# to 0; httpjail then says so in one line and runs nothing.
unshare -U --map-root-user sh -c 'echo 0 > /proc/sys/user/max_user_namespaces' 2>/dev/null
if [ $? -ne 0 ]; then
	skip "no user namespaces" "cannot lower user.max_user_namespaces in a user namespace here"
else
	jrun "no user namespaces" 125 unshare -U --map-root-user sh -c \
		'echo 0 > /proc/sys/user/max_user_namespaces || exit 99
		exec "$0" -r "allow: x" -- sh -c "echo ran"' "$HTTPJAIL_BIN" && {
		expect_eq "without user namespaces the command does not run" "$OUT" ""
		expect_eq "one line on stderr" "$(grep -c '' <<<"$ERR")" "1"
		expect "the line names user namespaces" "$ERR" "user namespace"
		expect "the line suggests sudo" "$ERR" "sudo"
		expect "the line suggests --weak" "$ERR" "--weak"
		quick "refused at once"
	}
fi
