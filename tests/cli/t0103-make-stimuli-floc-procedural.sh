# make-stimuli floc --procedural: the built-in stand-in, labelled as such, 10 categories, PNGs.
. tests/cli/lib.sh
command -v h5dump >/dev/null || exit 77
expect_exit 0 "$BIN/make-stimuli" floc --procedural --per-category 3 --size 40 --png "$TMP/png" -o "$TMP/p.h5"
expect_grep "wrote 30 floc images (40 x 40)" "$TMP/err"
h5dump -a /floc_source "$TMP/p.h5" | grep -q 'procedural stand-in' && ok "documented as a stand-in" || fail "floc_source"
[ "$(ls "$TMP/png" | wc -l)" = 30 ] && ok "30 PNGs" || fail "PNGs"
ls "$TMP/png" | grep -q '^floc_0012_adult.png$' && ok "PNG names carry the category" || fail "PNG names: $(ls "$TMP/png" | sed -n 13p)"
# deterministic: a second run gives the same images
expect_exit 0 "$BIN/make-stimuli" floc --procedural --per-category 3 --size 40 -o "$TMP/q.h5"
expect_exit 0 "$BIN/h5-compare" -q "$TMP/p.h5:/images" "$TMP/q.h5:/images"
printf 'stimuli:\n  seed: 5\n' >"$TMP/c.yaml"
expect_exit 0 "$BIN/make-stimuli" --config "$TMP/c.yaml" floc --procedural --per-category 3 --size 40 -o "$TMP/r.h5"
expect_exit 1 "$BIN/h5-compare" -q "$TMP/p.h5:/images" "$TMP/r.h5:/images"
finish
