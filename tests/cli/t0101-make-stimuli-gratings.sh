# make-stimuli gratings: 640 images with the paper's label grid, the set attribute, PNGs on request,
# an aliasing warning below 194 px. (Orientation and SF measured by FFT: tests/unit/test_stimuli.c.)
. tests/cli/lib.sh
command -v h5dump >/dev/null || exit 77
d() { h5dump -d "$1" -y -w 0 "$TMP/g.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//'; }
expect_exit 0 "$BIN/make-stimuli" gratings --size 32 --png "$TMP/png" -o "$TMP/g.h5"
expect_grep "alias" "$TMP/err"
expect_grep "wrote 640 gratings images" "$TMP/err"
"$BIN/artifact-info" "$TMP/g.h5" >"$TMP/info"
expect_grep "/images  *uint8  *(640,32,32,3)  dims image,row,col,channel" "$TMP/info"
expect_grep "stimuli artifact" "$TMP/info"
h5dump -a /set "$TMP/g.h5" | grep -q '"gratings"' && ok "set = gratings" || fail "set attribute"
o=$(d /labels/orientation_deg)
case "$o" in 0,0,0,0,0,*) ok "orientation starts at 0";; *) fail "orientation labels: ${o:0:60}";; esac
echo "$o" | tr ',' '\n' | sort -un | tr '\n' ' ' | grep -q '^0 22.5 45 67.5 90 112.5 135 157.5 $' && ok "8 orientations" || fail "orientations: $(echo "$o" | tr ',' '\n' | sort -un | tr '\n' ' ')"
sf=$(d /labels/sf_cycles_per_image | tr ',' '\n' | sort -gu | tr '\n' ' ')
[ "$sf" = "5.5 18.5625 31.625 44.6875 57.75 70.8125 83.875 96.9375 " ] && ok "8 spatial frequencies" || fail "SFs: $sf"
[ "$(d /labels/phase_rad | tr ',' '\n' | sort -gu | wc -l)" = 5 ] && ok "5 phases" || fail "phases"
c=$(d /labels/color | tr ',' '\n' | sort | uniq -c | awk '{print $1"x"$2}' | tr '\n' ' ')
[ "$c" = "320x0 320x1 " ] && ok "two colour conditions" || fail "colours: $c"
h5dump -d /labels/color_names "$TMP/g.h5" | grep -q '"black/white", "red/cyan"' && ok "colour names" || fail "colour names"
[ "$(ls "$TMP/png" | wc -l)" = 640 ] && ok "640 PNGs" || fail "PNG count $(ls "$TMP/png" | wc -l)"
ls "$TMP/png" | grep -q '^gratings_0330_ori0.0_sf31.62_ph0.00_redcyan.png$' && ok "PNG names carry labels" || fail "PNG names"
# at the network's size over a proportionally smaller field: the paper's cycles/deg, no aliasing
expect_exit 0 "$BIN/make-stimuli" gratings --size 224 --grating-size 96 --field-deg 3.4285714 -o "$TMP/g96.h5"
grep -q alias "$TMP/err" && fail "unexpected aliasing warning" || ok "no aliasing warning at 96 px over 3.43 deg"
"$BIN/artifact-info" "$TMP/g96.h5" >"$TMP/info"
expect_grep "/images  *uint8  *(640,96,96,3)" "$TMP/info"
sf=$(h5dump -d /labels/sf_cycles_per_image -y -w 0 "$TMP/g96.h5" | sed -n '/DATA {/,/}/{p;/}/q}' | tr -d ' \n' | sed 's/DATA{//; s/}//' | tr ',' '\n' | sort -gu | tr '\n' ' ')
[ "$sf" = "2.35714 7.95536 13.5536 19.1518 24.75 30.3482 35.9464 41.5446 " ] && ok "frequencies scaled by 96/224" || fail "SFs at 96 px: $sf"
h5dump -a /labels/sf_cycles_per_image/degrees_per_image "$TMP/g96.h5" | grep -q "3.42857" && ok "degrees_per_image stored" || fail "degrees_per_image attribute"
expect_exit 2 "$BIN/make-stimuli" gratings --field-deg 0 -o "$TMP/x.h5"
expect_exit 2 "$BIN/make-stimuli" gratings --dir /tmp -o "$TMP/x.h5"
expect_exit 2 "$BIN/make-stimuli" nosuchset -o "$TMP/x.h5"
expect_grep "unknown stimulus set 'nosuchset'" "$TMP/err"
[ ! -e "$TMP/x.h5" ] && ok "no output on error" || fail "output left behind"
finish
