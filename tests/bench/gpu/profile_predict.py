#!/usr/bin/env python3
"""profile_predict.py: the predicted per-category table of `bench-gpu --profile` (tests/gpu/profile-run.sh),
written before the first profiled GPU run, so the measured table can be compared row by row.

    python3 tests/bench/gpu/profile_predict.py [--rows 512]

Standard library only. Bytes and FLOPs use the same formulas as the PROF marks in
common/engine_cuda.cu (ResNet-18 w=1, 224 px, bf16, stem input padded to 8 channels, SimCLR head
512-512-128, SL_REL on 8 layers with k = 500). Times come from the assumptions below; each is a
guess with its reason, not a measurement:

  memory-bound passes   bytes / bandwidth; 2.9 TB/s for the big streaming passes (stem, layer1,
                        layer2: tensors of 100-820 MB), 2.6 TB/s for layer3 (51 MB tensors, ~20 us
                        kernels: launch + tail ~3 us each), 2.0 TB/s for layer4 (26 MB, ~10 us
                        kernels); the stem's max-pool passes 2.4 TB/s (overlapping windows, index
                        arithmetic, 1-byte argmax loads); input and SGD 2.5 TB/s
  BN finalize           12 us per kernel (32x32 threads per 32 channels, one dependent L2 load per
                        32 partials: ~64 serial loads), 41 kernels
  stem convolution      cudnnFind's own times of the chosen algorithms (the engine's probe,
                        2026-11-26 run: 5.62 ms fwd + wgrad with 8 input channels), split 40 / 60
  block convolutions    400 TFLOP/s forward, 420 data gradient, 380 filter gradient (see NOTES.md
                        section 5 for why this is the least certain row)
  head, NT-Xent         0.10 and 0.08 ms (fp32 GEMMs of < 1 GFLOP, ~15 small kernels)
  spatial loss          0.41 ms: the measured share (1.5 % of 27.6 ms, 2026-11-26 benchmark)
"""
import argparse


