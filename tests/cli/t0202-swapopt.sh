# swapopt: usage, every layer optimised with stats printed and stored, same seed -> same file,
# clear errors for a layer missing from the activations and for a unit-count mismatch.
. tests/cli/lib.sh
FIX=tests/fixtures/sheet
expect_exit 0 "$BIN/swapopt" --help
expect_grep "Usage: swapopt" "$TMP/out"
expect_grep "swapopt-merge" "$TMP/out"
cat > "$TMP/tiny.yaml" <<'Y'
seed: 3
model: {width: 0.125, input_size: 32}
sheet: {windows: 500}
swapopt: {attempts: 20000, eval_windows: 20}
Y
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" -o "$TMP/s.h5"
expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/a.h5"
for l in layer1.0 layer1.1 layer2.0 layer2.1 layer3.0 layer3.1 layer4.0 layer4.1; do
  expect_grep "^$l .* accepted .* loss 0\.[0-9]* -> 0\.[0-9]*" "$TMP/out"
done
# the loss goes down on every layer
awk '/ loss / { for (i = 1; i <= NF; i++) if ($i == "->") { b = $(i-1); a = $(i+1); sub(",", "", a); if (a + 0 >= b + 0) bad++ } }
     END { exit bad ? 1 : 0 }' "$TMP/out" && ok "loss decreased on every layer" || fail "loss did not decrease on some layer"
if command -v h5dump >/dev/null; then
  h5dump -a /layers/layer4.1/swapopt_attempts "$TMP/a.h5" > "$TMP/attr" 2>&1
  expect_grep "(0): 20000" "$TMP/attr"
  h5dump -a /layers/layer2.0/swapopt_pair_rng "$TMP/a.h5" > "$TMP/attr" 2>&1
  expect_grep "per_window" "$TMP/attr"
fi
# determinism
expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/b.h5"
expect_exit 0 "$BIN/h5-compare" "$TMP/a.h5" "$TMP/b.h5"
OMP_NUM_THREADS=1 expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/b1.h5"
expect_exit 0 "$BIN/h5-compare" "$TMP/a.h5" "$TMP/b1.h5"
expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --seed 9 --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/c.h5"
expect_exit 1 "$BIN/h5-compare" -q "$TMP/a.h5:/layers/layer2.0/positions" "$TMP/c.h5:/layers/layer2.0/positions"
# the unoptimised layers are copied unchanged
expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --layers layer4.1 --pair-rng replay --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/d.h5"
expect_exit 0 "$BIN/h5-compare" "$TMP/s.h5:/layers/layer2.0/positions" "$TMP/d.h5:/layers/layer2.0/positions"
expect_exit 1 "$BIN/h5-compare" -q "$TMP/s.h5:/layers/layer4.1/positions" "$TMP/d.h5:/layers/layer4.1/positions"
# errors
expect_exit 2 "$BIN/swapopt" --config "$TMP/tiny.yaml" --layers layer4.1 --sheet "$TMP/s.h5" --activations $FIX/acts_bad.h5 -o "$TMP/e.h5"
expect_grep "layer layer4.1 is missing from the activations '$FIX/acts_bad.h5'" "$TMP/err"
expect_exit 2 "$BIN/swapopt" --config "$TMP/tiny.yaml" --layers layer1.0 --sheet "$TMP/s.h5" --activations $FIX/acts_bad.h5 -o "$TMP/e.h5"
expect_grep "unit count mismatch for layer1.0: the activations hold 8x8x4, the sheet 8x8x8" "$TMP/err"
expect_exit 2 "$BIN/swapopt" --config "$TMP/tiny.yaml" --layers layer5.0 --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 -o "$TMP/e.h5"
expect_grep "unknown layer 'layer5.0'" "$TMP/err"
expect_exit 2 "$BIN/swapopt" --config "$TMP/tiny.yaml" --sheet "$TMP/s.h5" --activations "$TMP/s.h5" -o "$TMP/e.h5"
expect_grep "expected a activations artifact, got a sheet artifact" "$TMP/err"
[ -e "$TMP/e.h5" ] && fail "output written on error" || ok "no output on error"
finish
