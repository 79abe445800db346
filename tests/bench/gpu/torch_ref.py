#!/usr/bin/env python3
"""torch_ref.py: the PyTorch reference for tests/bench/gpu/bench_gpu.c (issue 9), same computation:

  ResNet-18 (torchvision) + SimCLR head 512-512-128, `rows` rows = rows/2 images x 2 views at
  `size` px, uint8 NHWC images already on the GPU normalised inside the step, NT-Xent T = 0.1,
  SL_REL (the official spacetorch formulas: corrcoef, lower triangle, pearsonr) on all 8 block
  outputs with a new neighbourhood of k units per layer every step (8 precomputed sets cycled,
  units gathered by index from the channels-last tensor), alpha 0.25, SGD momentum 0.9 wd 1e-6;
  bf16 autocast for the network, the losses in float32 (as the CUDA engine); channels-last; eager, and the same under torch.compile; forward-only (eval,
  no_grad) of `fwd_rows` images.

Timing: warm-up steps, then `steps` steps between two synchronisations (PyTorch keeps its usual
asynchronous overlap between steps); mean step time. Peak memory: torch.cuda.max_memory_allocated.
Writes JSON (--json). A CPU smoke run for checking the script itself:
  python3 torch_ref.py --device cpu --size 64 --rows 8 --fwd-rows 4 --steps 2 --warmup 1 --no-compile
"""
import argparse
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--k", type=int, default=500)
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--warmup", type=int, default=8)
    p.add_argument("--fwd-rows", type=int, default=512)
    p.add_argument("--fwd-iters", type=int, default=20)
    p.add_argument("--device", default="cuda")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--json")
    return p.parse_args()


class Net(nn.Module):
    """torchvision ResNet-18 trunk returning the pooled features and the 8 block outputs."""

    def __init__(self):
        super().__init__()
        self.m = torchvision.models.resnet18()
        self.m.fc = nn.Identity()

    def forward(self, x):
        m = self.m
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        feats = []
        for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
            for blk in layer:
                x = blk(x)
                feats.append(x)
        return torch.flatten(m.avgpool(x), 1), feats


def normalise(u8, mean, std):
    # uint8 [n][H][W][3] -> float NCHW view with channels-last strides, no copy of the layout
    x = u8.permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean) / std


def nt_xent(z, t, eye):
    z = F.normalize(z.float(), dim=1)
    n = z.shape[0] // 2
    s = (z @ z.t()) / t
    s = s.masked_fill(eye, float("-inf"))
    tgt = torch.cat([torch.arange(n, 2 * n, device=z.device), torch.arange(0, n, device=z.device)])
    return F.cross_entropy(s, tgt)


def corrcoef(x):  # spacetorch.utils.torch_utils.corrcoef: rows are variables
    mean_x = torch.mean(x, 1, keepdim=True)
    xm = x.sub(mean_x.expand_as(x))
    c = xm.mm(xm.t())
    c = c / (x.size(1) - 1)
    d = torch.diag(c)
    stddev = torch.pow(d, 0.5)
    stddev = torch.where(stddev == 0, torch.ones_like(stddev), stddev)
    c = c.div(stddev.expand_as(c))
    c = c.div(stddev.expand_as(c).t())
    return torch.clamp(c, -1.0, 1.0)


def pearsonr(x, y):
    xm = x - x.mean()
    ym = y - y.mean()
    return xm.dot(ym) / (torch.norm(xm, 2) * torch.norm(ym, 2))


def sl_rel(f, cidx, hidx, widx, pos, tril):
    x = f[:, cidx, hidx, widx].float()                    # rows x k, gathered from channels-last
    dsim = 1.0 / (torch.norm(pos[:, None] - pos, dim=2) + 1.0)
    r = corrcoef(x.t())
    return (1.0 - pearsonr(r[tril[0], tril[1]], dsim[tril[0], tril[1]])) / 2.0


