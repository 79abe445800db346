# pipelines/full.mk reruns exactly what changed: after every artifact is up to date (make -t marks
# them so without running the stages), `make -n` plans nothing; editing only the probe_floc
# section plans probe-floc (for the three models) and make-maps only; editing tdann plans Stage 3
# and what depends on it, never Stage 1 or SwapOpt.
. tests/cli/lib.sh
cp configs/default.yaml "$TMP/c.yaml"
mk() { make --no-print-directory -f pipelines/full.mk RUNS="$TMP/runs" RUN=t CONFIG="$TMP/c.yaml" "$@"; }
R="$TMP/runs/t"
mkdir -p "$R"/{stimuli,unoptimized,stage1,taskonly,tdann,maps,log}
mk -t >"$TMP/touch.log" 2>&1 || { fail "make -t failed"; cat "$TMP/touch.log"; finish; }
plan() { mk -n 2>&1 | grep -oE 'bin/[a-z-]+ ' | grep -v config-section | sort | uniq -c; }
p=$(plan)
[ -z "$p" ] && ok "nothing to do when nothing changed" || fail "planned with nothing changed: $p"
cat >>"$TMP/c.yaml" <<'Y'
probe_floc:
  layers: [layer4.1, layer4.0]
Y
p=$(mk -n 2>&1 | grep -oE 'bin/[a-z-]+ ' | grep -v config-section | sort | uniq -c | tr -s ' ')
echo "plan after editing probe_floc: $p"
[ "$(echo "$p" | grep -c .)" = 2 ] && echo "$p" | grep -q "4 bin/probe-floc" && echo "$p" | grep -q "1 bin/make-maps" \
  && ok "probe_floc edit reruns probe-floc x4 (unoptimized, stage1, taskonly, tdann) and make-maps only" || fail "unexpected plan: $p"
mk -t >/dev/null 2>&1
sed -i 's/^probe_floc:$/tdann:\n  steps: 7\nprobe_floc:/' "$TMP/c.yaml"
p=$(mk -n 2>&1 | grep -oE 'bin/[a-z-]+ ' | grep -v config-section | sort | uniq -c | tr -s ' ')
echo "plan after editing tdann: $p"
echo "$p" | grep -q "train-joint" && ! echo "$p" | grep -q swapopt && ! echo "$p" | grep -q make-sheet \
  && [ "$(mk -n 2>&1 | grep -c -- "--stage stage1")" = 0 ] && ok "tdann edit reruns Stage 3 and downstream only" \
  || fail "unexpected plan: $p"
finish
