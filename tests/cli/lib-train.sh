# lib-train.sh: shared setup of the train-joint tests (sourced after lib.sh): a tiny network
# (width 0.125 at 64 px: 8..64 channels, 2x2 maps in layer4) on the procedural data, and a sheet
# for it made by make-sheet.
tiny_config() { # FILE [extra top-level yaml lines...]
  local f=$1; shift
  cat >"$f" <<Y
seed: 3
device: cpu
model: {width: 0.125, input_size: 64, task: simclr}
data: {kind: procedural}
sheet: {windows: 2000, k_min: 8}
stage1: {batch_size: 16, steps: 8, checkpoint_every: 2, eval_every: 4, eval_images: 16, threads: 1}
tdann: {batch_size: 16, steps: 8, checkpoint_every: 2, eval_every: 4, eval_images: 16, threads: 1}
Y
  for l in "$@"; do echo "$l" >>"$f"; done
}
tiny_sheet() { # CONFIG OUT
  "$BIN/make-sheet" --config "$1" -o "$2" >/dev/null 2>"$TMP/sheet.err" || { fail "make-sheet failed"; cat "$TMP/sheet.err"; finish; }
}
# same_model A B: every dataset equal with tolerance 0, except the timing log (images/s).
same_model() {
  "$BIN/h5-compare" "$1" "$2" >"$TMP/cmp" 2>&1
  if grep ' DIFF$' "$TMP/cmp" | grep -v '^/log/images_per_s ' | grep -q .; then
    fail "$(basename "$1") and $(basename "$2") differ"; grep DIFF "$TMP/cmp" | head -5 | sed 's/^/    /'
  else
    ok "$(basename "$1") == $(basename "$2") ($(grep -c ' OK$' "$TMP/cmp") datasets bit-identical)"
  fi
}