def make_specs(shapes, k, dev, nsets=8, seed=7):
    g = torch.Generator().manual_seed(seed)
    sets = []
    for _ in range(nsets):
        one = []
        for (c, h, w) in shapes:
            u = torch.randperm(c * h * w, generator=g)[:k]
            cidx, rem = u // (h * w), u % (h * w)
            one.append((cidx.to(dev), (rem // w).to(dev), (rem % w).to(dev), (torch.rand(k, 2, generator=g) * 10).to(dev)))
        sets.append(one)
    return sets


def make_images(n, size, dev, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 1, 1, 3, generator=g) * 255
    b = (torch.rand(n, 1, 1, 3, generator=g) - 0.5) * 160
    ramp = (torch.arange(size)[:, None] + torch.arange(size)[None, :]).float()[None, :, :, None] / size
    noise = (torch.rand(n, size, size, 3, generator=g) - 0.5) * 40
    return (a + b * ramp + noise).clamp(0, 255).to(torch.uint8).to(dev)


def main():
    a = parse()
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        card = torch.cuda.get_device_name(0)
    else:
        card = "cpu"
    print(f"torch {torch.__version__} cudnn {torch.backends.cudnn.version()} on {card}", flush=True)
    res = {"impl": "pytorch", "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(), "card": card,
           "config": {"rows": a.rows, "size": a.size, "k": a.k, "steps": a.steps, "fwd_rows": a.fwd_rows}}
    amp_dtype = torch.bfloat16
    mean = torch.tensor(MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=dev).view(1, 3, 1, 1)
    nrows = max(a.rows, a.fwd_rows)
    imgs = [make_images(nrows, a.size, dev, 100 + i) for i in range(2)]
    eye = torch.eye(a.rows, dtype=torch.bool, device=dev)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def build():
        torch.manual_seed(0)
        net = Net().to(dev).to(memory_format=torch.channels_last)
        head = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 128)).to(dev)
        opt = torch.optim.SGD(list(net.parameters()) + list(head.parameters()), lr=0.6, momentum=0.9, weight_decay=1e-6)
        return net, head, opt

    with torch.no_grad():
        _, fts = Net().to(dev).eval()(torch.zeros(1, 3, a.size, a.size, device=dev))
    shapes = [tuple(f.shape[1:]) for f in fts]
    specs = make_specs(shapes, a.k, dev)
    trils = [torch.tril_indices(a.k, a.k, offset=-1, device=dev) for _ in shapes]

    def loss_fn(net, head, u8, spec, spatial):
        with torch.autocast(dev.type, dtype=amp_dtype):
            x = normalise(u8, mean, std)
            feat, feats = net(x)
            z = head(feat)
        # the losses in float32, as in the CUDA engine (matmuls without TF32: PyTorch's default)
        with torch.autocast(dev.type, enabled=False):
            loss = nt_xent(z, 0.1, eye)
            if spatial:
                for f, (ci, hi, wi, pos), tr in zip(feats, spec, trils):
                    loss = loss + 0.25 * sl_rel(f, ci, hi, wi, pos, tr)
        return loss

    def run(spatial, compiled):
        net, head, opt = build()
        fn = loss_fn
        t_compile = 0.0
        if compiled:
            fn = torch.compile(loss_fn)
        if cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        losses = []

        def step(s):
            loss = fn(net, head, imgs[s % 2][: a.rows], specs[s % len(specs)], spatial)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss

        t0 = time.perf_counter()
        for s in range(a.warmup):
            losses.append(step(s))
            if s == 0:
                sync()
                t_compile = time.perf_counter() - t0
        sync()
        t0 = time.perf_counter()
        for s in range(a.steps):
            losses.append(step(a.warmup + s))
        sync()
        dt = (time.perf_counter() - t0) / a.steps
        last = float(losses[-1].detach())
        peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0
        del net, head, opt, losses
        return dt, peak, last, t_compile

    def record(key, spatial, compiled):
        try:
            dt, peak, last, tc = run(spatial, compiled)
            res[key] = {"ms": round(1e3 * dt, 3), "img_s": round(a.rows / dt, 1), "peak_gib": round(peak, 3),
                        "final_loss": round(last, 5), "first_step_s": round(tc, 2)}
            print(key, res[key], flush=True)
        except Exception as e:  # report and go on: the other figures are still useful
            res[key] = {"error": repr(e)[:400]}
            print(key, "FAILED", repr(e)[:400], flush=True)

    record("eager_spatial", True, False)
    record("eager_plain", False, False)
    if not a.no_compile and hasattr(torch, "compile"):
        record("compile_spatial", True, True)
    if "ms" in res.get("eager_spatial", {}) and "ms" in res.get("eager_plain", {}):
        res["eager_spatial_share"] = round(1 - res["eager_plain"]["ms"] / res["eager_spatial"]["ms"], 4)

    # forward only (extraction): eval mode, no_grad, bf16 autocast, channels-last, all 8 block outputs kept
    net, _, _ = build()
    net.eval()
    with torch.no_grad(), torch.autocast(dev.type, dtype=amp_dtype):
        for s in range(3):
            net(normalise(imgs[s % 2][: a.fwd_rows], mean, std))
        sync()
        t0 = time.perf_counter()
        for s in range(a.fwd_iters):
            out = net(normalise(imgs[s % 2][: a.fwd_rows], mean, std))
        sync()
        dt = (time.perf_counter() - t0) / a.fwd_iters
    del out
    res["forward"] = {"ms": round(1e3 * dt, 3), "img_s": round(a.fwd_rows / dt, 1)}
    print("forward", res["forward"], flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
