#!/bin/bash
# httpjail --server against a local origin: decisions, keep-alive, strict parsing,
# CONNECT, upstream failures, loops, hooks in parallel, streaming, WebSocket.
. "$(dirname "$0")/proxylib.sh"

start_origin origin
OP=$origin_PORT
cat > "$TMP/policy.yaml" <<Y
rules:
  - action: allow
    host: a.test
    methods: [GET, HEAD, POST, PUT]
    pattern: '^http://a\.test:$OP/(echo|bytes|chunked|upload|ws|close-delimited|close-early|status)'
  - action: allow
    methods: [CONNECT]
    pattern: '^https://a\.test:$OP/\$'
  - action: allow
    host: [down.test, nowhere.test, localhost, slow.test, 10.255.255.1]
  - action: allow
    host: hook.test
    sh: 'sleep 2; exit 0'
  - action: allow
    pattern: '^http://127\.0\.0\.1:'
Y
HTTPJAIL_RESPONSE_TIMEOUT_MS=700 HTTPJAIL_HEAD_TIMEOUT_MS=1000 HTTPJAIL_IDLE_TIMEOUT_MS=1500 start_proxy -c "$TMP/policy.yaml" \
	--resolve a.test:$OP:127.0.0.1 --resolve down.test:9:127.0.0.1 \
	--resolve slow.test:$OP:127.0.0.1 --resolve hook.test:$OP:127.0.0.1 \
	--request-log "$TMP/requests.log" -v
[ -n "$PROXY" ] && pass "proxy started" || { fail "proxy started" "$(cat "$TMP/proxy.err")"; exit 0; }
C=(curl -s -x "http://$PROXY" --max-time 10)

# Allow and deny by rule and method.
out=$("${C[@]}" "http://a.test:$OP/echo?x=1")
expect "allowed GET reaches the origin" "$out" '"path": "/echo"'
out=$("${C[@]}" -i -X DELETE "http://a.test:$OP/echo")
expect "denied method gets 403" "$out" "HTTP/1.1 403 Forbidden"
expect "403 has X-Httpjail-Reason" "$out" "X-Httpjail-Reason: default deny"
expect "403 body names the request" "$out" "request denied: DELETE http://a.test:$OP/echo"
out=$("${C[@]}" -i "http://a.test:$OP/secret")
expect "denied path gets 403" "$out" "HTTP/1.1 403 Forbidden"
grep -q "/secret" "$TMP/origin.log" && fail "denied request never reaches the origin" "it did" ||
	pass "denied request never reaches the origin"

# Every request on a kept-alive connection is decided.
out=$("${C[@]}" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
	"http://a.test:$OP/echo" "http://a.test:$OP/secret2")
expect_eq "second request on a kept-alive connection is denied" "$out" "200 1
403 0"
out=$("${C[@]}" -o /dev/null -o /dev/null -w '%{http_code} %{num_connects}\n' \
	"http://a.test:$OP/secret3" "http://a.test:$OP/echo")
expect_eq "connection stays usable after a 403" "$out" "403 1
200 0"

# Absolute-form: the URI's host decides and is the Host sent upstream.
out=$("${C[@]}" -H 'Host: evil.test' "http://a.test:$OP/echo?hostcheck")
expect "Host of the URI is sent upstream" "$out" "\"host\": \"a.test:$OP\""
grep -q 'hostcheck host=evil.test' "$TMP/origin.log" &&
	fail "mismatched Host never reaches the origin" "it did" ||
	pass "mismatched Host never reaches the origin"
expect "no X-Forwarded-For upstream" "$(grep -ci forwarded <<<"$out")" "0"

