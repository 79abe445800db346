#!/usr/bin/python3
"""check_torchvision_import.py: the Python half of check_torchvision_import.sh (issue 3, "Done when").

  make DIR     torchvision.models.resnet18() with random weights (seed 0; BN affine randomised and
               running statistics calibrated on random 224 px images, so activations stay O(1)),
               saved as DIR/resnet18.safetensors with its state_dict names; DIR/stimuli.h5 with
               N 224 px images (gratings and smoothed colour noise); DIR/reference.npz with the 8
               block outputs from forward hooks in eval mode, in float32 and in float64.
  compare DIR  reads DIR/acts.h5 (extract-activations) and prints, per layer, the error against
               both references: max |a - b| / max |b| ("rel max") and ||a - b|| / ||b|| ("rel L2").
               Exit 1 when any layer's rel max against the float64 reference exceeds --tol (1e-4).
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "weights"))
import st_io  # noqa: E402
from gen_fixture import LAYERS, block_outputs, gratings, randomise_and_calibrate, smooth_noise, to_input  # noqa: E402,F401


def make(d, n):
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = torchvision.models.resnet18()
    randomise_and_calibrate(m, rng, 224, batches=2, per_batch=8)
    st_io.save(os.path.join(d, "resnet18.safetensors"), m.state_dict())
    g, _ = gratings(224)
    imgs = np.concatenate([g[: n // 2], smooth_noise(rng, 224, 224, n - n // 2)])
    with h5py.File(os.path.join(d, "stimuli.h5"), "w") as f:
        f.attrs["artifact"] = "stimuli"
        f.attrs["schema_version"] = np.int64(1)
        f.attrs["set"] = "folder"
        f["images"] = imgs
        f["labels/index"] = np.arange(n, dtype=np.int32)
    ref64 = block_outputs(m, imgs)  # float64 computation (returned as float32)
    outs = {}
    hooks = [getattr(m, f"layer{k[5]}")[int(k[7])].register_forward_hook(
        lambda mod, i, o, k=k: outs.__setitem__(k, o.detach().numpy().copy())) for k in LAYERS]
    with torch.no_grad():
        m.eval()(to_input(imgs))
    for h in hooks:
        h.remove()
    np.savez(os.path.join(d, "reference.npz"), **{f"f64/{k}": ref64[k] for k in LAYERS}, **{f"f32/{k}": outs[k] for k in LAYERS})
    print(f"made torchvision resnet18 (11.7 M params), {n} stimuli at 224 px in {d}")


def compare(d, tol):
    ref = np.load(os.path.join(d, "reference.npz"))
    worst = 0.0
    print(f"{'layer':9} {'shape':>18}  {'rel max f64':>11} {'rel L2 f64':>11}  {'rel max f32':>11} {'rel L2 f32':>11}  {'torch f32 vs f64':>16}")
    with h5py.File(os.path.join(d, "acts.h5"), "r") as f:
        for k in LAYERS:
            a = f[f"layers/{k}"][()].astype(np.float64)
            r64, r32 = ref[f"f64/{k}"].astype(np.float64), ref[f"f32/{k}"].astype(np.float64)
            if a.shape != r64.shape:
                print(f"{k}: shape {a.shape} != reference {r64.shape}")
                return 1
            e = lambda x, r: (np.abs(x - r).max() / np.abs(r).max(), np.linalg.norm(x - r) / np.linalg.norm(r))  # noqa: E731
            m64, l64 = e(a, r64)
            m32, l32 = e(a, r32)
            t32, _ = e(r32, r64)
            worst = max(worst, m64)
            print(f"{k:9} {str(a.shape):>18}  {m64:11.2e} {l64:11.2e}  {m32:11.2e} {l32:11.2e}  {t32:16.2e}")
    ok = worst <= tol
    print(f"worst rel max error vs float64 reference: {worst:.2e} (tolerance {tol:g}): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["make", "compare"])
    ap.add_argument("dir")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    sys.exit(make(a.dir, a.n) if a.what == "make" else compare(a.dir, a.tol))
