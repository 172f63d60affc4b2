#!/bin/bash
# scripts/allowlist-to-yaml (a host list to a policy httpjail accepts and enforces) and
# scripts/ci-summary (audit report appended to $GITHUB_STEP_SUMMARY, or printed).
. "$(dirname "$0")/proxylib.sh"
J=$HTTPJAIL_BIN
A2Y=$ROOT/scripts/allowlist-to-yaml
CIS=$ROOT/scripts/ci-summary

# --- allowlist-to-yaml ---

run "allowlist-to-yaml --help" 0 "$A2Y" --help &&
	expect "allowlist-to-yaml --help" "$OUT" "usage: allowlist-to-yaml [--methods GET,HEAD] [FILE]"
run "allowlist-to-yaml unknown option" 2 "$A2Y" --nope &&
	expect "allowlist-to-yaml unknown option" "$ERR" "allowlist-to-yaml: --nope: unknown option"

cat > "$TMP/hosts.txt" <<'EOF'
# Hosts the build may reach.

  Registry.NPMJS.org
*.GitHub.com	
example.test   # a trailing comment
   # an indented comment
registry.npmjs.org
EXAMPLE.test
files.example.test
EOF
# host_lines YAML: the hosts of the policy, one a line.
host_lines() {
	sed -n "s/^      - '\(.*\)'\$/\1/p" "$1"
}
if run "allowlist-to-yaml file" 0 "$A2Y" "$TMP/hosts.txt"; then
	printf '%s\n' "$OUT" > "$TMP/hosts.yaml"
	expect_eq "allowlist-to-yaml: lower case, no duplicates, file order" \
		"$(host_lines "$TMP/hosts.yaml")" "registry.npmjs.org
*.github.com
example.test
files.example.test"
	expect "allowlist-to-yaml: says where it came from" "$(head -1 "$TMP/hosts.yaml")" \
		"# Made by allowlist-to-yaml from $TMP/hosts.txt: 4 hosts allowed,"
	expect "allowlist-to-yaml: version 1" "$OUT" $'\nversion: 1\n'
	expect "allowlist-to-yaml: default deny" "$OUT" "default: deny"
	grep -q methods "$TMP/hosts.yaml" && fail "allowlist-to-yaml: all methods" "$OUT" ||
		pass "allowlist-to-yaml: all methods"
	run "check accepts the policy" 0 "$J" check -c "$TMP/hosts.yaml" &&
		expect "check accepts the policy" "$OUT" "1 rule, 0 warnings"
fi

# decides NAME WANT METHOD URL: what `--test` says of the request under $POLICY.
decides() {
	local want=$2 got
	"$J" -c "$POLICY" --test "$3" "$4" >"$TMP/decides.out" 2>&1
	got=$?
	case $got in 0) got=allow ;; 1) got=deny ;; *) got="exit $got: $(cat "$TMP/decides.out")" ;; esac
	expect_eq "$1" "$got" "$want"
}
POLICY=$TMP/hosts.yaml
decides "listed host allowed" allow GET https://registry.npmjs.org/left-pad
decides "listed host, other method allowed" allow POST https://registry.npmjs.org/-/npm/v1/x
decides "listed host in upper case in the list" allow GET http://example.test/
decides "wildcard allows a subdomain" allow GET https://api.github.com/repos
decides "wildcard allows a deeper subdomain" allow PUT https://a.b.github.com/
decides "wildcard does not allow the bare domain" deny GET https://github.com/
decides "unlisted host denied" deny GET https://evil.test/
decides "look-alike host denied" deny GET https://registry.npmjs.org.evil.test/
decides "subdomain of an exact host denied" deny GET https://x.example.test/

