#!/bin/bash
# The shipped rulesets (rulesets/*.yaml): each compiles without warnings, sets
# nothing but rules, and allows and denies exactly what its list in
# rulesets/tests/NAME.list says, one "allow|deny METHOD URL" per line.
. "$(dirname "$0")/lib.sh"
J=$HTTPJAIL_BIN
RS=$ROOT/rulesets
unset HTTPJAIL_RULESETS

# A ruleset that only adds to another is tested together with it.
includes_for() {
	case $1 in
	github-write) echo 'github, github-write' ;;
	*) echo "$1" ;;
	esac
}

for file in "$RS"/*.yaml; do
	name=$(basename "$file" .yaml)
	list=$RS/tests/$name.list

	out=$("$J" check -c "$file" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		fail "$name: check" "exit $rc: $out"
	elif grep -qi 'warning:' <<<"$out" || [[ $out != *", 0 warnings" ]]; then
		fail "$name: check" "warnings: $out"
	else
		pass "$name: check"
	fi

	# An included file's default, tls, hooks... would apply to the whole policy
	# of whoever includes it.
	keys=$(grep -oE '^[A-Za-z_]+:' "$file" | sort -u | tr '\n' ' ')
	expect_eq "$name: top-level keys" "$keys" "rules: version: "

	if [ ! -f "$list" ]; then
		fail "$name: test list" "missing $list"
		continue
	fi
	allows=$(grep -c '^allow ' "$list")
	denies=$(grep -c '^deny ' "$list")
	if [ "$allows" -gt 0 ] && [ "$denies" -gt 0 ]; then
		pass "$name: test list ($allows allow, $denies deny)"
	else
		fail "$name: test list" "$allows allow and $denies deny cases; want some of each"
	fi

	policy=$TMP/$name.yaml
	printf 'version: 1\ninclude: [%s]\n' "$(includes_for "$name")" > "$policy"
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		[[ $line =~ ^[[:space:]]*(#|$) ]] && continue
		read -r want method url extra <<<"$line"
		label="$name: $want $method $url"
		if [[ ! $want =~ ^(allow|deny)$ ]] || [ -z "$url" ] || [ -n "$extra" ]; then
			fail "$name.list:$n" "not 'allow|deny METHOD URL': $line"
			continue
		fi
		out=$(HTTPJAIL_RULESETS=$RS "$J" -c "$policy" --test "$method" "$url" 2>&1)
		rc=$?
		case $want:$rc in
		allow:0 | deny:1) pass "$label" ;;
		*) fail "$label" "exit $rc: $(tr '\n' ' ' <<<"$out")" ;;
		esac
	done < "$list"
done

for list in "$RS"/tests/*.list; do
	name=$(basename "$list" .list)
	[ -f "$RS/$name.yaml" ] || fail "$name.list" "no ruleset $name.yaml for it"
done

# Without HTTPJAIL_RULESETS a bare name is looked up in rulesets/ beside the
# binary: a copy of the binary beside a link to this directory, as a build in the
# checkout has it (the ASan build lives elsewhere).
mkdir -p "$TMP/bin" && cp "$J" "$TMP/bin/httpjail" && ln -s "$RS" "$TMP/bin/rulesets"
printf 'version: 1\ninclude: [npm]\n' > "$TMP/bare.yaml"
if run "bare name from beside the binary" 0 "$TMP/bin/httpjail" -c "$TMP/bare.yaml" \
	--test https://registry.npmjs.org/left-pad; then
	found=$(sed -n 's/^rule [0-9]* \(.*\):[0-9]*: .*/\1/p' <<<"$OUT")
	if [ -n "$found" ] && [ "$found" -ef "$RS/npm.yaml" ]; then
		pass "bare name from beside the binary"
	else
		fail "bare name from beside the binary" "decided by another file: $OUT"
	fi
fi
