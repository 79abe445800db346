#!/usr/bin/python3
"""gen_fixture.py: makes the committed end-to-end fixture for import-weights + extract-activations
(tests/cli/t0310-extract-activations-golden.sh). Run with Debian's python3 (torch, torchvision,
h5py, PIL):  /usr/bin/python3 tests/golden/weights/gen_fixture.py  (writes next to this script).

Model: torchvision's ResNet-18 code (torchvision.models.resnet.BasicBlock, _make_layer) with the
stage widths of width 0.125 (8, 16, 32, 64 channels) and a 10-class fc, kaiming-initialised;
BN affine parameters randomised and running statistics calibrated on random images (momentum
None, two batches) so that activations stay O(1) through all blocks. Saved as safetensors with
torchvision's state_dict names (model.safetensors).

Inputs (uint8 RGB) and expected block outputs (eval mode, computed in float64, stored float32):
- stimuli64.h5: 4 sine gratings at 64 px (the model's input size)     -> expected64.h5
- stimuli80.h5: the same gratings drawn at 80 px: extract-activations resizes them (shorter side
  to 64, centre crop; PIL bilinear with antialiasing, as torchvision's Resize on PIL images)
                                                                       -> expected80.h5
- images/: three PNGs of other sizes (96x64, 64x80, 72x72) and a non-image file
                                                                       -> expected_images.h5
Each expected file holds /layers/<layer> (N,C,H,W) for all 8 blocks and the /labels that
extract-activations must copy (or, for images/, write: /labels/file_names).
"""
import os
import sys

import h5py
import numpy as np
import torch
import torchvision
from PIL import Image
from torch import nn
from torchvision.models.resnet import BasicBlock

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import st_io  # noqa: E402

LAYERS = [f"layer{s}.{b}" for s in range(1, 5) for b in range(2)]
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
S = 64