if run "allowlist-to-yaml --methods" 0 "$A2Y" --methods get,HEAD "$TMP/hosts.txt"; then
	printf '%s\n' "$OUT" > "$TMP/get.yaml"
	expect "allowlist-to-yaml --methods" "$OUT" "    methods: [GET, HEAD]"
	run "check accepts the --methods policy" 0 "$J" check -c "$TMP/get.yaml" && pass "check accepts the --methods policy"
	POLICY=$TMP/get.yaml
	decides "--methods GET,HEAD: GET allowed" allow GET https://example.test/
	decides "--methods GET,HEAD: HEAD allowed" allow HEAD https://example.test/
	decides "--methods GET,HEAD: POST denied" deny POST https://example.test/
	decides "--methods GET,HEAD: other host denied" deny GET https://evil.test/
fi
if run "allowlist-to-yaml --methods=GET" 0 "$A2Y" --methods=GET "$TMP/hosts.txt"; then
	printf '%s\n' "$OUT" > "$TMP/get1.yaml"
	POLICY=$TMP/get1.yaml
	decides "--methods=GET: POST denied" deny POST https://registry.npmjs.org/
	decides "--methods=GET: GET allowed" allow GET https://registry.npmjs.org/
fi
run "allowlist-to-yaml bad method" 2 "$A2Y" --methods 'GET,G(T' "$TMP/hosts.txt" &&
	expect_eq "allowlist-to-yaml bad method" "$ERR" "allowlist-to-yaml: --methods: 'G(T' is not an HTTP method"

# Standard input gives the same policy; only the header names the source.
if run "allowlist-to-yaml stdin" 0 "$A2Y" < "$TMP/hosts.txt"; then
	expect_eq "allowlist-to-yaml stdin: same policy" "$(sed 1d <<<"$OUT")" "$(sed 1d "$TMP/hosts.yaml")"
	expect "allowlist-to-yaml stdin: header" "$OUT" "from standard input"
fi
run "allowlist-to-yaml -" 0 "$A2Y" --methods GET - < "$TMP/hosts.txt" &&
	expect "allowlist-to-yaml -" "$OUT" "      - '*.github.com'"
printf '# nothing here\n\n' > "$TMP/empty.txt"
if run "allowlist-to-yaml no hosts" 0 "$A2Y" "$TMP/empty.txt"; then
	expect "allowlist-to-yaml no hosts: warns" "$ERR" "no hosts: the policy allows nothing"
	printf '%s\n' "$OUT" > "$TMP/empty.yaml"
	POLICY=$TMP/empty.yaml
	decides "no hosts: everything denied" deny GET https://example.test/
fi

# A line that is not a host name: one line on stderr naming it, exit 2, no output.
bad_line() {
	local text=$1
	printf 'ok.test\n\n%s\n*.fine.test\n' "$text" > "$TMP/bad.txt"
	if run "not a host: $text" 2 "$A2Y" "$TMP/bad.txt"; then
		expect_eq "not a host: $text: message" "$ERR" \
			"allowlist-to-yaml: $TMP/bad.txt:3: not a host name: '$text'"
		expect_eq "not a host: $text: no output" "$OUT" ""
	fi
}
for b in 'https://x.test/' 'x.test/path' 'x.test:443' 'foo bar.test' 'a.*.test' 'x*.test' '*' \
	'*.' '**.test' 'a..test' '.a.test' 'a.test.' '-a.test'; do
	bad_line "$b"
done
run "not a host on stdin" 2 "$A2Y" <<<$'a.test\nb/c' &&
	expect_eq "not a host on stdin" "$ERR" "allowlist-to-yaml: (standard input):2: not a host name: 'b/c'"
run "allowlist-to-yaml missing file" 2 "$A2Y" "$TMP/nonexistent.txt" &&
	expect "allowlist-to-yaml missing file" "$ERR" "allowlist-to-yaml: $TMP/nonexistent.txt: cannot read it"

# --- ci-summary ---

run "ci-summary --help" 0 "$CIS" --help &&
	expect "ci-summary --help" "$OUT" "usage: ci-summary [AUDIT-OPTION...]"

