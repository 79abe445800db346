# The augmentation's vector code (kernels/augment_simd.h) is chosen at compile time: SSE2, AVX2 or
# AVX-512. The unit tests check the native build against torchvision; this test builds the same
# kernels for every instruction set this CPU can run and requires bit-identical outputs
# (tests/isa/augment_driver.c hashes single steps on odd sizes, both blur paths and 360 whole views).
. tests/cli/lib.sh
CC=${CC:-gcc}
command -v "$CC" >/dev/null 2>&1 || { echo "no C compiler"; exit 77; }
cfg=build/config.mk
pngf=$(sed -n 's/^PNG_CFLAGS := //p' "$cfg" 2>/dev/null)
pngl=$(sed -n 's/^PNG_LIBS := //p' "$cfg" 2>/dev/null)
jpgl=$(sed -n 's/^JPEG_LIBS := //p' "$cfg" 2>/dev/null)
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
isas="x86-64 native"
case "$flags" in *" avx2 "*) isas="$isas x86-64-v3";; esac
case "$flags" in *" avx512bw "*) isas="$isas x86-64-v4";; esac
[ "$(uname -m)" = x86_64 ] || isas="native"
ref=""
for a in $isas; do
  if ! $CC -std=gnu11 -O3 -march=$a -fopenmp -Wall -Wextra -Werror -D_GNU_SOURCE -Icommon -Ikernels $pngf \
       tests/isa/augment_driver.c kernels/augment_cpu.c common/image.c common/error.c common/util.c \
       ${pngl:--lpng} ${jpgl:--ljpeg} -lm -o "$TMP/aug-$a" 2>"$TMP/cc-$a"; then
    fail "build for -march=$a"; head -5 "$TMP/cc-$a"; continue
  fi
  h=$("$TMP/aug-$a") || { fail "run for -march=$a"; continue; }
  echo "  -march=$a: $h"
  if [ -z "$ref" ]; then ref=$h; ok "reference hash from -march=$a"
  elif [ "$h" = "$ref" ]; then ok "-march=$a identical"
  else fail "-march=$a differs: $h vs $ref"; fi
done
finish
