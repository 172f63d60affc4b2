#!/bin/bash
# The manual matches the code: lint-clean pages, every long option in httpjail.1,
# every policy key in httpjail.yaml.5; the demo script runs.
. "$(dirname "$0")/lib.sh"

if command -v mandoc >/dev/null; then
	for page in "$ROOT"/man/httpjail.1 "$ROOT"/man/httpjail.yaml.5; do
		out=$(mandoc -Tlint "$page" 2>&1)
		[ -z "$out" ] && pass "mandoc lint $(basename "$page")" ||
			fail "mandoc lint $(basename "$page")" "$out"
	done
else
	skip "mandoc lint" "mandoc is not installed (make deps installs it)"
fi

# Long options: the names in the getopt_long table of cmd/httpjail.c.
opts=$(sed -n '/longopts\[\] = {/,/^};/p' "$ROOT/cmd/httpjail.c" | grep -o '{ "[a-z-]*"' | cut -d'"' -f2)
[ -n "$opts" ] || fail "long options found" "none parsed from cmd/httpjail.c"
for o in $opts; do
	grep -q "Fl \\\\-$o\\b" "$ROOT/man/httpjail.1" && pass "httpjail.1 documents --$o" ||
		fail "httpjail.1 documents --$o" "no 'Fl \\-$o' in man/httpjail.1"
	"$HTTPJAIL_BIN" --help | grep -q -- "--$o" && pass "--help lists --$o" ||
		fail "--help lists --$o" "missing"
done

# Policy keys: every string of the key tables in core/compile.c.
keys=$(awk '/^static const char \*const [a-z]*_keys\[\] = {/ { on = 1 } on { print } /};/ { on = 0 }' \
	"$ROOT/core/compile.c" |
	grep -o '"[a-z_]*"' | tr -d '"' | sort -u)
[ "$(wc -w <<<"$keys")" -ge 20 ] || fail "policy keys found" "only: $keys"
for k in $keys; do
	grep -q "^\.It Ic $k\\b" "$ROOT/man/httpjail.yaml.5" && pass "httpjail.yaml.5 documents $k" ||
		fail "httpjail.yaml.5 documents $k" "no '.It Ic $k' in man/httpjail.yaml.5"
done

out=$(HTTPJAIL_BIN=$HTTPJAIL_BIN "$ROOT/scripts/demo" 2>&1)
expect "demo: a jailed request is allowed" "$out" '"query": "hello"'
expect "demo: a jailed request is denied" "$out" "request denied: POST http://demo.test:"
expect "demo: HTTPS is decrypted and denied" "$out" "request denied: GET https://example.com/"
expect "demo: the request log" "$out" " - GET https://example.com/"
expect "demo: --test on the example policy" "$out" "deny PUT https://registry.npmjs.org/left-pad"
run "demo --help" 0 "$ROOT/scripts/demo" --help && expect "demo --help" "$OUT" "demo: httpjail's main job"
