#!/bin/bash
# The built binary's --test and check: verdicts, rules named, exit codes, messages.
. "$(dirname "$0")/lib.sh"
J=$HTTPJAIL_BIN

cat > "$TMP/p.yaml" <<'Y'
rules:
  - action: allow
    host: registry.npmjs.org
    methods: [GET, HEAD]
  - action: deny
    pattern: telemetry
  - action: allow
    pattern: '^https://api\.github\.com/repos/'
Y

run "test allow" 0 "$J" -c "$TMP/p.yaml" --test https://registry.npmjs.org/left-pad &&
	expect_eq "test allow output" "$OUT" "allow GET https://registry.npmjs.org/left-pad
rule 1 $TMP/p.yaml:2: allow host=registry.npmjs.org methods=GET,HEAD"
run "test method lower case" 0 "$J" -c "$TMP/p.yaml" --test head https://registry.npmjs.org/ &&
	expect "test method lower case" "$OUT" "allow HEAD https://registry.npmjs.org/"
run "test method denied" 1 "$J" -c "$TMP/p.yaml" --test PUT https://registry.npmjs.org/x &&
	expect_eq "test default deny" "$OUT" "deny PUT https://registry.npmjs.org/x
default deny"
run "test deny rule" 1 "$J" -c "$TMP/p.yaml" --test https://api.github.com/repos/telemetry &&
	expect "test deny rule names it" "$OUT" "rule 2 $TMP/p.yaml:5: deny pattern='telemetry'"
run "test normalised URL" 0 "$J" -c "$TMP/p.yaml" --test 'HTTPS://API.GitHub.com:443/repos/x?y#z' &&
	expect "test normalised URL" "$OUT" "allow GET https://api.github.com/repos/x?y"
run "test look-alike host" 1 "$J" -c "$TMP/p.yaml" --test https://registry.npmjs.org.evil.test/ &&
	pass "look-alike host denied"

# -r rules come after -c rules, in the order given.
run "r after c" 1 "$J" -c "$TMP/p.yaml" -r 'deny: ^https://registry' -r 'allow-post: ^https://registry' \
	--test POST https://registry.npmjs.org/ &&
	expect "r after c" "$OUT" "rule 4 -r 1: deny pattern='^https://registry'"
run "r methods" 0 "$J" -r 'allow-get,HEAD: ^https://a\.test/' --test head https://a.test/x &&
	pass "r methods"

# sh rules: the program sees the request; exit 0 matches, 1 does not, others deny.
printf 'a.test\nb.test\n' > "$TMP/allow.txt"
sh="grep -qx \"\$HTTPJAIL_HOST\" $TMP/allow.txt"
run "sh allow" 0 "$J" --sh "$sh" --test https://b.test/x && expect "sh allow" "$OUT" "rule 1 --sh: allow sh="
run "sh no match" 1 "$J" --sh "$sh" --test https://c.test/x && expect "sh no match" "$OUT" "default deny"
run "sh error" 1 "$J" --sh 'echo "not today: $HTTPJAIL_METHOD $HTTPJAIL_URL"; exit 3' --test POST https://a.test/p &&
	expect_eq "sh error output" "$OUT" "deny POST https://a.test/p
rule 1 --sh: allow sh='echo \"not today: \$HTTPJAIL_METHOD \$HTTPJAIL_URL\"; exit 3'
hook error: exit 3
hook output: not today: POST https://a.test/p"
cat > "$TMP/slow.yaml" <<'Y'
hooks: {timeout: 200ms}
rules:
  - {action: allow, sh: 'sleep 5'}
Y
start=$(date +%s)
run "sh timeout" 1 "$J" -c "$TMP/slow.yaml" --test https://a.test/ &&
	expect "sh timeout reason" "$OUT" "hook error: timed out after 200 ms"
[ $(( $(date +%s) - start )) -lt 4 ] && pass "sh timeout kills the hook" ||
	fail "sh timeout kills the hook" "took $(( $(date +%s) - start )) s"
