#!/bin/bash
# check_torchvision_import.sh: issue 3's "Done when" check, not part of `make test` (needs
# Debian's /usr/bin/python3 with torch, torchvision, h5py). A randomly initialised torchvision
# resnet18 state dict saved as safetensors is imported (import-weights) and run through
# extract-activations on the CPU on 224 px stimuli; its 8 block outputs must reproduce
# torchvision's forward-hook outputs (eval mode) within 1e-4 relative (max |a-b| / max |b| per
# layer, against a float64 evaluation of the same network; the float32 one is printed too).
#
#   tests/golden/check_torchvision_import.sh [N_IMAGES] [--device cpu|cuda]   (from the repo root)
# Environment: BIN (default ./bin), KEEP=1 keeps the scratch directory. Exit 0 pass, 1 fail.
set -euo pipefail
N=${1:-6}
DEVICE=${2:-cpu}
BIN=${BIN:-$PWD/bin}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
D=$(mktemp -d /tmp/check-tv-import.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$D"' EXIT
$PY -c "import torch, torchvision, h5py" || { echo "needs /usr/bin/python3 with torch, torchvision, h5py"; exit 2; }
$PY "$HERE/check_torchvision_import.py" make "$D" --n "$N"
"$BIN/import-weights" "$D/resnet18.safetensors" -o "$D/model.h5" --input-size 224
"$BIN/extract-activations" --model "$D/model.h5" --stimuli "$D/stimuli.h5" --layers all --device "$DEVICE" \
  --precision fp32 -o "$D/acts.h5"
$PY "$HERE/check_torchvision_import.py" compare "$D"