def narrow_resnet18(width, num_classes):
    """torchvision's resnet18 with stage widths round(64w) ... round(512w)."""
    c = [max(1, int(round(width * b))) for b in (64, 128, 256, 512)]
    m = torchvision.models.resnet18(num_classes=num_classes)
    m.inplanes = c[0]
    m.conv1 = nn.Conv2d(3, c[0], kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(c[0])
    m.layer1 = m._make_layer(BasicBlock, c[0], 2)
    m.layer2 = m._make_layer(BasicBlock, c[1], 2, stride=2)
    m.layer3 = m._make_layer(BasicBlock, c[2], 2, stride=2)
    m.layer4 = m._make_layer(BasicBlock, c[3], 2, stride=2)
    m.fc = nn.Linear(c[3], num_classes)
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
    return m


def smooth_noise(rng, h, w, n):
    """Natural-ish test images: smoothed colour noise, uint8 (n,h,w,3)."""
    x = rng.normal(size=(n, h // 4 + 2, w // 4 + 2, 3))
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    t = nn.functional.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)
    t = t + 0.3 * torch.from_numpy(rng.normal(size=(n, 3, h, w)))
    u = (t - t.amin()) / (t.amax() - t.amin()) * 255.0
    return u.round().clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)


def randomise_and_calibrate(m, rng, size, batches=2, per_batch=16):
    g = torch.Generator().manual_seed(1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            with torch.no_grad():
                mod.weight.uniform_(0.5, 1.5, generator=g)
                mod.bias.normal_(0.0, 0.2, generator=g)
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the calibration batches
    m.train()
    with torch.no_grad():
        for _ in range(batches):
            m(to_input(smooth_noise(rng, size, size, per_batch)))
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.momentum = 0.1
    m.eval()


def to_input(u8, dtype=torch.float32):
    x = u8.astype(np.float64) / 255.0
    x = (x - MEAN) / STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).to(dtype).contiguous()


def block_outputs(m, u8):
    """The 8 block outputs in eval mode, computed in float64."""
    md = m.double().eval()
    outs = {}
    hooks = []
    for name in LAYERS:
        s, b = name[5], int(name[7])
        blk = getattr(md, f"layer{s}")[b]
        hooks.append(blk.register_forward_hook(lambda mod, i, o, name=name: outs.__setitem__(name, o.detach().clone())))
    with torch.no_grad():
        md(to_input(u8, torch.float64))
    for h in hooks:
        h.remove()
    m.float()
    return {k: v.float().numpy() for k, v in outs.items()}


def gratings(size):
    """4 sine gratings: orientation 0/45/90/135 deg, 4 cycles per image, colour 0 b/w, 1 red/cyan."""
    ori = np.array([0, 45, 90, 135], np.float32)
    sf = np.full(4, 4.0, np.float32)
    phase = np.array([0, np.pi / 2, np.pi, 0], np.float32)
    color = np.array([0, 1, 0, 1], np.int32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    imgs = np.zeros((4, size, size, 3), np.uint8)
    for i in range(4):
        th = np.deg2rad(ori[i])
        v = np.sin(2 * np.pi * sf[i] * (xx * np.cos(th) + yy * np.sin(th)) + phase[i])
        g = (v + 1) / 2
        rgb = np.stack([g, g, g], -1) if color[i] == 0 else np.stack([g, 1 - g, 1 - g], -1)
        imgs[i] = np.round(rgb * 255).astype(np.uint8)
    labels = {"orientation_deg": ori, "sf_cycles_per_image": sf, "phase_rad": phase, "color": color}
    return imgs, labels


def resize_crop(img_u8, size):
    t = torchvision.transforms.Compose([torchvision.transforms.Resize(size), torchvision.transforms.CenterCrop(size)])
    return np.asarray(t(Image.fromarray(img_u8)))


def write_labels(f, labels, color_names=True):
    for k, v in labels.items():
        f[f"labels/{k}"] = v
    if color_names:
        f.create_dataset("labels/color_names", data=["black/white", "red/cyan"], dtype=h5py.string_dtype())


def write_stimuli(path, imgs, labels):
    with h5py.File(path, "w") as f:
        f.attrs["artifact"] = "stimuli"
        f.attrs["schema_version"] = np.int64(1)
        f.attrs["set"] = "gratings"
        d = f.create_dataset("images", data=imgs)
        d.attrs["dims"] = "image,row,col,channel"
        write_labels(f, labels)


def write_expected(path, outs, labels, string_labels=None):
    with h5py.File(path, "w") as f:
        for k in LAYERS:
            f.create_dataset(f"layers/{k}", data=outs[k])
        if labels is not None:
            write_labels(f, labels)
        for k, v in (string_labels or {}).items():
            f.create_dataset(f"labels/{k}", data=v, dtype=h5py.string_dtype())


def main():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    m = narrow_resnet18(0.125, 10)
    randomise_and_calibrate(m, rng, S)
    st_io.save(os.path.join(HERE, "model.safetensors"), m.state_dict())

    g64, labels = gratings(64)
    write_stimuli(os.path.join(HERE, "stimuli64.h5"), g64, labels)
    write_expected(os.path.join(HERE, "expected64.h5"), block_outputs(m, g64), labels)

    g80, _ = gratings(80)
    write_stimuli(os.path.join(HERE, "stimuli80.h5"), g80, labels)
    r80 = np.stack([resize_crop(im, S) for im in g80])
    write_expected(os.path.join(HERE, "expected80.h5"), block_outputs(m, r80), labels)

    d = os.path.join(HERE, "images")
    os.makedirs(d, exist_ok=True)
    names, crops = [], []
    for name, (h, w) in [("a_wide.png", (64, 96)), ("b_tall.png", (80, 64)), ("c_square.png", (72, 72))]:
        img = smooth_noise(rng, h, w, 1)[0]
        Image.fromarray(img).save(os.path.join(d, name))
        names.append(name)
        crops.append(resize_crop(img, S))
    with open(os.path.join(d, "notes.txt"), "w") as f:
        f.write("not an image: extract-activations skips it\n")
    write_expected(os.path.join(HERE, "expected_images.h5"), block_outputs(m, np.stack(crops)), None,
                   {"file_names": names})
    for k, v in block_outputs(m, g64).items():
        print(f"{k}: shape {v.shape}, mean {v.mean():.4f}, max {v.max():.4f}, zero fraction {(v == 0).mean():.2f}")


if __name__ == "__main__":
    main()
