# bench/lib.sh, sourced by each benchmark: re-run it in a network namespace of its own
# with only lo, a scratch directory $T that is HOME (under $BENCH_TMP, default /tmp:
# /dev/shm puts the audit databases in memory), and PIDS stopped on exit.
: "${HTTPJAIL_BIN:?set HTTPJAIL_BIN}"
HTTPJAIL_BIN=$(readlink -f "$HTTPJAIL_BIN")
if [ -z "${BENCH_NETNS:-}" ]; then
	export BENCH_NETNS=1
	exec unshare -n "$0" "$@"
fi
ip link set lo up
DUR=${BENCH_DURATION:-5}
T=$(mktemp -d ${BENCH_TMP:-/tmp}/httpjail-bench.XXXXXX)
export HOME=$T/home XDG_CONFIG_HOME= XDG_STATE_HOME=
mkdir -p "$HOME"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; rm -rf "$T"' EXIT

# nginx_start DIRECTIVES: nginx, one worker, logs off, serving $T/www in one server
# block made of DIRECTIVES ("listen 127.0.0.1:18080;").
nginx_start() {
	cat > "$T/nginx.conf" <<NGX
daemon off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	server { root $T/www; $1 }
}
NGX
	nginx -c "$T/nginx.conf" &
	PIDS+=($!)
}

# wait_proxy ERRFILE: until httpjail says where it listens (5 s at most).
wait_proxy() {
	for _ in $(seq 100); do
		grep -q 'proxy on' "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# busy_ticks: clock ticks all CPUs spent busy so far (user, nice, system, irq, softirq).
busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# measure [WRK ARGS...] URL: prints "req/s p50 p99 cpu errors" of one wrk run of DUR
# seconds over BENCH_CONNS (32) connections. cpu is what the whole machine spent per
# request and how busy its cores were ("15.9us@88%"): while every core is busy, the
# ratio of two runs' cpu bounds the ratio of their req/s.
measure() {
	local out b0 b1 w0 w1 rps
	b0=$(busy_ticks)
	w0=$(date +%s%N)
	out=$(timeout $((DUR + 10)) wrk -t1 -c"${BENCH_CONNS:-32}" -d"${DUR}s" --latency "$@" 2>&1)
	b1=$(busy_ticks)
	w1=$(date +%s%N)
	rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
	echo "$rps $(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")" \
		"$(awk -v t=$((b1 - b0)) -v hz="$(getconf CLK_TCK)" -v r="${rps:-0}" -v d="$DUR" \
			-v w=$((w1 - w0)) -v n="$(nproc)" 'BEGIN { u = r > 0 ? t / hz * 1e6 / (r * d) : 0
			printf "%.1fus@%d%%", u, 100 * t / hz / (w / 1e9 * n) }')" \
		"$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')"
}
