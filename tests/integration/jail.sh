#!/bin/bash
# The strong jail: no proxy variables, every TCP connection decided, DNS answered by
# the stub, nothing else out, exit statuses, and nothing left behind.
. "$(dirname "$0")/proxylib.sh"

if ! unshare -U true 2>/dev/null; then
	skip "jail" "the kernel refuses user namespaces here"
	exit 0
fi
start_origin origin
OP=$origin_PORT
cat > "$TMP/policy.yaml" <<Y
rules:
  - {action: allow, methods: [GET], pattern: '^https?://a\\.test:$OP/echo'}
  - {action: allow, pattern: '^tcp://b\\.test:$OP\$'}
Y
J=("$HTTPJAIL_BIN" -c "$TMP/policy.yaml" --resolve "a.test:$OP:127.0.0.1"
	--resolve "b.test:$OP:127.0.0.1" --request-log "$TMP/req.log")

run "jail allow" 0 "${J[@]}" -- curl -s --noproxy '*' --max-time 10 "http://a.test:$OP/echo?jail" &&
	expect "jailed curl without proxy variables is allowed" "$OUT" '"query": "jail"'
run "jail deny" 0 "${J[@]}" -- curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://a.test:$OP/other" &&
	expect_eq "jailed request denied by path" "$OUT" "403"
run "jail env" 0 "${J[@]}" -- sh -c 'echo "[${HTTP_PROXY-}${https_proxy-}]"' &&
	expect_eq "no proxy variables in the jail" "$OUT" "[]"
run "jail dns" 0 "${J[@]}" -- python3 -c 'import socket; print(socket.gethostbyname("a.test"))' &&
	{ [[ $OUT =~ ^198\.1[89]\. ]] && pass "DNS answers are synthetic ($OUT)" ||
		fail "DNS answers are synthetic" "$OUT"; }
# HTTPS: intercepted with the httpjail CA, which the command trusts through the
# environment; the origin has a certificate of a test CA given with --ca-file.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=jail-test-ca -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=s.test \
	-keyout "$TMP/s.key" -out "$TMP/s.csr" 2>/dev/null
printf 'subjectAltName=DNS:s.test\n' > "$TMP/s.ext"
openssl x509 -req -in "$TMP/s.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 1 -extfile "$TMP/s.ext" -out "$TMP/s.pem" 2>/dev/null
start_origin tls --tls "$TMP/s.pem" "$TMP/s.key"
cat > "$TMP/tls.yaml" <<Y
rules:
  - {action: allow, methods: [GET], pattern: '^https://s\.test:$tls_PORT/echo'}
Y
TJ=("$HTTPJAIL_BIN" -c "$TMP/tls.yaml" --ca-file "$TMP/ca.pem" --resolve "s.test:$tls_PORT:127.0.0.1")
run "jail https" 0 "${TJ[@]}" -- curl -s --noproxy '*' --max-time 10 "https://s.test:$tls_PORT/echo?tls" &&
	expect "HTTPS in the jail is intercepted, decided and relayed" "$OUT" '"query": "tls"'
run "jail audit" 0 "${TJ[@]}" --audit-db "$TMP/jail.db" -- curl -s --noproxy '*' --max-time 10 \
	-o /dev/null "https://s.test:$tls_PORT/echo?audit"
expect_eq "audit in the jail: the DNS query and the request, mode strong" \
	"$(sqlite3 "$TMP/jail.db" "SELECT group_concat(kind || ' ' || method || ' ' || host || ' ' ||
		ifnull(status, '-'), ',') FROM (SELECT * FROM decisions WHERE kind = 'https' OR
		(kind = 'dns' AND method = 'A') ORDER BY kind); SELECT mode FROM runs")" \
	"dns A s.test -,https GET s.test 200
