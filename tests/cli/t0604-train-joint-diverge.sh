# train-joint divergence guard: an absurd learning rate makes the loss NaN; the run stops with
# exit 1 and a message naming the step and what diverged, writes no final model and keeps the
# last good checkpoint.
. tests/cli/lib.sh
. tests/cli/lib-train.sh
tiny_config "$TMP/c.yaml"
expect_exit 1 "$BIN/train-joint" --config "$TMP/c.yaml" --steps 6 --checkpoint-every 1 --base-lr 1e30 -o "$TMP/d.h5"
expect_grep "train-joint: error: training diverged at step [0-9]*: \(task loss\|total loss\|spatial loss of layer[1-4].[01]\) is \(nan\|inf\)" "$TMP/err"
expect_grep "hint: the last good checkpoint is '$TMP/d.ckpt/step-" "$TMP/err"
[ -e "$TMP/d.h5" ] && fail "a diverged run wrote the final model"
ls "$TMP"/d.ckpt/step-*.h5 >/dev/null 2>&1 && ok "checkpoint kept" || fail "no checkpoint left"
finish
