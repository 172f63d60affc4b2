# Sourced by proxy tests: start and stop the origin and httpjail --server by PID.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PIDS=()
cleanup_pids() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup_pids EXIT

# unix_listen PATH: a unix socket listening at PATH for 30 s, there when this returns.
unix_listen() {
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(4)
time.sleep(30)' "$1" &
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$1" ] && break; sleep 0.1; done
}

# start_origin NAME [ARGS...]: sets ${NAME}_PORT, logs to $TMP/NAME.log.
start_origin() {
	local name=$1
	shift
	python3 "$ROOT/tests/origin.py" --log "$TMP/$name.log" "$@" > "$TMP/$name.out" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		grep -q '^PORT ' "$TMP/$name.out" 2>/dev/null && break
		sleep 0.05
	done
	printf -v "${name}_PORT" '%s' "$(awk '/^PORT/ {print $2}' "$TMP/$name.out")"
}

# expect_term_passed_on NAME HTTPJAIL ARGS...: kill -TERM of httpjail, once the
# command has set its trap, must end the command through that trap (exit 7).
expect_term_passed_on() {
	local name=$1 jp
	shift
	rm -f "$TMP/term.ready"
	"$@" -- sh -c 'trap "exit 7" TERM; sleep 30 & : > "$1"; wait' sh "$TMP/term.ready" &
	jp=$!
	for _ in $(seq 100); do [ -e "$TMP/term.ready" ] && break; sleep 0.1; done
	kill -TERM $jp
	wait $jp
	expect_eq "$name" "$?" "7"
}

# start_proxy ARGS...: httpjail --server on free ports; sets PROXY, TPROXY, PROXY_PID.
start_proxy() {
	"$HTTPJAIL_BIN" --server --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 "$@" \
		> "$TMP/proxy.out" 2> "$TMP/proxy.err" &
	PROXY_PID=$!
	PIDS+=($PROXY_PID)
	for _ in $(seq 100); do
		grep -q 'proxy on' "$TMP/proxy.err" 2>/dev/null && break
		sleep 0.05
	done
	PROXY=$(sed -n 's/.*proxy on \([0-9.:]*\),.*/\1/p' "$TMP/proxy.err")
	TPROXY=$(sed -n 's/.*transparent on \([0-9.:]*\)$/\1/p' "$TMP/proxy.err")
}

# proxy_alive NAME: the proxy is still running; if not, show why.
proxy_alive() {
	if kill -0 "$PROXY_PID" 2>/dev/null; then
		pass "$1"
	else
		fail "$1" "proxy died: $(grep -v '^httpjail: \(allow\|deny\)' "$TMP/proxy.err" | grep -E 'ERROR|#[0-9]+ |freed by|previously allocated|SUMMARY' | head -40)"
	fi
}

stop_proxy() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
}

# raw HOSTPORT: sends stdin on a TCP connection, prints what comes back (2 s at most).
cat > "$TMP/raw.py" <<'PY'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=2)
s.sendall(sys.stdin.buffer.read())
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(out.decode("latin-1"))
PY
raw() {
	python3 "$TMP/raw.py" "$1"
}
