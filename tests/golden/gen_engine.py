#!/usr/bin/python3
"""gen_engine.py: golden fixtures for the CPU engine, made with PyTorch (Debian's python3-torch 1.13).

    /usr/bin/python3 tests/golden/gen_engine.py [OUTDIR]      (default tests/golden)

Writes two HDF5 files that tests/unit/test_engine_golden.c reads (make test needs no Python):

engine_w0125.h5  SimCLR: torchvision-named ResNet-18 of width 0.125 (8..64 channels) at 64 px plus
                 the SimCLR head head.0 Linear(F,F), ReLU, head.2 Linear(F,128); 4 images x 2 views.
engine_sup.h5    supervised: width 0.0625 at 32 px, fc Linear(F,10), 6 rows (one label -1 =
                 ignored), SL_ABS on two layers, Nesterov.

Layout of each file (float32 unless noted; tensors in PyTorch layouts, names torchvision's):
  attrs: width, input_size, task ("simclr"|"supervised"), proj_dim, num_classes, temperature,
         lr, momentum, weight_decay, nesterov, steps
  /images uint8 (n,S,S,3)    rows 0..n/2-1 view A, n/2..n-1 view B (SimCLR)
  /labels int32 (n)          supervised only
  (no initial state: hash_init() below defines it, and the C test computes the same values)
  /forward/layers/<layer> (n,C,H,W)   block outputs, train-mode forward of the initial params
  /forward/features (n,F), /forward/output (n,out_dim) (head output before normalisation)
  /spatial/<layer>/units int32 (k), /spatial/<layer>/coords (k,2), attrs alpha, kind ("rel"|"abs")
  /loss/task, /loss/total f64 scalars; /loss/spatial f64 (8), NaN where no term
  /grads/<name>              gradients of the total loss at the initial params
  /steps/total_loss f64 (steps)  total loss before each SGD step (same batch every step)
  /after/params/<name>, /after/buffers/<name>, /after/num_batches_tracked int64 (nbn),
  /after/momentum/<name>     SGD momentum buffers after the steps (supervised file only, to keep
                             the fixtures under 5 MB)
  /eval/layers/<layer>, /eval/output   eval-mode forward (running statistics) of the final state
                             (supervised file only)

PyTorch computes in float64 here (the initial values are float32 numbers; stored tensors are
rounded to float32; losses are float64), so the fixtures hold the exact answers and a float32 engine
is measured by its own rounding only. Learning rates are small enough that the 3-step trajectory is well conditioned: at lr 0.1 on this
8-row batch PyTorch's own float32 and float64 runs already differ by 2% after 3 steps (units die,
the spatial loss divides by their tiny std), so no implementation could match within 1e-4.

Conventions reproduced: input x = (u/255 - mean)/std (ImageNet); BN train mode (momentum 0.1,
eps 1e-5); NT-Xent: z = normalize(h), logits z_i.z_j/T over j != i, positive = other view, mean
over rows; spatial loss as spacetorch (corrcoef of the k units over the rows with zero-std -> 1,
clamp, D = 1/(1+dist), SL_REL = (1 - pearson(lower tri R, lower tri D))/2, SL_ABS = mean |R - D|);
SGD momentum with weight decay on conv/linear weights and biases only.
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

LAYERS = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class NarrowResNet18(nn.Module):
    """torchvision's ResNet-18 module tree (same names) with channels 64w..512w and a task head."""

    def __init__(self, width, task, proj_dim=128, num_classes=10):
        super().__init__()
        c = [max(1, round(64 * width * m)) for m in (1, 2, 4, 8)]
        self.conv1 = nn.Conv2d(3, c[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(c[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inpl = c[0]
        for s in range(4):
            blocks = []
            for b in range(2):
                stride = 2 if (s > 0 and b == 0) else 1
                down = None
                if stride != 1 or inpl != c[s]:
                    down = nn.Sequential(nn.Conv2d(inpl, c[s], 1, stride, bias=False), nn.BatchNorm2d(c[s]))
                blocks.append(BasicBlock(inpl, c[s], stride, down))
                inpl = c[s]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.task = task
        if task == "simclr":
            self.head = nn.Sequential(nn.Linear(c[3], c[3]), nn.ReLU(inplace=True), nn.Linear(c[3], proj_dim))
        else:
            self.fc = nn.Linear(c[3], num_classes)
        for m in self.modules():  # torchvision's initialisation (the fixtures then use hash_init)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        outs = []
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for s in range(4):
            for blk in getattr(self, "layer%d" % (s + 1)):
                x = blk(x)
                outs.append(x)
        feat = torch.flatten(self.avgpool(x), 1)
        out = self.head(feat) if self.task == "simclr" else self.fc(feat)
        return outs, feat, out


def ntxent(h, T):
    z = F.normalize(h, dim=1)
    n = z.shape[0]
    sim = (z @ z.t()) / T
    sim = sim.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    pos = (torch.arange(n) + n // 2) % n
    return F.cross_entropy(sim, pos)


def corrcoef_cols(x):
    """Pearson correlation of the columns of x (rows = observations), spacetorch style."""
    xm = x - x.mean(0, keepdim=True)
    c = xm.t() @ xm / (x.shape[0] - 1)
    std = torch.diag(c).sqrt()
    std = torch.where(std == 0, torch.ones_like(std), std)
    c = c / std[:, None] / std[None, :]
    return c.clamp(-1.0, 1.0)


def spatial_loss(layer_out, units, coords, kind):
    x = torch.flatten(layer_out, 1)[:, units]
    r = corrcoef_cols(x)
    d = 1.0 / (1.0 + torch.cdist(coords[None], coords[None])[0])
    k = len(units)
    li = torch.tril_indices(k, k, offset=-1)
    rl, dl = r[li[0], li[1]], d[li[0], li[1]]
    if kind == "abs":
        return (rl - dl).abs().mean()
    rm, dm = rl - rl.mean(), dl - dl.mean()
    return (1 - (rm @ dm) / (rm.norm() * dm.norm())) / 2


def make_images(n_img, S, rng):
    """Smooth random colour images (upsampled 8x8 noise + texture), view B = mirrored, brighter."""
    low = rng.uniform(0, 255, size=(n_img, 3, 8, 8)).astype(np.float32)
    up = F.interpolate(torch.from_numpy(low), size=(S, S), mode="bilinear", align_corners=False).numpy()
    up = up + rng.normal(0, 20, size=up.shape)
    a = np.clip(up, 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    b = np.clip(a[:, :, ::-1, :].astype(np.int32) + 25, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.concatenate([a, b], 0))


def to_input(images):
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    return (x - MEAN) / STD


def hash_uniform(count, salt):
    """count values in [-1, 1), exactly representable in float32: splitmix64 of (salt << 32) + i,
    top 24 bits. tests/unit/test_engine_golden.c computes the same numbers."""
    with np.errstate(over="ignore"):
        z = (np.uint64(salt) << np.uint64(32)) + np.arange(count, dtype=np.uint64)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return ((z >> np.uint64(40)).astype(np.float64) / 2.0 ** 23 - 1.0)


def hash_init(model):
    """Deterministic initial state from hash_uniform, so that the fixtures need not store it:
    parameter i (named_parameters order) uses salt i, buffer j (running_mean/var in
    named_buffers order) salt 1000 + j. conv: sqrt(3) * kaiming-normal std * u; BN weight 1 + 0.2u,
    bias 0.1u; linear weight and bias u / sqrt(fan_in); running_mean 0.1u, running_var 1.25 + 0.75u.
    Values are computed in float64 and rounded to float32."""
    with torch.no_grad():
        fan_in = None
        for i, (name, p) in enumerate(model.named_parameters()):
            u = hash_uniform(p.numel(), i).reshape(p.shape)
            if p.dim() == 4:
                v = np.sqrt(3.0) * np.sqrt(2.0 / (p.shape[0] * p.shape[2] * p.shape[3])) * u
            elif p.dim() == 2:
                fan_in = p.shape[1]
                v = u / np.sqrt(fan_in)
            elif ".bn" in name or name.startswith("bn") or "downsample.1" in name:
                v = 1.0 + 0.2 * u if name.endswith("weight") else 0.1 * u
            else:  # linear bias
                v = u / np.sqrt(fan_in)
            p.copy_(torch.from_numpy(v.astype(np.float32)))
        j = 0
        for name, b in model.named_buffers():
            if name.endswith("running_mean") or name.endswith("running_var"):
                u = hash_uniform(b.numel(), 1000 + j)
                v = 0.1 * u if name.endswith("running_mean") else 1.25 + 0.75 * u
                b.copy_(torch.from_numpy(v.astype(np.float32)))
                j += 1


def pick_units(out, k, rng):
    """k units with non-zero variance over the rows (PyTorch's gradient is NaN for constant ones)."""
    flat = torch.flatten(out, 1)
    ok = np.nonzero((flat.std(0) > 1e-3).numpy())[0]
    assert len(ok) >= k, "not enough varying units"
    return np.sort(rng.choice(ok, size=k, replace=False)).astype(np.int32)


def put(g, name, data):
    """Dataset (float64 tensors stored as float32), gzip-compressed when large (the fixtures must
    stay small)."""
    data = np.asarray(data)
    if data.dtype == np.float64 and data.ndim > 0 and name not in ("loss/spatial", "steps/total_loss"):
        data = data.astype(np.float32)
    if data.size >= 1024:
        return g.create_dataset(name, data=data, compression="gzip", compression_opts=9, shuffle=True)
    return g.create_dataset(name, data=data)


def write_state(g, model):
    for name, p in model.named_parameters():
        put(g, "params/" + name, p.detach().numpy())
    for name, b in model.named_buffers():
        if name.endswith("running_mean") or name.endswith("running_var"):
            put(g, "buffers/" + name, b.numpy())


def generate(path, width, S, task, n_img, steps, lr, momentum, wd, nesterov, spatial, seed, save_momentum, save_eval):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    T = 0.1
    model = NarrowResNet18(width, task)
    hash_init(model)
    model = model.double()  # float32 initial values, float64 arithmetic (see the top comment)
    model.train()
    if task == "simclr":
        images = make_images(n_img, S, rng)
        labels = None
    else:
        images = make_images(n_img, S, rng)[: n_img]
        labels = rng.integers(0, 10, size=n_img).astype(np.int32)
        labels[1] = -1
    x = to_input(images).double()

    # neighbourhoods: chosen on a no-grad forward of a copy (so BN running stats stay untouched)
    probe = NarrowResNet18(width, task).double()
    probe.load_state_dict(model.state_dict())
    probe.train()
    with torch.no_grad():
        outs0, _, _ = probe(x)
    terms = {}
    for li, kind, alpha, k in spatial:
        units = pick_units(outs0[li], k, rng)
        coords = rng.uniform(0, 3.0, size=(k, 2)).astype(np.float32)
        terms[li] = (units, coords, kind, alpha)

    bn_ids = {id(p) for m in model.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    decay = [p for p in model.parameters() if id(p) not in bn_ids]
    nodecay = [p for p in model.parameters() if id(p) in bn_ids]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}],
                          lr=lr, momentum=momentum, nesterov=nesterov)

    with h5py.File(path + ".tmp", "w") as f:
        f.attrs.update(dict(width=width, input_size=S, task=task, proj_dim=128, num_classes=10, temperature=T,
                            lr=lr, momentum=momentum, weight_decay=wd, nesterov=int(nesterov), steps=steps,
                            generator="tests/golden/gen_engine.py", torch_version=str(torch.__version__)))
        put(f, "images", images)
        if labels is not None:
            put(f, "labels", labels)
        f.attrs["init"] = "hash_init() of tests/golden/gen_engine.py (not stored)"
        for li, (units, coords, kind, alpha) in terms.items():
            g = f.create_group("spatial/" + LAYERS[li])
            put(g, "units", units)
            put(g, "coords", coords)
            g.attrs["alpha"] = alpha
            g.attrs["kind"] = kind
        totals = []
        for step in range(steps):
            opt.zero_grad()
            outs, feat, out = model(x)
            if task == "simclr":
                task_loss = ntxent(out, T)
            else:
                task_loss = F.cross_entropy(out, torch.from_numpy(labels).long(), ignore_index=-1)
            sl = [float("nan")] * 8
            total = task_loss
            for li, (units, coords, kind, alpha) in terms.items():
                v = spatial_loss(outs[li], torch.from_numpy(units).long(), torch.from_numpy(coords).double(), kind)
                sl[li] = v.item()
                total = total + alpha * v
            total.backward()
            for p in model.parameters():
                assert torch.isfinite(p.grad).all(), "non-finite gradient"
            totals.append(total.item())
            if step == 0:
                for li, o in enumerate(outs):
                    put(f, "forward/layers/" + LAYERS[li], o.detach().numpy())
                put(f, "forward/features", feat.detach().numpy())
                put(f, "forward/output", out.detach().numpy())
                put(f, "loss/task", task_loss.item())
                put(f, "loss/spatial", np.array(sl))
                put(f, "loss/total", total.item())
                for name, p in model.named_parameters():
                    put(f, "grads/" + name, p.grad.numpy())
            opt.step()
        put(f, "steps/total_loss", np.array(totals))
        write_state(f.create_group("after"), model)
        if save_momentum:
            for name, p in model.named_parameters():
                put(f, "after/momentum/" + name, opt.state[p]["momentum_buffer"].numpy())
        nbt = [b.item() for n_, b in model.named_buffers() if n_.endswith("num_batches_tracked")]
        put(f, "after/num_batches_tracked", np.array(nbt, dtype=np.int64))
        if save_eval:
            model.eval()
            with torch.no_grad():
                outs, feat, out = model(x)
            for li, o in enumerate(outs):
                put(f, "eval/layers/" + LAYERS[li], o.numpy())
            put(f, "eval/output", out.numpy())
    os.replace(path + ".tmp", path)
    print("%s: %.1f kB, task loss %.6f, total %s" % (path, os.path.getsize(path) / 1024, totals[0], totals))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    torch.set_num_threads(1)
    # SimCLR: SL_REL alpha 0.25 on every layer, one neighbourhood of 24 units each
    generate(os.path.join(out, "engine_w0125.h5"), 0.125, 64, "simclr", 4, 3, 0.01, 0.9, 1e-6, False,
             [(li, "rel", 0.25, 24) for li in range(8)], seed=1, save_momentum=False, save_eval=False)
    # supervised: SL_ABS alpha 0.5 on layer2.0 and layer4.1, Nesterov
    generate(os.path.join(out, "engine_sup.h5"), 0.0625, 32, "supervised", 6, 2, 0.02, 0.9, 1e-4, True,
             [(2, "abs", 0.5, 16), (7, "abs", 0.5, 12)], seed=2, save_momentum=True, save_eval=True)


if __name__ == "__main__":
    main()
