#!/bin/bash
# bench/proxy.sh: requests per second and latency through httpjail --server against
# direct, with wrk and an nginx origin serving 1 KiB on loopback, keep-alive; the audit
# database's cost and httpjail against direct as medians of alternating pairs; then RSS
# with 1,000 idle kept-alive client connections. Runs in a network namespace of its own
# that has only lo. Usage: HTTPJAIL_BIN=./httpjail tests/bench/proxy.sh
set -u
. "$(dirname "$0")/lib.sh" "$@"

mkdir -p "$T/www"
chmod 755 "$T" "$T/www"
head -c 1024 /dev/urandom | base64 -w0 | head -c 1024 > "$T/www/small"
chmod 644 "$T/www/small"
nginx_start "listen 127.0.0.1:18080;"

policy_small() {
	printf 'rules:\n  - {action: allow, pattern: '"'"'^http://origin\\.test:18080/small$'"'"'}\n'
}
policy_big() {
	echo "rules:"
	for i in $(seq 0 9999); do echo "  - {action: allow, host: h$i.example.com, methods: [GET]}"; done
	for i in $(seq 0 98); do echo "  - {action: deny, pattern: 'svc$i\\.example\\.(com|net)/'}"; done
	printf '  - {action: allow, pattern: '"'"'^http://origin\\.test:18080/small$'"'"'}\n'
}
policy_small > "$T/small.yaml"
policy_big > "$T/big.yaml"

# start_proxy POLICY [ARGS...]
start_proxy() {
	local pol=$1
	shift
	"$HTTPJAIL_BIN" --server --listen 127.0.0.1:13140 --listen-tls 127.0.0.1:13141 \
		-c "$pol" --resolve origin.test:18080:127.0.0.1 -q "$@" 2> "$T/proxy.err" &
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	wait_proxy "$T/proxy.err"
}
stop_proxy() { kill $PROXY_PID; wait $PROXY_PID 2>/dev/null; }

# wrk against a proxy sends absolute-form requests through this script.
cat > "$T/proxy.lua" <<'LUA'
wrk.path = "http://origin.test:18080/small"
wrk.headers["Host"] = "origin.test:18080"
LUA
sleep 0.5
curl -s -o /dev/null -w '' http://127.0.0.1:18080/small || { echo "nginx did not start"; exit 1; }


echo "| setup | req/s | ratio to direct | p50 | p99 | notes |"
echo "|---|---|---|---|---|---|"
read -r d50 d99 <<<""
read -r drps d50 d99 derr <<<"$(measure http://127.0.0.1:18080/small)"
echo "| direct (nginx, 1 KiB, keep-alive, ${BENCH_CONNS:-32} conns) | $drps | 1.00 | $d50 | $d99 | $derr |"
# The audit database is on (the default) except in the --no-audit row.
for setup in small big small-noaudit; do
	pol=${setup%-noaudit}
	extra=()
	[ "$setup" = small-noaudit ] && extra=(--no-audit)
	start_proxy "$T/$pol.yaml" --audit-db "$T/$setup.db" "${extra[@]}"
	code=$(curl -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:13140 http://origin.test:18080/small)
	deny=$(curl -s -o /dev/null -w '%{http_code}' -x http://127.0.0.1:13140 http://origin.test:18080/other)
	cpu0=$(awk '{print $14 + $15}' /proc/$PROXY_PID/stat)
	read -r rps p50 p99 errs <<<"$(measure -s "$T/proxy.lua" http://127.0.0.1:13140)"
	cpu1=$(awk '{print $14 + $15}' /proc/$PROXY_PID/stat)
	# CPU the proxy spent per request: steadier than req/s on a shared machine.
	us=$(awk -v c=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v d="$DUR" \
		'BEGIN { printf "%.1f", c / hz * 1e6 / (r * d) }')
	ratio=$(awk -v a="$rps" -v b="$drps" 'BEGIN { printf "%.2f", a / b }')
	case $setup in
	small) label="httpjail --server, 1 rule" ;;
	big) label="httpjail --server, 10,100 rules (allow rule last)" ;;
	*) label="httpjail --server, 1 rule, --no-audit" ;;
	esac
	rss=$(awk '/VmHWM/ {print $2}' /proc/$PROXY_PID/status)
	stop_proxy
	rows=-
	[ -e "$T/$setup.db" ] && rows=$(sqlite3 "$T/$setup.db" 'SELECT count(*) FROM decisions')
	echo "| $label | $rps | $ratio | $p50 | $p99 | proxy CPU ${us} us/request (audit thread included); peak RSS ${rss} KiB; audit rows $rows; check: allowed $code, denied $deny $errs |"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Audit on against --no-audit in alternating pairs, each pair back to back: one pair
