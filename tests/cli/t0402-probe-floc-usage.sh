# probe-floc: help lists the §6.2 definition; bad arguments and unreadable inputs are one-line
# errors naming the file, exit 2, and leave no output behind.
# (Runs on real activations are in tests/unit/test_probes.c, which writes them with h5io.)
. tests/cli/lib.sh
P="$BIN/probe-floc"
expect_exit 0 "$P" --help
for w in --activations --layers probe_floc.layers ddof faces bodies characters places objects; do
  expect_grep "$w" "$TMP/out"
done
expect_exit 2 "$P" --activations "$TMP/a.h5"
expect_grep "probe-floc: error: missing required option '--output'" "$TMP/err"
expect_exit 2 "$P" --activations "$TMP/none.h5" -o "$TMP/s.h5"
expect_grep "probe-floc: error: cannot open '$TMP/none.h5'" "$TMP/err"
echo "not hdf5" >"$TMP/text.h5"
expect_exit 2 "$P" --activations "$TMP/text.h5" -o "$TMP/s.h5"
expect_grep "not an HDF5 file '$TMP/text.h5'" "$TMP/err"
printf 'probe_floc:\n  layers: [layer4.1, layer5.0]\n' >"$TMP/c.yaml"
expect_exit 2 "$P" --config "$TMP/c.yaml" --activations "$TMP/text.h5" -o "$TMP/s.h5"
expect_grep "unknown layer 'layer5.0'" "$TMP/err"
[ -e "$TMP/s.h5" ] || [ -e "$TMP/s.h5.tmp" ] && fail "an output was left behind" || ok "no output left behind"
finish
