#!/bin/bash
# TLS interception: the CA, leaves, decisions inside HTTPS, upstream verification,
# passthrough, --no-tls-intercept, Host/SNI agreement, the command's trust.
. "$(dirname "$0")/proxylib.sh"


# A test CA for the origins, and their certificates: good, expired, wrong name.
cert() { # NAME CN SAN DAYS [CA]
	local ca=${5:-$TMP/oca}
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
		-keyout "$TMP/$1.key" -out "$TMP/$1.csr" 2>/dev/null
	printf 'subjectAltName=%s\n' "$3" > "$TMP/$1.ext"
	openssl x509 -req -in "$TMP/$1.csr" -CA "$ca.pem" -CAkey "$ca.key" -CAcreateserial \
		-days "$4" -extfile "$TMP/$1.ext" -out "$TMP/$1.pem" 2>/dev/null
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=origin-test-ca -keyout "$TMP/oca.key" -out "$TMP/oca.pem" 2>/dev/null
cert a a.test DNS:a.test 1
cert p p.test DNS:p.test 1
cert w other.test DNS:other.test 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=u.test -addext subjectAltName=DNS:u.test -keyout "$TMP/u.key" \
	-out "$TMP/u.pem" 2>/dev/null
# Expired: -days -1 puts notAfter a day in the past.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=e.test \
	-keyout "$TMP/e.key" -out "$TMP/e.csr" 2>/dev/null
printf 'subjectAltName=DNS:e.test\n' > "$TMP/e.ext"
openssl x509 -req -in "$TMP/e.csr" -CA "$TMP/oca.pem" -CAkey "$TMP/oca.key" \
	-CAcreateserial -days -1 -extfile "$TMP/e.ext" -out "$TMP/e.pem" 2>/dev/null

start_origin A --tls "$TMP/a.pem" "$TMP/a.key"
start_origin P --tls "$TMP/p.pem" "$TMP/p.key"
start_origin W --tls "$TMP/w.pem" "$TMP/w.key"
start_origin U --tls "$TMP/u.pem" "$TMP/u.key"
start_origin E --tls "$TMP/e.pem" "$TMP/e.key"

cat > "$TMP/policy.yaml" <<Y
tls: {passthrough: [p.test]}
rules:
  - {action: allow, methods: [GET, HEAD], pattern: '^https://a\\.test:$A_PORT/(echo|bytes)'}
  - {action: allow, host: [p.test, w.test, u.test, e.test, h.test]}
Y
PINS=(--resolve "a.test:$A_PORT:127.0.0.1" --resolve "p.test:$P_PORT:127.0.0.1"
	--resolve "w.test:$W_PORT:127.0.0.1" --resolve "u.test:$U_PORT:127.0.0.1"
	--resolve "e.test:$E_PORT:127.0.0.1")
W=("$HTTPJAIL_BIN" --weak -c "$TMP/policy.yaml" --ca-file "$TMP/oca.pem" "${PINS[@]}")

# The command trusts our CA through the environment; requests inside are decided.
run "weak https" 0 "${W[@]}" --audit-db "$TMP/tls.db" -- curl -s --max-time 10 "https://a.test:$A_PORT/echo?tls" &&
	expect "HTTPS through interception reaches the origin" "$OUT" '"query": "tls"'
CA_DIR=$HOME/.config/httpjail
[ "$(stat -c %a "$CA_DIR")" = 700 ] && [ "$(stat -c %a "$CA_DIR/ca-key.pem")" = 600 ] &&
	pass "CA made on first use, directory 0700, key 0600" ||
	fail "CA made on first use, directory 0700, key 0600" "$(ls -la "$CA_DIR")"
run "weak https deny path" 0 "${W[@]}" -- curl -s --max-time 10 -o /dev/null -o /dev/null \
	-w '%{http_code} %{num_connects}\n' "https://a.test:$A_PORT/echo" "https://a.test:$A_PORT/secret" &&
	expect_eq "second request on one TLS connection decided separately" "$OUT" "200 1
403 0"
run "weak https deny method" 0 "${W[@]}" -- curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	-X POST "https://a.test:$A_PORT/echo" &&
	expect_eq "method rules inside HTTPS" "$OUT" "403"
run "weak python" 0 "${W[@]}" -- python3 -c \
	"import urllib.request; print(urllib.request.urlopen('https://a.test:$A_PORT/echo?py').read().decode())" &&
	expect "python urllib trusts the bundle" "$OUT" '"query": "py"'
run "weak env" 0 "${W[@]}" -- sh -c 'echo "$SSL_CERT_FILE|$NODE_EXTRA_CA_CERTS|$GIT_SSL_CAINFO"; cat "$NODE_EXTRA_CA_CERTS"' &&
	{ [[ $OUT == *bundle.pem\|*ca.pem\|*bundle.pem* && $OUT == *"BEGIN CERTIFICATE"* ]] &&
		pass "trust variables point at a bundle and at the CA" ||
		fail "trust variables point at a bundle and at the CA" "$OUT"; }
dir=$(sed -n '1s|/bundle.pem.*||p' <<<"$OUT")
[ -n "$dir" ] && [ ! -e "$dir" ] && pass "the trust directory is gone after the run" ||
	fail "the trust directory is gone after the run" "$dir"

# Passthrough: spliced, the client sees the origin's own certificate.
run "passthrough" 0 "${W[@]}" --audit-db "$TMP/tls.db" -- curl -s --max-time 10 --cacert "$TMP/oca.pem" "https://p.test:$P_PORT/echo?pass" &&
	expect "passthrough host is spliced without decryption" "$OUT" '"query": "pass"'

run "passthrough trust" 0 "${W[@]}" -- curl -s --max-time 10 "https://p.test:$P_PORT/echo?pass2" &&
	expect "--ca-file's CA is in the command's bundle, for hosts relayed blind" "$OUT" '"query": "pass2"'
run "blind trust" 0 "$HTTPJAIL_BIN" --weak --no-tls-intercept -r "allow: ^https://p\\.test:$P_PORT/" \
	--ca-file "$TMP/oca.pem" "${PINS[@]}" -- curl -s --max-time 10 "https://p.test:$P_PORT/echo?pass3" &&
	expect "--no-tls-intercept: the command still gets --ca-file's CA" "$OUT" '"query": "pass3"'
run "ca.pem" 0 "${W[@]}" -- sh -c 'grep -c "BEGIN CERTIFICATE" "$NODE_EXTRA_CA_CERTS"' &&
	expect_eq "NODE_EXTRA_CA_CERTS: the httpjail CA and --ca-file's" "$OUT" "2"

# Upstream verification: each failure is a 502 that says why.
for t in "u:self-signed" "e:expired" "w:hostname mismatch"; do
	h=${t%%:*}
	port_var=${h^^}_PORT
	run "upstream $h" 0 "${W[@]}" -- curl -s --max-time 10 "https://$h.test:${!port_var}/" &&
		expect "upstream ${t#*:} certificate gives 502" "$OUT" "${t#*:}"
done

# Host must agree with the name the TLS connection is for.
run "misdirected" 0 "${W[@]}" -- curl -s --max-time 10 -o /dev/null -w '%{http_code}' \
	-H "Host: b.test:$A_PORT" "https://a.test:$A_PORT/echo" &&
	expect_eq "Host other than the TLS name gives 421" "$OUT" "421"

# --no-tls-intercept: decided on the host as CONNECT, so a GET rule does not match.
run "no intercept" 56 "${W[@]}" --no-tls-intercept -- curl -s --max-time 10 -o /dev/null \
	-w '%{http_connect}' --cacert "$TMP/oca.pem" "https://a.test:$A_PORT/echo" &&
	expect_eq "without interception a methods rule does not match HTTPS (CONNECT 403)" "$OUT" "403"
# The audit rows of those runs: an intercepted request, a passthrough tunnel (its bytes
# counted to the end) and a CONNECT decided on the host.
run "no intercept audit" 56 "${W[@]}" --no-tls-intercept --audit-db "$TMP/tls.db" -- \
	curl -s --max-time 10 -o /dev/null --cacert "$TMP/oca.pem" "https://a.test:$A_PORT/echo"
expect_eq "audit: an intercepted request is kind https with its status" \
	"$(sqlite3 "$TMP/tls.db" "SELECT kind, method, verdict, status, outcome FROM decisions
		WHERE run_id = 1")" "https|GET|allow|200|ok"
expect_eq "audit: a passthrough tunnel is kind connect, its bytes counted" \
	"$(sqlite3 "$TMP/tls.db" "SELECT kind, method, verdict, status, bytes_down > 1000,
		bytes_up > 300 FROM decisions WHERE run_id = 2")" "connect|CONNECT|allow|200|1|1"
expect_eq "audit: a CONNECT denied on the host" \
	"$(sqlite3 "$TMP/tls.db" "SELECT kind, url, verdict, status, outcome FROM decisions
		WHERE run_id = 3")" "connect|https://a.test:$A_PORT/|deny|403|denied"

# An upstream presenting a certificate of httpjail's own CA is refused.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=h.test \
	-keyout "$TMP/h.key" -out "$TMP/h.csr" 2>/dev/null
printf 'subjectAltName=DNS:h.test\n' > "$TMP/h.ext"
openssl x509 -req -in "$TMP/h.csr" -CA "$CA_DIR/ca-cert.pem" -CAkey "$CA_DIR/ca-key.pem" \
	-CAcreateserial -CAserial "$TMP/h.srl" -days 1 -extfile "$TMP/h.ext" -out "$TMP/h.pem" 2>/dev/null
start_origin H --tls "$TMP/h.pem" "$TMP/h.key"
run "own CA upstream" 0 "${W[@]}" --resolve "h.test:$H_PORT:127.0.0.1" --ca-file "$CA_DIR/ca-cert.pem" \
	-- curl -s --max-time 10 "https://h.test:$H_PORT/" &&
	expect "an upstream with a certificate of httpjail's CA gives 502" "$OUT" "httpjail's own CA"

# --server: the transparent port intercepts by server name too.
start_proxy -c "$TMP/policy.yaml" --ca-file "$TMP/oca.pem" "${PINS[@]}" \
	--resolve "a.test:443:127.0.0.1"
TP=${TPROXY##*:}
out=$(curl -s --max-time 10 --cacert "$CA_DIR/ca-cert.pem" -x "http://$PROXY" \
	"https://a.test:$A_PORT/echo?server")
expect "--server CONNECT with interception" "$out" '"query": "server"'
out=$(curl -s --max-time 10 --cacert "$CA_DIR/ca-cert.pem" -x "http://$PROXY" -o /dev/null \
	-w '%{http_code}' "https://a.test:$A_PORT/secret")
expect_eq "--server denies by path inside HTTPS" "$out" "403"
out=$(python3 - "$PROXY" "$A_PORT" "$CA_DIR/ca-cert.pem" <<'PY'
import socket, ssl, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(("CONNECT a.test:%s HTTP/1.1\r\nHost: a.test:%s\r\n\r\n" % (sys.argv[2], sys.argv[2])).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
ctx = ssl.create_default_context(cafile=sys.argv[3])
ctx.check_hostname = False
t = ctx.wrap_socket(s)             # no server_hostname: a ClientHello without SNI
cert = t.getpeercert()
t.sendall(("GET /echo?nosni HTTP/1.1\r\nHost: a.test:%s\r\nConnection: close\r\n\r\n" % sys.argv[2]).encode())
data = b""
while True:
    d = t.recv(65536)
    if not d:
        break
    data += d
print(data.split(b"\r\n")[0].decode(), [v for k, v in cert["subjectAltName"]])
PY
)
expect "ClientHello without SNI gets a leaf for the CONNECT host" "$out" "HTTP/1.1 200 OK ['a.test']"
stop_proxy

# A CONNECT to a passthrough host is decided when it arrives: a denial is a 403.
printf 'tls: {passthrough: [p.test]}\nrules:\n  - {action: deny, host: p.test}\n' > "$TMP/pdeny.yaml"
run "passthrough deny" 56 "$HTTPJAIL_BIN" --weak -c "$TMP/pdeny.yaml" "${PINS[@]}" -- \
	curl -s --max-time 10 -o /dev/null -w '%{http_connect}' "https://p.test:$P_PORT/" &&
	expect_eq "a denied CONNECT to a passthrough host gets 403" "$OUT" "403"

# The CA: path, show, export; a corrupt key is an error, never replaced.
run "ca path" 0 "$HTTPJAIL_BIN" ca path && expect_eq "ca path" "$OUT" "$CA_DIR/ca-cert.pem"
run "ca export" 0 "$HTTPJAIL_BIN" ca export && expect_eq "ca export" "$OUT" "$(cat "$CA_DIR/ca-cert.pem")"
run "ca show" 0 "$HTTPJAIL_BIN" ca show && expect "ca show" "$OUT" "sha256:"
cp "$CA_DIR/ca-key.pem" "$TMP/key.bak"
echo garbage > "$CA_DIR/ca-key.pem"
run "corrupt key" 125 "${W[@]}" -- true && expect "corrupt CA key is one clear line" "$ERR" "ca-key.pem"
expect_eq "corrupt key is not replaced" "$(cat "$CA_DIR/ca-key.pem")" "garbage"
cp "$TMP/key.bak" "$CA_DIR/ca-key.pem"
chmod 644 "$CA_DIR/ca-key.pem"
run "key mode" 125 "${W[@]}" -- true && expect "a readable CA key is refused" "$ERR" "chmod"
chmod 600 "$CA_DIR/ca-key.pem"


# git (dumb HTTP over HTTPS) and Node.js through the proxy, when they are installed.
if command -v git >/dev/null; then
	git init -q --bare "$TMP/www/repo.git" && git -C "$TMP/www/repo.git" update-server-info
	git -c init.defaultBranch=main init -q "$TMP/work" && git -C "$TMP/work" -c user.name=t \
		-c user.email=t@t commit -q --allow-empty -m first &&
		git -C "$TMP/work" push -q "$TMP/www/repo.git" HEAD:main 2>/dev/null &&
		git -C "$TMP/www/repo.git" update-server-info
	start_origin G --tls "$TMP/a.pem" "$TMP/a.key" --static "$TMP/www"
	printf 'rules:\n  - {action: allow, methods: [GET], pattern: "^https://a\\\\.test:%s/static/repo\\\\.git/"}\n' \
		"$G_PORT" > "$TMP/git.yaml"
	run "git" 0 "$HTTPJAIL_BIN" --weak -c "$TMP/git.yaml" --ca-file "$TMP/oca.pem" \
		--resolve "a.test:$G_PORT:127.0.0.1" -- git ls-remote "https://a.test:$G_PORT/static/repo.git" &&
		expect "git ls-remote over HTTPS through interception" "$OUT" "refs/heads/main"
else
	skip "git" "git is not installed"
fi
if command -v node >/dev/null; then
	cat > "$TMP/get.js" <<'JS'
// Node.js ignores HTTPS_PROXY: open the CONNECT tunnel by hand, then https.get over it.
const http = require('http'), https = require('https');
const [proxy, target, path] = process.argv.slice(2);
const [ph, pp] = proxy.split(':');
http.request({ host: ph, port: pp, method: 'CONNECT', path: target }).on('connect', (res, socket) => {
	const [host] = target.split(':');
	https.get({ host, path, socket, servername: host, agent: false }, (r) => {
		let body = '';
		r.on('data', (d) => body += d);
		r.on('end', () => { console.log(r.statusCode, body.trim()); process.exit(0); });
	}).on('error', (e) => { console.log('error', e.message); process.exit(1); });
}).end();
JS
	run "node" 0 "${W[@]}" -- sh -c 'node "$0" "${HTTPS_PROXY#http://}" "$1" /echo?node' \
		"$TMP/get.js" "a.test:$A_PORT" &&
		expect "node https.get trusts NODE_EXTRA_CA_CERTS" "$OUT" '200 {"method": "GET", "path": "/echo", "query": "node"'
else
	skip "node" "node is not installed"
fi
