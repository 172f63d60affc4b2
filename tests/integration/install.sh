#!/bin/bash
# make install: the binary, the man pages, the rulesets where include finds them,
# and the completions, under DESTDIR and PREFIX.
. "$(dirname "$0")/lib.sh"
command -v make >/dev/null || { fail "install" "make is missing (make deps)"; exit 0; }

D=$TMP/dest
# -o all: the binary under test is installed as it is, never rebuilt here.
run "make install" 0 make -s -C "$ROOT" -o all install DESTDIR="$D" PREFIX=/usr \
	BIN="$HTTPJAIL_BIN" || exit 0
for f in bin/httpjail share/man/man1/httpjail.1 share/man/man1/httpjail-audit.1 \
	share/man/man5/httpjail.yaml.5 share/bash-completion/completions/httpjail \
	share/zsh/vendor-completions/_httpjail; do
	[ -f "$D/usr/$f" ] && pass "installs /usr/$f" || fail "installs /usr/$f" "missing"
done
for r in "$ROOT"/rulesets/*.yaml; do
	cmp -s "$r" "$D/usr/share/httpjail/rulesets/$(basename "$r")" &&
		pass "installs ruleset $(basename "$r")" || fail "installs ruleset $(basename "$r")" "missing or different"
done
[ -x "$D/usr/bin/httpjail" ] && pass "the installed binary is executable" ||
	fail "the installed binary is executable" "$(ls -l "$D/usr/bin/httpjail")"

# The installed binary finds a bare-name include in ../share/httpjail/rulesets.
printf 'version: 1\ninclude: [npm]\n' > "$TMP/p.yaml"
run "installed include" 0 env -u HTTPJAIL_RULESETS "$D/usr/bin/httpjail" -c "$TMP/p.yaml" \
	--test https://registry.npmjs.org/left-pad &&
	expect "include finds the installed ruleset" "$OUT" "rule 1 $D/usr/share/httpjail/rulesets/npm.yaml:"

# Without PREFIX=/usr, zsh's completion goes where a local zsh looks.
run "make install local" 0 make -s -C "$ROOT" -o all install DESTDIR="$TMP/local" \
	BIN="$HTTPJAIL_BIN" &&
	{ [ -f "$TMP/local/usr/local/share/zsh/site-functions/_httpjail" ] &&
		pass "PREFIX=/usr/local puts _httpjail in site-functions" ||
		fail "PREFIX=/usr/local puts _httpjail in site-functions" "$(find "$TMP/local" -name _httpjail)"; }