strong"
# Relayed blind, the origin shows its own certificate: --ca-file's CA is in the
# command's bundle too.
run "jail blind" 0 "$HTTPJAIL_BIN" --no-tls-intercept -r "allow: ^https://s\\.test:$tls_PORT/" \
	--ca-file "$TMP/ca.pem" --resolve "s.test:$tls_PORT:127.0.0.1" -- \
	curl -s --noproxy '*' --max-time 10 "https://s.test:$tls_PORT/echo?blind" &&
	expect "a host relayed blind is trusted through --ca-file's CA in the bundle" "$OUT" '"query": "blind"'
run "jail tls deny" 35 "${TJ[@]}" --no-tls-intercept --audit-db "$TMP/jail2.db" -- \
	curl -s --noproxy '*' --max-time 10 -o /dev/null "https://s.test:$tls_PORT/echo"
expect_eq "audit in the jail: TLS denied on its name is recorded as denied" \
	"$(sqlite3 "$TMP/jail2.db" "SELECT kind, verdict, rule_source, outcome FROM decisions
		WHERE kind <> 'dns'")" "connect|deny|default|denied"
run "jail https deny" 0 "${TJ[@]}" -- curl -s --noproxy '*' --max-time 10 -o /dev/null \
	-w '%{http_code}' -X POST "https://s.test:$tls_PORT/echo" &&
	expect_eq "a method rule inside HTTPS in the jail" "$OUT" "403"
run "jail raw ip" 0 "${J[@]}" -- curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' \
	"http://203.0.113.9:81/" &&
	expect_eq "an arbitrary address reaches the proxy and is decided" "$OUT" "403"
expect "decided by its address" "$(cat "$TMP/req.log")" "- GET http://203.0.113.9:81/"
# jail_ruleset [VAR=VALUE]...: the jail's nftables ruleset, listed from outside while
# a command sleeps in it: the command itself has no CAP_NET_ADMIN.
jail_ruleset() {
	local marker=httpjail-nft-$$-$RANDOM pid="" hp
	printf 'exec -a %s sleep 30\n' "$marker" > "$TMP/nftsleep.sh"
	env "$@" "${J[@]}" -- bash "$TMP/nftsleep.sh" >/dev/null 2>&1 &
	hp=$!
	for _ in $(seq 100); do pid=$(pgrep -f "^$marker") && break; sleep 0.05; done
	[ -n "$pid" ] && nsenter -t "$pid" -n nft list ruleset
	[ -n "$pid" ] && kill "$pid"
	wait "$hp" 2>/dev/null
}
# Where the kernel has no TPROXY the jail redirects with NAT; the same answers.
out=$(jail_ruleset HTTPJAIL_NO_TPROXY=1)
expect "with NAT instead of TPROXY, IPv4 connections are redirected" "$out" \
	"ip daddr != 127.0.0.0/8 meta l4proto tcp redirect to :"
expect_eq "with NAT instead of TPROXY there is no tproxy rule" "$(grep -c tproxy <<<"$out")" "0"
HTTPJAIL_NO_TPROXY=1 run "jail nat allow" 0 "${J[@]}" -- \
	curl -s --noproxy '*' --max-time 10 "http://a.test:$OP/echo?nat" &&
	expect "with NAT instead of TPROXY the allowed request arrives" "$OUT" '"query": "nat"'
HTTPJAIL_NO_TPROXY=1 run "jail nat raw ip" 0 "${J[@]}" -- curl -s --noproxy '*' --max-time 10 \
	-o /dev/null -w '%{http_code}' http://203.0.113.8:82/ &&
	expect_eq "with NAT instead of TPROXY an address is decided" "$OUT" "403"
expect "with NAT instead of TPROXY the address is the original one" "$(cat "$TMP/req.log")" \
	"- GET http://203.0.113.8:82/"
expect_eq "the jail's IPv4 goes to the proxy by TPROXY" \
	"$(jail_ruleset | grep -c 'tproxy ip to')" "1"