# Strict parsing: each malformed request gets 400 and the origin never sees it.
before=$(wc -l < "$TMP/origin.log")
bad=(
	"GET http://a.test:$OP/echo?smuggle1 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	"GET http://a.test:$OP/echo?smuggle2 HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"
	"POST http://a.test:$OP/echo?smuggle3 HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: gzip\r\n\r\n"
	"GET http://a.test:$OP/echo?fold HTTP/1.1\r\nHost: a.test\r\nX-A: b\r\n c\r\n\r\n"
	"GET http://a.test:$OP/echo?bare HTTP/1.1\r\nHost: a.test\r\nX-A: b\rc\r\n\r\n"
	"GET http://a.test:$OP/echo?space HTTP/1.1\r\nHost: a.test\r\nX-A : b\r\n\r\n"
	"GET http://a.test:$OP/echo?nul HTTP/1.1\r\nHost: a.test\r\nX-A: b\x00c\r\n\r\n"
	"G@T http://a.test:$OP/echo?method HTTP/1.1\r\nHost: a.test\r\n\r\n"
	"GET http://a.test:$OP/echo?version HTTP/1.2\r\nHost: a.test\r\n\r\n"
	"POST http://a.test:$OP/echo?chunk HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
	"GET http://a.test:$OP/echo/../other?dots HTTP/1.1\r\nHost: a.test\r\n\r\n"
	"GET http://a.test:$OP/echo/%%2e%%2e/other?encdots HTTP/1.1\r\nHost: a.test\r\n\r\n"
)
for i in "${!bad[@]}"; do
	out=$(printf "${bad[$i]}" | raw "$PROXY")
	case $i in
	9) # a bad chunk size is found after the head went upstream: the connection ends
		[[ $out != *"HTTP/1.1 2"* ]] && pass "malformed request $i refused" ||
			fail "malformed request $i refused" "$out" ;;
	*) expect "malformed request $i gets 400" "$out" "HTTP/1.1 400 Bad Request" ;;
	esac
done
after=$(grep -c -E 'smuggle|fold|bare|space|nul|method|version|dots' "$TMP/origin.log")
expect_eq "no malformed head reached the origin" "$after" "0"

proxy_alive "proxy survives malformed requests"

# CONNECT by host and port, and plain HTTP inside the tunnel decided again.
out=$("${C[@]}" -p "http://a.test:$OP/echo?tunnel")
expect "allowed CONNECT, request inside allowed" "$out" '"query": "tunnel"'
out=$("${C[@]}" -p -o /dev/null -w '%{http_code}' "http://a.test:$OP/secret-in-tunnel")
expect_eq "request inside a tunnel is decided" "$out" "403"
# With TLS interception (the default) CONNECT has no decision of its own: what the
# tunnel carries is decided.
out=$(printf 'CONNECT b.test:%s HTTP/1.1\r\nHost: b.test:%s\r\n\r\nGET /echo HTTP/1.1\r\nHost: b.test:%s\r\n\r\n' \
	"$OP" "$OP" "$OP" | raw "$PROXY")
expect "CONNECT then a request to a denied host: the request is denied" "$out" "request denied: GET http://b.test:$OP/echo"
# Without interception CONNECT is decided by host and port.
"$HTTPJAIL_BIN" --server --no-tls-intercept --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 \
	-c "$TMP/policy.yaml" --resolve a.test:$OP:127.0.0.1 > /dev/null 2> "$TMP/proxy2.err" &
p2=$!
PIDS+=($p2)
for _ in $(seq 100); do grep -q 'proxy on' "$TMP/proxy2.err" && break; sleep 0.05; done
P2=$(sed -n 's/.*proxy on \([0-9.:]*\),.*/\1/p' "$TMP/proxy2.err")
out=$(printf 'CONNECT a.test:%s HTTP/1.1\r\nHost: a.test:%s\r\n\r\n' 1 1 | raw "$P2")
expect "CONNECT to another port is denied" "$out" "HTTP/1.1 403 Forbidden"
out=$(printf 'CONNECT b.test:%s HTTP/1.1\r\nHost: b.test:%s\r\n\r\n' "$OP" "$OP" | raw "$P2")
expect "CONNECT to another host is denied" "$out" "HTTP/1.1 403 Forbidden"
out=$(curl -s -x "http://$P2" --max-time 10 -p "http://a.test:$OP/echo?decided")
expect "CONNECT allowed by host and port, request inside decided too" "$out" '"query": "decided"'
kill $p2
proxy_alive "proxy survives CONNECT"

# Upstream failures: refused, unresolvable, slow, private.
out=$("${C[@]}" -i "http://down.test:9/")
expect "upstream down gives 502" "$out" "HTTP/1.1 502 Bad Gateway"
expect "502 says which step failed" "$out" "cannot connect to down.test:9"
out=$("${C[@]}" -i "http://nowhere.test/")
expect "unresolvable gives 502" "$out" "cannot resolve nowhere.test"
out=$("${C[@]}" -i "http://slow.test:$OP/slow?ms=3000")
expect "slow upstream gives 504" "$out" "HTTP/1.1 504 Gateway Timeout"
out=$("${C[@]}" -i "http://localhost:$OP/echo")
expect "allowed name on loopback is refused" "$out" "a loopback address"
out=$("${C[@]}" -i "http://10.255.255.1:$OP/echo")
expect "allowed name on a private address is refused" "$out" "a private address"