# A database of one weak run: one request allowed, one denied (auditcli.sh and
# weak.sh make theirs the same way).
DB=$TMP/audit.db
start_origin origin
OP=$origin_PORT
if run "a run writes the database" 0 "$J" --weak --audit-db "$DB" \
	-r "allow-get: ^http://a\\.test:$OP/" --resolve "a.test:$OP:127.0.0.1" --resolve "b.test:$OP:127.0.0.1" \
	-- sh -c "curl -s -o /dev/null http://a.test:$OP/echo; curl -s -o /dev/null http://b.test:$OP/denied"; then
	pass "a run writes the database"
fi
run "the report" 0 "$J" audit report --format markdown --audit-db "$DB" &&
	printf '%s\n' "$OUT" > "$TMP/report.md"
expect "the report has the denied request" "$(cat "$TMP/report.md")" "| GET | \`http://b.test:$OP/denied\` | default | 1 |"

# Appended twice to an existing summary, what was there kept.
printf '## Build\n\nok\n' > "$TMP/sum.md"
for i in 1 2; do
	run "ci-summary appends ($i)" 0 env HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$DB" \
		GITHUB_STEP_SUMMARY="$TMP/sum.md" "$CIS" &&
		expect_eq "ci-summary prints nothing when appending ($i)" "$OUT" ""
done
{ printf '## Build\n\nok\n\n'; cat "$TMP/report.md"; echo; cat "$TMP/report.md"; } > "$TMP/want.md"
cmp -s "$TMP/sum.md" "$TMP/want.md" && pass "ci-summary: summary kept, report appended twice" ||
	fail "ci-summary: summary kept, report appended twice" "$(diff "$TMP/want.md" "$TMP/sum.md")"

# No $GITHUB_STEP_SUMMARY (or an empty one): the report on stdout.
run "ci-summary prints" 0 env -u GITHUB_STEP_SUMMARY HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$DB" "$CIS" &&
	expect_eq "ci-summary prints the report" "$OUT" "$(cat "$TMP/report.md")"
run "ci-summary empty variable" 0 env GITHUB_STEP_SUMMARY= HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$DB" "$CIS" &&
	expect_eq "ci-summary empty variable prints" "$OUT" "$(cat "$TMP/report.md")"
# Arguments go to audit report; httpjail is found on PATH without $HTTPJAIL.
mkdir -p "$TMP/bin"
ln -s "$J" "$TMP/bin/httpjail"
run "ci-summary arguments and PATH" 0 env -u HTTPJAIL -u GITHUB_STEP_SUMMARY PATH="$TMP/bin:$PATH" \
	"$CIS" --audit-db "$DB" --run 1 --denied &&
	expect "ci-summary arguments and PATH" "$OUT" "### httpjail audit: run 1"

# Failures: httpjail's status, nothing appended.
cp "$TMP/sum.md" "$TMP/before.md"
run "ci-summary no database" 125 env HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$TMP/nonexistent.db" \
	GITHUB_STEP_SUMMARY="$TMP/sum.md" "$CIS" &&
	expect "ci-summary no database: httpjail says why" "$ERR" "$TMP/nonexistent.db"
run "ci-summary no such run" 1 env HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$DB" \
	GITHUB_STEP_SUMMARY="$TMP/sum.md" "$CIS" --run 99 && pass "ci-summary no such run"
run "ci-summary usage error" 2 env HTTPJAIL="$J" HTTPJAIL_AUDIT_DB="$DB" \
	GITHUB_STEP_SUMMARY="$TMP/sum.md" "$CIS" --format csv && pass "ci-summary usage error"
# An httpjail that fails half way through its output.
printf '#!/bin/sh\necho "### half a report"\nexit 125\n' > "$TMP/bin/broken"
chmod +x "$TMP/bin/broken"
run "ci-summary failing half way" 125 env HTTPJAIL="$TMP/bin/broken" \
	GITHUB_STEP_SUMMARY="$TMP/sum.md" "$CIS" && pass "ci-summary failing half way"
cmp -s "$TMP/sum.md" "$TMP/before.md" && pass "ci-summary: a failure appends nothing" ||
	fail "ci-summary: a failure appends nothing" "$(diff "$TMP/before.md" "$TMP/sum.md")"
