# lib.sh: helpers for CLI tests (sourced). Each test runs from the repository root with
# TDANN_BIN (programs) and TESTS_TMP (scratch directory) set; exit 0 = pass, 77 = skip.
set -u
BIN=${TDANN_BIN:-$PWD/bin}
TMP=${TESTS_TMP:-$(mktemp -d)}
fails=0
ok()   { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect_exit CODE CMD...: runs CMD, captures stdout/stderr in $TMP/out, $TMP/err
expect_exit() {
  local want=$1; shift
  "$@" >"$TMP/out" 2>"$TMP/err"; local got=$?
  if [ "$got" = "$want" ]; then ok "exit $got: $*"; else fail "exit $got (want $want): $*"; sed 's/^/    err: /' "$TMP/err" | head -5; fi
}
expect_grep() { # PATTERN FILE
  if grep -q -- "$1" "$2"; then ok "'$1' in $(basename "$2")"; else fail "'$1' not in $(basename "$2")"; sed 's/^/    /' "$2" | head -10; fi
}
finish() { [ "$fails" = 0 ] && { echo "all ok"; exit 0; }; echo "$fails failure(s)"; exit 1; }
