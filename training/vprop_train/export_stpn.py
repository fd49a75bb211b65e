"""ONNX export of an STPN model as two graphs around the scan, and the TypeScript parity fixture.

    PREFIX-front.onnx: guide_t (N,g,H,W), guide_kw (N,g,H,W), x (N,P,H,W), valid (N,1,H,W)
                       -> gates (N,12h,H/2,W/2), code (N,h,H/2,W/2), feat (N,16,H,W)
    (the scan runs in TypeScript: h = propagate4(code, gates), src/ops/linear-scan.ts)
    PREFIX-back.onnx:  h (N,h,H/2,W/2), x (N,P,H,W), feat (N,16,H,W) -> y (N,P,H,W)

H and W must be multiples of 8 (the guidance U-Net has three stride-2 levels); the engine pads.
Metadata: vprop.model = stpn-front | stpn-back, vprop.task, vprop.hidden, vprop.property, plus extra.

    /usr/bin/python3 -m vprop_train.export_stpn --checkpoint runs/x/last.pt --out PREFIX [--fixture FILE.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import torch

from .spn import propagate4
from .stpn import STPN, TASKS

OPSET = 13
PROPERTY_UNITS = {"color": "lab-ab/100", "hdr": "log(H+0.01)", "mask": "object-logit"}
GUIDE_UNITS = {"color": "lab-L/100", "hdr": "ldr-rgb/255", "mask": "rgb/255"}


class _Front(torch.nn.Module):
    def __init__(self, m: STPN):
        super().__init__()
        self.m = m

    def forward(self, guide_t, guide_kw, x, valid):
        return self.m.front(guide_t, guide_kw, x, valid)


class _Back(torch.nn.Module):
    def __init__(self, m: STPN):
        super().__init__()
        self.m = m

    def forward(self, h, x, feat):
        return self.m.back(h, x, feat)


def save_onnx(model, args, names_in, names_out, dyn, path, meta):
    """Export to ONNX with `meta` as metadata, checked, written under a temporary name and renamed."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "m.onnx")
        torch.onnx.export(model, args, raw, input_names=names_in, output_names=names_out, dynamic_axes=dyn, opset_version=OPSET)
        g = onnx.load(raw)
        for k, v in meta.items():
            e = g.metadata_props.add()
            e.key, e.value = k, str(v)
        onnx.checker.check_model(g)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        onnx.save(g, path + ".partial")
    os.replace(path + ".partial", path)


def export_stpn(model: STPN, prefix: str, extra: dict | None = None) -> None:
    model = model.eval()
    p, gch = TASKS[model.task]
    H, W = 16, 24
    g = torch.Generator().manual_seed(3)
    gt, gk, x = torch.rand(1, gch, H, W, generator=g), torch.rand(1, gch, H, W, generator=g), torch.randn(1, p, H, W, generator=g)
    valid = (torch.rand(1, 1, H, W, generator=g) > 0.2).float()
    base = {"vprop.task": model.task, "vprop.hidden": model.hidden, "vprop.property": PROPERTY_UNITS[model.task], "vprop.guide": GUIDE_UNITS[model.task], "vprop.opset": OPSET}
    base.update(extra or {})
    full = {0: "N", 2: "H", 3: "W"}
    half = {0: "N", 2: "H2", 3: "W2"}
    save_onnx(_Front(model), (gt, gk, x, valid), ["guide_t", "guide_kw", "x", "valid"], ["gates", "code", "feat"], {"guide_t": full, "guide_kw": full, "x": full, "valid": full, "gates": half, "code": half, "feat": full}, prefix + "-front.onnx", {**base, "vprop.model": "stpn-front"})
    with torch.no_grad():
        gates, code, feat = model.front(gt, gk, x, valid)
        h = propagate4(code, gates)
    save_onnx(_Back(model), (h, x, feat), ["h", "x", "feat"], ["y"], {"h": half, "x": full, "feat": full, "y": full}, prefix + "-back.onnx", {**base, "vprop.model": "stpn-back"})


@torch.no_grad()
def make_fixture(model: STPN, path: str, height: int = 16, width: int = 24, seed: int = 5) -> None:
    """Inputs and PyTorch outputs of the whole model (front, scan, back) on a small random case."""
    model = model.eval()
    p, gch = TASKS[model.task]
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(1, gch, height, width, generator=g)
    gk = (gt + 0.1 * torch.randn(1, gch, height, width, generator=g)).clamp(0, 1)
    x = torch.randn(1, p, height, width, generator=g) * (0.3 if model.task == "color" else 2.0)
    valid = (torch.rand(1, 1, height, width, generator=g) > 0.2).float()
    gates, code, feat = model.front(gt, gk, x, valid)
    h = propagate4(code, gates)
    y = model.back(h, x, feat)
    out = {
        "task": model.task,
        "hidden": model.hidden,
        "height": height,
        "width": width,
        "guide_t": gt.flatten().tolist(),
        "guide_kw": gk.flatten().tolist(),
        "x": x.flatten().tolist(),
        "valid": valid.flatten().tolist(),
        "scanned": h.flatten().tolist(),
        "y": y.flatten().tolist(),
    }
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".partial", "w") as f:
        json.dump(out, f)
    os.replace(path + ".partial", path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--out", required=True, help="prefix: writes PREFIX-front.onnx and PREFIX-back.onnx")
    ap.add_argument("--fixture")
    a = ap.parse_args(argv)
    ck = torch.load(a.checkpoint)
    args = ck["args"]
    model = STPN(args["task"], hidden=args["hidden"])
    model.load_state_dict(ck["model"])
    export_stpn(model, a.out, {"vprop.variant": args["variant"], "vprop.steps": ck["step"]})
    if a.fixture:
        make_fixture(model, a.fixture)
    return 0


if __name__ == "__main__":
    sys.exit(main())
