#!/usr/bin/env bash
# extra-realdata.sh: issue 9 item 3 on the lent GPU machine: train-joint --device cuda reading
# JPEGs from disk (decode + the paper's SimCLR augmentation on the machine's CPU cores, data
# threads = all cores) at paper size (width 1, 224 px, 256 images x 2 views, bf16, SL_REL on 8
# layers, alpha 0.25). Prints the training rate to compare with the synthetic-data figure of the
# benchmark (data already on the GPU). The machine has no dataset: N JPEGs of 500 x 375 (quality
# 90, 4:2:0, the size of a typical ImageNet file) are synthesised first with numpy + PIL.
set -uo pipefail
cd "$(dirname "$0")/../.."
W=${REALDATA_WORK:-/tmp/tdann-realdata}
N=${REALDATA_N:-6144}
STEPS=${REALDATA_STEPS:-30}
mkdir -p "$W/jpg"
t0=$(date +%s)
python3 - "$W/jpg" "$N" <<'PY'
import os, sys
import numpy as np
from multiprocessing import Pool
from PIL import Image
out, n = sys.argv[1], int(sys.argv[2])
def make(i):
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:375, 0:500].astype(np.float32)
    img = np.zeros((375, 500, 3), np.float32)
    for _ in range(12):  # oriented gratings and blobs of random colour: natural-ish entropy
        f, th, ph = rng.uniform(0.005, 0.08), rng.uniform(0, np.pi), rng.uniform(0, 6.28)
        cx, cy, r = rng.uniform(0, 500), rng.uniform(0, 375), rng.uniform(30, 200)
        mask = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r * r))
        wave = np.sin(2 * np.pi * f * (x * np.cos(th) + y * np.sin(th)) + ph)
        img += (mask * wave)[..., None] * rng.uniform(-60, 60, 3)
    img += rng.normal(0, 6, img.shape) + rng.uniform(60, 190, 3)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(os.path.join(out, "img%05d.jpg" % i), quality=90)
with Pool(os.cpu_count()) as p:
    p.map(make, range(n), chunksize=64)
PY
echo "REALDATA: $N JPEGs made in $(( $(date +%s) - t0 )) s ($(du -sh "$W/jpg" | cut -f1))"
[ -f "$W/sheet.h5" ] || bin/make-sheet --config configs/paper.yaml -o "$W/sheet.h5" > "$W/make-sheet.log" 2>&1 || { tail -3 "$W/make-sheet.log"; exit 1; }
cat > "$W/rd.yaml" <<Y
model: {width: 1.0, input_size: 224, task: simclr}
data: {kind: folder, path: $W/jpg, threads: 0, index_cache: "off"}
tdann: {batch_size: 256, steps: $STEPS, alpha: 0.25, checkpoint_every: 0, eval_every: 0, precision: bf16}
Y
TDANN_PROGRESS_SECONDS=5 bin/train-joint --config "$W/rd.yaml" --stage tdann --sheet "$W/sheet.h5" --device cuda \
  -o "$W/real.h5" > "$W/real.log" 2>&1 || { tail -5 "$W/real.log"; echo "REALDATA: train-joint FAILED"; exit 1; }
grep -E "training|engine|data" "$W/real.log" | head -4 | cut -c1-300
python3 - "$W/real.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
ips = np.asarray(f["/log/images_per_s"][()], float)
steady = ips[5:] if len(ips) > 8 else ips
print("REALDATA: JPEG folder, paper-size Stage 3 step on the GPU: median %.0f images/s over steps 6-%d "
      "(%.0f views/s; per-step min %.0f max %.0f)" % (np.median(steady), len(ips), 2 * np.median(steady), steady.min(), steady.max()))
PY
