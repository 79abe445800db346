# train-joint Stage 3: the spatial loss is logged for every layer with a term (NaN where alpha is
# 0), the held-out evaluation runs at step 0, every eval_every steps and at the end, SL_Abs works,
# and supervised training on data without class labels is refused.
. tests/cli/lib.sh
. tests/cli/lib-train.sh
tiny_config "$TMP/c.yaml"
tiny_sheet "$TMP/c.yaml" "$TMP/sheet.h5"
T="$BIN/train-joint"
A=(--config "$TMP/c.yaml" --stage tdann --sheet "$TMP/sheet.h5" --steps 6)

expect_exit 0 "$T" "${A[@]}" --alpha 0,0,0.25,0,0,0,0,0.25 -o "$TMP/a.h5"
h5dump -d /log/spatial_loss "$TMP/a.h5" >"$TMP/sl.txt"
# row 0: layers 0,1 NaN, layer2.0 a number, ... layer4.1 a number
expect_grep "(0,0): nan, nan, 0\.[0-9]*, nan, nan, nan," "$TMP/sl.txt"
h5dump -d /log/heldout_step "$TMP/a.h5" >"$TMP/hs.txt"
expect_grep "(0): 0, 4, 6" "$TMP/hs.txt"
h5dump -d /log/heldout_spatial_loss "$TMP/a.h5" >"$TMP/hsl.txt"
grep -qi nan "$TMP/hsl.txt" && fail "NaN in the held-out spatial loss" || ok "held-out spatial loss finite on every layer"
h5dump -d /log/total_loss -d /log/task_loss "$TMP/a.h5" >"$TMP/tot.txt"
expect_grep "(0): [0-9]" "$TMP/tot.txt"

expect_exit 0 "$T" "${A[@]}" --spatial abs --steps 2 -o "$TMP/abs.h5"
expect_exit 1 "$BIN/h5-compare" "$TMP/a.h5:/log/spatial_loss" "$TMP/abs.h5:/log/spatial_loss"

# the stage1 network evaluated on the same sheet (alpha 0, sheet only for the held-out loss)
expect_exit 0 "$T" --config "$TMP/c.yaml" --sheet "$TMP/sheet.h5" --steps 4 -o "$TMP/s1.h5"
h5dump -d /log/heldout_step "$TMP/s1.h5" >"$TMP/hs1.txt"
expect_grep "(0): 0, 4" "$TMP/hs1.txt"
# --init-only with a sheet: the untrained network's held-out loss at step 0
expect_exit 0 "$T" --config "$TMP/c.yaml" --sheet "$TMP/sheet.h5" --init-only -o "$TMP/init.h5"
h5dump -d /log/heldout_step "$TMP/init.h5" >"$TMP/hs0.txt"
expect_grep "(0): 0" "$TMP/hs0.txt"

expect_exit 2 "$T" "${A[@]}" --task supervised -o "$TMP/sup.h5"
expect_grep "supervised training needs class labels" "$TMP/err"
finish
