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
