# Sourced by integration cases: small assertions that print PASS/FAIL lines.
: "${HTTPJAIL_BIN:?set HTTPJAIL_BIN}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TMP=$(mktemp -d /tmp/httpjail-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
# The CA httpjail makes on first use goes to a home of the test's own.
export HOME=$TMP/home XDG_CONFIG_HOME= XDG_STATE_HOME=
unset HTTPJAIL_AUDIT_DB
mkdir -p "$HOME"

# Root that can act as other users: not the root of a user namespace mapping one uid,
# which is what a test run by an unprivileged user has (tests/run.sh: unshare -rn).
real_root() {
	[ "$(id -u)" = 0 ] && awk '$3 > 1 { n = 1 } END { exit !n }' /proc/self/uid_map
}

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIPPED: $1: $2"; }

# run NAME WANT_STATUS CMD...: runs CMD, keeps stdout in $OUT and stderr in $ERR.
run() {
	local name=$1 want=$2
	shift 2
	OUT=$("$@" 2>"$TMP/stderr")
	STATUS=$?
	ERR=$(cat "$TMP/stderr")
	if [ "$STATUS" -ne "$want" ]; then
		fail "$name" "exit $STATUS, want $want; stdout: $OUT; stderr: $ERR"
		return 1
	fi
	return 0
}

# expect NAME HAYSTACK NEEDLE: the text contains the line fragment.
expect() {
	if grep -qF -- "$3" <<<"$2"; then pass "$1"; else fail "$1" "missing '$3' in: $2"; fi
}

# expect_eq NAME GOT WANT
expect_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "got '$2', want '$3'"; fi
}
