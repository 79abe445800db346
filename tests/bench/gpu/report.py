#!/usr/bin/env python3
"""report.py OURS.json TORCH.json [OUTDIR]: the side-by-side table of bench-gpu and torch_ref.py
(issue 9 targets), printed; with OUTDIR also results.json and results.md there. Standard library
only. Ratios are ours / PyTorch's for throughput, PyTorch's / ours for memory."""
import datetime
import json
import os
import subprocess
import sys


def load(p):
    with open(p) as f:
        return json.load(f)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ours, ref = load(sys.argv[1]), load(sys.argv[2])
    outdir = sys.argv[3] if len(sys.argv) > 3 else None
    commit = os.environ.get("TDANN_COMMIT") or ours.get("version", "unknown")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip() + (" (bench built as %s)" % ours.get("version"))
    except Exception:
        pass
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ref_ips(key):
        v = ref.get(key, {})
        return v.get("img_s") if isinstance(v, dict) else None

    rows = []  # (measurement, ours, pytorch, ratio, target, met)

    def add(name, o, r, target=None, higher_better=True, fmt="{:,.0f}"):
        ratio = None
        if o is not None and r:
            ratio = o / r if higher_better else r / o
        met = None if target is None or ratio is None else ratio >= target
        rows.append((name, o, r, ratio, target, met, fmt))

    add("train step + SL 8 layers, img/s vs eager", ours["train_spatial_img_s"], ref_ips("eager_spatial"), 2.0)
    add("train step + SL 8 layers, img/s vs torch.compile", ours["train_spatial_img_s"], ref_ips("compile_spatial"), 1.4)
    add("train step without SL, img/s vs eager", ours["train_plain_img_s"], ref_ips("eager_plain"))
    add("forward (extraction) 512 images, img/s", ours["forward_img_s"], ref_ips("forward"), 1.4)
    peak_ref = ref.get("eager_spatial", {}).get("peak_gib")
    add("peak GPU memory, GiB (ratio = PyTorch / ours)", ours["engine_gib"], peak_ref, 1.0, higher_better=False,
        fmt="{:.2f}")
    share_ref = ref.get("eager_spatial_share")
    abs_ok = ours["train_spatial_img_s"] >= 15000
    share_ok = ours["spatial_share"] <= 0.10

    head = "| measurement | ours | PyTorch | ratio | target | met |\n|---|---|---|---|---|---|\n"
    lines = []
    for name, o, r, ratio, target, met, fmt in rows:
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            name, fmt.format(o) if o is not None else "-", fmt.format(r) if r else "-",
            "%.2fx" % ratio if ratio is not None else "-", ">= %.1fx" % target if target else "",
            "" if met is None else ("yes" if met else "NO")))
    lines.append("| spatial loss share of the step | %.1f%% | %s | | <= 10%% | %s |" % (
        100 * ours["spatial_share"], "%.1f%%" % (100 * share_ref) if share_ref is not None else "-",
        "yes" if share_ok else "NO"))
    lines.append("| train step + SL, absolute | %s img/s | | | >= 15,000 | %s |" % (
        "{:,.0f}".format(ours["train_spatial_img_s"]), "yes" if abs_ok else "NO"))
    table = head + "\n".join(lines) + "\n"
    card = ours.get("card", "?")
    md = ("## GPU benchmark, %s, %s\n\ncommit %s; ResNet-18 w=%g, %d px, %d rows (%d images x 2 views), SL_REL k=%d on 8 "
          "layers, bf16; PyTorch %s (cuDNN %s), bf16 autocast channels-last.\n\n%s\nengine: %s\n\nPyTorch compile: first "
          "step %s s.\n" % (card, date, commit, ours["config"]["width"], ours["config"]["size"], ours["config"]["rows"],
                            ours["config"]["rows"] // 2, ours["config"]["k"], ref.get("torch"), ref.get("cudnn"), table,
                            ours.get("engine"), ref.get("compile_spatial", {}).get("first_step_s", "-")))
    print(md)
    if outdir:
        os.makedirs(outdir, exist_ok=True)
        with open(os.path.join(outdir, "results.json"), "w") as f:
            json.dump({"card": card, "date": date, "commit": commit, "ours": ours, "pytorch": ref,
                       "ratios": {r[0]: r[3] for r in rows}, "spatial_share": ours["spatial_share"],
                       "targets_met": {r[0]: r[5] for r in rows if r[5] is not None}}, f, indent=1)
        with open(os.path.join(outdir, "results.md"), "w") as f:
            f.write(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