out=$("${C[@]}" -i "http://a.test:$OP/close-early")
expect "an upstream that closes without answering gives 502" "$out" "the upstream closed the connection before answering"
out=$("${C[@]}" -o /dev/null -o /dev/null -w '%{http_code}\n' "http://a.test:$OP/echo" "http://a.test:$OP/close-early")
expect_eq "a kept upstream that closes is retried once, then 502" "$out" "200
502"
expect "the retry reached the origin on a fresh connection" \
	"$(grep -c 'close-early' "$TMP/origin.log")" "4"

# A request to the proxy itself is a loop.
out=$("${C[@]}" -i "http://$PROXY/")
expect "request to the proxy is refused" "$out" "X-Httpjail-Reason: loop"

# A slow hook stalls only its own request.
"${C[@]}" -o "$TMP/hooked" "http://hook.test:$OP/echo?hooked" &
hookpid=$!
sleep 0.3
start=$(date +%s%N)
out=$("${C[@]}" "http://a.test:$OP/echo?parallel")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
wait $hookpid
expect "hooked request is allowed" "$(cat "$TMP/hooked")" '"query": "hooked"'
[ "$ms" -lt 1500 ] && pass "a 2 s hook does not delay a parallel request (${ms} ms)" ||
	fail "a 2 s hook does not delay a parallel request" "${ms} ms"

# Bodies: chunked both ways, 100-continue, close-delimited.
out=$("${C[@]}" "http://a.test:$OP/chunked?n=3&size=5&trailer=1")
expect_eq "chunked response passes" "$out" "$(printf '0123401234012340' | head -c 15)"
out=$(printf 'hello chunked' | "${C[@]}" -H 'Transfer-Encoding: chunked' -T - "http://a.test:$OP/upload")
expect "chunked upload passes" "$out" '"body_len": 13'
out=$("${C[@]}" -H 'Expect: 100-continue' --data-binary @/etc/os-release "http://a.test:$OP/upload")
expect "Expect: 100-continue works" "$out" "\"body_len\": $(stat -L -c %s /etc/os-release)"
out=$("${C[@]}" "http://a.test:$OP/close-delimited?n=1000" | wc -c)
expect_eq "close-delimited response passes" "$out" "1000"

# 200 MiB each way, streamed: the proxy's memory stays small.
n=$((200 * 1024 * 1024))
out=$(head -c $n /dev/zero | "${C[@]}" --max-time 60 -T - "http://a.test:$OP/upload")
expect "200 MiB upload passes" "$out" "\"body_len\": $n"
out=$("${C[@]}" --max-time 60 -o /dev/null -w '%{size_download}' "http://a.test:$OP/bytes?n=$n")
expect_eq "200 MiB download passes" "$out" "$n"
rss=$(awk '/VmHWM/ {print $2}' /proc/$PROXY_PID/status)
# ASan's shadow memory and quarantine add their own; 200 MiB buffered would still show.
limit=32768
[ -n "${ASAN_OPTIONS:-}" ] && limit=65536
if [ "$rss" -lt $limit ]; then
	pass "proxy RSS stays under $((limit / 1024)) MiB ($rss KiB)"
else
	fail "proxy RSS stays under $((limit / 1024)) MiB" "$rss KiB"
fi

# WebSocket echo after an allowed upgrade.
out=$(python3 - "$PROXY" "$OP" <<'PY'
import base64, os, socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET http://a.test:%s/ws HTTP/1.1\r\nHost: a.test:%s\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (sys.argv[2], sys.argv[2], key)).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
mask = os.urandom(4)
payload = b"hello through httpjail"
frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
s.sendall(frame)
data = b""
while len(data) < 2 + len(payload):
    d = s.recv(4096)
    if not d:
        break
    data += d
print(head.split(b"\r\n")[0].decode(), data[2:].decode(errors="replace"))
PY
)
expect "WebSocket upgrade and echo" "$out" "HTTP/1.1 101 Switching Protocols hello through httpjail"

# 200 concurrent connections all answered.
seq 200 | xargs -P 200 -I{} curl -s -x "http://$PROXY" --max-time 20 -o /dev/null \
	-w '%{http_code}\n' "http://a.test:$OP/echo?c={}" > "$TMP/conc"
