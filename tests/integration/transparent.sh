#!/bin/bash
# The transparent entrance of --server: TLS decided on the ClientHello's server name
# and relayed blind, plain HTTP decided by Host, other bytes as tcp://ADDR:PORT.
. "$(dirname "$0")/proxylib.sh"

# A test CA and a certificate for a.test, made for this run only.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj /CN=httpjail-test-ca -keyout "$TMP/ca.key" -out "$TMP/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=a.test \
	-keyout "$TMP/a.key" -out "$TMP/a.csr" 2>/dev/null
printf 'subjectAltName=DNS:a.test\n' > "$TMP/ext"
openssl x509 -req -in "$TMP/a.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 1 -extfile "$TMP/ext" -out "$TMP/a.pem" 2>/dev/null

start_origin tls --port 443 --tls "$TMP/a.pem" "$TMP/a.key"
start_origin plain
[ "$tls_PORT" = 443 ] || { skip "transparent TLS" "cannot listen on port 443 here"; exit 0; }
cat > "$TMP/policy.yaml" <<Y
rules:
  - {action: allow, pattern: '^https://a\.test/\$'}
  - {action: allow, host: a.test, pattern: '^http://a\.test:$plain_PORT/echo'}
Y
# Blind relay by server name: interception has tests of its own (tls.sh).
start_proxy --no-tls-intercept -c "$TMP/policy.yaml" --resolve a.test:443:127.0.0.1 \
	--resolve a.test:$plain_PORT:127.0.0.1 --request-log "$TMP/requests.log"
TP=${TPROXY##*:}

out=$(curl -s --max-time 5 --cacert "$TMP/ca.pem" --resolve "a.test:$TP:127.0.0.1" \
	"https://a.test:$TP/echo?sni")
expect "TLS allowed by server name, relayed to the origin" "$out" '"query": "sni"'
expect "the decision was CONNECT on the name" "$(cat "$TMP/requests.log")" "+ CONNECT https://a.test/"
curl -s --max-time 5 -k --resolve "b.test:$TP:127.0.0.1" "https://b.test:$TP/" >/dev/null 2>&1
rc=$?
[ $rc -ne 0 ] && pass "TLS to a denied name is closed (curl exit $rc)" ||
	fail "TLS to a denied name is closed" "curl succeeded"
expect "denied name recorded" "$(cat "$TMP/requests.log")" "- CONNECT https://b.test/"
grep -q 'host=b.test' "$TMP/tls.log" && fail "denied TLS never reaches the origin" "it did" ||
	pass "denied TLS never reaches the origin"

out=$(curl -s --max-time 5 -H "Host: a.test:$plain_PORT" "http://$TPROXY/echo?plain")
expect "plain HTTP on the transparent port decided by Host" "$out" '"query": "plain"'
out=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' -H "Host: a.test:$plain_PORT" "http://$TPROXY/other")
expect_eq "plain HTTP on the transparent port denied by path" "$out" "403"

# Other bytes, redirected by nftables from an address on lo: a tcp:// decision.
if command -v nft >/dev/null && ip addr add 203.0.113.5/32 dev lo 2>/dev/null &&
	nft -f - <<NFT 2>/dev/null
table ip hjtest {
	chain out {
		type nat hook output priority -100; policy accept;
		ip daddr 203.0.113.5 tcp dport 2222 redirect to :$TP
	}
}
NFT
then
	out=$(printf 'SSH-2.0-test\r\n' | raw 203.0.113.5:2222)
	expect_eq "tcp to a denied address is closed without a byte" "$out" ""
	expect "tcp decision recorded" "$(cat "$TMP/requests.log")" "- CONNECT tcp://203.0.113.5:2222"
	out=$(raw 203.0.113.5:2222 < /dev/null)
	expect "a server-first protocol is decided after 250 ms" "$(grep -c 'tcp://203.0.113.5:2222' "$TMP/requests.log")" "2"
	nft delete table ip hjtest
else
	skip "tcp decisions" "nftables or ip refused in this namespace"
fi