run "jail tcp" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.create_connection(('b.test', $OP), timeout=5)
s.sendall(b'GET /echo?tcp HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n')
print(s.recv(100).decode().split('\r\n')[0])" &&
	expect "a connection by name is decided as http(s) or tcp" "$OUT" "HTTP/1.1"
# Bytes that are neither HTTP nor TLS: decided as tcp://NAME:PORT with the name the
# stub handed out, then relayed to the real address.
run "jail raw tcp" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.create_connection(('b.test', $OP), timeout=5)
s.sendall(b'SSH-2.0-test\r\n\r\n')
print(s.recv(100).decode().split('\r\n')[0])" &&
	expect "an allowed tcp:// connection by name is relayed" "$OUT" "HTTP/1.1 400"
expect "decided as tcp://NAME:PORT" "$(cat "$TMP/req.log")" "+ CONNECT tcp://b.test:$OP"
run "jail raw tcp deny" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.create_connection(('c.test', $OP), timeout=5)
s.sendall(b'SSH-2.0-test\r\n\r\n')
print(repr(s.recv(100)))" &&
	expect_eq "a denied tcp:// connection is closed without a byte" "$OUT" "b''"
http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 run "jail inherited proxy" 0 "${J[@]}" -- \
	sh -c 'echo "[${http_proxy-}${https_proxy-}]"' &&
	expect_eq "proxy variables from outside are removed in the jail" "$OUT" "[]"

run "jail udp" 0 "${J[@]}" -- python3 -c "
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('203.0.113.9', 9999)); print('sent')
except OSError as e:
    print('refused', e.errno)" &&
	expect "UDP to a non-DNS port fails at once" "$OUT" "refused"
run "jail host loopback" 0 "${J[@]}" -- python3 -c "
import socket
try:
    socket.create_connection(('127.0.0.1', $OP), timeout=3); print('connected')
except OSError as e:
    print('refused', e.errno)" &&
	expect "a service on the host's 127.0.0.1 is out of reach" "$OUT" "refused"

run "exit status" 3 "${J[@]}" -- sh -c 'exit 3' && pass "the command's exit status"
run "signal status" 143 "${J[@]}" -- sh -c 'kill -TERM $$' && pass "128+N when killed by a signal"
run "not found" 127 "${J[@]}" -- /nonexistent/command &&
	expect "not found is 127 with a message" "$ERR" "/nonexistent/command: No such file or directory"
run "timeout" 124 "${J[@]}" --timeout 1 -- sleep 30 && pass "--timeout exits 124"
run "pid namespace" 0 "${J[@]}" -- sh -c 'echo $$' && expect_eq "the command runs in its own PID namespace" "$OUT" "2"

# Without root: a user namespace of the user's own, and the same jail. (A run of the
# tests by a user is all of it that way already.)
if real_root && command -v setpriv >/dev/null; then
	mkdir -p "$TMP/nobody" && chown 65534:65534 "$TMP/nobody" && chmod 755 "$TMP"
	cp "$HTTPJAIL_BIN" "$TMP/hj" && chmod 755 "$TMP/hj"
	cp "$TMP/policy.yaml" "$TMP/nobody/policy.yaml" && chmod 644 "$TMP/nobody/policy.yaml"
	N=(env HOME="$TMP/nobody" setpriv --reuid=65534 --regid=65534 --clear-groups
		"$TMP/hj" -c "$TMP/nobody/policy.yaml" --resolve "a.test:$OP:127.0.0.1")
	out=$(cd "$TMP/nobody" && "${N[@]}" -- sh -c \
		"id -u; curl -s --noproxy '*' --max-time 10 http://a.test:$OP/echo?nobody" 2>&1)
	expect "unprivileged: an allowed request" "$out" '"query": "nobody"'
	expect "unprivileged: the command runs as that user" "$(head -1 <<<"$out")" "65534"
	out=$(cd "$TMP/nobody" && "${N[@]}" -- curl -s --noproxy '*' --max-time 10 -o /dev/null \
		-w '%{http_code}' "http://a.test:$OP/other" 2>&1)
	expect_eq "unprivileged: a denied request" "$out" "403"
	out=$(cd "$TMP/nobody" && "${N[@]}" -- python3 -c "
import socket
print(socket.gethostbyname('a.test'))
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b'x', ('203.0.113.9', 9999)); print('sent')
except OSError as e:
    print('refused', e.errno)" 2>&1)
	expect "unprivileged: DNS is synthetic" "$out" "198.18."
	expect "unprivileged: UDP out fails" "$out" "refused 1"
	(cd "$TMP/nobody" && "${N[@]}" -- sh -c 'exit 5') >/dev/null 2>&1
	expect_eq "unprivileged: the exit status" "$?" "5"
	out=$(cd "$TMP/nobody" && "${N[@]}" -- sh -c 'echo $$; nft list ruleset >/dev/null 2>&1 && echo nft-ok || echo nft-refused' 2>&1)
	expect_eq "unprivileged: own PID namespace, no power over the jail's rules" "$out" "2
