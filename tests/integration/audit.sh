#!/bin/bash
# The audit database as runs write it: one row per decision with the right fields,
# nothing lost on SIGTERM or with four runs at once, dry-run and log-only rows, the
# one-line errors for databases that cannot be used, and migration from schema 1.
. "$(dirname "$0")/proxylib.sh"

command -v sqlite3 >/dev/null || { fail "audit" "the sqlite3 shell is missing (make deps)"; exit 0; }
start_origin origin
OP=$origin_PORT
J=("$HTTPJAIL_BIN" --weak --resolve "a.test:$OP:127.0.0.1"
	-r "allow-get: ^http://a\\.test:$OP/echo" -r "deny: ^http://a\\.test:$OP/no")
q() { sqlite3 "$DB" "$1" 2>&1; }

# 10,000 requests on keep-alive, one in ten denied: exactly 10,000 rows.
DB=$TMP/load.db
python3 - "$OP" > "$TMP/urls.cfg" <<'P'
import sys
port = sys.argv[1]
for i in range(10000):
    path = "no" if i % 10 == 9 else "echo"
    print(f'url = "http://a.test:{port}/{path}?i={i}"\noutput = "/dev/null"')
P
run "load" 0 "${J[@]}" --audit-db "$DB" -- curl -s -K "$TMP/urls.cfg" -w '%{http_code}\n'
expect_eq "10,000 requests: 9,000 answered 200" "$(grep -c '^200$' <<<"$OUT")" 9000
expect_eq "and 1,000 answered 403" "$(grep -c '^403$' <<<"$OUT")" 1000
expect_eq "10,000 rows" "$(q 'SELECT count(*) FROM decisions')" 10000
expect_eq "one row per request (distinct queries)" \
	"$(q 'SELECT count(DISTINCT query) FROM decisions')" 10000
expect_eq "allowed rows: kind, method, verdict, rule, status, outcome" \
	"$(q "SELECT count(*) FROM decisions WHERE kind = 'http' AND method = 'GET'
		AND verdict = 'allow' AND enforced = 1 AND rule_index = 1 AND rule_source = '-r 1'
		AND engine = 'policy' AND status = 200 AND outcome = 'ok' AND bytes_down > 100
		AND bytes_up > 20 AND host = 'a.test' AND port = $OP AND path = '/echo'
		AND url = 'http://a.test:$OP/echo?' || query AND requester = '127.0.0.1'")" 9000
expect_eq "denied rows: rule 2, status 403" \
	"$(q "SELECT count(*) FROM decisions WHERE verdict = 'deny' AND rule_index = 2
		AND rule_source = '-r 2' AND status = 403 AND outcome = 'denied'
		AND path = '/no'")" 1000
expect_eq "timestamps are RFC 3339 UTC with milliseconds" \
	"$(q "SELECT count(*) FROM decisions WHERE ts GLOB
		'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9].[0-9][0-9][0-9]Z'")" 10000
expect_eq "the run row" "$(q "SELECT mode, dry_run, exit_code, json_extract(command, '\$[0]'),
	json_array_length(policy), length(policy_sha256), ended_at >= started_at FROM runs")" \
	"weak|0|0|curl|2|64|1"
expect_eq "WAL mode" "$(q 'PRAGMA journal_mode')" "wal"
expect_eq "schema version" "$(q 'PRAGMA user_version')" "3"
expect_eq "a new database has 16 KiB pages" "$(q 'PRAGMA page_size')" "16384"

# SIGTERM in the middle of a load: every request the client saw answered is a row.
DB=$TMP/term.db
cat > "$TMP/client.py" <<'P'
import http.client, os, sys
port, log = sys.argv[1], open(sys.argv[2], "w")
c = http.client.HTTPConnection("127.0.0.1", int(os.environ["HTTP_PROXY"].rsplit(":", 1)[1]))
for i in range(200000):
    c.request("GET", f"http://a.test:{port}/echo?t={i}")
    r = c.getresponse()
    r.read()
    print(i, r.status, file=log, flush=True)
P
"${J[@]}" --audit-db "$DB" -- python3 "$TMP/client.py" "$OP" "$TMP/client.log" &
jp=$!
for _ in $(seq 100); do [ -s "$TMP/client.log" ] && break; sleep 0.1; done
sleep 1
kill -TERM $jp
wait $jp
expect_eq "SIGTERM: httpjail exits with the command's status" "$?" 143
n=$(wc -l < "$TMP/client.log")
[ "$n" -gt 100 ] && pass "the client got $n answers before SIGTERM" ||
	fail "the client got answers before SIGTERM" "$n"
