#!/bin/bash
# httpjail audit on a database of known rows: filters, runs, summary, report, export,
# the formats and their escaping, and the errors (exit 1, 2 and 125).
. "$(dirname "$0")/lib.sh"
J=$HTTPJAIL_BIN
DB=$TMP/audit.db

if ! command -v sqlite3 >/dev/null; then
	skip "audit cli" "the sqlite3 shell is not installed (make deps installs it)"
	exit 0
fi

# A run makes the database, so the schema is the one core/audit.c writes.
if run "a run writes the database" 0 "$J" --weak --audit-db "$DB" -r 'allow: .' -- true &&
	run "audit runs after a run" 0 "$J" audit runs --audit-db "$DB" --format csv; then
	expect "audit runs after a run" "$OUT" ',weak,0,0,0,"[""true""]"'
fi
if [ ! -s "$DB" ]; then
	# Version 2 of the schema, by hand, when no run could make it.
	sqlite3 "$DB" <<'SQL'
CREATE TABLE runs(id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, ended_at TEXT,
  mode TEXT NOT NULL, command TEXT NOT NULL, cwd TEXT, user TEXT, policy TEXT,
  policy_sha256 TEXT, dry_run INTEGER NOT NULL, exit_code INTEGER,
  log_only INTEGER NOT NULL DEFAULT 0, hostname TEXT, version TEXT,
  lost INTEGER NOT NULL DEFAULT 0);
CREATE TABLE decisions(id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
  ts TEXT NOT NULL, kind TEXT NOT NULL, method TEXT, scheme TEXT, host TEXT, port INTEGER,
  path TEXT, url TEXT, verdict TEXT NOT NULL, enforced INTEGER NOT NULL, rule_index INTEGER,
  rule_source TEXT, rule_text TEXT, engine TEXT, reason TEXT, hook_exit INTEGER,
  decide_us INTEGER, status INTEGER, bytes_up INTEGER, bytes_down INTEGER, query TEXT,
  requester TEXT, outcome TEXT);
PRAGMA application_id = 1212826953;
PRAGMA user_version = 2;
SQL
fi

# Run 1 enforced (strong); run 2 a dry run (weak). Row 7 is denied but not enforced;
# rows 8 and 9 carry bytes a terminal, JSON and CSV must not take as they are.
sqlite3 "$DB" <<'SQL'
DELETE FROM decisions; DELETE FROM runs;
INSERT INTO runs(id, started_at, ended_at, mode, command, cwd, user, policy, dry_run, exit_code)
VALUES (1, '2020-03-01T10:00:00.000Z', '2020-03-01T10:05:00.000Z', 'strong',
        '["curl","-s","https://a.test/x"]', '/src', 'dev', '["p.yaml"]', 0, 0),
       (2, '2021-06-01T09:00:00.000Z', NULL, 'weak',
        '["npm","install","left pad","it''s"]', '/src', 'dev', '["-r deny: evil"]', 1, 1);
INSERT INTO decisions(id, run_id, ts, kind, method, scheme, host, port, path, url, verdict,
                      enforced, rule_index, rule_source, rule_text, engine, reason, status, outcome)
