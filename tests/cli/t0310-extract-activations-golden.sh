# import-weights + extract-activations end to end against PyTorch: a narrow torchvision-named
# ResNet-18 (width 0.125, 64 px; tests/golden/weights/gen_fixture.py) on 4 gratings at 64 px,
# the same gratings at 80 px (resized by the tool), and a folder of 3 PNGs of other sizes; the 8
# block outputs must match torchvision's (eval mode, float64 reference) and the labels must be
# copied. Tolerance |a - b| <= 5e-4 + 1e-4 |b| (activations reach ~100; seen: < 5e-5).
. tests/cli/lib.sh
FX=tests/golden/weights
TOL="--atol 5e-4 --rtol 1e-4"
expect_exit 0 "$BIN/import-weights" "$FX/model.safetensors" -o "$TMP/m.h5" --input-size 64
expect_exit 0 "$BIN/extract-activations" --model "$TMP/m.h5" --stimuli "$FX/stimuli64.h5" --device cpu --batch 3 -o "$TMP/a64.h5"
expect_exit 0 "$BIN/h5-compare" -q $TOL "$TMP/a64.h5" "$FX/expected64.h5"
expect_grep "13 datasets compared, all within tolerance" "$TMP/out"
expect_exit 0 "$BIN/extract-activations" --model "$TMP/m.h5" --stimuli "$FX/stimuli80.h5" --device cpu -o "$TMP/a80.h5"
expect_grep "stimuli are 80x80 px: resizing to 64 px" "$TMP/err"
expect_exit 0 "$BIN/h5-compare" -q $TOL "$TMP/a80.h5" "$FX/expected80.h5"
expect_exit 0 "$BIN/extract-activations" --model "$TMP/m.h5" --images "$FX/images" --device cpu --batch 2 -o "$TMP/ai.h5"
expect_grep "skipping 1 non-image file" "$TMP/err"
expect_exit 0 "$BIN/h5-compare" -q $TOL "$TMP/ai.h5" "$FX/expected_images.h5"
expect_grep "9 datasets compared, all within tolerance" "$TMP/out"
# the comparison can fail: 64 px activations are not the resized 80 px ones
expect_exit 1 "$BIN/h5-compare" -q $TOL "$TMP/a64.h5" "$FX/expected80.h5"
# layer selection, attributes, chunking
expect_exit 0 "$BIN/extract-activations" --model "$TMP/m.h5" --stimuli "$FX/stimuli64.h5" --device cpu --layers layer4.1,layer2.0 -o "$TMP/two.h5"
expect_exit 0 "$BIN/artifact-info" "$TMP/two.h5"
expect_grep "activations artifact" "$TMP/out"
expect_grep "/layers/layer2.0 .*(4,16,8,8)" "$TMP/out"
expect_grep "/layers/layer4.1 .*(4,64,2,2)" "$TMP/out"
grep -q "/layers/layer1.0" "$TMP/out" && fail "unselected layer written" || ok "only the selected layers"
expect_exit 0 "$BIN/h5-compare" -q $TOL "$TMP/two.h5:/layers/layer4.1" "$FX/expected64.h5:/layers/layer4.1"
finish
