#!/bin/bash
# Runs every test of httpjail and ends with one line: N passed, N failed, N skipped.
# HTTPJAIL_BIN is the binary under test, UNIT_DIR where the unit test binaries are.
# The whole run happens in a network namespace that has only lo, so that even a
# broken test cannot send a packet anywhere else.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${HTTPJAIL_BIN:?set HTTPJAIL_BIN}" "${UNIT_DIR:?set UNIT_DIR}"
export HTTPJAIL_BIN UNIT_DIR

if [ -z "${HTTPJAIL_TEST_NETNS:-}" ]; then
	export HTTPJAIL_TEST_NETNS=1
	if unshare -n true 2>/dev/null; then
		exec unshare -n "$0" "$@"
	elif unshare -rn true 2>/dev/null; then
		exec unshare -rn "$0" "$@"
	fi
	echo "tests: cannot make a network namespace (unshare -n refused): running in the host namespace"
	export HTTPJAIL_TEST_NETNS=host
fi
ip link set lo up 2>/dev/null

passed=0 failed=0 skipped=0
failures=()

# A unit binary prints "[name] ok N, failed N"; its exit status is the verdict.
for bin in "$UNIT_DIR"/unit_*; do
	[ -x "$bin" ] || continue
	out=$("$bin" 2>&1)
	rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^\[[^]]+\] ok [0-9]+, failed [0-9]+$' | tail -1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out"
		echo "FAIL $(basename "$bin"): crashed or printed no tally (exit $rc)"
		failed=$((failed + 1)); failures+=("$(basename "$bin")")
		continue
	fi
	ok=$(sed -E 's/.* ok ([0-9]+), failed ([0-9]+)$/\1/' <<<"$line")
	bad=$(sed -E 's/.* ok ([0-9]+), failed ([0-9]+)$/\2/' <<<"$line")
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1
	fi
	[ "$bad" -ne 0 ] && { printf '%s\n' "$out"; failures+=("$(basename "$bin")"); }
	echo "$line"
	passed=$((passed + ok)); failed=$((failed + bad))
done

# Fuzz drivers must survive random bytes (a smoke test; make fuzz does the real work).
head -c 65536 /dev/urandom > "${TMPDIR:-/tmp}/httpjail-fuzz-input.$$"
for bin in "$UNIT_DIR"/fuzz_*; do
	[ -x "$bin" ] || continue
	if "$bin" "${TMPDIR:-/tmp}/httpjail-fuzz-input.$$" >/dev/null 2>&1; then
		echo "[$(basename "$bin")] ok 1, failed 0"
		passed=$((passed + 1))
	else
		echo "FAIL $(basename "$bin"): crashed on random input"
		failed=$((failed + 1)); failures+=("$(basename "$bin")")
	fi
done
rm -f "${TMPDIR:-/tmp}/httpjail-fuzz-input.$$"

# Integration cases print "PASS name", "FAIL name: why" or "SKIPPED: name: why".
for t in "$here"/integration/*.sh; do
	case $(basename "$t") in *lib.sh) continue ;; esac
	out=$(bash "$t" 2>&1)
	rc=$?
	p=$(grep -c '^PASS ' <<<"$out")
	f=$(grep -c '^FAIL ' <<<"$out")
	s=$(grep -c '^SKIPPED: ' <<<"$out")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		out="$out"$'\n'"FAIL $(basename "$t"): exited $rc"
		f=1
	fi
	grep -E '^(FAIL |SKIPPED: )' <<<"$out"
	[ "$f" -ne 0 ] && failures+=("$(basename "$t")")
	echo "[$(basename "$t" .sh)] ok $p, failed $f, skipped $s"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
done

[ ${#failures[@]} -gt 0 ] && echo "failing: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
