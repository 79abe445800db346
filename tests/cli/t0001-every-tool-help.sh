# Every program in bin/ answers --help (usage on stdout, exit 0), --version, and a bad option
# (message on stderr, exit 2).
. tests/cli/lib.sh
n=0
for p in "$BIN"/*; do
  [ -x "$p" ] || continue
  n=$((n + 1))
  t=$(basename "$p")
  expect_exit 0 "$p" --help
  expect_grep "^Usage: $t" "$TMP/out"
  [ -s "$TMP/err" ] && fail "$t --help wrote to stderr"
  expect_exit 0 "$p" --version
  expect_exit 2 "$p" --no-such-option
  expect_grep "^$t: error: unknown option '--no-such-option'" "$TMP/err"
  [ -s "$TMP/out" ] && fail "$t bad option wrote to stdout"
done
[ "$n" -ge 3 ] || fail "only $n programs found in $BIN"
finish
