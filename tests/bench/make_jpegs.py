#!/usr/bin/python3
"""make_jpegs.py DIR [N]: N (default 64) 500 x 375 JPEGs (quality 90, 4:2:0, like typical ImageNet
files) cut from scipy's bundled 'face' photograph at random positions, scales and flips, so both
benchmarks decode natural-image JPEGs. Deterministic."""
import os, sys
import numpy as np
from PIL import Image
import scipy.misc

out = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 64
os.makedirs(out, exist_ok=True)
face = Image.fromarray(scipy.misc.face())
rng = np.random.default_rng(0)
W, H = face.size
for i in range(n):
    s = rng.uniform(0.5, 1.0)
    cw = int(W * s); ch = int(cw * 0.75)
    x = int(rng.integers(0, W - cw + 1)); y = int(rng.integers(0, H - ch + 1))
    im = face.crop((x, y, x + cw, y + ch)).resize((500, 375), Image.BICUBIC)
    if i % 2:
        im = im.transpose(Image.FLIP_LEFT_RIGHT)
    im.save(os.path.join(out, "img%03d.jpg" % i), quality=90)
