"""Train maskprop's propagation network (propnet.py) on clips dumped by scripts/export-grfp-data.ts.

    cd training && /usr/bin/python3 -m vprop_train.train_propnet --data data-cache/propnet \\
        --train cows,dog,goat,kite-surf --select-on parkour --val blackswan,bmx-trees,... \\
        --out runs/propnet-foldA --export models/propnet-foldA --fixture ../test/fixtures/propnet/propnet-foldA.json

AdamW (lr 1e-3, weight decay 1e-4, cosine decay to 1e-5), batches of `--batch` crops: DAVIS
training-fold sequences, the synthetic clips of `<data>/synth` and still composites of
photographs (propnet.Composites; weights `--davis-weight` / `--synth-weight` /
`--composite-weight`), the coarse masks of propnet.py. Checkpoints every `--select-every` steps (`last.pt`; a rerun resumes).

Selection: every `--select-every` steps the net runs closed loop (propnet.closed_loop: warp,
refine, repeat from frame 0's true mask, no appearance model) on the `--select-on` sequence, held
out of training; the best snapshot is exported. `--val` (the other fold, never trained on or
selected on) is reported once for the exported net, for information, beside the warp-only loop.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

import numpy as np
import torch

from .export_stpn import OPSET, save_onnx
from .propnet import CROP, LOGIT_CLAMP, MARGIN, MIN_SIDE, PHOTOS, Composites, PropNet, batch, closed_loop, crop_resize, load_photos, loss_fn, open_clips, paste, roi_box


def export(net: PropNet, path: str, extra: dict) -> None:
    net = net.eval()
    x = torch.randn(1, 4, 32, 32)
    meta = {
        "vprop.model": "maskprop-propnet",
        "vprop.crop": CROP,
        "vprop.margin": MARGIN,
        "vprop.min_side": MIN_SIDE,
        "vprop.input": "rgb/127.5-1 (3), 2p-1 (1)",
        "vprop.output": "logit",
        "vprop.widths": ",".join(str(w) for w in net.widths),
        "vprop.opset": OPSET,
    }
    meta.update({f"vprop.{k}": v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    dyn = {"input": {0: "N", 2: "H", 3: "W"}, "logit": {0: "N", 2: "H", 3: "W"}}
    save_onnx(net, (x,), ["input"], ["logit"], dyn, path + ".onnx", meta)


@torch.no_grad()
def make_fixture(net: PropNet, path: str, seed: int = 7, roi: bool = True) -> None:
    """A small random input and the net's output, and (roi) region / crop / paste cases for the TypeScript side.

    Inputs are multiples of 1/256 (exact in float32 and short in JSON)."""
    net = net.eval()
    g = torch.Generator().manual_seed(seed)
    x = torch.round((torch.rand(1, 4, 24, 40, generator=g) * 2 - 1) * 256) / 256
    y = net(x)
    data = {"input": {"shape": list(x.shape), "data": x.flatten().tolist()}, "logit": {"shape": list(y.shape), "data": y.flatten().tolist()}}
    if roi:
        data["roi"] = roi_cases(seed)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".partial", "w") as f:
        json.dump(data, f)
    os.replace(path + ".partial", path)


def roi_cases(seed: int) -> dict:
    """Region, crop and paste cases (the engine's TypeScript must reproduce them exactly / within float error)."""
    rng = np.random.default_rng(seed)
    H, W = 18, 30
    cases = []
    for i in range(6):
        prob = np.zeros((H, W), dtype=np.float32)
        if i > 0:
            y0, x0 = int(rng.integers(0, H - 3)), int(rng.integers(0, W - 3))
            y1, x1 = int(rng.integers(y0 + 1, H)), int(rng.integers(x0 + 1, W))
            prob[y0:y1, x0:x1] = np.round(rng.uniform(0.3, 1.0, size=(y1 - y0, x1 - x0)) * 256).astype(np.float32) / 256
        if i == 5:
            prob[:, :] = 0
            prob[H - 1, W - 1] = 0.9  # a corner pixel: the minimum side is kept inside the frame
        box = roi_box(prob, MARGIN, 8)
        rgb = torch.from_numpy(rng.integers(0, 256, size=(1, 3, H, W)).astype(np.float32))
        case = {"prob": prob.ravel().tolist(), "box": list(box) if box else None}
        if box:
            crop = crop_resize(torch.cat([rgb, torch.from_numpy(prob).view(1, 1, H, W)], 1), box, 16)
            logit = torch.from_numpy(np.round(rng.standard_normal((1, 1, 16, 16)) * 256).astype(np.float32) / 256)
            case.update({
                "rgb": rgb.flatten().tolist(),
                "crop": crop.flatten().tolist(),
                "logit": logit.flatten().tolist(),
                "pasted": paste(logit, box, H, W).flatten().tolist(),
            })
        cases.append(case)
    return {"height": H, "width": W, "margin": MARGIN, "minSide": 8, "crop": 16, "outside": -LOGIT_CLAMP, "cases": cases}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data-cache/propnet")
    p.add_argument("--train", required=True, help="DAVIS sequences to train on (comma-separated)")
    p.add_argument("--select-on", required=True, help="held-out DAVIS sequence for snapshot selection")
    p.add_argument("--val", default="", help="sequences reported once for the exported net (the other fold)")
    p.add_argument("--synth", type=int, default=40, help="synthetic clips from <data>/synth (0 = none)")
    p.add_argument("--davis-weight", type=float, default=0.35)
    p.add_argument("--synth-weight", type=float, default=0.15)
    p.add_argument("--composite-weight", type=float, default=0.5, help="still composites of photographs (0 = none)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--select-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", required=True)
    p.add_argument("--export", help="PREFIX: write PREFIX.onnx of the selected snapshot")
    p.add_argument("--fixture", help="parity fixture JSON of the exported net")
    p.add_argument("--init-only", action="store_true", help="export the initialised net (for tests) and stop")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    log = open(os.path.join(a.out, "log.txt"), "a")

    def say(msg: str) -> None:
        line = f"{datetime.datetime.now(datetime.timezone.utc).strftime('%H:%M:%S')} {msg}"
        print(line, flush=True)
        log.write(line + "\n")
        log.flush()

    net = PropNet()
    if a.init_only:
        if a.export:
            export(net, a.export, {"trained": "no (initialised)"})
        if a.fixture:
            make_fixture(net, a.fixture)
        return 0
    train_names = [s for s in a.train.split(",") if s]
    if a.select_on in train_names:
        raise SystemExit(f"--select-on {a.select_on} is also a training sequence")
    davis_root = os.path.join(a.data, "davis")
    sources = [(open_clips(davis_root, train_names), a.davis_weight)]
    if a.synth > 0:
        synth = open_clips(os.path.join(a.data, "synth"))[: a.synth]
        if len(synth) < a.synth:
            raise SystemExit(f"{a.data}/synth: {len(synth)} clips, --synth {a.synth}")
        sources.append((synth, a.synth_weight))
    if a.composite_weight > 0:
        # Shapes from the training clips only (never the held-out or scored sequences).
        shapes = [c for src, _ in sources for c in src]
        sources.append((Composites(load_photos(PHOTOS), shapes), a.composite_weight))
    select_clip = open_clips(davis_root, [a.select_on])[0]

    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=a.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.steps, eta_min=1e-5)
    step, best = 0, {"score": -1.0, "step": -1}
    ckpt = os.path.join(a.out, "last.pt")
    if os.path.exists(ckpt):
        s = torch.load(ckpt)
        net.load_state_dict(s["net"])
        opt.load_state_dict(s["opt"])
        sched.load_state_dict(s["sched"])
        step, best = s["step"], s["best"]
        say(f"resumed at step {step} (best {best})")
    rng = np.random.default_rng(a.seed * 1000 + step)
    say(f"train {train_names} + {a.synth} synthetic, select on {a.select_on}, {a.steps} steps, batch {a.batch}")
    if step == 0:
        base = closed_loop(None, select_clip)
        say(f"warp-only closed loop on {a.select_on}: J {base:.4f}")
    t0 = time.time()
    running = 0.0
    while step < a.steps:
        net.train()
        x, y = batch(sources, rng, a.batch)
        loss = loss_fn(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        running = 0.98 * running + 0.02 * float(loss) if step > 1 else float(loss)
        if step % 50 == 0:
            say(f"step {step} loss {running:.4f} ({(time.time() - t0) / 50:.2f} s/step)")
            t0 = time.time()
        if step % a.select_every == 0 or step == a.steps:
            net.eval()
            j = closed_loop(net, select_clip)
            if j > best["score"]:
                best = {"score": j, "step": step}
                torch.save(net.state_dict(), os.path.join(a.out, "best.pt"))
            say(f"step {step}: closed-loop J on {a.select_on} {j:.4f} (best {best['score']:.4f} at {best['step']})")
            torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "step": step, "best": best}, ckpt + ".partial")
            os.replace(ckpt + ".partial", ckpt)
            t0 = time.time()
    net.load_state_dict(torch.load(os.path.join(a.out, "best.pt")))
    net.eval()
    extra = {"train": train_names, "synthetic_clips": a.synth, "selected_on": a.select_on, "selected_step": best["step"], "steps": a.steps}
    if a.val:
        rows = {}
        for clip in open_clips(davis_root, [s for s in a.val.split(",") if s]):
            rows[clip.name] = {"warp": round(closed_loop(None, clip), 4), "net": round(closed_loop(net, clip), 4)}
            say(f"val {clip.name}: warp-only J {rows[clip.name]['warp']:.4f}, + net {rows[clip.name]['net']:.4f}")
        say(f"val mean: warp-only {np.mean([r['warp'] for r in rows.values()]):.4f}, + net {np.mean([r['net'] for r in rows.values()]):.4f}")
    if a.export:
        export(net, a.export, extra)
        say(f"exported {a.export}.onnx (step {best['step']})")
    if a.fixture:
        make_fixture(net, a.fixture, roi=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
