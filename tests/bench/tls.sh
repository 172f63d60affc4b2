#!/bin/bash
# bench/tls.sh: HTTPS through TLS interception against direct HTTPS, with wrk and an
# nginx TLS origin serving 1 KiB on loopback: keep-alive, and Connection: close (a full
# handshake on both sides for every request). wrk reaches the proxy's transparent TLS
# port through an nftables redirect, as a jailed command does. Runs in network and
# mount namespaces of its own (/etc/hosts names origin.test there only).
# Usage: HTTPJAIL_BIN=./httpjail tests/bench/tls.sh
set -u
if [ -z "${BENCH_MOUNTNS:-}" ]; then
	export BENCH_MOUNTNS=1
	exec unshare -m "$0" "$@"
fi
. "$(dirname "$0")/lib.sh" "$@"

mkdir -p "$T/www" "$T/pki"
chmod 755 "$T" "$T/www" "$T/pki"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$T/www/small"
echo other > "$T/www/other"
chmod 644 "$T/www/small" "$T/www/other"
( cd "$T/pki" &&
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-keyout ca.key -out ca.pem -subj "/CN=httpjail bench origin CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" &&
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout origin.key \
	-out origin.csr -subj "/CN=origin.test" &&
  printf 'subjectAltName=DNS:origin.test,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > ext &&
  openssl x509 -req -in origin.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
	-extfile ext -out origin.pem ) 2>/dev/null || { echo "cannot make the test certificates"; exit 1; }
chmod 644 "$T/pki/"*

nginx_start "listen 127.0.0.1:18443 ssl; ssl_certificate $T/pki/origin.pem;
	ssl_certificate_key $T/pki/origin.key;"

# origin.test is 127.0.0.2 here; its port 18443 leads to the proxy's transparent port.
printf '127.0.0.1 localhost\n127.0.0.2 origin.test\n' > "$T/hosts"
mount --bind "$T/hosts" /etc/hosts
nft -f - <<NFT || { echo "cannot add the redirect"; exit 1; }
table ip bench {
	chain out {
		type nat hook output priority -100;
		ip daddr 127.0.0.2 tcp dport 18443 redirect to :13141
	}
}
NFT
printf 'rules:\n  - {action: allow, pattern: '"'"'^https://origin\\.test:18443/small$'"'"'}\n' > "$T/pol.yaml"

"$HTTPJAIL_BIN" --server --listen 127.0.0.1:13140 --listen-tls 127.0.0.1:13141 \
	-c "$T/pol.yaml" --resolve origin.test:18443:127.0.0.1 --ca-file "$T/pki/ca.pem" \
	--audit-db "$T/audit.db" -q 2> "$T/proxy.err" &
PROXY_PID=$!
PIDS+=($PROXY_PID)
wait_proxy "$T/proxy.err"
CA=$HOME/.config/httpjail/ca-cert.pem
direct=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$T/pki/ca.pem" \
	--resolve origin.test:18443:127.0.0.1 https://origin.test:18443/small)
allowed=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" https://origin.test:18443/small)
denied=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$CA" https://origin.test:18443/other)
if [ "$direct $allowed $denied" != "200 200 403" ]; then
	echo "setup check failed: direct $direct, intercepted $allowed, denied $denied (want 200 200 403)"
	cat "$T/proxy.err"
	exit 1
fi


echo
echo "HTTPS through interception (target: at least 40% of direct, keep-alive and new connections)"
echo
echo "| setup | req/s | ratio to direct | p50 | p99 | notes |"
echo "|---|---|---|---|---|---|"
for conn in keep-alive close; do
	hdr=()
	[ $conn = close ] && hdr=(-H 'Connection: close')
	read -r drps d50 d99 _ derr <<<"$(measure "${hdr[@]}" https://127.0.0.1:18443/small)"
	cpu0=$(awk '{print $14 + $15}' /proc/$PROXY_PID/stat)
	read -r rps p50 p99 _ errs <<<"$(measure "${hdr[@]}" https://origin.test:18443/small)"
	cpu1=$(awk '{print $14 + $15}' /proc/$PROXY_PID/stat)
	us=$(awk -v c=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v d="$DUR" \
		'BEGIN { printf "%.1f", c / hz * 1e6 / (r * d) }')
	ratio=$(awk -v a="$rps" -v b="$drps" 'BEGIN { printf "%.2f", a / b }')
	echo "| direct HTTPS, $conn (${BENCH_CONNS:-32} conns) | $drps | 1.00 | $d50 | $d99 | $derr |"
	echo "| intercepted, $conn | $rps | $ratio | $p50 | $p99 | proxy CPU ${us} us/request (audit on) $errs |"
done
rss=$(awk '/VmHWM/ {print $2}' /proc/$PROXY_PID/status)
kill $PROXY_PID
wait $PROXY_PID 2>/dev/null
echo
echo "peak RSS of the proxy: $rss KiB; audit rows: $(sqlite3 "$T/audit.db" 'SELECT count(*) FROM decisions')"
