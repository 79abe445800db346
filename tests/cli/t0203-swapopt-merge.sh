# swapopt-merge: per-layer jobs merged equal one run over all layers; conflicting parts are errors.
. tests/cli/lib.sh
FIX=tests/fixtures/sheet
cat > "$TMP/tiny.yaml" <<'Y'
seed: 3
model: {width: 0.125, input_size: 32}
sheet: {windows: 500}
swapopt: {attempts: 10000, eval_windows: 10}
Y
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" -o "$TMP/s.h5"
run() { expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" --activations $FIX/acts_tiny.h5 "$@"; }
run -o "$TMP/all.h5"
run --layers layer1.0,layer1.1,layer2.0 -o "$TMP/p1.h5"
run --layers layer2.1,layer3.0,layer3.1 -o "$TMP/p2.h5"
run --layers layer4.0 -o "$TMP/p3.h5"
run --layers layer4.1 -o "$TMP/p4.h5"
expect_exit 0 "$BIN/swapopt-merge" -o "$TMP/m.h5" "$TMP/p1.h5" "$TMP/p2.h5" "$TMP/p3.h5" "$TMP/p4.h5"
expect_grep "layer4.1  from $TMP/p4.h5: loss" "$TMP/out"
expect_exit 0 "$BIN/h5-compare" "$TMP/m.h5" "$TMP/all.h5"
# a layer optimised twice
expect_exit 2 "$BIN/swapopt-merge" -o "$TMP/x.h5" "$TMP/p1.h5" "$TMP/all.h5"
expect_grep "layer layer1.0 was optimised in both" "$TMP/err"
# parts from different input sheets
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" --seed 5 -o "$TMP/s5.h5"
expect_exit 0 "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s5.h5" --activations $FIX/acts_tiny.h5 --layers layer4.1 -o "$TMP/q4.h5"
expect_exit 2 "$BIN/swapopt-merge" -o "$TMP/x.h5" "$TMP/p1.h5" "$TMP/q4.h5"
expect_grep "was optimised from a different sheet" "$TMP/err"
# not a swapopt output; a layer never optimised is copied with a warning
expect_exit 2 "$BIN/swapopt-merge" -o "$TMP/x.h5" "$TMP/s.h5"
expect_grep "not a swapopt output" "$TMP/err"
expect_exit 0 "$BIN/swapopt-merge" -o "$TMP/y.h5" "$TMP/p4.h5"
expect_grep "layer layer1.0 was not optimised in any part" "$TMP/err"
finish
