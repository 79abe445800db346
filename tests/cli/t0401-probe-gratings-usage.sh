# probe-gratings: help lists the §6.1 options and config keys; bad arguments, bad config keys and
# unreadable inputs are one-line errors naming the file, exit 2, and leave no output behind.
# (Runs on real activations are in tests/unit/test_probes.c, which writes them with h5io.)
. tests/cli/lib.sh
P="$BIN/probe-gratings"
expect_exit 0 "$P" --help
for w in --activations --layers --median-peak-rate --cv-threshold --response-threshold \
         probe_gratings.interp_points probe_gratings.kappa_max UNVERIFIED; do
  expect_grep "$w" "$TMP/out"
done
expect_exit 2 "$P" -o "$TMP/t.h5"
expect_grep "probe-gratings: error: missing required option '--activations'" "$TMP/err"
expect_exit 2 "$P" --activations "$TMP/none.h5" -o "$TMP/t.h5"
expect_grep "probe-gratings: error: cannot open '$TMP/none.h5'" "$TMP/err"
echo "not hdf5" >"$TMP/text.h5"
expect_exit 2 "$P" --activations "$TMP/text.h5" -o "$TMP/t.h5"
expect_grep "not an HDF5 file '$TMP/text.h5'" "$TMP/err"
expect_exit 2 "$P" --activations "$TMP/text.h5" --layers layer2.0,layer9.9 -o "$TMP/t.h5"
expect_grep "unknown layer 'layer9.9'" "$TMP/err"
expect_exit 2 "$P" --activations "$TMP/text.h5" --cv-threshold 1.5 -o "$TMP/t.h5"
expect_grep "'--cv-threshold': 1.5 is out of range" "$TMP/err"
printf 'probe_gratings:\n  cv_treshold: 0.5\n' >"$TMP/c.yaml"
expect_exit 2 "$P" --config "$TMP/c.yaml" --activations "$TMP/text.h5" -o "$TMP/t.h5"
expect_grep "c.yaml:2:3: unknown key 'cv_treshold' in section 'probe_gratings'" "$TMP/err"
[ -e "$TMP/t.h5" ] || [ -e "$TMP/t.h5.tmp" ] && fail "an output was left behind" || ok "no output left behind"
finish
