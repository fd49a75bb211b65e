"""ONNX export of the STGRU cells, and the TypeScript parity fixture.

Graph (opset 13): inputs `image`, `prev_warped` (N,3,H,W), `h_warped`, `x` (N,C,H,W); outputs `h`
(N,C,H,W) and `r` (N,1,H,W). N, H, W are dynamic; C is dynamic for the shared cell and fixed for
the exact one. Model metadata (ONNX `metadata_props`) records the cell: `vprop.model` = `grfp-stgru`,
`vprop.cell` = exact | shared, `vprop.classes` (exact), `vprop.background_bias`, `vprop.image_units`
= `rgb-0-255`, plus any training notes passed in `extra`.

    /usr/bin/python3 -m vprop_train.export --checkpoint ckpt.pt --out model.onnx
    /usr/bin/python3 -m vprop_train.export --init shared --out model.onnx      (initialised weights)
    /usr/bin/python3 -m vprop_train.export --onnx model.onnx --fixture model.json  (fixture of a model file)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import torch

from .stgru import SharedSTGRUCell, STGRUCell, make_cell, run_clip

OPSET = 13
INPUTS = ["image", "prev_warped", "h_warped", "x"]
OUTPUTS = ["h", "r"]


def cell_metadata(cell) -> dict:
    meta = {"vprop.model": "grfp-stgru", "vprop.cell": cell.kind, "vprop.image_units": "rgb-0-255", "vprop.opset": str(OPSET)}
    if isinstance(cell, STGRUCell):
        meta["vprop.classes"] = str(cell.classes)
    if isinstance(cell, SharedSTGRUCell):
        meta["vprop.background_bias"] = "true" if cell.background_bias else "false"
    meta["vprop.lambda"] = f"{float(cell.lam):.6f}"
    return meta


def export_onnx(cell, path: str, extra: dict | None = None) -> None:
    """Write `cell` as an ONNX graph to `path` (atomically), with metadata."""
    import onnx

    cell = cell.eval()
    C = cell.classes if isinstance(cell, STGRUCell) else 3
    H, W = 9, 11
    g = torch.Generator().manual_seed(1)
    args = (
        torch.rand(1, 3, H, W, generator=g) * 255,
        torch.rand(1, 3, H, W, generator=g) * 255,
        torch.rand(1, C, H, W, generator=g) - 1.0 / C,
        torch.randn(1, C, H, W, generator=g),
    )
    dyn = {"image": {0: "N", 2: "H", 3: "W"}, "prev_warped": {0: "N", 2: "H", 3: "W"}, "h": {0: "N", 2: "H", 3: "W"}, "r": {0: "N", 2: "H", 3: "W"}}
    dyn["h_warped"] = {0: "N", 2: "H", 3: "W"}
    dyn["x"] = {0: "N", 2: "H", 3: "W"}
    if isinstance(cell, SharedSTGRUCell):
        for k in ("h_warped", "x", "h"):
            dyn[k][1] = "C"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        with torch.no_grad():
            torch.onnx.export(cell, args, raw, input_names=INPUTS, output_names=OUTPUTS, dynamic_axes=dyn, opset_version=OPSET, do_constant_folding=True)
        model = onnx.load(raw)
    onnx.checker.check_model(model)
    meta = cell_metadata(cell)
    for k, v in (extra or {}).items():
        meta[f"vprop.{k}"] = v if isinstance(v, str) else json.dumps(v)
    del model.metadata_props[:]
    for k, v in meta.items():
        e = model.metadata_props.add()
        e.key = k
        e.value = v
    model.producer_name = "vprop-training"
    tmp_path = f"{path}.partial"
    onnx.save(model, tmp_path)
    os.replace(tmp_path, path)


def load_checkpoint(path: str):
    ck = torch.load(path, map_location="cpu")
    cfg = ck["config"]
    cell = make_cell(cfg["cell"], classes=cfg.get("classes"), background_bias=cfg.get("background_bias", True))
    cell.load_state_dict(ck["model"])
    return cell, ck


def load_onnx_cell(path: str):
    """The cell whose weights an exported ONNX file holds (initialisers are named as the state dict)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    if meta.get("vprop.model") != "grfp-stgru":
        raise SystemExit(f"{path}: not a vprop STGRU model (vprop.model = {meta.get('vprop.model')!r})")
    kind = meta["vprop.cell"]
    classes = int(meta["vprop.classes"]) if kind == "exact" else None
    cell = make_cell(kind, classes=classes, background_bias=meta.get("vprop.background_bias", "true") == "true")
    arrays = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    # The exporter shares equal-valued initialisers (e.g. biases that are all 0 at initialisation)
    # through Identity nodes: resolve those names too.
    for node in model.graph.node:
        if node.op_type == "Identity" and node.input[0] in arrays:
            arrays[node.output[0]] = arrays[node.input[0]].clone()
    state = {k: v for k, v in arrays.items() if k in cell.state_dict()}
    if isinstance(cell, STGRUCell):
        # Constant folding merged the four gate kernels into the one convolution the forward pass
        # builds (rows 0..C-1 = [W_xh | W_hh], row C = [W_xz | W_hz]) and b_z into a (1, C, 1, 1) add.
        C = classes
        kernel = [v for k, v in arrays.items() if k not in state and tuple(v.shape) == (C + 1, 2 * C, 7, 7)]
        bias = [v for k, v in arrays.items() if k not in state and tuple(v.shape) == (1, C, 1, 1)]
        if len(kernel) != 1 or len(bias) != 1:
            raise SystemExit(f"{path}: cannot find the merged gate kernel and b_z of an exact cell for {C} classes")
        k = kernel[0]
        state.update(W_xh=k[:C, :C], W_hh=k[:C, C:], W_xz=k[C:, :C], W_hz=k[C:, C:], b_z=bias[0].reshape(C))
    cell.load_state_dict(state, strict=True)
    return cell