q "SELECT substr(query, 3) FROM decisions WHERE status = 200" | sort -n > "$TMP/rows"
awk '{print $1}' "$TMP/client.log" | sort -n > "$TMP/answered"
expect_eq "every answered request is in the database" \
	"$(comm -23 "$TMP/answered" "$TMP/rows" | wc -l)" 0
expect_eq "the run row has the exit status" "$(q 'SELECT exit_code, ended_at IS NOT NULL FROM runs')" "143|1"

# Four runs writing one database at once lose nothing.
DB=$TMP/four.db
python3 - "$OP" > "$TMP/urls4.cfg" <<'P'
import sys
for i in range(2000):
    print(f'url = "http://a.test:{sys.argv[1]}/echo?i={i}"\noutput = "/dev/null"')
P
pids=()
for k in 1 2 3 4; do
	"${J[@]}" --audit-db "$DB" -- curl -s -K "$TMP/urls4.cfg" > /dev/null 2> "$TMP/four$k.err" &
	pids+=($!)
done
st=0
for p in "${pids[@]}"; do wait "$p" || st=$?; done
expect_eq "four runs at once all exit 0" "$st $(cat "$TMP"/four?.err)" "0 "
expect_eq "four runs at once: 4 runs, 8,000 rows" \
	"$(q 'SELECT count(*) FROM runs'),$(q 'SELECT count(*) FROM decisions')" "4,8000"
expect_eq "2,000 rows for each run" \
	"$(q 'SELECT group_concat(n) FROM (SELECT count(*) AS n FROM decisions GROUP BY run_id)')" \
	"2000,2000,2000,2000"

# --dry-run: the would-be verdict, not enforced; --log-only: allow, engine log-only.
DB=$TMP/dry.db
run "dry run" 0 "${J[@]}" --audit-db "$DB" --dry-run -- \
	curl -s -o /dev/null -w '%{http_code}' "http://a.test:$OP/no"
expect_eq "dry-run: the request passes" "$OUT" 200
expect_eq "dry-run row: deny, not enforced, the deciding rule, the real status" \
	"$(q "SELECT verdict, enforced, rule_source, status FROM decisions")" "deny|0|-r 2|200"
expect_eq "dry-run run row" "$(q 'SELECT dry_run FROM runs')" 1
DB=$TMP/logonly.db
run "log only" 0 "${J[@]}" --audit-db "$DB" --log-only -- \
	curl -s -o /dev/null "http://a.test:$OP/no"
expect_eq "log-only row: allow, engine log-only, not enforced" \
	"$(q "SELECT verdict, engine, enforced FROM decisions")" "allow|log-only|0"

# The policy's audit.db key, relative to the policy file.
mkdir -p "$TMP/pol"
printf 'rules:\n  - {action: allow, pattern: x}\naudit: {db: ./here.db}\n' > "$TMP/pol/p.yaml"
run "audit.db key" 0 "$HTTPJAIL_BIN" --weak -c "$TMP/pol/p.yaml" -- true
DB=$TMP/pol/here.db
expect_eq "audit.db in the policy names the database" "$(q 'SELECT count(*) FROM runs')" 1
# The default: the state directory of the user.
run "default path" 0 "$HTTPJAIL_BIN" --weak -r 'allow: x' -- true
DB=$HOME/.local/state/httpjail/audit.db
expect_eq "the default database is ~/.local/state/httpjail/audit.db" \
	"$(q 'SELECT count(*) FROM runs')" 1

# Databases that cannot be used: one line, exit 125, the command never runs.
bad() {
	local name=$1 want=$2
	shift 2
	rm -f "$TMP/ran"
	run "$name" 125 "$@" -- touch "$TMP/ran"
	expect "$name: one line saying so" "$ERR" "$want"
	expect_eq "$name: one line" "$(wc -l <<<"$ERR")" 1
	[ ! -e "$TMP/ran" ] && pass "$name: the command did not run" ||
		fail "$name: the command did not run" "it ran"
}
head -c 8192 /dev/urandom > "$TMP/corrupt.db"
bad "corrupt database" "corrupt.db: cannot read the audit database: file is not a database" \
	"${J[@]}" --audit-db "$TMP/corrupt.db"
sqlite3 "$TMP/foreign.db" 'CREATE TABLE notes(x); INSERT INTO notes VALUES (1)'
before=$(sha256sum < "$TMP/foreign.db")
bad "foreign database" "foreign.db: not an httpjail audit database" \
	"${J[@]}" --audit-db "$TMP/foreign.db"
expect_eq "a foreign database is left as it was" "$(sha256sum < "$TMP/foreign.db")" "$before"
sqlite3 "$TMP/newer.db" "$(sqlite3 "$TMP/load.db" .schema | grep -v sqlite_sequence)
	PRAGMA application_id = 1212826953; PRAGMA user_version = 9;"
