#!/usr/bin/python3
"""torch_cpu_step.py: the PyTorch side of `make bench-cpu-step` (tests/bench/cpu_step.mk).

    /usr/bin/python3 tests/bench/torch_cpu_step.py [--width W] [--size S] [--images N] [--k K]
                                                   [--steps T] [--threads P]

Same step as tests/bench/cpu_step.c: torchvision's ResNet-18 trunk (width 1 = torchvision.models.
resnet18 exactly; other widths use the same module tree with narrower channels) with the SimCLR head
Linear(F,F), ReLU, Linear(F,128); uint8 images -> float, ImageNet normalisation; train-mode forward of
N images x 2 views; NT-Xent (T 0.1); SL_REL (alpha 0.25) on one neighbourhood of K random units per
block output (corrcoef over the rows, 1/(1+d), Pearson of the lower triangles); backward; SGD
(momentum 0.9, wd 1e-6). One warm-up step, then T timed steps; prints the median and a last line
`torch_images_per_s=<v>` (every view counted as an image).
"""
import argparse
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

LAYERS = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]


def build(width):
    if width == 1:
        m = torchvision.models.resnet18()
    else:  # same tree, narrower: rebuild stage by stage with torchvision's BasicBlock
        from torchvision.models.resnet import BasicBlock, ResNet

        class Narrow(ResNet):
            def __init__(self):
                nn.Module.__init__(self)
                c = [max(1, round(64 * width * k)) for k in (1, 2, 4, 8)]
                self._norm_layer = nn.BatchNorm2d
                self.inplanes, self.dilation, self.groups, self.base_width = c[0], 1, 1, 64
                self.conv1 = nn.Conv2d(3, c[0], 7, 2, 3, bias=False)
                self.bn1 = nn.BatchNorm2d(c[0])
                self.relu = nn.ReLU(inplace=True)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
                self.layer1 = self._make_layer(BasicBlock, c[0], 2)
                self.layer2 = self._make_layer(BasicBlock, c[1], 2, stride=2)
                self.layer3 = self._make_layer(BasicBlock, c[2], 2, stride=2)
                self.layer4 = self._make_layer(BasicBlock, c[3], 2, stride=2)
                self.avgpool = nn.AdaptiveAvgPool2d(1)
                self.fc = nn.Identity()
        m = Narrow()
    F_ = m.fc.in_features if isinstance(m.fc, nn.Linear) else max(1, round(512 * width))
    m.fc = nn.Identity()
    head = nn.Sequential(nn.Linear(F_, F_), nn.ReLU(inplace=True), nn.Linear(F_, 128))
    return m, head


def ntxent(h, T):
    z = F.normalize(h, dim=1)
    n = z.shape[0]
    sim = (z @ z.t() / T).masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(sim, (torch.arange(n) + n // 2) % n)


def sl_rel(out, units, dsim_lt, li):
    x = torch.flatten(out, 1)[:, units]
    xm = x - x.mean(0, keepdim=True)
    c = xm.t() @ xm / (x.shape[0] - 1)
    std = torch.diag(c).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    r = (c / std[:, None] / std[None, :]).clamp(-1, 1)[li[0], li[1]]
    rm, dm = r - r.mean(), dsim_lt - dsim_lt.mean()
    return (1 - rm @ dm / (rm.norm() * dm.norm())) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--images", type=int, default=64)
    ap.add_argument("--k", type=int, default=500)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    trunk, head = build(a.width)
    trunk.train()
    head.train()
    outs = {}
    for name in LAYERS:
        s, b = name.split(".")
        getattr(trunk, s)[int(b)].register_forward_hook(lambda mod, inp, out, name=name: outs.__setitem__(name, out))
    n = 2 * a.images
    images = torch.from_numpy(rng.integers(0, 256, size=(n, a.size, a.size, 3), dtype=np.uint8))
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        trunk(torch.zeros(1, 3, a.size, a.size))
    terms = {}
    for name in LAYERS:
        units_total = outs[name][0].numel()
        k = min(a.k, units_total)
        units = torch.from_numpy(rng.choice(units_total, size=k, replace=False))
        xy = torch.from_numpy(rng.uniform(0, 5, size=(k, 2)).astype(np.float32))
        li = torch.tril_indices(k, k, offset=-1)
        d = 1.0 / (1.0 + torch.cdist(xy[None], xy[None])[0])
        terms[name] = (units, d[li[0], li[1]], li)
    params = list(trunk.parameters()) + list(head.parameters())
    bn = {id(p) for mod in trunk.modules() if isinstance(mod, nn.BatchNorm2d) for p in mod.parameters()}
    opt = torch.optim.SGD([{"params": [p for p in params if id(p) not in bn], "weight_decay": 1e-6},
                           {"params": [p for p in params if id(p) in bn], "weight_decay": 0.0}], lr=0.1, momentum=0.9)

    def step():
        x = (images.permute(0, 3, 1, 2).float() / 255.0 - mean) / std
        opt.zero_grad(set_to_none=True)
        h = head(trunk(x))
        loss = ntxent(h, 0.1)
        for name, (units, dlt, li) in terms.items():
            loss = loss + 0.25 * sl_rel(outs[name], units, dlt, li)
        loss.backward()
        opt.step()
        return loss.item()

    print("torch %s: ResNet-18 w=%g %d px; %d images x 2 views; SL_REL on 8 layers (k <= %d); %d threads, "
          "mkldnn %s" % (torch.__version__, a.width, a.size, a.images, a.k, torch.get_num_threads(),
                         torch.backends.mkldnn.is_available()))
    step()  # warm-up
    times = []
    for s in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        loss = step()
        times.append(time.perf_counter() - t0)
        print("torch: step %d %.3f s, cpu %.3f s (loss %.4f)" % (s + 1, times[-1], time.process_time() - c0, loss))
    med = sorted(times)[len(times) // 2]
    print("torch: median step %.3f s, %.1f images/s" % (med, n / med))
    print("torch_images_per_s=%.2f" % (n / med))


if __name__ == "__main__":
    main()