run "sh direct exec" 0 "$J" --sh true --test https://a.test/ && pass "sh direct exec"
run "sh not found" 1 "$J" --sh /nonexistent/decider --test https://a.test/ &&
	expect "sh not found" "$OUT" "hook error:"

# Includes by bare name come from HTTPJAIL_RULESETS.
mkdir -p "$TMP/rs"
printf 'rules:\n  - {action: allow, host: "*.pkg.test"}\n' > "$TMP/rs/pkgs.yaml"
printf 'include: [pkgs]\n' > "$TMP/inc.yaml"
HTTPJAIL_RULESETS=$TMP/rs run "include by name" 0 "$J" -c "$TMP/inc.yaml" --test https://cdn.pkg.test/x &&
	expect "include by name" "$OUT" "rule 1 $TMP/rs/pkgs.yaml:2"

# Errors: one line on stderr, exit 2, nothing run.
err_case() {
	local name=$1 want=$2
	shift 2
	if run "$name" 2 "$@"; then
		expect_eq "$name message" "$ERR" "$want"
	fi
}
err_case "bad url" "httpjail: --test: 'example.com': not an absolute URL (expected SCHEME://HOST/...)" \
	"$J" -r 'allow: x' --test example.com
err_case "bad method" "httpjail: --test: 'G(T' is not an HTTP method" "$J" --test 'G(T' https://a.test/
err_case "test no args" "httpjail: --test: expected [METHOD] URL, got 0 arguments" "$J" --test
err_case "bad r" "httpjail: -r 2: unknown action 'alow' (did you mean 'allow'?)" \
	"$J" -r 'allow: x' -r 'alow: y' --test https://a.test/
err_case "missing file" "httpjail: $TMP/none.yaml: No such file or directory" \
	"$J" -c "$TMP/none.yaml" --test https://a.test/
printf 'rules:\n  - action: allow\n    hots: a.test\n' > "$TMP/bad.yaml"
err_case "policy error in --test" "httpjail: $TMP/bad.yaml:3:5: rule 1: unknown key 'hots' (did you mean 'host'?)" \
	"$J" -c "$TMP/bad.yaml" --test https://a.test/
err_case "policy error in check" "httpjail: $TMP/bad.yaml:3:5: rule 1: unknown key 'hots' (did you mean 'host'?)" \
	"$J" check -c "$TMP/bad.yaml"
err_case "unknown option" "httpjail: --frobnicate: unknown option (see httpjail --help)" "$J" --frobnicate
err_case "missing argument" "httpjail: -c: missing argument (see httpjail --help)" "$J" check -c
err_case "check extra argument" "httpjail: check: unexpected argument 'x' (usage: httpjail check [-c FILE]... [-r RULE]...)" \
	"$J" check -r 'allow: x' x
err_case "nothing to run" "httpjail: nothing to run (usage: httpjail [OPTIONS] -- COMMAND, or --test URL; see --help)" "$J" -r 'allow: x'

# A policy error runs nothing.
run "policy error runs nothing" 2 "$J" -r 'alow: x' -- touch "$TMP/ran" &&
	{ [ ! -e "$TMP/ran" ] && pass "a policy error runs nothing" || fail "a policy error runs nothing" "command ran"; }

