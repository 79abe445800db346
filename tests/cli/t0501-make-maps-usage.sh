# make-maps: usage errors exit 2 with one line naming the problem; inputs are per-model lists.
. tests/cli/lib.sh
M="$BIN/make-maps"
expect_exit 2 "$M" -o "$TMP/m"
expect_grep "missing required option '--sheet'" "$TMP/err"
expect_exit 2 "$M" --sheet a.h5,b.h5 --tuning t.h5 -o "$TMP/m"
expect_grep "make-maps: error: --tuning lists 1 entries but --sheet lists 2 models" "$TMP/err"
expect_exit 2 "$M" --sheet a,b,c,d -o "$TMP/m"
expect_grep "must list 1 to 3 models" "$TMP/err"
expect_exit 2 "$M" --name 'a/b' --sheet a.h5 -o "$TMP/m"
expect_grep "bad model name 'a/b'" "$TMP/err"
expect_exit 2 "$M" --name x,x --sheet a.h5,b.h5 -o "$TMP/m"
expect_grep "model name 'x' given twice" "$TMP/err"
expect_exit 2 "$M" --sheet "$TMP/none.h5" --tuning - -o "$TMP/m"
expect_grep "cannot open '$TMP/none.h5'" "$TMP/err"
[ -e "$TMP/m" ] && fail "output directory created on bad input" || ok "no output directory on bad input"
echo "not hdf5" > "$TMP/text.h5"
expect_exit 2 "$M" --sheet "$TMP/text.h5" --tuning "$TMP/text.h5" -o "$TMP/m"
expect_grep "not an HDF5 file '$TMP/text.h5'" "$TMP/err"
expect_exit 2 "$M" --sheet a.h5 --v1-layer layer9.9 -o "$TMP/m"
expect_grep "unknown layer 'layer9.9'" "$TMP/err"
expect_exit 2 "$M" --sheet a.h5 --quirks sometimes -o "$TMP/m"
expect_grep "expected one of official|fixed" "$TMP/err"
cat > "$TMP/c.yaml" <<'Y'
maps:
  patch_t_threshold: 2.5
  pinwheel_windw_mm: 1
Y
expect_exit 2 "$M" --config "$TMP/c.yaml" --sheet a.h5 -o "$TMP/m"
expect_grep "pinwheel_windw_mm" "$TMP/err"
finish
