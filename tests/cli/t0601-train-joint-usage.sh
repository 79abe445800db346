# train-joint: usage errors (exit 2, one line naming the problem), stage sections (a broken tdann:
# section does not disturb stage1), --init-only (the untrained "unoptimized" model) and the
# contents of a trained model (checkpoint + /log).
. tests/cli/lib.sh
. tests/cli/lib-train.sh
tiny_config "$TMP/c.yaml"
T="$BIN/train-joint"

expect_exit 2 "$T" --config "$TMP/c.yaml"
expect_grep "missing required option '--output'" "$TMP/err"
expect_exit 2 "$T" --config "$TMP/c.yaml" --stage tdann -o "$TMP/x.h5"
expect_grep "tdann.alpha > 0 needs a sheet" "$TMP/err"
expect_exit 2 "$T" --config "$TMP/c.yaml" --stage stage3 -o "$TMP/x.h5"
expect_exit 2 "$T" --config "$TMP/c.yaml" --alpha 0.1,0.2,0.3 --sheet "$TMP/none.h5" -o "$TMP/x.h5"
expect_exit 2 "$T" --config "$TMP/c.yaml" --alpha 0.1 --sheet "$TMP/none.h5" -o "$TMP/x.h5"
expect_grep "none.h5" "$TMP/err"
tiny_config "$TMP/bad.yaml" "  # a typo in tdann: only"
sed -i 's/^tdann: {/tdann: {batch_sise: 4, /' "$TMP/bad.yaml"
expect_exit 2 "$T" --config "$TMP/bad.yaml" --stage tdann -o "$TMP/x.h5"
expect_grep "batch_sise" "$TMP/err"
expect_exit 0 "$T" --config "$TMP/bad.yaml" --stage stage1 --init-only -o "$TMP/init.h5"
[ -e "$TMP/x.h5" ] && fail "a failed run left an output"

# a sheet made for another network is refused
tiny_config "$TMP/wide.yaml"
sed -i 's/width: 0.125/width: 0.25/' "$TMP/wide.yaml"
tiny_sheet "$TMP/wide.yaml" "$TMP/wide_sheet.h5"
expect_exit 2 "$T" --config "$TMP/c.yaml" --stage tdann --sheet "$TMP/wide_sheet.h5" -o "$TMP/x.h5"
expect_grep "sheet layer layer1.0 is 16x16x16, the model's 8x16x16" "$TMP/err"

# --init-only: step 0, no training rows; same seed -> same weights, other seed -> other weights
expect_exit 0 "$T" --config "$TMP/c.yaml" --init-only -o "$TMP/init2.h5"
expect_exit 0 "$BIN/h5-compare" "$TMP/init.h5:/params/conv1.weight" "$TMP/init2.h5:/params/conv1.weight"
expect_exit 0 "$T" --config "$TMP/c.yaml" --init-only --seed 4 -o "$TMP/init3.h5"
expect_exit 1 "$BIN/h5-compare" "$TMP/init.h5:/params/conv1.weight" "$TMP/init3.h5:/params/conv1.weight"
h5dump -d /state/step "$TMP/init.h5" >"$TMP/step.txt" 2>&1
expect_grep "(0): 0" "$TMP/step.txt"
h5dump -A -d /log/step "$TMP/init.h5" >"$TMP/log.txt" 2>&1
expect_grep "SIMPLE { ( 0 ) / ( 0 ) }" "$TMP/log.txt"

# a short Stage 1 run: checkpoint artifact with the training log, loss finite and falling
expect_exit 0 "$T" --config "$TMP/c.yaml" --steps 6 -o "$TMP/s1.h5"
expect_grep "wrote '$TMP/s1.h5': task loss" "$TMP/err"
expect_exit 0 "$BIN/artifact-info" "$TMP/s1.h5"
expect_grep "checkpoint" "$TMP/out"
for d in step task_loss spatial_loss total_loss lr images_per_s; do
  h5dump -H -d /log/$d "$TMP/s1.h5" >"$TMP/h.txt" 2>&1 || fail "no /log/$d"
done
h5dump -H -d /log/spatial_loss "$TMP/s1.h5" >"$TMP/h.txt" 2>&1
expect_grep "( 6, 8 )" "$TMP/h.txt"
h5dump -d /log/lr "$TMP/s1.h5" >"$TMP/lr.txt" 2>&1
expect_grep "(0): 0.01875," "$TMP/lr.txt"      # 0.3 * 16 / 256
finish
