# make-stimuli folder: a seeded sample of the training data (procedural by default) or of --dir,
# with file names and class labels.
. tests/cli/lib.sh
command -v h5dump >/dev/null || exit 77
F=tests/fixtures/data
expect_exit 0 "$BIN/make-stimuli" folder -n 6 --size 32 -o "$TMP/s.h5"
expect_grep "wrote 6 folder images (32 x 32)" "$TMP/err"
h5dump -d /labels/file_names "$TMP/s.h5" | grep -q '"procedural:0/' && ok "procedural file names" || fail "file names"
mkdir -p "$TMP/ds/cat" "$TMP/ds/dog"
for i in 1 2 3; do cp "$F/rgb420.jpg" "$TMP/ds/cat/c$i.jpg"; cp "$F/palette.png" "$TMP/ds/dog/d$i.png"; done
cp "$F/garbage.jpg" "$TMP/ds/dog/d0.jpg"
TDANN_CACHE="$TMP/cache" expect_exit 0 "$BIN/make-stimuli" folder --dir "$TMP/ds" -n 7 --size 24 -o "$TMP/d.h5"
expect_grep "skipping unreadable image '.*dog/d0.jpg'" "$TMP/err"
expect_grep "wrote 6 folder images" "$TMP/err"
cls=$(h5dump -d /labels/class -y -w 0 "$TMP/d.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//')
[ "$cls" = "0,0,0,1,1,1" ] && ok "class labels" || fail "classes: $cls"
h5dump -d /labels/class_names "$TMP/d.h5" | grep -q '"cat", "dog"' && ok "class names" || fail "class names"
TDANN_CACHE="$TMP/cache" expect_exit 0 "$BIN/make-stimuli" folder --dir "$TMP/ds" -n 10 --size 24 -o "$TMP/e.h5"
expect_grep "taking all of them" "$TMP/err"
ls "$TMP/cache"/index-*.txt >/dev/null 2>&1 && ok "file index cached" || fail "no index in $TMP/cache"
finish
