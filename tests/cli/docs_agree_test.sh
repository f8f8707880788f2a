#!/usr/bin/env bash
# The man page and the README document exactly the options that
# `s3bd mount --help` prints, and --version prints the version.
set -euo pipefail
S3BD=${S3BD:?} SRC=${S3BD_SOURCE_DIR:?}
fail() { echo "FAIL: $*" >&2; exit 1; }

help_opts=$("$S3BD" mount --help | grep -oE '(^|[ ,])--?[a-z][a-z0-9-]*' | tr -d ' ,' | grep -vE '^-(h|-help)$' | sort -u)
[[ -n $help_opts ]] || fail "no options found in --help"
man_text=$(sed 's/\\-/-/g' "$SRC/man/s3bd.8")
# Options the man page documents: the tags of its .TP entries under OPTIONS.
man_opts=$(awk '/^\.SH OPTIONS/{on=1;next} /^\.SH/{on=0} on && prev==".TP"{print} {prev=$0}' "$SRC/man/s3bd.8" |
  sed 's/\\-/-/g' | grep -oE '(^|[ "])--?[a-z][a-z0-9-]*' | tr -d ' "' | sort -u)

missing=$(comm -23 <(echo "$help_opts") <(echo "$man_opts"))
[[ -z $missing ]] || fail "in --help but not in the man page's OPTIONS: $missing"
extra=$(comm -13 <(echo "$help_opts") <(echo "$man_opts"))
[[ -z $extra ]] || fail "in the man page's OPTIONS but not in --help: $extra"
for o in $help_opts; do
  grep -qF -- "\`$o" "$SRC/README.md" || fail "README does not document $o"
done

# `s3bd nbd`: the options it has beyond mount's are exactly those of the man
# page's "NBD options", and the README documents each.
nbd_opts=$("$S3BD" nbd --help | grep -oE '(^|[ ,])--?[a-z][a-z0-9-]*' | tr -d ' ,' | grep -vE '^-(h|-help)$' | sort -u)
nbd_only=$(comm -23 <(echo "$nbd_opts") <(echo "$help_opts"))
[[ -n $nbd_only ]] || fail "no options of s3bd nbd found beyond mount's"
man_nbd=$(awk '/^\.SS NBD options/{on=1;next} /^\.S[SH]/{on=0} on && prev==".TP"{print} {prev=$0}' "$SRC/man/s3bd.8" |
  sed 's/\\-/-/g' | grep -oE '(^|[ "])--?[a-z][a-z0-9-]*' | tr -d ' "' | sort -u)
[[ $nbd_only == "$man_nbd" ]] || fail "s3bd nbd's own options ($(echo $nbd_only)) differ from the man page's NBD options ($(echo $man_nbd))"
for o in $nbd_only; do
  grep -qF -- "\`$o" "$SRC/README.md" || fail "README does not document $o"
done

# Every command of `s3bd --help` has a row in the README's Commands table,
# an entry in the man page's SYNOPSIS and COMMANDS, and its own --help.
commands=$("$S3BD" --help | awk '/^(SUBCOMMANDS|Subcommands):/{on=1;next} on && NF{print $1}')
[[ -n $commands ]] || fail "no commands found in s3bd --help"
# The COMMANDS section once, not piped into grep -q: with pipefail, grep
# quitting at its first match made awk's SIGPIPE fail the check.
man_commands=$(awk '/^\.SH COMMANDS/{on=1;next} /^\.SH/{on=0} on' "$SRC/man/s3bd.8")
for c in $commands; do
  grep -qE "^\| \`s3bd $c " "$SRC/README.md" || fail "README's Commands table lacks s3bd $c"
  grep -qE "^\.B s3bd $c\$" "$SRC/man/s3bd.8" || fail "man page SYNOPSIS lacks s3bd $c"
  grep -qE "^\.B $c( |\$)" <<<"$man_commands" || fail "man page COMMANDS lacks $c"
  "$S3BD" "$c" --help >/dev/null || fail "s3bd $c --help failed"
done

version=$("$S3BD" --version)
[[ $version =~ ^s3bd\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version printed '$version'"
grep -qF "${version#s3bd }" <<<"$man_text" || fail "man page does not name version ${version#s3bd }"
echo "PASS docs agree: $(wc -w <<<"$help_opts") options"
