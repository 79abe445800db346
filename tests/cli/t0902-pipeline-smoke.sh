# The whole pipeline end to end on a tiny config (tests/cli/data/smoke.yaml): every stage runs,
# the report and metrics exist, every artifact carries provenance, each stage wrote its log, and a
# second make does nothing.
. tests/cli/lib.sh
command -v gnuplot >/dev/null 2>&1 || echo "note: no gnuplot (figures are written as data + scripts)"
mk() { make --no-print-directory -f pipelines/full.mk RUNS="$TMP/runs" RUN=smoke CONFIG=tests/cli/data/smoke.yaml "$@"; }
R="$TMP/runs/smoke"
if mk >"$TMP/run.log" 2>&1; then ok "pipeline finished"; else fail "pipeline failed"; tail -30 "$TMP/run.log"; finish; fi
for f in sheet_init.h5 sheet.h5 stage1/model.h5 stage1/tuning.h5 stage1/selectivity.h5 taskonly/model.h5 \
         tdann/model.h5 tdann/acts_gratings.h5 tdann/acts_floc.h5 tdann/tuning.h5 tdann/selectivity.h5 \
         unoptimized/tuning.h5 maps/metrics.h5 maps/report.md; do
  [ -s "$R/$f" ] && ok "$f" || fail "missing $f"
done
for f in "$R"/sheet.h5 "$R"/tdann/model.h5 "$R"/tdann/tuning.h5 "$R"/maps/metrics.h5; do
  a=$(h5dump -A "$f" 2>/dev/null | grep -c -E 'ATTRIBUTE "(artifact|schema_version|tool|tool_version|command_line|created_utc|config_yaml|seed|device|inputs|history)"')
  [ "$a" -ge 11 ] && ok "provenance in $(basename "$(dirname "$f")")/$(basename "$f")" || fail "provenance attributes missing in $f ($a)"
done
n=$(ls "$R"/log/*.log | wc -l)
[ "$n" -ge 20 ] && ok "$n stage logs" || fail "only $n stage logs"
grep -q '^# ended: .* (exit code 0), elapsed' "$R/log/swapopt.log" && ok "log format" || fail "log format"
cpd=$(h5dump -d /sf_cpd -y -w 0 "$R/tdann/tuning.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//')
case "$cpd" in 0.6875,*,12.1172) ok "SF in cycles/deg: the paper's levels at 64 px over 2.29 deg";; *) fail "sf_cpd: $cpd";; esac
grep -q "make-maps" "$R/maps/report.md" && grep -q "tdann" "$R/maps/report.md" && ok "report names the models" || fail "report content"
again=$(mk -n 2>&1 | grep -oE 'bin/[a-z-]+ ' | grep -v config-section | sort | uniq -c)
[ -z "$again" ] && ok "second make: nothing to do" || fail "second make would rerun: $again"
finish
