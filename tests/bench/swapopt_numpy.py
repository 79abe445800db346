#!/usr/bin/python3
"""swapopt_numpy.py: the official SwapOpt algorithm (neuroailab/TDANN spacetorch/swapopt.py:
swap_optimize_neighborhoods + swap_optimize_positions, losses_numpy.pearson_scl) in plain NumPy,
as the speed and agreement baseline of `make bench-swapopt` (tests/bench/swapopt.mk).

It runs the *same attempts* as our swapopt: the window corners, the >= 500-unit subsamples and the
pair sequences are drawn from the same Philox streams (re-implemented here, see kernels/swapopt.h);
everything else follows the official code: np.corrcoef of the window's responses in float64 (NaN ->
0), per attempt the loss (1 - r)/2 of the two rows (distances from the two units to all window
units, self-pairs included) before and after the swap, swap kept iff the loss strictly decreased.

  swapopt_numpy.py SHEET.h5 ACTS.h5 LAYER ATTEMPTS SEED OUT.npy [--pair-rng per_window|replay]

Prints attempts/s (window loop only) and writes the final positions (float32, (U,2)) to OUT.npy.
"""
import sys
import time

import h5py
import numpy as np

MASK = np.uint64(0xFFFFFFFF)
LAYERS = ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"]
PURPOSE_SWAPOPT = 6


def stream_id(purpose, a, b, c):
    return (purpose & 0xFF) << 56 | (a & 0xFFFF) << 40 | (b & 0xFFFFFF) << 16 | (c & 0xFFFF)


def philox(seed, stream, blocks):
    """Philox-4x32-10 (common/rng.h philox_block) on an array of block indices -> 4 uint64 arrays."""
    blocks = np.asarray(blocks, dtype=np.uint64)
    c0, c1 = blocks & MASK, blocks >> np.uint64(32)
    c2 = np.full_like(c0, np.uint64(stream & 0xFFFFFFFF))
    c3 = np.full_like(c0, np.uint64(stream >> 32))
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0, hi1, lo1 = p0 >> np.uint64(32), p0 & MASK, p1 >> np.uint64(32), p1 & MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ np.uint64(k0), lo1, hi0 ^ c3 ^ np.uint64(k1), lo0
        k0, k1 = (k0 + 0x9E3779B9) & 0xFFFFFFFF, (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


class SeqRng:
    """common/rng.c Rng: sequential 32-bit words of a stream, rng_below with Lemire's rejection."""

    def __init__(self, seed, stream):
        self.seed, self.stream, self.pos, self.buf = seed, stream, 0, None

    def u32(self):
        if self.pos % 4 == 0:
            self.buf = [int(v[0]) for v in philox(self.seed, self.stream, [self.pos // 4])]
        w = self.buf[self.pos % 4]
        self.pos += 1
        return w

    def below(self, n):
        m = self.u32() * n
        if (m & 0xFFFFFFFF) < n:
            t = (2**32 - n) % n
            while (m & 0xFFFFFFFF) < t:
                m = self.u32() * n
        return m >> 32


def u53(hi, lo):
    return ((hi << np.uint64(32) | lo) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def pearson_scl(corr, dist):
    recip = 1.0 / (dist + 1.0)
    a, b = corr - corr.mean(), recip - recip.mean()
    r = (a @ b) / np.sqrt((a @ a) * (b @ b))
    return (1 - r) / 2


def rows_loss(corr, pos, ij):
    d = np.sqrt(((pos[ij, None, :] - pos[None, :, :]) ** 2).sum(-1))
    return pearson_scl(corr[ij, :].ravel(), d.ravel())


def main():
    sheet, acts, layer, attempts, seed, out = sys.argv[1:7]
    pair_rng = sys.argv[8] if len(sys.argv) > 8 and sys.argv[7] == "--pair-rng" else "per_window"
    attempts, seed, li = int(attempts), int(seed), LAYERS.index(layer)
    A, MAXU, MINU = 500, 500, 5
    with h5py.File(sheet) as f:
        g = f["layers/" + layer]
        positions = g["positions"][:].astype(np.float64)
        width = float(g.attrs["neighborhood_width_mm"])
    with h5py.File(acts) as f:
        feats = f["layers/" + layer][:]
    feats = feats.reshape(feats.shape[0], -1).astype(np.float64)  # (n_images, n_units)
    lo, hi = positions.min(0), positions.max(0)
    span = np.maximum(hi - lo - width, 0)
    nwin = -(-attempts // A)
    v = philox(seed, stream_id(PURPOSE_SWAPOPT, li, 0, 0), np.arange(nwin))
    x0s, y0s = lo[0] + span[0] * u53(v[0], v[1]), lo[1] + span[1] * u53(v[2], v[3])
    accepted = done = 0
    t0 = time.time()
    for w in range(nwin):
        x0, y0 = x0s[w], y0s[w]
        idx = np.where((positions[:, 0] >= x0) & (positions[:, 0] <= x0 + width) &
                       (positions[:, 1] >= y0) & (positions[:, 1] <= y0 + width))[0]
        if len(idx) < MINU:
            continue
        if len(idx) >= MAXU:
            r = SeqRng(seed, stream_id(PURPOSE_SWAPOPT, li, w, 1))
            idx = idx.copy()
            for t in range(MAXU):
                j = t + r.below(len(idx) - t)
                idx[t], idx[j] = idx[j], idx[t]
            idx = idx[:MAXU]
        m = len(idx)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.corrcoef(feats[:, idx].T)
        corr = np.where(np.isnan(corr), 0.0, corr)
        pos = positions[idx].copy()
        st = stream_id(PURPOSE_SWAPOPT, li, 0, 3) if pair_rng == "replay" else stream_id(PURPOSE_SWAPOPT, li, w, 2)
        p = philox(seed, st, np.arange(A))
        pi = ((p[0] * np.uint64(m)) >> np.uint64(32)).astype(np.int64)
        pj = ((p[1] * np.uint64(m - 1)) >> np.uint64(32)).astype(np.int64)
        pj += pj >= pi
        for t in range(A):
            ij = [pi[t], pj[t]]
            with np.errstate(invalid="ignore", divide="ignore"):
                before = rows_loss(corr, pos, ij)
                pos[ij] = pos[ij[::-1]]
                after = rows_loss(corr, pos, ij)
            if after >= before:
                pos[ij] = pos[ij[::-1]]
            else:
                accepted += 1
        positions[idx] = pos
        done += A
    dt = time.time() - t0
    np.save(out, positions.astype(np.float32))
    print(f"numpy (official algorithm): {layer} {done} attempts in {dt:.1f} s = {done / dt:,.0f} attempts/s, "
          f"{accepted} accepted")


if __name__ == "__main__":
    main()