def parts_bytes(M, C, ns):
    """the BN partial-sum buffer (floats -> bytes), as kernels/bn_rows.cuh row_grid sizes it"""
    V = 8 if C % 8 == 0 else 4
    CG = C // V
    cgb = min(CG, 256)
    rpi = 256 // cgb
    gy = (CG + cgb - 1) // cgb
    iters = (M + rpi - 1) // rpi
    want = max(1, min((1024 + gy - 1) // gy, iters))
    ipb = (iters + want - 1) // want
    rpb = ipb * rpi
    nbx = (M + rpb - 1) // rpb
    return nbx * ns * C * 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=512)
    n = ap.parse_args().rows
    ts, cpad, F, D, k = 2, 8, 512, 128, 500
    rows = {}  # (cat, stage) -> [ms, bytes, flops]

    def add(cat, st, ms=0.0, by=0.0, fl=0.0):
        r = rows.setdefault((cat, st), [0.0, 0.0, 0.0])
        r[0] += ms
        r[1] += by
        r[2] += fl

    bw_stage = {0: 2.9e12, 1: 2.9e12, 2: 2.9e12, 3: 2.6e12, 4: 2.0e12}

    def mem(cat, st, by, bw=None):
        add(cat, st, by / (bw or bw_stage[st]) * 1e3, by)

    # convolutions: (stage, cin, cout, k, stride, hin, hout)
    convs = [(0, cpad, 64, 7, 2, 224, 112)]
    cfg = [(64, 64, 56, 1), (64, 128, 56, 2), (128, 256, 28, 2), (256, 512, 14, 2)]
    for si, (cin, cout, hw, s) in enumerate(cfg, 1):
        ho = hw // s
        convs += [(si, cin, cout, 3, s, hw, ho), (si, cout, cout, 3, 1, ho, ho)]
        if s == 2:
            convs.append((si, cin, cout, 1, 2, hw, ho))
        convs += [(si, cout, cout, 3, 1, ho, ho), (si, cout, cout, 3, 1, ho, ho)]
    rate = {"conv forward": 400e12, "conv backward-data": 420e12, "conv backward-filter": 380e12}
    stem_ms = {"conv forward": 0.4 * 5.62, "conv backward-filter": 0.6 * 5.62}
    for st, ci, co, kk, s, hi, ho in convs:
        fl = 2.0 * n * ho * ho * co * ci * kk * kk
        by = (n * hi * hi * ci + n * ho * ho * co + co * kk * kk * ci) * ts
        for cat in rate:
            if st == 0 and cat == "conv backward-data":
                continue
            add(cat, st, stem_ms[cat] if st == 0 else fl / rate[cat] * 1e3, by, fl)

    npix = n * 224 * 224
    mem("input upload + normalise", 0, 2 * npix * 3 + npix * (3 + cpad * ts), 2.5e12)
    M0, P = n * 112 * 112, n * 56 * 56 * 64
    x0 = M0 * 64 * ts
    nfin = 0
    mem("BN fwd statistics (reduce)", 0, x0 + parts_bytes(M0, 64, 2))
    add("BN fwd finalize (all stages)", 0, 0.012, parts_bytes(M0, 64, 2))
    nfin += 1
    mem("stem BN+ReLU+max pool fwd", 0, x0 + P * (ts + 1), 2.4e12)
    blocks = []
    for si, (cin, cout, hw, s) in enumerate(cfg, 1):
        M = n * (hw // s) ** 2
        blocks += [(si, M, cout, s == 2), (si, M, cout, False)]
    for si, M, C, down in blocks:
        mc = M * C * ts
        for _ in range(3 if down else 2):
            mem("BN fwd statistics (reduce)", si, mc + parts_bytes(M, C, 2))
            add("BN fwd finalize (all stages)", 0, 0.012, parts_bytes(M, C, 2))
            nfin += 1
        mem("BN(+add)+ReLU fwd apply", si, 5 * mc)
    mem("avg pool fwd + bwd", 0, 2 * (n * 49 * F * ts + 4 * n * F), 2.0e12)
    add("head (GEMMs, bias, ReLU)", 0, 0.10, 4.0 * (3 * F * (F + D) + 10 * n * (F + D)), 6.0 * n * F * (F + D))
    add("NT-Xent (GEMMs + rows)", 0, 0.08, 4.0 * (4 * n * n + 8 * n * D), 6.0 * n * n * D)
    nk, kk2 = n * 500, 500 * 500
    add("spatial loss fwd+bwd+scatter", 0, 0.41, 8 * (nk * (32 + 20) + kk2 * 20) + 8 * nk * 68, 8 * 4.0 * kk2 * n)
    for i, (si, M, C, down) in enumerate(reversed(blocks)):
        mc = M * C * ts
        dyB = 0 if i == 0 else 1
        pb = parts_bytes(M, C, 3 if down else 2)
        pb1 = parts_bytes(M, C, 2)
        mem("BN bwd reduce (+ReLU mask)", si, mc * (3 + dyB + down) + pb)
        mem("BN bwd apply (+ReLU mask)", si, mc * (3 + dyB + down + 2))
        mem("BN bwd reduce (+ReLU mask)", si, 3 * mc + pb1)
        mem("BN bwd apply (+ReLU mask)", si, 4 * mc)
        add("BN bwd finalize (all stages)", 0, 0.024, pb + pb1)
        nfin += 2
    pool_b = P * (2 * ts + 1)
    mem("stem max pool+BN bwd reduce", 0, pool_b + x0 + parts_bytes(M0, 64, 2), 2.4e12)
    add("BN bwd finalize (all stages)", 0, 0.012, parts_bytes(M0, 64, 2))
    nfin += 1
    mem("stem max pool+BN bwd apply", 0, pool_b + 2 * x0, 2.4e12)
    Pn, nconv = 11.69e6, 11.17e6
    mem("SGD (+ bf16 weight copy)", 0, 20 * Pn + 2 * nconv, 2.5e12)
    add("other (uploads, grad cast, loss copy)", 0, 0.05, 6 * nconv)

    order = ["input upload + normalise", "conv forward", "conv backward-data", "conv backward-filter",
             "BN fwd statistics (reduce)", "BN fwd finalize (all stages)", "BN(+add)+ReLU fwd apply",
             "BN bwd reduce (+ReLU mask)", "BN bwd finalize (all stages)", "BN bwd apply (+ReLU mask)",
             "stem BN+ReLU+max pool fwd", "stem max pool+BN bwd reduce", "stem max pool+BN bwd apply",
             "avg pool fwd + bwd", "head (GEMMs, bias, ReLU)", "NT-Xent (GEMMs + rows)", "spatial loss fwd+bwd+scatter",
             "SGD (+ bf16 weight copy)", "other (uploads, grad cast, loss copy)"]
    by_stage = {"conv forward", "conv backward-data", "conv backward-filter", "BN fwd statistics (reduce)",
                "BN(+add)+ReLU fwd apply", "BN bwd reduce (+ReLU mask)", "BN bwd apply (+ReLU mask)"}
    names = ["stem", "layer1", "layer2", "layer3", "layer4"]
    total = sum(r[0] for r in rows.values())
    conv = lambda c: c.startswith("conv ")
    memcat = lambda c: not conv(c) and c.split()[0] not in ("head", "NT-Xent", "spatial")
    print(f"PREDICTED profile of one training step, {n} rows (tests/bench/gpu/profile_predict.py; {nfin} finalize kernels)")
    print(f"{'category':38s} {'stage':7s} {'ms/step':>8s} {'%step':>6s} {'MB/step':>9s} {'GB/s':>7s} {'GFLOP':>8s} {'TFLOP/s':>8s}")
    groups = {"conv": [0, 0, 0], "mem": [0, 0, 0], "fin": [0, 0, 0], "loss": [0, 0, 0]}

    def line(name, st, r, is_mem):
        gbs = f"{r[1] / (r[0] * 1e-3) / 1e9:.0f}" if is_mem and r[0] > 0 and r[1] > 0 else ""
        tfl = f"{r[2] / (r[0] * 1e-3) / 1e12:.1f}" if not is_mem and r[0] > 0 and r[2] > 0 else ""
        gfl = f"{r[2] / 1e9:.1f}" if r[2] > 0 else ""
        print(f"{name:38s} {st:7s} {r[0]:8.3f} {100 * r[0] / total:6.1f} {r[1] / 1e6:9.0f} {gbs:>7s} {gfl:>8s} {tfl:>8s}")

    for c in order:
        keys = sorted(k2 for k2 in rows if k2[0] == c)
        g = "conv" if conv(c) else "fin" if "finalize" in c else "mem" if memcat(c) else "loss"
        for k2 in keys:
            for j in range(3):
                groups[g][j] += rows[k2][j]
        if c in by_stage:
            for k2 in keys:
                line(c, names[k2[1]], rows[k2], memcat(c))
        else:
            m = [sum(rows[k2][j] for k2 in keys) for j in range(3)]
            line(c, "-", m, memcat(c))
    print("-" * 103)
    line("convolutions (all directions)", "", groups["conv"], False)
    line("memory-bound passes (no finalize)", "", groups["mem"], True)
    line("BN finalize kernels (fwd + bwd)", "", groups["fin"], True)
    line("head + NT-Xent + spatial loss", "", groups["loss"], False)
    print(f"{'sum of categories (predicted)':46s} {total:8.3f} ms {n / (total * 1e-3):9.0f} img/s")
    print(f"{'measured graph step (2026-11-26, host clock)':46s} {27.625:8.3f} ms {18534:9.0f} img/s")


if __name__ == "__main__":
    main()