VALUES
 (1, 1, '2020-03-01T10:00:01.000Z', 'https', 'GET', 'https', 'a.test', 443, '/x',
  'https://a.test/x', 'allow', 1, 1, 'p.yaml:3', 'allow host=a.test', 'policy', NULL, 200, 'ok'),
 (2, 1, '2020-03-01T10:00:02.000Z', 'https', 'POST', 'https', 'a.test', 443, '/upload',
  'https://a.test/upload', 'deny', 1, NULL, NULL, NULL, 'policy', 'default deny', 403, 'denied'),
 (3, 1, '2020-03-01T10:00:03.000Z', 'http', 'GET', 'http', 'b.test', 80, '/',
  'http://b.test/', 'allow', 1, 2, '-r 1', 'allow pattern=b', 'policy', NULL, 200, 'ok'),
 (4, 1, '2020-03-01T10:00:04.000Z', 'dns', NULL, NULL, 'c.test', NULL, NULL,
  NULL, 'deny', 1, NULL, NULL, NULL, 'dns-stub', 'default deny', NULL, 'denied'),
 (5, 1, '2020-03-01T10:00:05.000Z', 'https', 'POST', 'https', 'a.test', 443, '/upload',
  'https://a.test/upload', 'deny', 1, NULL, NULL, NULL, 'policy', 'default deny', 403, 'denied'),
 (6, 2, '2021-06-01T09:00:01.000Z', 'https', 'GET', 'https', 'a.test', 443, '/y',
  'https://a.test/y', 'allow', 1, 1, 'p.yaml:3', 'allow host=a.test', 'policy', NULL, 200, 'ok'),
 (7, 2, '2021-06-01T09:00:02.000Z', 'https', 'PUT', 'https', 'evil.test', 443, '/a|b',
  'https://evil.test/a|b', 'deny', 0, 2, '-r 2', 'deny pattern=evil', 'policy', 'rule 2', 200, 'ok'),
 (8, 2, '2021-06-01T09:00:03.000Z', 'connect', 'CONNECT', NULL, 'd.test', 443, NULL,
  NULL, 'allow', 1, 3, '--sh', 'allow sh=true', 'policy',
  CAST(X'ff41' AS TEXT) || char(27) || '[2J', NULL, 'ok'),
 (9, 2, '2021-06-01T09:00:04.000Z', 'http', 'GET', 'http', 'b.test', 80, '/q',
  'http://b.test/q', 'allow', 1, 2, '-r 1', 'allow pattern=b', 'policy',
  'say "hi",' || char(10) || char(1) || ' é', 200, 'ok');
SQL

ids() {
	python3 -c 'import json, sys; print(" ".join(str(o["id"]) for o in json.load(sys.stdin)))'
}
# ids_case NAME WANT ARGS...: the decision ids `audit ARGS` lists, in order.
ids_case() {
	local name=$1 want=$2
	shift 2
	if run "$name" 0 "$J" audit --audit-db "$DB" --format json "$@"; then
		expect_eq "$name" "$(ids <<<"$OUT")" "$want"
	fi
}

ids_case "default is the last run" "6 7 8 9"
ids_case "--run last" "6 7 8 9" --run last
ids_case "--run 1" "1 2 3 4 5" --run 1
ids_case "--run all" "1 2 3 4 5 6 7 8 9" --run all
ids_case "--run twice" "1 2 3 4 5 6 7 8 9" --run 2 --run 1 --run 2
ids_case "--denied" "7" --denied
ids_case "--denied --run all" "2 4 5 7" --denied --run all
ids_case "--allowed --run 1" "1 3" --allowed --run 1
ids_case "--host" "1 2 5 6" --host '^a\.' --run all
ids_case "--since a date" "6 7 8 9" --since 2021-06-01 --run all
ids_case "--since a time" "3 4 5 6 7 8 9" --since 2020-03-01T10:00:03Z --run all
ids_case "--since a time with an offset" "4 5 6 7 8 9" --since 2020-03-01T11:00:03.5+01:00 --run all
ids_case "--since a duration" "" --since 1h --run all
ids_case "--since a long duration" "1 2 3 4 5 6 7 8 9" --since 100000w --run all
ids_case "--kind" "4" --kind dns --run all
ids_case "--after-id" "8 9" --after-id 7 --run all
ids_case "--since without --run looks at every run" "3 4 5 6 7 8 9" --since 2020-03-01T10:00:03Z
ids_case "--after-id without --run looks at every run" "5 6 7 8 9" --after-id 4
ids_case "--run last narrows --since" "6 7 8 9" --since 2020-03-01T10:00:03Z --run last
ids_case "options after the subcommand" "2 5" list --run 1 --host a.test --denied
HTTPJAIL_AUDIT_DB=$DB run "HTTPJAIL_AUDIT_DB" 0 "$J" audit --format json &&
	expect_eq "HTTPJAIL_AUDIT_DB" "$(ids <<<"$OUT")" "6 7 8 9"
