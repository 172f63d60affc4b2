#!/bin/bash
# Golden compiler tests: tests/policy/NNN-name.yaml must give NNN-name.out from
# `httpjail check` (stdout and stderr, exit 0); fail-NNN-name.yaml must print exactly
# the one line of fail-NNN-name.err on stderr, nothing on stdout, and exit 2.
. "$(dirname "$0")/lib.sh"
bindir=$(dirname "$(readlink -f "$HTTPJAIL_BIN")")
cd "$ROOT/tests/policy" || exit 1
export HTTPJAIL_RULESETS=rulesets

for y in [0-9]*.yaml; do
	name=${y%.yaml}
	got=$("$HTTPJAIL_BIN" check -c "$y" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "golden $name" "exit $rc: $got"
	elif [ "$got" != "$(cat "$name.out")" ]; then
		fail "golden $name" "$(diff <(printf '%s\n' "$got") "$name.out")"
	else
		pass "golden $name"
	fi
done

for y in fail-*.yaml; do
	name=${y%.yaml}
	out=$("$HTTPJAIL_BIN" check -c "$y" 2>"$TMP/err")
	rc=$?
	got=$(sed "s|$bindir|BINDIR|g" "$TMP/err")
	if [ "$rc" -ne 2 ]; then
		fail "golden $name" "exit $rc, want 2"
	elif [ -n "$out" ]; then
		fail "golden $name" "printed on stdout: $out"
	elif [ "$got" != "$(cat "$name.err")" ]; then
		fail "golden $name" "got '$got', want '$(cat "$name.err")'"
	else
		pass "golden $name"
	fi
done