nft-refused"
else
	skip "unprivileged" "run by a user (all of this run is unprivileged), or without setpriv"
fi

# kill -9 of httpjail: nothing of the jail survives, and the host is as it was.
snapshot() {
	ip -o link show | awk '{print $2}'
	ip route show table all
	nft list ruleset 2>/dev/null
	awk '{print $2}' /proc/mounts | sort
	ls -A "${TMPDIR:-/tmp}" | grep -v "^$(basename "$TMP")\$"
}
before=$(snapshot)
marker=httpjail-test-$$-$RANDOM
printf 'exec -a %s sleep 300\n' "$marker" > "$TMP/sleeper.sh"
"${J[@]}" -- bash "$TMP/sleeper.sh" &
hp=$!
for _ in $(seq 50); do pgrep -f "$marker" >/dev/null && break; sleep 0.1; done
pgrep -f "$marker" >/dev/null && pass "the jailed command runs" || fail "the jailed command runs" "not found"
kill -9 $hp
wait $hp 2>/dev/null
for _ in $(seq 50); do pgrep -f "$marker" >/dev/null || break; sleep 0.1; done
pgrep -f "$marker" >/dev/null && fail "no jailed process survives kill -9" "$(pgrep -af "$marker")" ||
	pass "no jailed process survives kill -9"
nft list tables 2>/dev/null | grep -q httpjail && fail "no nftables table is left on the host" "it is" ||
	pass "no nftables table is left on the host"
after=$(snapshot)
[ "$before" = "$after" ] && pass "no interface, route, table, mount or file left after kill -9" ||
	fail "no interface, route, table, mount or file left after kill -9" "$(diff <(echo "$before") <(echo "$after"))"

