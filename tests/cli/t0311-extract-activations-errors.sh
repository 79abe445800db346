# extract-activations refuses bad input with one line naming the culprit (exit 2) and writes
# nothing: no or two inputs, an unknown layer, a non-checkpoint model or stimuli file, an empty or
# missing folder, a corrupt image (named).
. tests/cli/lib.sh
FX=tests/golden/weights
expect_exit 0 "$BIN/import-weights" "$FX/model.safetensors" -o "$TMP/m.h5" --input-size 64
X="$BIN/extract-activations --device cpu --model $TMP/m.h5 -o $TMP/a.h5"
nothing() { [ -e "$TMP/a.h5" ] || [ -e "$TMP/a.h5.tmp" ] && fail "output written" || ok "nothing written"; }
expect_exit 2 $X
expect_grep "give exactly one of --stimuli S.h5 and --images DIR" "$TMP/err"
expect_exit 2 $X --stimuli "$FX/stimuli64.h5" --images "$FX/images"
expect_exit 2 $X --stimuli "$FX/stimuli64.h5" --layers layer2.0,layer5.0
expect_grep "unknown layer 'layer5.0'" "$TMP/err"
expect_exit 2 "$BIN/extract-activations" --device cpu --model "$FX/stimuli64.h5" --stimuli "$FX/stimuli64.h5" -o "$TMP/a.h5"
expect_grep "expected a checkpoint artifact, got a stimuli artifact '$FX/stimuli64.h5'" "$TMP/err"
expect_exit 2 $X --stimuli "$TMP/m.h5"
expect_grep "expected a stimuli artifact, got a checkpoint artifact" "$TMP/err"
mkdir -p "$TMP/empty" "$TMP/bad"
expect_exit 2 $X --images "$TMP/empty"
expect_grep "no PNG or JPEG images in folder '$TMP/empty'" "$TMP/err"
cp "$FX/images/a_wide.png" "$TMP/bad/a.png"
echo "not a png" >"$TMP/bad/b.png"
expect_exit 2 $X --images "$TMP/bad"
expect_grep "cannot read image '$TMP/bad/b.png'" "$TMP/err"
[ "$(grep -c 'error:' "$TMP/err")" = 1 ] && ok "one error line" || fail "not one error line"
nothing
expect_exit 2 $X --images "$TMP/none"
expect_grep "cannot open folder '$TMP/none'" "$TMP/err"
nothing
finish