# Not a terminal: JSON.
run "json when not a terminal" 0 "$J" audit --audit-db "$DB" --denied &&
	expect_eq "json when not a terminal" "$(ids <<<"$OUT")" "7"

run "list table" 0 "$J" audit --audit-db "$DB" --run 1 --format table &&
	expect_eq "list table" "$OUT" \
"ID  TS                        RUN  KIND   VERDICT  METHOD  URL                    RULE      STATUS  REASON
 1  2020-03-01T10:00:01.000Z    1  https  allow    GET     https://a.test/x       p.yaml:3     200  -
 2  2020-03-01T10:00:02.000Z    1  https  deny     POST    https://a.test/upload  default      403  default deny
 3  2020-03-01T10:00:03.000Z    1  http   allow    GET     http://b.test/         -r 1         200  -
 4  2020-03-01T10:00:04.000Z    1  dns    deny     -       c.test                 -              -  default deny
 5  2020-03-01T10:00:05.000Z    1  https  deny     POST    https://a.test/upload  default      403  default deny"
run "list table run 2" 0 "$J" audit --audit-db "$DB" --format table &&
	expect "list table escapes invalid UTF-8 and ESC" "$OUT" ' -  \xffA\x1b[2J'
expect "list table escapes controls" "$OUT" '200  say "hi",\x0a\x01 é'
expect "list table not enforced" "$OUT" "deny (not enforced)  PUT      https://evil.test/a|b  -r 2"
expect "list table connect" "$OUT" "CONNECT  d.test:443"

run "list json" 0 "$J" audit --audit-db "$DB" --run all --format json &&
	expect_eq "list json escapes" "$(python3 -c '
import json, sys
d = json.load(sys.stdin)
assert len(d) == 9 and list(d[0])[:3] == ["id", "run_id", "ts"] and len(d[0]) == 25, d[0]
assert d[3]["method"] is None and d[3]["port"] is None and d[0]["port"] == 443
assert d[7]["reason"] == "\ufffdA\x1b[2J", d[7]["reason"]
assert d[8]["reason"] == "say \"hi\",\n\x01 \u00e9", d[8]["reason"]
print("ok")' <<<"$OUT" 2>&1)" "ok"
expect "list json control characters" "$OUT" '"reason":"say \"hi\",\u000a\u0001 é"'

run "list csv" 0 "$J" audit --audit-db "$DB" --run 2 --format csv &&
	expect_eq "list csv header" "$(head -1 <<<"$OUT")" \
		"id,run_id,ts,kind,method,scheme,host,port,path,query,url,verdict,enforced,rule_index,rule_source,rule_text,engine,reason,hook_exit,decide_us,status,bytes_up,bytes_down,requester,outcome" &&
	expect_eq "list csv quoting" "$(python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
assert len(rows) == 5 and rows[4][17] == "say \"hi\",\n\x01 \u00e9", rows
assert rows[1][4] == "GET" and rows[1][9] == "" and rows[1][7] == "443", rows[1]
print("ok")' <<<"$OUT" 2>&1)" "ok"

run "runs table" 0 "$J" audit runs --audit-db "$DB" --format table &&
	expect_eq "runs table" "$OUT" \
"ID  STARTED_AT                ENDED_AT                  MODE    EXIT_CODE  DECISIONS  DENIED  COMMAND
 1  2020-03-01T10:00:00.000Z  2020-03-01T10:05:00.000Z  strong          0          5       3  curl -s https://a.test/x
 2  2021-06-01T09:00:00.000Z  -                         weak            1          4       1  npm install 'left pad' 'it'\\''s'"