expect_eq "200 concurrent connections all answered" "$(grep -c '^200$' "$TMP/conc")" "200"

# The request log has one line per decision, - for what was blocked.
expect "request log allow line" "$(cat "$TMP/requests.log")" "+ GET http://a.test:$OP/echo?x=1"
expect "request log deny line" "$(cat "$TMP/requests.log")" "- DELETE http://a.test:$OP/echo"
grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z [+-] ' "$TMP/requests.log" &&
	pass "request log timestamps are RFC 3339 UTC with ms" ||
	fail "request log timestamps are RFC 3339 UTC with ms" "$(head -1 "$TMP/requests.log")"
expect "-v prints decisions" "$(cat "$TMP/proxy.err")" "httpjail: deny DELETE http://a.test:$OP/echo"

# No descriptor leaks: once the clients are gone only listeners and pooled upstream
# connections remain.
sleep 0.5
socks=$(ls -l /proc/$PROXY_PID/fd | grep -c socket:)
pooled=$(ss -tn state established "( dport = :$OP )" | tail -n +2 | wc -l)
clients=$(ss -tn "( sport = :${PROXY##*:} )" | tail -n +2 | wc -l)
expect_eq "no client connection left open" "$clients" "0"
[ "$socks" -le $((pooled + 4)) ] && pass "no descriptor leak ($socks sockets, $pooled pooled)" ||
	fail "no descriptor leak" "$socks sockets, $pooled pooled: $(ls -l /proc/$PROXY_PID/fd)"

# A head dribbled a byte at a time is cut off at the head timeout (1 s here), and an
# idle kept-alive connection at the idle timeout (1.5 s here).
out=$(python3 - "$PROXY" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
start = time.time()
try:
    for c in b"GET http://a.test/ HTTP/1.1\r\nX-Slow: " + b"a" * 200:
        s.send(bytes([c]))
        time.sleep(0.05)
        s.settimeout(0.001)
        try:
            if s.recv(1) == b"":
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            break
    print("closed after %.1f s" % (time.time() - start))
except (BrokenPipeError, ConnectionResetError):
    print("closed after %.1f s" % (time.time() - start))
PY
)
[[ $out =~ ^closed\ after\ (0\.9|1\.[0-9])\ s$ ]] && pass "slowloris head cut at the head timeout ($out)" ||
	fail "slowloris head cut at the head timeout" "$out"
out=$(python3 - "$PROXY" "$OP" <<'PY'
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=5)
s.sendall(("GET http://a.test:%s/echo HTTP/1.1\r\nHost: a.test\r\n\r\n" % sys.argv[2]).encode())
data = b""
while b'"n"' not in data:
    data += s.recv(65536)
start = time.time()
while s.recv(65536):
    pass
print("idle closed after %.1f s" % (time.time() - start))
PY
)
[[ $out =~ ^idle\ closed\ after\ 1\.[0-9]\ s$ ]] && pass "idle kept-alive connection closed ($out)" ||
	fail "idle kept-alive connection closed" "$out"

# SIGTERM drains and exits 0.
kill -TERM $PROXY_PID
wait $PROXY_PID
expect_eq "SIGTERM exits 0" "$?" "0"

# IPv6: the proxy listens on ::1.
if python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	"$HTTPJAIL_BIN" --server --listen '[::1]:0' --listen-tls '[::1]:0' --resolve "a.test:$OP:127.0.0.1" \
		-r "allow: ^http://a\\.test:$OP/echo" -r 'allow: ^http://\[::1\]:' > /dev/null 2> "$TMP/proxy6.err" &
	p6=$!
	PIDS+=($p6)
	for _ in $(seq 100); do grep -q 'proxy on' "$TMP/proxy6.err" && break; sleep 0.05; done
	P6=$(sed -n 's/.*proxy on \(\[[0-9a-f:]*\]:[0-9]*\),.*/\1/p' "$TMP/proxy6.err")
	out=$(curl -s --max-time 5 -x "http://$P6" "http://a.test:$OP/echo?v6")
	expect "IPv6 listener" "$out" '"query": "v6"'
	out=$(curl -s --max-time 5 -x "http://$P6" "http://[::1]:9/")
	expect "IPv6 literal upstream on loopback is refused" "$out" "a loopback address"
	kill $p6
else
	skip "IPv6" "no ::1 in this namespace"
fi
