# bash completion for httpjail(1)                           -*- shell-script -*-
# Installed as $(PREFIX)/share/bash-completion/completions/httpjail; works alone too
# (`. completions/httpjail.bash`), and uses bash-completion's helpers when loaded.
# Keep it in step with `httpjail --help` and `httpjail audit --help`:
# tests/integration/completion.sh fails when an option or a subcommand is missing here.

_httpjail_opts='-r --rule -c --config --sh --test --no-tls-intercept --weak --server
	--listen --listen-tls --resolve --request-log --audit-db --no-audit --dry-run
	--log-only --timeout --ca-file --user -v --verbose -q --quiet -h --help -V --version'
# Options whose value is the next word (or follows "=").
_httpjail_argopts='-r --rule -c --config --sh --listen --listen-tls --resolve
	--request-log --audit-db --timeout --ca-file --user'
_httpjail_check_opts='-c --config -r --rule --sh --no-tls-intercept -v --verbose
	-q --quiet -h --help'
_httpjail_ca_verbs='path show export regenerate'
_httpjail_audit_subs='list runs summary suggest replay report export'
_httpjail_audit_argopts='--audit-db --db --run --host --since --kind --after-id
	--format -c --config -r --rule --sh'
_httpjail_methods='GET HEAD POST PUT PATCH DELETE OPTIONS CONNECT'

# _httpjail_words LIST: COMPREPLY is the words of LIST that begin with $cur.
_httpjail_words()
{
	local IFS=$' \t\n'
	mapfile -t COMPREPLY < <(compgen -W "$1" -- "$cur")
}

# _httpjail_files [EXT...]: directories, and the files named *.EXT (any file without EXT).
_httpjail_files()
{
	local ext exts='' IFS=$' \t\n'
	compopt -o filenames 2>/dev/null
	if declare -F _filedir >/dev/null; then
		for ext; do exts+=${exts:+|}$ext; done
		_filedir "$exts"
		return
	fi
	if [ $# -eq 0 ]; then
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		return
	fi
	mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	for ext; do
		mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -X "!*.$ext" -- "$cur")
	done
}

# _httpjail_command OFFSET: words from OFFSET on are a command line of their own.
_httpjail_command()
{
	if declare -F _command_offset >/dev/null; then
		_command_offset "$1"
	elif [ "$cword" -eq "$1" ] && [[ $cur != */* ]]; then
		mapfile -t COMPREPLY < <(compgen -c -- "$cur" | sort -u)
	else
		_httpjail_files  # a path to the command, or the command's arguments
	fi
}

# _httpjail_takes_arg WORD LIST: WORD is one of the options of LIST that take a value.
_httpjail_takes_arg()
{
	local o IFS=$' \t\n'
	for o in $2; do
		[[ $1 == "$o" ]] && return 0
	done
	return 1
}

_httpjail_check()
{
	case $prev in
	-c | --config) _httpjail_files yaml yml; return ;;
	-r | --rule | --sh) return ;;
	esac
	[[ $cur == -* || -z $cur ]] && _httpjail_words "$_httpjail_check_opts"
}

_httpjail_audit()
{
	local i w sub=
	# The subcommand: the first word after "audit" that is neither an option nor
	# an option's value.
	for ((i = 2; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == -- ]]; then
			[ $((i + 1)) -lt "$cword" ] && sub=${words[i + 1]}
			[ $((i + 1)) -eq "$cword" ] && { _httpjail_words "$_httpjail_audit_subs"; return; }
			break
		elif _httpjail_takes_arg "$w" "$_httpjail_audit_argopts"; then
			((i++))
			[[ ${words[i]} == = ]] && ((i++))
		elif [[ $w != -* && $w != = ]] && [[ ${words[i - 1]} != = ]]; then
			sub=$w
			break
		fi
	done
	case $prev in
	--audit-db | --db) _httpjail_files; return ;;
	--run) _httpjail_words 'last all'; return ;;
	--kind) _httpjail_words 'http https connect tcp dns'; return ;;
	--format)
		case $sub in
		report) _httpjail_words markdown ;;
		*) _httpjail_words 'table json csv' ;;
		esac
		return ;;
	-c | --config) _httpjail_files yaml yml; return ;;
	--host | --since | --after-id | -r | --rule | --sh) return ;;
	esac
	if [[ -z $sub && $cur != -* ]]; then
		_httpjail_words "$_httpjail_audit_subs"
		return
	fi
	local opts='--audit-db --db --run --denied --allowed --host --since --kind
		--after-id --format -h --help'
	case $sub in
	runs) opts='--audit-db --db --run --since --format -h --help' ;;
	replay) opts="$opts -c --config -r --rule --sh" ;;
	suggest | export) opts=${opts/--format/} ;;  # they take no --format
	esac
	[[ $cur == -* || -z $cur ]] && _httpjail_words "$opts"
}

_httpjail()
{
	local cur prev words cword i w test=
	COMPREPLY=()
	words=("${COMP_WORDS[@]}")
	cword=$COMP_CWORD
	cur=${words[cword]}
	prev=${words[cword - 1]}
	# --opt=VALUE comes as the words "--opt" "=" "VALUE" (COMP_WORDBREAKS).
	if [[ $cur == = ]]; then
		cur=
	elif [[ $prev == = && $cword -gt 1 ]]; then
		prev=${words[cword - 2]}
	fi

	if [ "$cword" -gt 1 ]; then
		case ${words[1]} in
		check) _httpjail_check; return ;;
		ca) [ "$cword" -eq 2 ] && _httpjail_words "$_httpjail_ca_verbs"; return ;;
		audit) _httpjail_audit; return ;;
		esac
	fi

	# After "--" (not an option's value) comes the command.
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == -- ]]; then
			_httpjail_command $((i + 1))
			return
		elif _httpjail_takes_arg "$w" "$_httpjail_argopts"; then
			((i++))
			[[ ${words[i]} == = ]] && ((i++))
		elif [[ $w == --test ]]; then
			test=1
		fi
	done

	case $prev in
	-c | --config) _httpjail_files yaml yml; return ;;
	--audit-db | --request-log | --ca-file) _httpjail_files; return ;;
	--user)
		mapfile -t COMPREPLY < <(compgen -u -- "$cur")
		return ;;
	-r | --rule | --sh | --timeout | --listen | --listen-tls | --resolve) return ;;
	esac

	if [[ $cur == -* ]]; then
		_httpjail_words "$_httpjail_opts --"
	elif [ -n "$test" ]; then
		# --test [METHOD] URL
		[[ $prev == --test ]] && _httpjail_words "$_httpjail_methods"
	elif [ "$cword" -eq 1 ]; then
		_httpjail_words "check ca audit"
		[ -z "$cur" ] &&
			mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$_httpjail_opts" -- "")
	elif [ -z "$cur" ]; then
		_httpjail_words "$_httpjail_opts --"
	fi
}
complete -F _httpjail httpjail
