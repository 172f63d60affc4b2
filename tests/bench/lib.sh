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