# Path sockets of the user's daemons are hidden; jail.expose keeps one.
mkdir -p "$TMP/rt"
unix_listen "$TMP/rt/bus"
unix_listen "$TMP/rt/agent.sock"
printf 'jail: {expose: [%s/rt/agent.sock]}\n' "$TMP" > "$TMP/expose.yaml"
out=$(XDG_RUNTIME_DIR=$TMP/rt "$HTTPJAIL_BIN" -v -c "$TMP/expose.yaml" -r 'allow: x' -- python3 -c "
import socket, sys
for p in ('$TMP/rt/bus', '$TMP/rt/agent.sock'):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(p); print(p.rsplit('/', 1)[1], 'connected')
    except OSError as e:
        print(p.rsplit('/', 1)[1], 'refused')
" 2>&1)
expect "a socket in the runtime directory is hidden" "$out" "bus refused"
expect "jail.expose keeps a socket reachable" "$out" "agent.sock connected"
expect "-v names what was hidden" "$out" "httpjail: hidden in the jail: $TMP/rt"
# Deeper: a socket two directories down ($XDG_RUNTIME_DIR/keyring/ssh of GNOME's
# keyring), a directory with what is in it, each after 16 other entries; what is
# beside them stays hidden.
mkdir -p "$TMP/rt/keyring" "$TMP/rt/gnupg/private" "$TMP/rt/other"
echo kept > "$TMP/rt/gnupg/private/file"
echo hidden > "$TMP/rt/other/file"
unix_listen "$TMP/rt/keyring/ssh"
{
	echo "jail:"
	echo "  expose:"
	for i in $(seq 16); do echo "    - $TMP/rt/absent$i"; done
	echo "    - $TMP/rt/keyring/ssh"
	echo "    - $TMP/rt/gnupg/private"
} > "$TMP/expose2.yaml"
# deep YAML RUNTIME_DIR HTTPJAIL...: what a jailed command finds there.
deep() {
	local yaml=$1 rt=$2
	shift 2
	"$@" -c "$yaml" -r 'allow: x' -- sh -c '
cat "$1/gnupg/private/file"
cat "$1/other/file" 2>/dev/null || echo "other hidden"
ls "$1/gnupg"
"$2" -c "
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1]); print(\"ssh connected\")
except OSError as e:
    print(\"ssh refused\", e)" "$1/keyring/ssh"' jailed "$rt" "$SYSPY" 2>&1
}
# Python where every user can run it (not a root-only shim earlier in PATH).
SYSPY=$(PATH=/usr/bin:/bin command -v python3)
export SYSPY
want_deep="kept
other hidden
private
ssh connected"
out=$(XDG_RUNTIME_DIR=$TMP/rt deep "$TMP/expose2.yaml" "$TMP/rt" "$HTTPJAIL_BIN")
expect_eq "jail.expose: a socket two directories down, a directory, past 16 entries" \
	"$out" "$want_deep"
# As --user nobody the runtime directory hidden is /run/user/65534: made here in a
# mount namespace of the test's own, over a tmpfs on /run. The directories made on
# the way belong to nobody, as the runtime directory does.
if real_root && id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
	sed "s|$TMP/rt|/run/user/65534|g" "$TMP/expose2.yaml" > "$TMP/expose3.yaml"
	export -f deep
	out=$(unshare -m bash -c '
mount -t tmpfs -o mode=755 none /run || exit 1
u=/run/user/65534
mkdir -p $u/keyring $u/gnupg/private $u/other
echo kept > $u/gnupg/private/file
echo hidden > $u/other/file
chown -R 65534:65534 $u && chmod 700 $u
setpriv --reuid=65534 --regid=65534 --clear-groups "$SYSPY" -c "
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
time.sleep(20)" $u/keyring/ssh &
for _ in $(seq 50); do [ -S $u/keyring/ssh ] && break; sleep 0.1; done
"$@"
kill %1' sh deep "$TMP/expose3.yaml" /run/user/65534 "$HTTPJAIL_BIN" --user nobody)
	expect_eq "jail.expose as --user nobody: the same, through directories nobody owns" \
		"$out" "$want_deep"
else
	skip "jail.expose as --user" "run by a user: only root runs the command as another"
fi
run "bundle" 0 "${J[@]}" -- sh -c 'tail -c 2000 /etc/ssl/certs/ca-certificates.crt' &&
	expect_eq "the system CA bundle in the jail ends with the httpjail CA" \
	"$(tail -c 200 <<<"$OUT")" "$(tail -c 200 "$HOME/.config/httpjail/ca-cert.pem")"
# OpenSSL's default file, a symlink to the bundle on Debian: it leads to ours as well.
ossl=$(openssl version -d | sed -n 's/^OPENSSLDIR: "\(.*\)"$/\1/p')/cert.pem
if [ -e "$ossl" ]; then
	run "bundle, OpenSSL's default file" 0 "${J[@]}" -- sh -c "tail -c 2000 '$ossl'" &&
		expect_eq "OpenSSL's default file in the jail ends with the httpjail CA" \
		"$(tail -c 200 <<<"$OUT")" "$(tail -c 200 "$HOME/.config/httpjail/ca-cert.pem")"
else
	skip "bundle, OpenSSL's default file" "$ossl does not exist here"
fi

# As root, --user (or $SUDO_USER) runs the command as that user, with its home.
if real_root && id nobody >/dev/null 2>&1; then
	run "user" 0 "${J[@]}" --user nobody -- sh -c 'id -u; echo "$HOME $USER"; test -r "$SSL_CERT_FILE" && echo readable' &&
		expect_eq "--user runs the command as that user" "$OUT" "65534
$(getent passwd nobody | cut -d: -f6) nobody
readable"
	run "sudo user" 0 env SUDO_USER=nobody "${J[@]}" -- id -u &&
		expect_eq "\$SUDO_USER is the default --user" "$OUT" "65534"
	err_user=$("${J[@]}" --user no-such-user-here -- true 2>&1)
	expect_eq "--user of an unknown user is a usage error" "$err_user" "httpjail: --user no-such-user-here: no such user"
else
	skip "--user" "run by a user: only root runs the command as another"
fi

# /etc/resolv.conf names the stub, also when it is a dangling symlink outside
# (systemd-resolved): made in a scratch mount namespace over a copy of /etc.
mkdir -p "$TMP/etc" && cp -a /etc/. "$TMP/etc/" 2>/dev/null
rm -f "$TMP/etc/resolv.conf" && ln -s /run/systemd/resolve/stub-resolv.conf "$TMP/etc/resolv.conf"
out=$(unshare -m sh -c 'mount --make-rprivate / && mount --bind "$1/etc" /etc &&
	[ ! -e /etc/resolv.conf ] && echo dangling; shift; exec "$@"' sh "$TMP" \
	"${J[@]}" -- sh -c 'cat /etc/resolv.conf; python3 -c "import socket; print(socket.gethostbyname(\"r.test\"))"' 2>&1)
expect "the scratch /etc/resolv.conf is a dangling symlink" "$out" "dangling"
expect "the jail's /etc/resolv.conf names the stub" "$out" "nameserver 127.0.0.1"
expect "names resolve through it" "$out" "198.18."

# tmux's socket directory is hidden too.
tdir=/tmp/tmux-$(id -u)
if [ ! -e "$tdir" ]; then
	mkdir -m 700 "$tdir" && touch "$tdir/default"
	run "tmux hidden" 0 "${J[@]}" -- ls -A "$tdir" && expect_eq "tmux's socket directory is hidden" "$OUT" ""
	rm -rf "$tdir"
fi

# On a terminal, Ctrl-C reaches the command once (the terminal sends it to the whole
# process group: httpjail must not pass on a second one), and its exit status comes back.
# script(1) runs $SHELL -c: without exec, a dash there (CI has no $SHELL) waits in the
# same process group and dies of the Ctrl-C itself.
cat > "$TMP/ints.sh" <<'S'
n=0
trap 'n=$((n+1))' INT
: > "$1"
sleep 3 & wait
wait
echo "ints=$n"
exit 7
S
if command -v script >/dev/null; then
	rm -f "$TMP/ints.ready"
	out=$( (for _ in $(seq 100); do [ -e "$TMP/ints.ready" ] && break; sleep 0.1; done
		printf '\003'; sleep 5) | SHELL=/bin/sh timeout 20 script -qec \
		"exec $HTTPJAIL_BIN -r 'allow: x' -- sh $TMP/ints.sh $TMP/ints.ready" /dev/null 2>&1)
	rc=$?
	expect "Ctrl-C on the terminal reaches the jailed command once" "$out" "ints=1"
	expect_eq "and its exit status comes back" "$rc" "7"
fi

# kill -TERM of httpjail reaches the jailed command (through the jail's pid 1).
expect_term_passed_on "SIGTERM to httpjail is passed on to the jailed command" "${J[@]}"