# check prints the pipeline with sources, the default and a tally.
run "check" 0 "$J" check -c "$TMP/p.yaml" -r 'deny-post: ^https://x\.test/' &&
	expect_eq "check output" "$OUT" "   1  $TMP/p.yaml:2  allow host=registry.npmjs.org methods=GET,HEAD
   2  $TMP/p.yaml:5  deny pattern='telemetry'
   3  $TMP/p.yaml:7  allow pattern='^https://api\\.github\\.com/repos/'
   4  -r 1$(printf '%*s' $(( ${#TMP} + 9 - 4 )) '')  deny methods=POST pattern='^https://x\\.test/'
   -  default$(printf '%*s' $(( ${#TMP} + 9 - 7 )) '')  deny
4 rules, 0 warnings"
run "check warnings" 0 "$J" check -r 'allow: github\.com' -r 'allow: github\.com' &&
	expect "check warns shadowed" "$ERR" "httpjail: warning: -r 2: rule 2 (allow pattern='github\\.com') can never match: rule 1 (-r 1)" &&
	expect "check warns unanchored" "$ERR" "httpjail: warning: -r 1: rule 1: pattern 'github\\.com' is not anchored" &&
	expect "check tally" "$OUT" "2 rules, 3 warnings"
run "check no-tls-intercept" 0 "$J" check --no-tls-intercept -r 'allow-get: ^https://a\.test/' &&
	expect "check no-tls-intercept" "$ERR" "methods cannot be enforced on HTTPS without TLS interception"

# A policy on a pipe: its includes are relative to the working directory.
printf 'version: 1\nrules: [{action: allow, host: a.test}]\n' > "$TMP/inc.yaml"
out=$(cd "$TMP" && printf 'version: 1\ninclude: [./inc.yaml]\n' | "$J" check -c /dev/stdin 2>&1)
expect "-c /dev/stdin reads a pipe, includes from the working directory" "$out" "inc.yaml:2  allow host=a.test"
out=$(cd "$TMP" && "$J" -c <(printf 'version: 1\nrules: [{action: allow, host: a.test}]\n') --test https://a.test/)
expect "-c <(...) works" "$out" "allow GET https://a.test/"

# An included file's default decides for the whole policy: check warns, unless the
# including file sets its own.
printf 'version: 1\ndefault: allow\n' > "$TMP/incdef.yaml"
printf 'version: 1\ninclude: [./incdef.yaml]\n' > "$TMP/topdef.yaml"
run "included default" 0 "$J" check -c "$TMP/topdef.yaml" &&
	expect_eq "check warns about an included file's default" "$ERR" \
		"httpjail: warning: $TMP/incdef.yaml:2:10: default: an included file sets the default of the whole policy (deny when no file sets it); set it in the including file"
printf 'version: 1\ninclude: [./incdef.yaml]\ndefault: deny\n' > "$TMP/topdef.yaml"
run "included default overridden" 0 "$J" check -c "$TMP/topdef.yaml" &&
	expect_eq "no warning when the including file sets the default" "$ERR" ""

# A path with a dot segment is refused before any rule (the proxy answers 400).
run "dots" 1 "$J" -r 'allow: ^https://a\.test/v1/' --test POST 'https://a.test/v1/%2e%2e/admin' &&
	expect "--test: a dot segment is refused before any rule" "$OUT" "refused before any rule: dot segment in path (400)"

# The shipped example policy compiles without a warning.
run "example" 0 "$J" check -c "$ROOT/httpjail.yaml.example" &&
	{ [ -z "$ERR" ] && expect "example has no warnings" "$OUT" " rules, 0 warnings" ||
		fail "example has no warnings" "$ERR"; }

run "help" 0 "$J" --help && expect "help lists --sh" "$OUT" "--sh CMD"
run "ca --help" 0 "$J" ca --help && expect "ca --help prints the verbs" "$OUT" "usage: httpjail ca path|show|export|regenerate"
run "version" 0 "$J" --version && expect "version" "$OUT" "httpjail "
# The libraries as loaded: their own version strings, compared with what they say.
expect "--version names OpenSSL's" "$OUT" "$(openssl version | cut -d' ' -f1-2)"
expect "--version names SQLite's" "$OUT" "SQLite $(sqlite3 -version | cut -d' ' -f1)"
for lib in PCRE2 libnftables libyaml Hyperscan c-ares libev; do
	grep -qE "^$lib [0-9]+\.[0-9]+" <<<"$OUT" && pass "--version names $lib's" ||
		fail "--version names $lib's" "$OUT"
done

# Hyperscan is loaded when a policy has enough patterns without a literal, not at start.
ldd "$J" | grep -q 'libhs\.so' && fail "httpjail is not linked to libhs" "$(ldd "$J")" ||
	pass "httpjail is not linked to libhs"
alts=()
for i in 1 2 3 4 5 6; do alts+=(-r "deny: (svc$i|api$i)[.]alt[.]t"); done
run "scan of six patterns" 1 "$J" "${alts[@]}" -r 'allow: ^https://' --test https://api5.alt.test/ &&
	expect "six patterns without a literal: the fifth decides" "$OUT" "rule 5 -r 5: deny"
run "scan of six patterns, none" 0 "$J" "${alts[@]}" -r 'allow: ^https://' --test https://api7.alt.test/ &&
	expect "six patterns without a literal: none matches" "$OUT" "rule 7 -r 7: allow"

# What a connection that is not decrypted shows: the host only, as CONNECT.
run "no intercept view" 1 "$J" --no-tls-intercept -r 'allow-get: ^https://a\.test/x' --test https://a.test/x &&
	expect_eq "no intercept view" "$OUT" "not intercepted: decided as CONNECT on the host only
deny CONNECT https://a.test/
default deny"
run "no intercept host rule" 0 "$J" --no-tls-intercept -r 'allow: ^https://a\.test:8443/$' --test https://a.test:8443/x?y &&
	expect "no intercept host rule" "$OUT" "allow CONNECT https://a.test:8443/"
printf 'tls: {passthrough: [pinned.test]}\nrules:\n  - {action: allow, host: pinned.test}\n' > "$TMP/pass.yaml"
run "passthrough view" 0 "$J" -c "$TMP/pass.yaml" --test POST https://pinned.test/upload &&
	expect "passthrough view" "$OUT" "allow CONNECT https://pinned.test/"
run "passthrough plain http" 0 "$J" -c "$TMP/pass.yaml" --test POST http://pinned.test/upload &&
	expect "passthrough plain http is decided in full" "$OUT" "allow POST http://pinned.test/upload"
run "tcp is CONNECT" 0 "$J" -r 'allow-connect: ^tcp://git\.test:22$' --test tcp://git.test:22 &&
	expect "tcp is CONNECT" "$OUT" "allow CONNECT tcp://git.test:22"
err_case "tcp with GET" "httpjail: --test: a tcp:// URL is decided with method CONNECT, not GET" \
	"$J" -r 'allow: x' --test GET tcp://git.test:22
err_case "policy error before running" "httpjail: -r 1: unknown action 'alow' (did you mean 'allow'?)" \
	"$J" -r 'alow: x' -- true

# Mode and address mistakes are usage errors.
err_case "bad listen address" "httpjail: nonsense: expected ADDR:PORT, e.g. 127.0.0.1:8080" \
	"$J" --server --listen nonsense -r 'allow: x'
err_case "listen without server" "httpjail: --listen and --listen-tls go with --server" \
	"$J" --weak --listen 127.0.0.1:1 -r 'allow: x' -- true
err_case "timeout with server" "httpjail: --timeout limits a command; --server runs none" \
	"$J" --server --timeout 3 -r 'allow: x'
err_case "bad resolve" "httpjail: --resolve 'a.test:80': expected HOST:PORT:ADDR" \
	"$J" --weak --resolve a.test:80 -r 'allow: x' -- true
err_case "bad resolve with --test" "httpjail: --resolve 'a.test:80:nowhere': 'nowhere' is not an IP address" \
	"$J" --resolve a.test:80:nowhere -r 'allow: x' --test http://a.test/
err_case "bad resolve with check" "httpjail: --resolve 'a.test:0:127.0.0.1': bad port" \
	"$J" check --resolve a.test:0:127.0.0.1 -r 'allow: x'
err_case "bad timeout" "httpjail: --timeout 'soon': expected a number of seconds" \
	"$J" --weak --timeout soon -r 'allow: x' -- true
