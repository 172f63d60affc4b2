#!/bin/bash
# The shell completions in completions/: both files parse, the bash one offers options,
# subcommands, their values and files, and neither lacks an option or a subcommand that
# `httpjail --help` or `httpjail audit --help` prints.
. "$(dirname "$0")/lib.sh"
J=$HTTPJAIL_BIN
BASHC=$ROOT/completions/httpjail.bash
ZSHC=$ROOT/completions/_httpjail
BC=/usr/share/bash-completion/bash_completion

if bash -n "$BASHC" 2>"$TMP/err"; then
	pass "bash completion parses"
else
	fail "bash completion parses" "$(cat "$TMP/err")"
fi
if ! command -v zsh >/dev/null; then
	skip "zsh completion parses" "zsh is not installed"
elif zsh -n "$ZSHC" 2>"$TMP/err"; then
	pass "zsh completion parses"
else
	fail "zsh completion parses" "$(cat "$TMP/err")"
fi

# offers MODE WORD...: what _httpjail offers, one per line and sorted, for a command
# line of WORDs with the cursor at the end of the last one. MODE is "plain" (the file
# alone) or "bc" (bash-completion's helpers loaded first, as in an interactive shell).
offers() {
	local mode=$1
	shift
	BC=$BC bash -c '
		mode=$1 file=$2
		shift 2
		[ "$mode" = bc ] && . "$BC"
		. "$file"
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"
		COMP_POINT=${#COMP_LINE}
		_httpjail
		printf "%s\n" "${COMPREPLY[@]}"' bash "$mode" "$BASHC" "$@" 2>/dev/null |
		sed '/^$/d' | sort -u
}

# Files for -c: YAML files and directories, not the other files.
mkdir -p "$TMP/cfg/dir"
touch "$TMP/cfg/a.yaml" "$TMP/cfg/b.yml" "$TMP/cfg/c.txt"
C=$TMP/cfg

modes=(plain)
if [ -r "$BC" ]; then
	modes+=(bc)
else
	skip "bash completion with bash-completion" "$BC is not installed"
fi
for m in "${modes[@]}"; do
	expect_eq "bash $m: --aud" "$(offers $m httpjail --aud)" "--audit-db"
	expect_eq "bash $m: --no-" "$(offers $m httpjail --no-)" "--no-audit
--no-tls-intercept"
	got=$(offers $m httpjail '')
	expect "bash $m: first word offers audit" "$got" "audit"
	expect "bash $m: first word offers options" "$got" "--config"
	expect_eq "bash $m: subcommands" "$(offers $m httpjail a)" "audit"
	got=$(offers $m httpjail audit '')
	expect "bash $m: audit offers summary" "$got" "summary"
	expect_eq "bash $m: audit subcommands" "$(tr '\n' ' ' <<<"$got")" \
		"export list replay report runs suggest summary "
	expect_eq "bash $m: audit subcommand after an option" \
		"$(offers $m httpjail audit --db x.db --run 2 re)" "replay
report"
	got=$(offers $m httpjail ca '')
	expect "bash $m: ca offers regenerate" "$got" "regenerate"
	expect_eq "bash $m: ca verbs" "$(tr '\n' ' ' <<<"$got")" "export path regenerate show "
	expect_eq "bash $m: ca takes one verb" "$(offers $m httpjail ca show '')" ""
	expect_eq "bash $m: -c offers YAML files and directories" "$(offers $m httpjail -c "$C/")" \
		"$C/a.yaml
$C/b.yml
$C/dir"
	expect_eq "bash $m: --config=FILE" "$(offers $m httpjail --config = "$C/a")" "$C/a.yaml"
	expect_eq "bash $m: check -c" "$(offers $m httpjail check -c "$C/b")" "$C/b.yml"
	expect_eq "bash $m: --audit-db offers any file" "$(offers $m httpjail --audit-db "$C/c")" "$C/c.txt"
	expect_eq "bash $m: --ca-file offers any file" "$(offers $m httpjail --ca-file "$C/c")" "$C/c.txt"
	expect_eq "bash $m: --user offers users" "$(offers $m httpjail --user roo)" "root"
	expect_eq "bash $m: --timeout offers nothing" "$(offers $m httpjail --timeout '')" ""
	expect_eq "bash $m: -r is free text" "$(offers $m httpjail -r '')" ""
	expect_eq "bash $m: --sh is free text" "$(offers $m httpjail --sh '')" ""
	expect_eq "bash $m: --test METHOD" "$(offers $m httpjail --test P)" "PATCH
POST
PUT"
	got=$(offers $m httpjail check -)
	expect "bash $m: check options" "$got" "--no-tls-intercept"
	grep -qx -- --weak <<<"$got" && fail "bash $m: check has no --weak" "$got" ||
		pass "bash $m: check has no --weak"
	expect_eq "bash $m: audit --format" "$(offers $m httpjail audit --format '')" "csv
json
table"
	expect_eq "bash $m: audit report --format" "$(offers $m httpjail audit report --format '')" "markdown"
	expect_eq "bash $m: audit report --format=" \
		"$(offers $m httpjail audit --db=x.db report --format = '')" "markdown"
	expect_eq "bash $m: audit --kind" "$(offers $m httpjail audit --kind '')" "connect
dns
http
https
tcp"
	expect_eq "bash $m: audit --run" "$(offers $m httpjail audit --run '')" "all
last"
	expect_eq "bash $m: audit --db" "$(offers $m httpjail audit --db "$C/c")" "$C/c.txt"
	expect_eq "bash $m: audit runs options" "$(offers $m httpjail audit runs --)" "--audit-db
--db
--format
--help
--run
--since"
	expect "bash $m: audit replay options" "$(offers $m httpjail audit replay --)" "--config"
	expect "bash $m: command after --" "$(offers $m httpjail --weak -- bas)" "bash"
	expect "bash $m: command after an option's value" "$(offers $m httpjail -r 'allow: x' -- bas)" "bash"
	expect_eq "bash $m: -- as an option's value" "$(offers $m httpjail -r -- --we)" "--weak"
done

# Nothing --help prints may be missing from a completion: bash must offer it (options
# at "-", subcommands at an empty word), and zsh's file must have a spec for it (an
# option as in '(--x)--opt=[...' or {-o+,--opt=}, a subcommand as in 'name:... or
# 'name[...).
in_zsh_spec() {
	case $1 in
	-*) grep -qE -- "['(){,*]$1(\\[|[=+,}])" "$ZSHC" ;;
	*) grep -qE -- "'$1(:|\\[)" "$ZSHC" ;;
	esac
}
# check_words WHAT WORDS MIN BASH-WORDS...: every one of WORDS (at least MIN of them
# were found in the help text) is offered by bash for BASH-WORDS and is in a zsh spec.
check_words() {
	local what=$1 words=$2 min=$3 w n missing bash_offers
	shift 3
	n=$(wc -w <<<"$words")
	if [ "$n" -lt "$min" ]; then
		fail "$what" "found only $n in the help text: $words"
		return
	fi
	bash_offers=$(offers plain "$@")
	missing=
	for w in $words; do
		grep -qxF -- "$w" <<<"$bash_offers" || missing+=" $w"
	done
	[ -z "$missing" ] && pass "$what: bash" || fail "$what: bash" "not offered for '$*':$missing"
	missing=
	for w in $words; do
		in_zsh_spec "$w" || missing+=" $w"
	done
	[ -z "$missing" ] && pass "$what: zsh" || fail "$what: zsh" "no spec in _httpjail:$missing"
}
help=$("$J" --help)
ahelp=$("$J" audit --help)
check_words "every long option of --help" \
	"$(grep -oE -- '--[a-z][a-z-]*[a-z]' <<<"$help" | sort -u)" 20 httpjail -
check_words "every short option of --help" \
	"$(grep -oE -- '^ +-[A-Za-z],' <<<"$help" | tr -d ' ,' | sort -u)" 5 httpjail -
check_words "every subcommand of --help" \
	"$(sed -nE 's/^ *(usage: )?httpjail ([a-z]+).*/\2/p' <<<"$help" | sort -u)" 3 httpjail ''
check_words "every ca verb of --help" \
	"$(sed -nE 's/.*httpjail ca ([a-z|]+).*/\1/p' <<<"$help" | tr '|' '\n')" 4 httpjail ca ''
# replay is the subcommand that takes every option.
check_words "every option of audit --help" \
	"$(grep -oE -- '--[a-z][a-z-]*[a-z]' <<<"$ahelp" | sort -u)" 10 httpjail audit replay -
check_words "every short option of audit --help" \
	"$(grep -oE -- '( |\[)-[A-Za-z][ ,]' <<<"$ahelp" | tr -d ' ,[' | sort -u)" 3 \
	httpjail audit replay -
check_words "every subcommand of audit --help" \
	"$(sed -nE 's/^  (\(none\) or )?([a-z]+) .*/\2/p' <<<"$ahelp")" 7 httpjail audit ''