bad "newer schema" "newer.db: audit schema 9 is newer than this httpjail's (3)" \
	"${J[@]}" --audit-db "$TMP/newer.db"
mkdir -p "$TMP/ro"
if unshare -m true 2>/dev/null; then
	rm -f "$TMP/ran"
	out=$(unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" &&
		shift && exec "$@"' sh "$TMP/ro" "${J[@]}" --audit-db "$TMP/ro/a.db" -- touch "$TMP/ran" 2>&1)
	expect_eq "read-only directory: exit 125" "$?" 125
	expect "read-only directory: one line" "$out" "ro/a.db: cannot create the audit database: Read-only file system"
	[ ! -e "$TMP/ran" ] && pass "read-only directory: the command did not run" ||
		fail "read-only directory: the command did not run" "it ran"
	# A disk that fills up during the run: said at the end, exit 125, and the request
	# log still has every decision.
	mkdir -p "$TMP/small"
	out=$(unshare -m sh -c 'mount -t tmpfs -o size=160k tmpfs "$1" && shift && exec "$@"' sh \
		"$TMP/small" "${J[@]}" --audit-db "$TMP/small/a.db" --request-log "$TMP/full.log" -- \
		curl -s -K "$TMP/urls.cfg" 2>&1)
	expect_eq "disk full mid-run: exit 125" "$?" 125
	expect "disk full mid-run: said at the end" "$out" "small/a.db: cannot write the audit database: database or disk is full"
	expect "disk full mid-run: how many were lost" "$out" "decisions not recorded)"
	expect_eq "disk full mid-run: the request log has every decision" "$(wc -l < "$TMP/full.log")" 10000
else
	skip "read-only and full disks" "unshare -m is refused here"
fi
run "--no-audit needs no database" 0 "${J[@]}" --no-audit --audit-db "$TMP/corrupt.db" -- true

# Under sudo the database and the directories made for it belong to the invoking user.
if real_root; then
	run "sudo owner" 0 env SUDO_UID=65534 SUDO_GID=65534 SUDO_USER=nobody \
		"${J[@]}" --no-tls-intercept --audit-db "$TMP/sudo/state/a.db" -- true
	expect_eq "under sudo: directory and file belong to the invoking user" \
		"$(stat -c %u:%g "$TMP/sudo/state" "$TMP/sudo/state/a.db" | sort -u)" "65534:65534"
	DB=$TMP/sudo/state/a.db
	expect_eq "under sudo: the run's user is the invoking user" "$(q 'SELECT user FROM runs')" nobody
else
	skip "under sudo" "run by a user: files cannot be given to another"
fi

# Schema 1 (SPEC section 7's columns, no application_id) is brought up to date.
DB=$TMP/v1.db
sqlite3 "$DB" <<'S'
CREATE TABLE runs(id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
  mode TEXT NOT NULL, command TEXT NOT NULL, cwd TEXT, user TEXT, policy TEXT,
  policy_sha256 TEXT, dry_run INTEGER NOT NULL, exit_code INTEGER);
CREATE TABLE decisions(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
  ts TEXT NOT NULL, kind TEXT NOT NULL, method TEXT, scheme TEXT, host TEXT, port INTEGER,
  path TEXT, url TEXT, verdict TEXT NOT NULL, enforced INTEGER NOT NULL, rule_index INTEGER,
  rule_source TEXT, rule_text TEXT, engine TEXT, reason TEXT, hook_exit INTEGER,
  decide_us INTEGER, status INTEGER, bytes_up INTEGER, bytes_down INTEGER);
INSERT INTO runs VALUES (1, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.000Z', 'weak',
  '["npm","ci"]', '/src', 'ci', '["rules.yaml"]', 'ab', 0, 0);
INSERT INTO decisions(run_id, ts, kind, method, scheme, host, port, path, url, verdict,
  enforced, rule_index, rule_source, status) VALUES (1, '2026-01-01T00:00:00.500Z', 'https',
  'GET', 'https', 'registry.npmjs.org', 443, '/x', 'https://registry.npmjs.org/x', 'allow', 1,
  1, 'rules.yaml:3', 200);
PRAGMA user_version = 1;
S
run "v1 database" 0 "${J[@]}" --audit-db "$DB" -- curl -s -o /dev/null "http://a.test:$OP/echo?v2"
expect_eq "migrated to schema 3" "$(q 'PRAGMA user_version'),$(q 'PRAGMA application_id')" "3,1212826953"
expect_eq "the old rows are kept" \
	"$(q "SELECT host, rule_source, status FROM decisions WHERE run_id = 1")" \
	"registry.npmjs.org|rules.yaml:3|200"
expect_eq "new rows go next to them, with the new columns" \
	"$(q "SELECT run_id, query, outcome FROM decisions WHERE id = 2")" "2|v2|ok"
expect_eq "runs have the column of schema 3, empty without a reload" \
	"$(q "SELECT count(*) FROM runs WHERE reloads IS NULL")" "2"

# suggest: a policy that compiles, allows again exactly what the run did, and nothing
# else; replay: exactly the decisions whose verdict a new policy changes.
DB=$TMP/suggest.db
cat > "$TMP/run.yaml" <<Y
rules:
  - {action: allow, host: a.test}
  - {action: deny, pattern: .}
Y
cat > "$TMP/paths" <<P
GET /echo
GET /api/v1/users
GET /api/v1/repos
GET /api/v2/x
HEAD /api/v2/x
GET /static/a.js
POST /upload
P
run "suggest source run" 0 "$HTTPJAIL_BIN" --weak -c "$TMP/run.yaml" --audit-db "$DB" \
	--resolve "a.test:$OP:127.0.0.1" --resolve "b.test:$OP:127.0.0.1" -- sh -c '
	while read -r m p; do
		if [ "$m" = HEAD ]; then h=-I; else h="-X $m"; fi
		curl -s -o /dev/null $h "http://a.test:$1$p?k=1" || exit 1
	done < "$2"
	curl -s -o /dev/null "http://b.test:$1/blocked"' sh "$OP" "$TMP/paths"
run "audit suggest" 0 "$HTTPJAIL_BIN" audit --audit-db "$DB" suggest
printf '%s\n' "$OUT" > "$TMP/suggested.yaml"
run "the suggestion compiles" 0 "$HTTPJAIL_BIN" check -c "$TMP/suggested.yaml"
expect "suggest groups paths sharing a directory" "$(cat "$TMP/suggested.yaml")" \
	"pattern: '^http://a\\.test:$OP/api/'"
expect "suggest keeps a lone path exact" "$(cat "$TMP/suggested.yaml")" \
	"pattern: '^http://a\\.test:$OP/upload(\\?|\$)'"
expect "suggest says what it left out" "$(cat "$TMP/suggested.yaml")" \
	"# Left out: 1 request blocked in the run (b.test)."
run "replay with the suggestion" 0 "$HTTPJAIL_BIN" audit --audit-db "$DB" --format csv \
	replay -c "$TMP/suggested.yaml"
expect_eq "replaying the run under its suggestion changes nothing" "$OUT" "id,method,url,was,now"
run "suggestion denies another host" 1 "$HTTPJAIL_BIN" --test "http://c.test:$OP/echo" \
	-c "$TMP/suggested.yaml"
run "suggestion denies another method" 1 "$HTTPJAIL_BIN" --test DELETE \
	"http://a.test:$OP/echo" -c "$TMP/suggested.yaml"
run "suggestion allows what was seen" 0 "$HTTPJAIL_BIN" --test HEAD \
	"http://a.test:$OP/api/v2/x?other=2" -c "$TMP/suggested.yaml"
run "replay a narrower policy" 0 "$HTTPJAIL_BIN" audit --audit-db "$DB" --format csv \
	replay -r "allow-get,head: ^http://a\\.test:$OP/api/" -r "allow: ^http://b\\.test"
expect_eq "replay prints exactly the changed decisions" "$OUT" \
"id,method,url,was,now
1,GET,http://a.test:$OP/echo?k=1,allow $TMP/run.yaml:2,deny default
6,GET,http://a.test:$OP/static/a.js?k=1,allow $TMP/run.yaml:2,deny default
7,POST,http://a.test:$OP/upload?k=1,allow $TMP/run.yaml:2,deny default
8,GET,http://b.test:$OP/blocked,deny $TMP/run.yaml:3,allow -r 2"

# scripts/audit-denied: the sqlite3 shell example of the man page.
run "audit-denied --help" 0 "$ROOT/scripts/audit-denied" --help &&
	expect "audit-denied --help" "$OUT" "usage: audit-denied [DB]"
run "audit-denied" 0 "$ROOT/scripts/audit-denied" "$TMP/suggest.db"
expect "audit-denied lists the denied URL of the last run" "$OUT" "http://b.test:$OP/blocked"
expect "audit-denied counts it with its rule" "$OUT" "$TMP/run.yaml:3"
expect_eq "audit-denied: a header and one row" "$(wc -l <<<"$OUT")" 3

# The command is stored as valid JSON whatever bytes its arguments hold.
DB=$TMP/argv.db
run "odd argv" 0 "${J[@]}" --audit-db "$DB" -- sh -c true "$(printf 'a"b\\c\001\xff\xc3\xa9')"
expect_eq "runs.command is valid JSON, invalid UTF-8 as U+FFFD" \
	"$(q "SELECT json_valid(command), json_extract(command, '\$[3]') = 'a\"b\\c' || char(1, 65533, 233) FROM runs")" "1|1"