# moves by more than the 5% the audit may cost on a 2-core machine, the median of
# several does not as much. The same for httpjail against direct, whose one run above
# is a sample of a machine that drifts. BENCH_AB_PAIRS=0 skips both.
PAIRS=${BENCH_AB_PAIRS:-5}
if [ "$PAIRS" -gt 0 ]; then
	echo
	echo "| pair | direct req/s | httpjail req/s (1 rule) | httpjail / direct |"
	echo "|---|---|---|---|"
	for i in $(seq "$PAIRS"); do
		read -r dp_direct _ <<<"$(measure http://127.0.0.1:18080/small)"
		start_proxy "$T/small.yaml" --audit-db "$T/dp$i.db"
		read -r dp_proxy _ <<<"$(measure -s "$T/proxy.lua" http://127.0.0.1:13140)"
		stop_proxy
		ratio=$(awk -v a="$dp_proxy" -v b="$dp_direct" 'BEGIN { printf "%.3f", a / b }')
		echo "$ratio" >> "$T/dp.ratios"
		echo "| $i | $dp_direct | $dp_proxy | $ratio |"
	done
	echo
	echo "httpjail / direct, median of $PAIRS pairs: $(median < "$T/dp.ratios") (target >= 0.60)"
fi
if [ "$PAIRS" -gt 0 ]; then
	echo
	echo "| pair | audit on req/s | --no-audit req/s | on / off |"
	echo "|---|---|---|---|"
	for i in $(seq "$PAIRS"); do
		for mode in on off; do
			extra=()
			[ $mode = off ] && extra=(--no-audit)
			start_proxy "$T/small.yaml" --audit-db "$T/ab$i.db" "${extra[@]}"
			read -r ab_rps _ <<<"$(measure -s "$T/proxy.lua" http://127.0.0.1:13140)"
			stop_proxy
			eval "ab_$mode=\$ab_rps"
		done
		ratio=$(awk -v a="$ab_on" -v b="$ab_off" 'BEGIN { printf "%.3f", a / b }')
		echo "$ratio" >> "$T/ab.ratios"
		echo "| $i | $ab_on | $ab_off | $ratio |"
	done
	echo
	echo "audit on / --no-audit, median of $PAIRS pairs: $(median < "$T/ab.ratios") (target >= 0.95)"
fi

# 1,000 idle kept-alive connections, each after one request.
start_proxy "$T/small.yaml"
python3 - <<'PY' &
import socket, time
socks = []
for i in range(1000):
    s = socket.create_connection(("127.0.0.1", 13140))
    s.sendall(b"GET http://origin.test:18080/small HTTP/1.1\r\nHost: origin.test:18080\r\n\r\n")
    socks.append(s)
for s in socks:
    s.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
time.sleep(8)
PY
PIDS+=($!)
sleep 5
rss=$(awk '/VmRSS/ {print $2}' /proc/$PROXY_PID/status)
conns=$(ss -tn state established "( sport = :13140 )" | tail -n +2 | wc -l)
echo
echo "RSS with $conns idle kept-alive client connections: ${rss} KiB (target < 20 MiB)"
stop_proxy
