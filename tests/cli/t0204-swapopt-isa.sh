# SwapOpt's CPU kernels have AVX-512 paths that promise the scalar path's bits (same IEEE operations
# in the same order). `make test` builds swapopt with those kernels for baseline x86-64 (no AVX, no
# FMA instructions: fmaf from libm) as $TDANN_BUILD/tests/swapopt-x86-64; both builds must write the
# same sheet for the same seed, so a sheet does not depend on the machine that optimised it.
. tests/cli/lib.sh
X=${TDANN_BUILD:-}/tests/swapopt-x86-64
[ -x "$X" ] || { echo "no baseline build (not x86-64, or not run through make test)"; exit 77; }
cat > "$TMP/tiny.yaml" <<'Y'
seed: 5
model: {width: 0.125, input_size: 32}
sheet: {windows: 500}
swapopt: {attempts: 40000, eval_windows: 20}
Y
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" -o "$TMP/s.h5"
for t in 1 2; do
  expect_exit 0 env OMP_NUM_THREADS=$t "$BIN/swapopt" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" \
    --activations tests/fixtures/sheet/acts_tiny.h5 -o "$TMP/native$t.h5"
  expect_exit 0 env OMP_NUM_THREADS=$t "$X" --config "$TMP/tiny.yaml" --device cpu --sheet "$TMP/s.h5" \
    --activations tests/fixtures/sheet/acts_tiny.h5 -o "$TMP/base$t.h5"
  expect_exit 0 "$BIN/h5-compare" --atol 0 --rtol 0 "$TMP/native$t.h5" "$TMP/base$t.h5"
done
expect_exit 0 "$BIN/h5-compare" --atol 0 --rtol 0 "$TMP/native1.h5" "$TMP/native2.h5"
finish
