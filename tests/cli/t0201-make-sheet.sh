# make-sheet: usage, the paper geometry (224 px, width 1), determinism for a seed, config errors.
. tests/cli/lib.sh
expect_exit 0 "$BIN/make-sheet" --help
expect_grep "Usage: make-sheet" "$TMP/out"
expect_grep "See also:" "$TMP/out"

# the paper's sheets (fewer neighbourhood windows to keep the test short)
sed 's/^  windows: 20000 .*/  windows: 2000/' configs/paper.yaml > "$TMP/paper.yaml"
expect_exit 0 "$BIN/make-sheet" --config "$TMP/paper.yaml" -o "$TMP/paper.h5"
expect_grep "layer1.0 .* 64x 56x56 .* 200704 units  sheet  4.000 mm  hypercolumn 0.0792 mm" "$TMP/out"
expect_grep "layer2.0 .* 128x 28x28 .* 100352 units  sheet 24.500 mm  hypercolumn 1.0841 mm" "$TMP/out"
expect_grep "layer3.0 .* 256x 14x14 .* 50176 units  sheet 20.000 mm  hypercolumn 2.2727 mm" "$TMP/out"
expect_grep "layer3.1 .* 256x 14x14 .* 50176 units  sheet 16.000 mm  hypercolumn 1.8182 mm" "$TMP/out"
expect_grep "layer4.1 .* 512x  7x7 .* 25088 units  sheet 10.000 mm  hypercolumn 4.5455 mm  neighbourhoods 2000 x K=500" "$TMP/out"
if command -v h5dump >/dev/null; then
  h5dump -a /layers/layer4.1/analysis_scale "$TMP/paper.h5" > "$TMP/attr" 2>&1
  expect_grep "(0): 7" "$TMP/attr"
  h5dump -a /layers/layer3.0/dims "$TMP/paper.h5" > "$TMP/attr" 2>&1
  expect_grep "(0): 256, 14, 14" "$TMP/attr"
fi

# determinism: same seed -> identical datasets, another seed -> different
cat > "$TMP/tiny.yaml" <<'Y'
seed: 3
model: {width: 0.125, input_size: 32}
sheet: {windows: 500}
Y
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" -o "$TMP/a.h5"
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" -o "$TMP/b.h5"
expect_exit 0 "$BIN/h5-compare" "$TMP/a.h5" "$TMP/b.h5"
expect_exit 0 "$BIN/make-sheet" --config "$TMP/tiny.yaml" --seed 4 -o "$TMP/c.h5"
expect_exit 1 "$BIN/h5-compare" -q "$TMP/a.h5" "$TMP/c.h5"

# config errors name the key
printf 'sheet: {sides_mm: [4, 4]}\n' > "$TMP/bad.yaml"
expect_exit 2 "$BIN/make-sheet" --config "$TMP/bad.yaml" -o "$TMP/x.h5"
expect_grep "sheet.sides_mm': expected 8 values" "$TMP/err"
printf 'sheet: {sides: [4]}\n' > "$TMP/bad.yaml"
expect_exit 2 "$BIN/make-sheet" --config "$TMP/bad.yaml" -o "$TMP/x.h5"
expect_grep "sides" "$TMP/err"
[ -e "$TMP/x.h5" ] && fail "output written on error" || ok "no output on error"
finish
