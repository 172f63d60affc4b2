#!/bin/bash
# httpjail --weak -- COMMAND: proxy variables, decisions, exit statuses, signals,
# --timeout, --dry-run, --log-only.
. "$(dirname "$0")/proxylib.sh"

start_origin origin
OP=$origin_PORT
J=("$HTTPJAIL_BIN" --weak -r "allow-get: ^http://a\\.test:$OP/echo" --resolve "a.test:$OP:127.0.0.1")

run "weak allow" 0 "${J[@]}" -- curl -s "http://a.test:$OP/echo?weak" &&
	expect "weak: curl through HTTP_PROXY is allowed" "$OUT" '"query": "weak"'
run "weak deny" 0 "${J[@]}" -- curl -s -o /dev/null -w '%{http_code}' "http://a.test:$OP/other" &&
	expect_eq "weak: denied request gets 403" "$OUT" "403"
run "weak python" 0 "${J[@]}" -- python3 -c \
	"import urllib.request; print(urllib.request.urlopen('http://a.test:$OP/echo?py').read().decode())" &&
	expect "weak: python urllib goes through the proxy" "$OUT" '"query": "py"'

NO_PROXY=a.test no_proxy=a.test run "weak env" 0 "${J[@]}" -- sh -c \
	'echo "$HTTP_PROXY $HTTPS_PROXY $http_proxy $https_proxy $ALL_PROXY $all_proxy [${NO_PROXY-unset}${no_proxy-unset}]"' &&
	{ [[ $OUT =~ ^(http://127\.0\.0\.1:[0-9]+\ ){5}http://127\.0\.0\.1:[0-9]+\ \[unsetunset\]$ ]] &&
		pass "weak: proxy variables set, NO_PROXY removed" ||
		fail "weak: proxy variables set, NO_PROXY removed" "$OUT"; }

run "exit status" 3 "${J[@]}" -- sh -c 'exit 3' && pass "weak: the command's exit status"
run "signal status" 143 "${J[@]}" -- sh -c 'kill -TERM $$' && pass "weak: 128+N when killed by a signal"
run "not found" 127 "${J[@]}" -- /nonexistent/command &&
	expect "weak: not found is 127 with a message" "$ERR" "httpjail: /nonexistent/command: No such file or directory"
start=$(date +%s)
run "timeout" 124 "${J[@]}" --timeout 1 -- sleep 30 && pass "weak: --timeout exits 124"
[ $(( $(date +%s) - start )) -lt 5 ] && pass "weak: --timeout stops the command promptly" ||
	fail "weak: --timeout stops the command promptly" "took $(( $(date +%s) - start )) s"
run "timeout kills" 124 "${J[@]}" --timeout 1 -- sh -c 'trap "" TERM; sleep 30' &&
	pass "weak: SIGKILL follows when SIGTERM is ignored"

expect_term_passed_on "weak: SIGTERM is forwarded to the command" "${J[@]}"

run "dry run" 0 "${J[@]}" --dry-run -v --request-log "$TMP/dry.log" -- \
	curl -s -o /dev/null -w '%{http_code}' "http://a.test:$OP/other" &&
	expect_eq "dry-run: a denied request passes" "$OUT" "200"
expect "dry-run: -v says not enforced" "$ERR" "httpjail: deny (not enforced) GET http://a.test:$OP/other"
expect "dry-run: request log says not blocked" "$(cat "$TMP/dry.log")" "+ GET http://a.test:$OP/other"
run "log only" 0 "${J[@]}" --log-only -v -- \
	curl -s -o /dev/null -w '%{http_code}' -X POST "http://a.test:$OP/other" &&
	expect_eq "log-only: everything passes" "$OUT" "200"
expect "log-only: -v names the engine" "$ERR" "log-only"
run "dry and log" 2 "${J[@]}" --dry-run --log-only -- true &&
	expect "--dry-run with --log-only is a usage error" "$ERR" "choose one"

# -v: one line per decision and a closing tally; colored only on a terminal and
# without NO_COLOR; -q: nothing but errors.
three="curl -s -o /dev/null http://a.test:$OP/echo; curl -s -o /dev/null http://a.test:$OP/x"
three="$three; curl -s -o /dev/null http://b.test:$OP/echo"
run "verbose" 0 "${J[@]}" --no-audit -v -- sh -c "$three" &&
	expect_eq "-v: a line per decision, then the tally" "$ERR" \
"httpjail: allow GET http://a.test:$OP/echo (rule 1, -r 1)
httpjail: deny GET http://a.test:$OP/x (default deny)
httpjail: deny GET http://b.test:$OP/echo (default deny)
httpjail: 1 allowed, 2 denied, 2 hosts"
run "verbose dry" 0 "${J[@]}" --no-audit -v --dry-run -- sh -c "$three" &&
	expect "-v under --dry-run tallies what would be denied" "$ERR" \
		"httpjail: 1 allowed, 0 denied, 2 would be denied, 2 hosts"
run "quiet" 0 "${J[@]}" --no-audit -q -- sh -c "$three" && expect_eq "-q prints nothing" "$ERR" ""
run "quiet error" 127 "${J[@]}" --no-audit -q -- /nonexistent/command &&
	expect "-q still prints errors" "$ERR" "httpjail: /nonexistent/command: No such file or directory"
run "default" 0 "${J[@]}" --no-audit -- sh -c "$three" &&
	expect_eq "without -v no decision lines" "$ERR" ""
if command -v script >/dev/null; then
	# tty_v ENV [OPTION]: the three requests with -v on a pseudo-terminal.
	tty_v() { SHELL=/bin/sh script -qec "exec env $1 ${J[*]@Q} --no-audit -v ${2-} -- sh -c ${three@Q} 2>&1" /dev/null; }
	out=$(tty_v TERM=xterm)
	expect "-v on a terminal colors allow green" "$out" $'\e[32mallow\e[m GET'
	expect "-v on a terminal colors deny red" "$out" $'\e[31mdeny\e[m GET'
	out=$(tty_v "TERM=xterm NO_COLOR=1")
	[[ $out == *$'\e['* ]] && fail "NO_COLOR turns the colors off" "$out" ||
		expect "NO_COLOR turns the colors off" "$out" "httpjail: deny GET http://b.test:$OP/echo"
	out=$(tty_v TERM=xterm --dry-run)
	expect "a request --dry-run lets through is yellow" "$out" $'\e[33mdeny (not enforced)\e[m GET'
fi
