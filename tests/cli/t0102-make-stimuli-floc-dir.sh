# make-stimuli floc --dir: the VPNL layout (<category>/<category>-<n>.jpg) and the flat layout
# (category prefix); scrambled dropped; grayscale to 3 channels; a corrupt JPEG is skipped with a
# warning naming it.
. tests/cli/lib.sh
command -v h5dump >/dev/null || exit 77
F=tests/fixtures/data
cats="number word limb body adult child car instrument house corridor scrambled"
mkdir -p "$TMP/vpnl" "$TMP/flat"
for c in $cats; do
  mkdir -p "$TMP/vpnl/$c"
  cp "$F/gray.jpg" "$TMP/vpnl/$c/$c-1.jpg"; cp "$F/rgb420.jpg" "$TMP/vpnl/$c/$c-2.jpg"
  cp "$F/gray.jpg" "$TMP/flat/$c-1.jpg"; cp "$F/progressive.jpg" "$TMP/flat/${c}_2.jpg"
done
cp "$F/truncated.jpg" "$TMP/vpnl/adult/adult-3.jpg"
expect_exit 0 "$BIN/make-stimuli" floc --dir "$TMP/vpnl" --size 48 -o "$TMP/f.h5"
expect_grep "warning: skipping unreadable image '.*adult/adult-3.jpg': truncated JPEG" "$TMP/err"
expect_grep "dropped 2 scrambled images" "$TMP/err"
expect_grep "wrote 20 floc images (48 x 48)" "$TMP/err"
"$BIN/artifact-info" "$TMP/f.h5" >"$TMP/info"
expect_grep "/images  *uint8  *(20,48,48,3)" "$TMP/info"
cat_labels=$(h5dump -d /labels/category -y -w 0 "$TMP/f.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//')
[ "$cat_labels" = "0,0,1,1,2,2,3,3,4,4,5,5,6,6,7,7,8,8,9,9" ] && ok "category-major order" || fail "categories: $cat_labels"
h5dump -d /labels/domain_names "$TMP/f.h5" | grep -q '"faces", "bodies", "characters", "places", "objects"' && ok "domains" || fail "domain names"
h5dump -d /labels/domain_categories -y -w 0 "$TMP/f.h5" | tr -d ' \n' | grep -q 'DATA{4,5,3,2,1,0,8,9,6,7}' && ok "domain map" || fail "domain map"
h5dump -a /set "$TMP/f.h5" | grep -q '"floc"' && ok "set = floc" || fail "set attribute"
# gray.jpg became 3 equal channels: the first image's first pixel
px=$(h5dump -d /images -s 0,0,0,0 -c 1,1,1,3 -y -w 0 "$TMP/f.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//')
echo "$px" | awk -F, '$1==$2 && $2==$3 {exit 0} {exit 1}' && ok "grayscale to 3 channels ($px)" || fail "channels $px"
expect_exit 0 "$BIN/make-stimuli" floc --dir "$TMP/flat" --size 32 -o "$TMP/flat.h5"
expect_grep "wrote 20 floc images" "$TMP/err"
expect_exit 2 "$BIN/make-stimuli" floc -o "$TMP/x.h5"
expect_grep "no fLoc source" "$TMP/err"
expect_exit 2 "$BIN/make-stimuli" floc --dir "$TMP/flat" --procedural -o "$TMP/x.h5"
mkdir -p "$TMP/none"; cp "$F/gray.jpg" "$TMP/none/cat-1.jpg"
expect_exit 2 "$BIN/make-stimuli" floc --dir "$TMP/none" -o "$TMP/x.h5"
expect_grep "no fLoc images in" "$TMP/err"
[ ! -e "$TMP/x.h5" ] && ok "no output on error" || fail "output left behind"
finish
