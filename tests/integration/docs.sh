#!/bin/bash
# The manual matches the code: lint-clean pages, every long option in httpjail.1,
# every policy key and shipped ruleset in httpjail.yaml.5; every option, subcommand and database column
# of httpjail audit in httpjail-audit.1; the demo script runs.
. "$(dirname "$0")/lib.sh"

if command -v mandoc >/dev/null; then
	for page in "$ROOT"/man/httpjail.1 "$ROOT"/man/httpjail.yaml.5 "$ROOT"/man/httpjail-audit.1; do
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

# Every shipped ruleset has its entry under RULESETS in httpjail.yaml.5.
n=0
for r in "$ROOT"/rulesets/*.yaml; do
	name=$(basename "$r" .yaml)
	n=$((n + 1))
	grep -q "^\.It Cm $name\$" "$ROOT/man/httpjail.yaml.5" && pass "httpjail.yaml.5 describes ruleset $name" ||
		fail "httpjail.yaml.5 describes ruleset $name" "no '.It Cm $name' in man/httpjail.yaml.5"
done
[ "$n" -ge 10 ] || fail "rulesets found" "only $n in rulesets/"

# httpjail audit: the long options of the getopt_long table of cmd/audit.c, listed as
# "Fl \-NAME"; the subcommands of its sub_names table, as ".It Cm NAME".
AUDIT_PAGE=$ROOT/man/httpjail-audit.1
opts=$(sed -n '/longopts\[\] = {/,/^};/p' "$ROOT/cmd/audit.c" | grep -o '{ "[a-z-]*"' | cut -d'"' -f2)
[ "$(wc -w <<<"$opts")" -ge 10 ] || fail "audit long options found" "only: $opts"
for o in $opts; do
	grep -q "Fl \\\\-$o\\b" "$AUDIT_PAGE" && pass "httpjail-audit.1 documents --$o" ||
		fail "httpjail-audit.1 documents --$o" "no 'Fl \\-$o' in man/httpjail-audit.1"
done
subs=$(sed -n '/sub_names\[\] = {/,/^};/p' "$ROOT/cmd/audit.c" | grep -o '"[a-z]*"' | tr -d '"')
[ "$(wc -w <<<"$subs")" -ge 7 ] || fail "audit subcommands found" "only: $subs"
for c in $subs; do
	grep -q "^\\.It Cm $c\$" "$AUDIT_PAGE" && pass "httpjail-audit.1 documents audit $c" ||
		fail "httpjail-audit.1 documents audit $c" "no '.It Cm $c' in man/httpjail-audit.1"
done

# The columns of the tables as core/audit.c makes them (schema_v1, then the ALTER TABLE
# steps of the migrations), each an ".It Va NAME Vt TYPE" of its table's subsection,
# and no column there that the code does not make.
sql=$(sed -n '/schema_v1\[\] = {/,/^};/p' "$ROOT/core/audit.c" | grep -o '"[^"]*"' | tr -d '"\n' |
	sed 's/CREATE TABLE /\n/g')
alter=$(grep -o 'ALTER TABLE [a-z_]* ADD COLUMN [a-z_0-9]*' "$ROOT/core/audit.c")
for t in runs decisions; do
	cols=$( (grep "^$t(" <<<"$sql" | grep -oE '[(,] *[a-z_0-9]+ (INTEGER|TEXT)' |
		sed -E 's/^[(,] *//; s/ .*//'; awk -v t="$t" '$3 == t { print $6 }' <<<"$alter") | sort -u)
	[ "$(wc -w <<<"$cols")" -ge 11 ] || fail "columns of $t found" "only: $cols"
	section=$(awk -v t="$t" '/^\.S[sh] / { on = ($0 == ".Ss The table " t) } on' "$AUDIT_PAGE")
	for c in $cols; do
		grep -q "^\\.It Va $c Vt " <<<"$section" && pass "httpjail-audit.1 documents $t.$c" ||
			fail "httpjail-audit.1 documents $t.$c" "no '.It Va $c Vt' under '.Ss The table $t'"
	done
	for c in $(sed -n 's/^\.It Va \([a-z_0-9]*\) Vt .*/\1/p' <<<"$section"); do
		grep -qx "$c" <<<"$cols" && pass "$t.$c of httpjail-audit.1 is a column" ||
			fail "$t.$c of httpjail-audit.1 is a column" "core/audit.c makes no column $c in $t"
	done
done

out=$(HTTPJAIL_BIN=$HTTPJAIL_BIN "$ROOT/scripts/demo" 2>&1)
expect "demo: a jailed request is allowed" "$out" '"query": "hello"'
expect "demo: a jailed request is denied" "$out" "request denied: POST http://demo.test:"
expect "demo: HTTPS is decrypted and denied" "$out" "request denied: GET https://example.com/"
expect "demo: the request log" "$out" " - GET https://example.com/"
expect "demo: --test on the example policy" "$out" "deny PUT https://registry.npmjs.org/left-pad"
run "demo --help" 0 "$ROOT/scripts/demo" --help && expect "demo --help" "$OUT" "demo: httpjail's main job"