run "runs json" 0 "$J" audit runs --audit-db "$DB" &&
	expect_eq "runs json" "$OUT" '[
{"id":1,"started_at":"2020-03-01T10:00:00.000Z","ended_at":"2020-03-01T10:05:00.000Z","mode":"strong","exit_code":0,"decisions":5,"denied":3,"command":["curl","-s","https://a.test/x"]},
{"id":2,"started_at":"2021-06-01T09:00:00.000Z","ended_at":null,"mode":"weak","exit_code":1,"decisions":4,"denied":1,"command":["npm","install","left pad","it'"'"'s"]}
]'
run "runs --run and --since" 0 "$J" audit runs --audit-db "$DB" --since 2021-01-01 --format csv &&
	expect_eq "runs --run and --since" "$(cut -d, -f1 <<<"$OUT" | tr '\n' ' ')" "id 2 "

run "summary" 0 "$J" audit summary --audit-db "$DB" --run all --format table &&
	expect_eq "summary" "$OUT" \
"HOST       ALLOWED  DENIED  METHODS   FIRST_SEEN                LAST_SEEN
a.test           2       2  GET,POST  2020-03-01T10:00:01.000Z  2021-06-01T09:00:01.000Z
b.test           2       0  GET       2020-03-01T10:00:03.000Z  2021-06-01T09:00:04.000Z
d.test           1       0  CONNECT   2021-06-01T09:00:03.000Z  2021-06-01T09:00:03.000Z
evil.test        0       1  PUT       2021-06-01T09:00:02.000Z  2021-06-01T09:00:02.000Z"
run "summary filtered" 0 "$J" audit summary --audit-db "$DB" --run 1 --format csv &&
	expect_eq "summary filtered" "$OUT" \
"host,allowed,denied,methods,first_seen,last_seen
a.test,1,2,\"GET,POST\",2020-03-01T10:00:01.000Z,2020-03-01T10:00:05.000Z
b.test,1,0,GET,2020-03-01T10:00:03.000Z,2020-03-01T10:00:03.000Z"

run "report" 0 "$J" audit report --audit-db "$DB" &&
	expect_eq "report dry run" "$OUT" \
"### httpjail audit: run 2

Command \`npm install 'left pad' 'it'\\''s'\`, mode weak, exit code 1, dry run yes: 4 decisions, 3 allowed, 1 denied, 4 hosts.

#### Would be denied (dry run)

| method | url | rule | count |
| --- | --- | --- | ---: |
| PUT | \`https://evil.test/a\\|b\` | -r 2 | 1 |

#### Allowed hosts

| host | requests | methods |
| --- | ---: | --- |
| a.test | 1 | GET |
| b.test | 1 | GET |
| d.test | 1 | CONNECT |"
run "report run 1" 0 "$J" audit report --audit-db "$DB" --run 1 &&
	expect_eq "report run 1" "$OUT" \
"### httpjail audit: run 1

Command \`curl -s https://a.test/x\`, mode strong, exit code 0, dry run no: 4 decisions, 2 allowed, 2 denied, 2 hosts.

#### Denied

| method | url | rule | count |
| --- | --- | --- | ---: |
| POST | \`https://a.test/upload\` | default | 2 |

#### Allowed hosts

| host | requests | methods |
| --- | ---: | --- |
| a.test | 1 | GET |
| b.test | 1 | GET |"
run "report nothing denied" 0 "$J" audit report --audit-db "$DB" --run 1 --host '^b\.' &&
	expect "report nothing denied" "$OUT" "Nothing was denied."
run "report all runs" 0 "$J" audit report --audit-db "$DB" --run all &&
	expect_eq "report all runs" "$(grep '^###' <<<"$OUT")" "### httpjail audit: run 1
#### Denied
#### Allowed hosts
### httpjail audit: run 2
#### Would be denied (dry run)
#### Allowed hosts"

run "export" 0 "$J" audit export --audit-db "$DB" &&
	expect_eq "export lines" "$(python3 -c '
import json, sys
print(" ".join(str(json.loads(l)["id"]) for l in sys.stdin))' <<<"$OUT" 2>&1)" "1 2 3 4 5 6 7 8 9"
expect_eq "export first line" "$(head -1 <<<"$OUT")" \
	'{"id":1,"run_id":1,"ts":"2020-03-01T10:00:01.000Z","kind":"https","method":"GET","scheme":"https","host":"a.test","port":443,"path":"/x","query":null,"url":"https://a.test/x","verdict":"allow","enforced":1,"rule_index":1,"rule_source":"p.yaml:3","rule_text":"allow host=a.test","engine":"policy","reason":null,"hook_exit":null,"decide_us":null,"status":200,"bytes_up":null,"bytes_down":null,"requester":null,"outcome":"ok"}'
run "export --after-id" 0 "$J" audit export --audit-db "$DB" --after-id 7 &&
	expect_eq "export --after-id" "$(grep -o '^{"id":[0-9]*' <<<"$OUT" | tr '\n' ' ')" '{"id":8 {"id":9 '
run "export --since --denied" 0 "$J" audit export --audit-db "$DB" --since 2021-01-01 --denied &&
	expect_eq "export --since --denied" "$(grep -o '^{"id":[0-9]*' <<<"$OUT")" '{"id":7'

run "help" 0 "$J" audit --help && expect "help" "$OUT" "usage: httpjail audit"
run "main help" 0 "$J" --help && expect "main help lists audit" "$OUT" "httpjail audit"

# Errors: one line on stderr.
err_case() {
	local name=$1 status=$2 want=$3
	shift 3
	if run "$name" "$status" "$@"; then
		expect_eq "$name message" "$ERR" "$want"
	fi
}
err_case "unknown run" 1 "httpjail: audit: no run 42 in $DB" "$J" audit --audit-db "$DB" --run 42
cp "$DB" "$TMP/norun.db" && sqlite3 "$TMP/norun.db" "DELETE FROM decisions; DELETE FROM runs;"
err_case "no runs yet" 1 "httpjail: audit: $TMP/norun.db has no runs yet" \
	"$J" audit --audit-db "$TMP/norun.db"
run "runs of no runs" 0 "$J" audit runs --audit-db "$TMP/norun.db" && expect_eq "runs of no runs" "$OUT" "[]"
err_case "bad --run" 2 "httpjail: audit: --run 'x': expected a run id, last or all" \
	"$J" audit --audit-db "$DB" --run x
err_case "bad --since" 2 "httpjail: audit: --since '2021-02-30': expected a duration (30s, 30m, 2h, 7d, 1w) or an RFC 3339 time (2026-11-23T10:00:00Z)" \
	"$J" audit --audit-db "$DB" --since 2021-02-30
err_case "bad --since unit" 2 "httpjail: audit: --since '3y': expected a duration (30s, 30m, 2h, 7d, 1w) or an RFC 3339 time (2026-11-23T10:00:00Z)" \
	"$J" audit --audit-db "$DB" --since 3y
err_case "bad --kind" 2 "httpjail: audit: --kind 'htps': did you mean 'https'?" \
	"$J" audit --audit-db "$DB" --kind htps
err_case "bad --kind list" 2 "httpjail: audit: --kind 'udp': expected http, https, connect, tcp or dns" \
	"$J" audit --audit-db "$DB" --kind udp
err_case "bad --format" 2 "httpjail: audit: --format 'yaml': expected table, json, csv or markdown" \
	"$J" audit --audit-db "$DB" --format yaml
err_case "markdown is for report" 2 "httpjail: audit: --format markdown goes with report" \
	"$J" audit --audit-db "$DB" --format markdown
err_case "markdown is not for replay" 2 "httpjail: audit: --format markdown goes with report" \
	"$J" audit replay --audit-db "$DB" -r 'allow: x' --format markdown
err_case "suggest takes no --format" 2 "httpjail: audit suggest: writes YAML; no --format" \
	"$J" audit suggest --audit-db "$DB" --format csv
err_case "export takes no --format" 2 "httpjail: audit export: writes JSON lines; no --format" \
	"$J" audit export --audit-db "$DB" --format json
err_case "--denied --allowed" 2 "httpjail: audit: --denied and --allowed exclude each other" \
	"$J" audit --audit-db "$DB" --denied --allowed
err_case "bad --host" 2 "httpjail: audit: --host 'a(': invalid regex (missing closing parenthesis at offset 2)" \
	"$J" audit --audit-db "$DB" --host 'a('
err_case "unknown subcommand" 2 "httpjail: audit: subcommand 'sumary': did you mean 'summary'?" \
	"$J" audit --audit-db "$DB" sumary
err_case "extra argument" 2 "httpjail: audit summary: unexpected argument 'x' (see httpjail audit --help)" \
	"$J" audit summary x --audit-db "$DB"
err_case "unknown option" 2 "httpjail: audit: --bogus: unknown option (see httpjail audit --help)" \
	"$J" audit --bogus
err_case "-c without replay" 2 "httpjail: audit: -c, -r and --sh go with replay" \
	"$J" audit --audit-db "$DB" -c p.yaml
err_case "replay without a policy" 2 "httpjail: audit replay: which policy? (-c FILE, -r RULE or --sh CMD)" \
	"$J" audit --audit-db "$DB" replay

sqlite3 "$TMP/foreign.db" "CREATE TABLE t(x); INSERT INTO t VALUES (1);"
err_case "foreign database" 125 "httpjail: $TMP/foreign.db: not an httpjail audit database" \
	"$J" audit --audit-db "$TMP/foreign.db"
head -c 8192 /dev/urandom > "$TMP/corrupt.db"
if run "corrupt database" 125 "$J" audit --audit-db "$TMP/corrupt.db"; then
	expect_eq "corrupt database: one line" "$(wc -l <<<"$ERR")" "1"
	expect "corrupt database message" "$ERR" "httpjail: $TMP/corrupt.db: "
fi
if run "missing database" 125 "$J" audit --audit-db "$TMP/missing.db"; then
	expect "missing database message" "$ERR" "httpjail: $TMP/missing.db: no audit database here"
	[ ! -e "$TMP/missing.db" ] && pass "missing database not made" ||
		fail "missing database not made" "$TMP/missing.db exists"
fi

# DNS queries are recorded, but summary and report count requests unless --kind asks.
run "summary of dns" 0 "$HTTPJAIL_BIN" audit --audit-db "$DB" --run all --kind dns --format csv summary
expect "summary --kind dns lists the queries" "$OUT" "c.test,0,1,,"

# Another user's database in a directory not theirs to write: SQLite cannot make the
# -shm file WAL readers use, and the database is read as one that does not change.
if real_root && command -v setpriv >/dev/null; then
	mkdir -p "$TMP/theirs" && cp "$DB" "$TMP/theirs/a.db" && chmod 755 "$TMP" "$TMP/theirs" &&
		chmod 644 "$TMP/theirs/a.db"
	NB=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	mine=$("$J" audit --audit-db "$DB" --run all --format csv)
	if run "another user's database" 0 "${NB[@]}" "$J" audit --audit-db "$TMP/theirs/a.db" \
		--run all --format csv; then
		[ "$(wc -l <<<"$OUT")" -gt 2 ] && pass "another user's database: its rows are listed" ||
			fail "another user's database: its rows are listed" "$OUT"
		expect_eq "another user's database: as its owner reads it" "$OUT" "$mine"
		[ ! -e "$TMP/theirs/a.db-shm" ] && pass "another user's database: nothing made beside it" ||
			fail "another user's database: nothing made beside it" "$(ls "$TMP/theirs")"
	fi
	# Written by an older httpjail (schema 2): read as it is, not brought up to date.
	cp "$DB" "$TMP/theirs/old.db" && chmod 644 "$TMP/theirs/old.db" &&
		sqlite3 "$TMP/theirs/old.db" "ALTER TABLE runs DROP COLUMN reloads; PRAGMA user_version = 2"
	run "another user's database of schema 2" 0 "${NB[@]}" "$J" audit \
		--audit-db "$TMP/theirs/old.db" --run all --format csv &&
		expect_eq "another user's database of schema 2: read as it is" \
		"$OUT,$(sqlite3 "$TMP/theirs/old.db" 'PRAGMA user_version')" "$mine,2"
	# While a -wal file says a run may have it open, it is not read that way.
	: > "$TMP/theirs/a.db-wal"
	err_case "another user's database in use" 125 "httpjail: $TMP/theirs/a.db: cannot read the audit database while $TMP/theirs/a.db-wal exists (a run may have it open) without write access to its directory" \
		"${NB[@]}" "$J" audit --audit-db "$TMP/theirs/a.db"
else
	skip "another user's database" "run by a user, or without setpriv: cannot act as another"
fi