def make_fixture(cell, C: int, H: int = 6, W: int = 7, seed: int = 5) -> dict:
    """Fixed inputs and the PyTorch outputs, as flat lists (for the TypeScript parity test)."""
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(1, 3, H, W, generator=g) * 255
    prev = (image + torch.randn(1, 3, H, W, generator=g) * 20).clamp(0, 255)
    p = torch.softmax(torch.randn(1, C, H, W, generator=g) * 2, dim=1)
    h_warped = p - 1.0 / C
    x = torch.randn(1, C, H, W, generator=g) * 3
    with torch.no_grad():
        h, r = cell.eval()(image, prev, h_warped, x)
    flat = lambda t: [round(float(v), 7) for v in t.reshape(-1)]
    # A 3-frame clip through run_clip (PyTorch warping): checks the TypeScript warping and
    # centring conventions end to end. Flows are smooth and up to ~2 px, partly off the image.
    T, h2, w2 = 3, 8, 10
    ys = torch.linspace(-1, 1, h2).view(1, 1, h2, 1)
    xs_ = torch.linspace(-1, 1, w2).view(1, 1, 1, w2)
    imgs = (torch.rand(1, T, 3, h2, w2, generator=g) * 255).round()
    flows = torch.zeros(1, T, 2, h2, w2)
    for t in range(1, T):
        a = torch.randn(4, generator=g)
        flows[0, t, 0] = a[0] * 1.5 + a[1] * xs_[0, 0]
        flows[0, t, 1] = a[2] * 1.5 + a[3] * ys[0, 0]
    scores = torch.randn(1, T, C, h2, w2, generator=g) * 2
    p0 = torch.softmax(torch.randn(1, C, h2, w2, generator=g) * 3, dim=1)
    with torch.no_grad():
        outs = run_clip(cell, imgs, flows, scores, p0)
    return {
        "cell": cell.kind,
        "dims": {"C": C, "H": H, "W": W},
        "inputs": {"image": flat(image), "prev_warped": flat(prev), "h_warped": flat(h_warped), "x": flat(x)},
        "outputs": {"h": flat(h), "r": flat(r)},
        "clip": {
            "dims": {"T": T, "C": C, "H": h2, "W": w2},
            "images": flat(imgs),
            "flows": flat(flows),
            "scores": flat(scores),
            "p0": flat(p0),
            "probabilities": [flat(torch.softmax(o, dim=1)) for o in outs],
        },
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="training checkpoint (.pt)")
    src.add_argument("--init", choices=["exact", "shared"], help="export initialised (untrained) weights")
    src.add_argument("--onnx", help="an exported model: write its parity fixture (--fixture) only")
    ap.add_argument("--classes", type=int, default=6, help="--init exact: class count")
    ap.add_argument("--no-background-bias", action="store_true", help="--init shared: one z bias for all channels")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="output .onnx (with --checkpoint or --init)")
    ap.add_argument("--fixture", help="also write a parity fixture JSON here")
    ap.add_argument("--fixture-classes", type=int, default=3, help="shared cell: C of the fixture")
    a = ap.parse_args(argv)
    torch.set_num_threads(2)
    extra = {}
    if a.onnx:
        if not a.fixture:
            raise SystemExit("--onnx needs --fixture")
        cell = load_onnx_cell(a.onnx)
    elif not a.out:
        raise SystemExit("--out is required with --checkpoint or --init")
    elif a.checkpoint:
        cell, ck = load_checkpoint(a.checkpoint)
        extra = {"trained": "true", "steps": str(ck.get("step", "?")), "data": ck["config"].get("data_summary", "")}
    else:
        cell = make_cell(a.init, classes=a.classes, background_bias=not a.no_background_bias, seed=a.seed)
        extra = {"trained": "false"}
    if not a.onnx:
        export_onnx(cell, a.out, extra)
        print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes, cell {cell.kind})")
    if a.fixture:
        C = cell.classes if isinstance(cell, STGRUCell) else a.fixture_classes
        fx = make_fixture(cell, C)
        with open(a.fixture, "w") as f:
            json.dump(fx, f)
        print(f"wrote {a.fixture}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
