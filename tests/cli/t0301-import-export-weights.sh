# import-weights / export-weights: import -> export -> import is bit-exact and exports are
# reproducible byte for byte; --fc and --head shape the export; malformed inputs (truncated,
# bad JSON, unknown dtype, wrong shape, missing tensor, unknown tensor) exit 2 with one line
# naming the file, and write nothing.
. tests/cli/lib.sh
FX=tests/golden/weights
expect_exit 0 "$BIN/import-weights" "$FX/model.safetensors" -o "$TMP/a.h5" --input-size 64
expect_grep "w=0.125 (8..64 ch) 64 px, supervised head 10" "$TMP/err"
expect_exit 0 "$BIN/export-weights" "$TMP/a.h5" -o "$TMP/a.safetensors"
expect_exit 0 "$BIN/import-weights" "$TMP/a.safetensors" -o "$TMP/b.h5"
expect_grep "w=0.125 (8..64 ch) 64 px" "$TMP/err" # input size carried in the metadata
expect_exit 0 "$BIN/h5-compare" "$TMP/a.h5" "$TMP/b.h5"
expect_grep "127 datasets compared, all within tolerance" "$TMP/out"
expect_exit 0 "$BIN/export-weights" "$TMP/b.h5" -o "$TMP/b.safetensors"
cmp -s "$TMP/a.safetensors" "$TMP/b.safetensors" && ok "second export byte-identical" || fail "exports differ"

# SimCLR model: a fresh head (seeded) when the file has none; --head keep / --fc omit round trip
expect_exit 0 "$BIN/import-weights" "$FX/model.safetensors" -o "$TMP/s.h5" --task simclr --proj-dim 16 --seed 3
expect_grep "holds no SimCLR head (head.\*): initialised randomly (seed 3)" "$TMP/err"
expect_grep "ignoring 2 fc.\* tensors" "$TMP/err"
expect_exit 0 "$BIN/export-weights" "$TMP/s.h5" -o "$TMP/s.safetensors" --head keep --fc omit
expect_exit 0 "$BIN/import-weights" "$TMP/s.safetensors" -o "$TMP/s2.h5"
expect_grep "simclr head 16" "$TMP/err"
expect_exit 0 "$BIN/h5-compare" "$TMP/s.h5" "$TMP/s2.h5"
grep -q '"fc.weight"' "$TMP/s.safetensors" && fail "--fc omit wrote fc.weight" || ok "--fc omit: no fc"
expect_exit 0 "$BIN/export-weights" "$TMP/s.h5" -o "$TMP/z.safetensors"
expect_grep '"fc.weight":{"dtype":"F32","shape":\[1000,64\]' "$TMP/z.safetensors"
grep -q '"head.0.weight"' "$TMP/z.safetensors" && fail "default export wrote the head" || ok "default export: no head"
expect_exit 0 "$BIN/export-weights" --help
expect_grep "strict=False" "$TMP/out"

# malformed inputs: 8-byte little-endian header length, header, data
mkst() { # FILE HEADER DATA_BYTES [LENGTH]
  local len=${4:-${#2}}
  printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((len & 255)) $((len >> 8 & 255)) $((len >> 16 & 255)) $((len >> 24 & 255)))" >"$1"
  printf '%s' "$2" >>"$1"
  head -c "$3" /dev/zero >>"$1"
}
C1='"conv1.weight":{"dtype":"F32","shape":[8,3,7,7],"data_offsets":[0,4704]}'
printf 'abc' >"$TMP/trunc.safetensors"
mkst "$TMP/len.safetensors" "{$C1}" 4704 999999
mkst "$TMP/json.safetensors" "{$C1,}" 4704
mkst "$TMP/dtype.safetensors" '{"conv1.weight":{"dtype":"Q8","shape":[8,3,7,7],"data_offsets":[0,1176]}}' 1176
mkst "$TMP/shape.safetensors" "{$C1,\"bn1.weight\":{\"dtype\":\"F32\",\"shape\":[9],\"data_offsets\":[4704,4740]}}" 4740
mkst "$TMP/missing.safetensors" "{$C1}" 4704
mkst "$TMP/int.safetensors" '{"conv1.weight":{"dtype":"I8","shape":[8,3,7,7],"data_offsets":[0,1176]}}' 1176
check_bad() { # FILE MESSAGE
  expect_exit 2 "$BIN/import-weights" "$1" -o "$TMP/out.h5"
  expect_grep "$2" "$TMP/err"
  expect_grep "$(basename "$1")" "$TMP/err"
  [ "$(grep -c 'error:' "$TMP/err")" = 1 ] && ok "one error line" || fail "not one error line"
  [ -e "$TMP/out.h5" ] || [ -e "$TMP/out.h5.tmp" ] && fail "output written for $1" || ok "nothing written"
}
check_bad "$TMP/trunc.safetensors" "shorter than the 8-byte header length"
check_bad "$TMP/len.safetensors" "header length 999999 exceeds"
check_bad "$TMP/json.safetensors" "expected a string key at byte"
check_bad "$TMP/dtype.safetensors" "unknown dtype 'Q8'"
check_bad "$TMP/shape.safetensors" "tensor 'bn1.weight' in .* has shape (9,), expected (8,)"
check_bad "$TMP/missing.safetensors" "missing tensor 'bn1.weight'"
check_bad "$TMP/int.safetensors" "has dtype I8; expected a float type"
check_bad "$TMP/none.safetensors" "cannot open"
# an unknown tensor appended to a valid file: error, or dropped with --ignore-unknown
hl=$(od -An -tu8 -N8 "$TMP/a.safetensors" | tr -d ' ')
size=$(stat -c %s "$TMP/a.safetensors")
dlen=$((size - 8 - hl))
hdr=$(head -c $((8 + hl)) "$TMP/a.safetensors" | tail -c "$hl" | sed 's/} *$//')
hdr="$hdr,\"layer1.0.conv3.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[$dlen,$((dlen + 4))]}}"
mkst "$TMP/u.safetensors" "$hdr" 0
tail -c "$dlen" "$TMP/a.safetensors" >>"$TMP/u.safetensors"
head -c 4 /dev/zero >>"$TMP/u.safetensors"
check_bad "$TMP/u.safetensors" "unexpected tensor 'layer1.0.conv3.weight'"
expect_grep "hint: .*--ignore-unknown" "$TMP/err"
expect_exit 0 "$BIN/import-weights" "$TMP/u.safetensors" -o "$TMP/u.h5" --ignore-unknown
expect_exit 0 "$BIN/h5-compare" "$TMP/a.h5" "$TMP/u.h5"
finish
