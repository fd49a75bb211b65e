"""Train VPN's learned mask stage (vpn.py) on data dumped by scripts/export-vpn-data.ts.

    cd training && /usr/bin/python3 -m vprop_train.train_vpn --data data-cache/vpn/stage0 \\
        --train cows,dog,goat,kite-surf,parkour --val blackswan,... --out runs/vpn-mask-foldA \\
        --export models/vpn-mask-foldA --fixture ../test/fixtures/vpn/vpn-mask-foldA.json

Training as VPN's (ANCHORS §3.1): log-loss on the normalised output, Adam (lr 1e-3, β 0.9/0.999),
batches of 3 random (sequence, frame ≥ 1) samples, 500 steps, snapshot selection as below. The
spatial CNN sees a random 256x256
crop per sample (centred near the object half of the time); the superpixel stage always runs
over the whole frame. Checkpoints every 50 steps (`last.pt`); a rerun resumes.

`--select-on SEQ` holds one training sequence out of training and exports the snapshot (every
`--select-every` steps, and step 0 = BNN-Identity) that scores best on it (masks: mean J of every
third frame; colour: chroma PSNR on fixed crops), as VPN exported the snapshot with the lowest loss
on its fold's validation sequences. `--val` (the other fold, never trained on) is reported once, for
the exported net, for information only: per sequence the mean J of frames 1..T-2 (ANCHORS §1.3) of
the stage and of BNN-Identity (its inputs' average), open loop = closed loop here, since the engine
feeds every stage the stage-0 unaries (colour: chroma PSNR on fixed crops, stage vs its input).
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
from .vpn import (NORMALISE_EPS, VpnColorNet, VpnMaskNet, color_lattice, forward_color_crop, forward_frame, frame_lattices,
                  load_color_sequences, load_sequences)

CROP = 256
COLOR_CROP = 160


def pick_crop(gt: torch.Tensor, rng: np.random.Generator) -> tuple[int, int, int, int]:
    H, W = gt.shape
    h, w = min(CROP, H), min(CROP, W)
    ys, xs = torch.nonzero(gt, as_tuple=True)
    if len(ys) > 0 and rng.random() < 0.5:
        i = rng.integers(len(ys))
        cy, cx = int(ys[i]), int(xs[i])
        y0 = int(np.clip(cy - h // 2 + rng.integers(-h // 4, h // 4 + 1), 0, H - h))
        x0 = int(np.clip(cx - w // 2 + rng.integers(-w // 4, w // 4 + 1), 0, W - w))
    else:
        y0, x0 = int(rng.integers(H - h + 1)), int(rng.integers(W - w + 1))
    return y0, x0, h, w


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


@torch.no_grad()
def evaluate(model: VpnMaskNet, seqs, stride: int = 1) -> dict:
    out = {}
    for s in seqs:
        js, jid, jpf = [], [], []
        for t in range(1, s.T - 1, stride):
            sample = s.sample(t)
            p = forward_frame(model, sample)[0, 1].numpy()
            gt = s.gt[t] > 0
            js.append(jaccard(p > 0.5, gt))
            ident = (s.fa[t][1] + s.fb[t][1] > s.fa[t][0] + s.fb[t][0])[s.labels[t].astype(np.int64)]
            jid.append(jaccard(ident, gt))
            if "per_frame" in sample:
                jpf.append(jaccard(sample["per_frame"][1].numpy() > 0.5, gt))
        out[s.name] = {"J": float(np.mean(js)), "J_identity": float(np.mean(jid))}
        if jpf:
            out[s.name]["J_per_frame"] = float(np.mean(jpf))
    return out


class _Spatial(torch.nn.Module):
    def __init__(self, m: VpnMaskNet):
        super().__init__()
        self.m = m

    def forward(self, u):
        return self.m.spatial(u)


class _SpatialPerFrame(_Spatial):
    def forward(self, u, per_frame):
        return self.m.spatial(u, per_frame)


def export(model: VpnMaskNet, prefix: str, meta: dict) -> None:
    model = model.eval()
    u = torch.rand(1, 2, 12, 16)
    dyn = {"u": {2: "H", 3: "W"}, "probabilities": {2: "H", 3: "W"}}
    full = {"vprop.model": "vpn-mask", "vprop.vpn_bcl": json.dumps(model.bcl_weights()), "vprop.opset": OPSET,
            "vprop.normalise_eps": NORMALISE_EPS, "vprop.per_frame": "true" if model.per_frame else "false", **meta}
    if model.per_frame:
        dyn["per_frame"] = {2: "H", 3: "W"}
        save_onnx(_SpatialPerFrame(model), (u, torch.rand(1, 2, 12, 16)), ["u", "per_frame"], ["probabilities"], dyn, prefix + ".onnx", full)
    else:
        save_onnx(_Spatial(model), (u,), ["u"], ["probabilities"], dyn, prefix + ".onnx", full)


def make_fixture(model: VpnMaskNet, seed: int = 4) -> dict:
    """A small frame: superpixels as 4x5-pixel blocks of a 20x30 image with VPN-like raw features,
    random filtered unaries; the stage's u per superpixel and the probabilities per pixel."""
    g = torch.Generator().manual_seed(seed)
    H, W, bh, bw = 20, 30, 4, 5
    labels = (torch.arange(H)[:, None] // bh) * (W // bw) + torch.arange(W)[None, :] // bw
    S = int(labels.max()) + 1
    ys = (torch.arange(S) // (W // bw)).double() * bh + bh / 2 - 0.5
    xs = (torch.arange(S) % (W // bw)).double() * bw + bw / 2 - 0.5
    ycc = torch.rand(3, S, generator=g, dtype=torch.float64) * torch.tensor([200.0, 60.0, 60.0], dtype=torch.float64)[:, None] + torch.tensor([20.0, 100.0, 100.0], dtype=torch.float64)[:, None]
    feats = torch.cat([ycc, xs[None] * 20, ys[None] * 20, torch.full((1, S), 7.0, dtype=torch.float64)]).float()
    fg = torch.rand(S, generator=g)
    cover = torch.rand(S, generator=g) * 0.3 + 0.7
    fa = torch.stack([(1 - fg) * cover, fg * cover])
    fb = torch.stack([(1 - fg.roll(1)) * cover, fg.roll(1) * cover])
    pf_fg = torch.rand(1, H, W, generator=g)
    pf = torch.cat([1 - pf_fg, pf_fg])[None]
    with torch.no_grad():
        lat_a, lat_b = frame_lattices(feats)
        u = model.superpixel_stage(fa, fb, lat_a, lat_b)
        probs = model.spatial(u[:, labels.reshape(-1)].reshape(1, 2, H, W), pf if model.per_frame else None)[0]
    r = lambda t: [round(float(x), 7) for x in t.reshape(-1).tolist()]
    fx = {"width": W, "height": H, "count": S, "t": 7, "labels": labels.reshape(-1).tolist(), "features": r(feats),
          "fa": r(fa), "fb": r(fb), "u": r(u), "probabilities": r(probs)}
    if model.per_frame:
        fx["per_frame"] = r(pf[0])
    return fx


@torch.no_grad()
def evaluate_color(model: VpnColorNet, seqs, stride: int = 1) -> dict:
    """Per sequence: chroma PSNR (peak 1 in Lab ab / 100 units) of the stage and of its input
    (BNN-Identity) over four fixed crops of every dumped frame."""
    out = {}
    for s in seqs:
        se, si = [], []
        for i in range(0, len(s.frames), stride):
            for y0, x0 in ((0, 0), (s.H - COLOR_CROP, s.W - COLOR_CROP), (s.H // 3, s.W // 3), (s.H // 2, s.W // 2)):
                c = s.crop(i, y0, x0, COLOR_CROP, COLOR_CROP)
                se.append(float(((forward_color_crop(model, c, y0, x0)[0] - c["truth"]) ** 2).mean()))
                si.append(float(((c["fc"] - c["truth"]) ** 2).mean()))
        out[s.name] = {"psnr": float(-10 * np.log10(np.mean(se))), "psnr_identity": float(-10 * np.log10(np.mean(si)))}
    return out


class _ColorSpatial(torch.nn.Module):
    def __init__(self, m: VpnColorNet):
        super().__init__()
        self.m = m

    def forward(self, m):
        return self.m.spatial(m)


def export_color(model: VpnColorNet, prefix: str, meta: dict) -> None:
    model = model.eval()
    dyn = {"m": {2: "H", 3: "W"}, "chroma": {2: "H", 3: "W"}}
    full = {"vprop.model": "vpn-color", "vprop.vpn_color": json.dumps(model.pixel_weights()), "vprop.opset": OPSET,
            "vprop.units": "Lab (a, b) / 100", **meta}
    save_onnx(_ColorSpatial(model), (torch.rand(1, 2, 12, 16),), ["m"], ["chroma"], dyn, prefix + ".onnx", full)


def make_color_fixture(model: VpnColorNet, seed: int = 6) -> dict:
    """A small grey frame (smooth luma with an edge) at frame index 3 with random filtered chroma:
    the per-pixel stage's m and the output chroma."""
    g = torch.Generator().manual_seed(seed)
    H, W, t = 18, 24, 3
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    luma = (60 + 4 * xx + 2 * yy + 90 * (xx > 12)).clamp(0, 255).to(torch.uint8)
    fc = (torch.rand(2, H * W, generator=g) - 0.5) * 1.2
    with torch.no_grad():
        m = model.pixel_stage(fc, color_lattice(luma, 0, 0, t))
        out = model.spatial(m.reshape(1, 2, H, W))[0]
    r = lambda x: [round(float(v), 7) for v in x.reshape(-1).tolist()]
    return {"width": W, "height": H, "t": t, "luma": luma.reshape(-1).tolist(), "fc": r(fc), "m": r(m), "chroma": r(out)}


def run_training(a, model, sample_loss, select_score, export_fn) -> int:
    """The loop both tasks share: Adam, batches of `a.batch` samples (`sample_loss(rng)` returns one
    sample's loss), checkpoints every 50 steps (`last.pt`; a rerun resumes). With `select_score`
    (higher is better, measured on a training-fold sequence held out of training, `--select-on`),
    every `a.select_every` steps and at step 0 the snapshot is scored and the best one is exported,
    as VPN picked its snapshot on its fold's validation sequences; otherwise the last step is."""
    opt = torch.optim.Adam(model.parameters(), lr=a.lr, betas=(0.9, 0.999))
    os.makedirs(a.out, exist_ok=True)
    ckpt, best_path = os.path.join(a.out, "last.pt"), os.path.join(a.out, "best.pt")
    step, best = 0, None
    rng = np.random.default_rng(a.seed)
    if os.path.exists(ckpt):
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, best = state["step"], state.get("best")
        rng = np.random.default_rng([a.seed, step])
        print(f"resumed at step {step}", flush=True)
    log = open(os.path.join(a.out, "log.jsonl"), "a")
    started = time.time()

    def select(rec):
        nonlocal best
        if select_score is None:
            return
        model.eval()
        score = select_score(model)
        rec["select"] = score
        if best is None or score > best["score"]:
            best = {"score": score, "step": step}
            torch.save({"model": model.state_dict(), "step": step}, best_path + ".partial")
            os.replace(best_path + ".partial", best_path)

    if step == 0 and a.steps > 0:
        rec = {"step": 0}
        select(rec)
        log.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)
    losses = []
    while step < a.steps:
        model.train()
        opt.zero_grad()
        total = 0.0
        for _ in range(a.batch):
            loss = sample_loss(rng) / a.batch
            loss.backward()
            total += float(loss)
        opt.step()
        step += 1
        losses.append(total)
        if step % 50 == 0 or step == a.steps:
            rec = {"step": step, "loss": float(np.mean(losses[-50:])), "seconds": round(time.time() - started, 1)}
            if step % a.select_every == 0 or step == a.steps:
                select(rec)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "best": best}, ckpt + ".partial")
            os.replace(ckpt + ".partial", ckpt)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            print(json.dumps(rec), flush=True)
    if best is not None:
        model.load_state_dict(torch.load(best_path)["model"])
        print(f"selected step {best['step']} (score {best['score']:.4f} on {a.select_on})", flush=True)
    model.eval()
    if a.val:
        rec = {"step": step, "exported_step": best["step"] if best else step, "val": a.evaluate_val(model)}
        log.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)
    if a.export:
        meta = {"vprop.trained": datetime.date.today().isoformat(), "vprop.steps": step, "vprop.train": a.train,
                "vprop.data": a.data, "vprop.lr": a.lr}
        if best is not None:
            meta.update({"vprop.selected_step": best["step"], "vprop.select_on": a.select_on})
        export_fn(model, meta)
        print(f"exported {a.export}.onnx", flush=True)
    return 0


def train_color(a) -> int:
    val = load_color_sequences(a.data, [n for n in a.val.split(",") if n])
    a.evaluate_val = lambda m: evaluate_color(m, val)
    if a.evaluate:
        model = VpnColorNet(a.seed)
        if a.evaluate != "identity":
            model.load_state_dict(torch.load(a.evaluate)["model"])
        print(json.dumps(evaluate_color(model, val), indent=1))
        return 0
    train = load_color_sequences(a.data, [n for n in a.train.split(",") if n and n != a.select_on]) if a.steps > 0 else []
    held = load_color_sequences(a.data, [a.select_on]) if a.select_on and a.steps > 0 else []
    model = VpnColorNet(a.seed)

    def sample_loss(rng):
        s = train[rng.integers(len(train))]
        i = int(rng.integers(len(s.frames)))
        y0, x0 = int(rng.integers(s.H - COLOR_CROP + 1)), int(rng.integers(s.W - COLOR_CROP + 1))
        c = s.crop(i, y0, x0, COLOR_CROP, COLOR_CROP)
        return ((forward_color_crop(model, c, y0, x0)[0] - c["truth"]) ** 2).mean()

    select = (lambda m: evaluate_color(m, held)[a.select_on]["psnr"]) if held else None

    def export_fn(m, meta):
        meta["vprop.inputs"] = "stage-0 (BNN-Identity) chroma of the 3 previous frames"
        export_color(m, a.export, meta)
        if a.fixture:
            write_fixture(make_color_fixture(m), a.export, a.fixture)

    return run_training(a, model, sample_loss, select, export_fn)


def write_fixture(fx: dict, prefix: str, path: str) -> None:
    fx["model"] = os.path.relpath(os.path.abspath(prefix + ".onnx"), os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".partial", "w") as f:
        json.dump(fx, f)
    os.replace(path + ".partial", path)


def data_inputs(root: str, train: str) -> str:
    """What the dump's filtered unaries are (its meta.json `inputs`: stage 0's, or a stage-1
    model's for stage 2), from the first training sequence; stage 0's when there is none."""
    names = [n for n in train.split(",") if n]
    meta = os.path.join(root, names[0], "meta.json") if names else ""
    if meta and os.path.exists(meta):
        with open(meta) as f:
            return json.load(f).get("inputs", "stage-0 (BNN-Identity) unaries")
    return "stage-0 (BNN-Identity) unaries"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["mask", "color"], default="mask")
    p.add_argument("--data", help="default data-cache/vpn/stage0 (mask) or data-cache/vpn/color-stage0 (color)")
    p.add_argument("--train", default="")
    p.add_argument("--val", default="")
    p.add_argument("--out", default="runs/vpn-mask")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--batch", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--select-on", help="a --train sequence held out of training to pick the exported snapshot on (VPN's model selection)")
    p.add_argument("--select-every", type=int, default=50)
    p.add_argument("--export")
    p.add_argument("--fixture")
    p.add_argument("--per-frame", help="masks: folder of per-frame probabilities (<dir>/<sequence>/<frame>.npy, scripts/export-per-frame.ts): the net fuses them (VPN-DeepLab's place)")
    p.add_argument("--init", help="masks: start from this checkpoint's weights (e.g. the stage without per-frame input)")
    p.add_argument("--evaluate", help="only report --val for this checkpoint (a run's last.pt), or 'identity' for the initial net")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.data is None:
        a.data = "data-cache/vpn/stage0" if a.task == "mask" else "data-cache/vpn/color-stage0"
    if a.task == "color":
        return train_color(a)
    val = load_sequences(a.data, [n for n in a.val.split(",") if n], a.per_frame)
    a.evaluate_val = lambda m: evaluate(m, val)
    if a.evaluate:
        model = VpnMaskNet(a.seed, per_frame=a.per_frame is not None)
        if a.evaluate != "identity":
            model.load_state_dict(torch.load(a.evaluate)["model"])
        print(json.dumps(evaluate(model, val), indent=1))
        return 0
    # --steps 0 exports the initial net (= BNN-Identity, the engine's test model) without data.
    train = load_sequences(a.data, [n for n in a.train.split(",") if n and n != a.select_on], a.per_frame) if a.steps > 0 else []
    held = load_sequences(a.data, [a.select_on], a.per_frame) if a.select_on and a.steps > 0 else []
    items = [(i, t) for i, s in enumerate(train) for t in range(1, s.T)]
    model = VpnMaskNet(a.seed, per_frame=a.per_frame is not None)
    if a.init:
        missing, unexpected = model.load_state_dict(torch.load(a.init)["model"], strict=False)
        if unexpected or any(not k.startswith("fuse.") for k in missing):
            raise ValueError(f"{a.init}: does not fit the net (missing {missing}, unexpected {unexpected})")

    def sample_loss(rng):
        i, t = items[rng.integers(len(items))]
        s = train[i].sample(t)
        crop = pick_crop(s["gt"], rng)
        probs = forward_frame(model, s, crop)
        y0, x0, h, w = crop
        gt = s["gt"][y0:y0 + h, x0:x0 + w]
        return -torch.log(probs[0].gather(0, gt[None]).clamp_min(1e-8)).mean()

    # Snapshot selection: mean J over every third frame of the held-out training sequence.
    select = (lambda m: evaluate(m, held, stride=3)[a.select_on]["J"]) if held else None

    def export_fn(m, meta):
        meta["vprop.inputs"] = f"{data_inputs(a.data, a.train)} of the 9 previous frames"
        if a.per_frame:
            meta["vprop.per_frame_source"] = a.per_frame
        if a.init:
            meta["vprop.init"] = a.init
        export(m, a.export, meta)
        if a.fixture:
            write_fixture(make_fixture(m), a.export, a.fixture)

    return run_training(a, model, sample_loss, select, export_fn)


if __name__ == "__main__":
    sys.exit(main())
