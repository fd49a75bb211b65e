"""Train a GRFP STGRU cell on dumped clips, checkpointing, then export ONNX.

    cd training && nice /usr/bin/python3 -m vprop_train.train --task masks --cell shared \\
        --train synth:masks --train davis:sim:blackswan,camel --val synth-val:masks \\
        --steps 1500 --out runs/mask --export ../src/models/weights/grfp-mask-shared.onnx

Data specs are `SET:ESTIMATE[:clip,clip,...]` under --data (default training/data-cache).
Settings follow ANCHORS §8.3 where they transfer: 5-frame clips, one random crop per clip shared
by all its frames, softmax cross-entropy; loss on the last frame (`--loss last`, GRFP) or on every
frame after the first (`--loss all`). Adam with GRFP's betas (0.95, 0.99) but lr 1e-3 instead of
2e-5: GRFP fine-tuned a cell sitting on a large static net, our cell is trained alone from its
stated initialisation. The initial state p0 is the per-frame estimate (GRFP) or the ground truth
(a key-frame, as the vprop session injects it), 50/50 by default (`--start`).
Resumes from `<out>/last.pt` when it exists. Deterministic for a given --seed and thread count.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .data import Clip, open_set, sample_batch
from .export import export_onnx, make_fixture
from .stgru import STGRUCell, make_cell, run_clip

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_spec(spec: str):
    parts = spec.split(":")
    if len(parts) < 2:
        raise SystemExit(f"bad data spec {spec!r}: expected SET:ESTIMATE[:clip,clip]")
    names = parts[2].split(",") if len(parts) > 2 and parts[2] else None
    return parts[0], parts[1], names


def load_specs(data_root: str, specs: list[str], task: str) -> list[Clip]:
    clips: list[Clip] = []
    for s in specs:
        set_name, est, names = parse_spec(s)
        clips += open_set(os.path.join(data_root, set_name), task, est, names)
    return clips


def clip_loss(outs, target, mode: str) -> torch.Tensor:
    if mode == "last":
        return F.cross_entropy(outs[-1], target[:, -1])
    return torch.stack([F.cross_entropy(h, target[:, t + 1]) for t, h in enumerate(outs)]).mean()


def confusion_update(conf: np.ndarray, pred: torch.Tensor, gt: torch.Tensor, C: int) -> None:
    idx = (gt.reshape(-1) * C + pred.reshape(-1)).numpy()
    conf += np.bincount(idx, minlength=C * C).reshape(C, C)


def miou(conf: np.ndarray) -> float:
    tp = np.diag(conf)
    denom = conf.sum(0) + conf.sum(1) - tp
    ok = denom > 0
    return float((tp[ok] / denom[ok]).mean()) if ok.any() else float("nan")


def fixed_batches(clips, count: int, batch: int, T: int, crop: int, seed: int):
    """Deterministic validation batches (both start modes)."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        out.append(sample_batch(clips, rng, batch, T, crop, start="perframe" if k % 2 == 0 else "gt", flip=False))
    return out


@torch.no_grad()
def evaluate(cell, batches, loss_mode: str) -> dict:
    cell.eval()
    losses = []
    res = {}
    for mode in ("perframe", "gt"):
        confs = {}
        for b in batches:
            is_gt = bool((b["p0"].amax(dim=1) == 1).all())
            if (mode == "gt") != is_gt:
                continue
            C = b["channels"]
            outs = run_clip(cell, b["images"], b["flows"], b["xs"], b["p0"])
            losses.append(float(clip_loss(outs, b["target"], loss_mode)))
            cf = confs.setdefault(C, (np.zeros((C, C), np.int64), np.zeros((C, C), np.int64)))
            confusion_update(cf[0], outs[-1].argmax(1), b["target"][:, -1], C)
            confusion_update(cf[1], b["xs"][:, -1].argmax(1), b["target"][:, -1], C)
        if confs:
            res[f"{mode}_miou"] = float(np.mean([miou(v[0]) for v in confs.values()]))
            res[f"{mode}_input_miou"] = float(np.mean([miou(v[1]) for v in confs.values()]))
    res["loss"] = float(np.mean(losses)) if losses else float("nan")
    cell.train()
    return res


def save_atomic(obj, path: str) -> None:
    tmp = f"{path}.partial"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", choices=["labels", "masks"], required=True)
    ap.add_argument("--cell", choices=["exact", "shared"], required=True)
    ap.add_argument("--classes", type=int, help="exact cell: class count (default: from the data)")
    ap.add_argument("--no-background-bias", action="store_true", help="shared cell: one z bias for every channel")
    ap.add_argument("--data", default=os.path.join(HERE, "data-cache"))
    ap.add_argument("--train", action="append", required=True, help="SET:ESTIMATE[:clips] (repeatable)")
    ap.add_argument("--val", action="append", default=[], help="SET:ESTIMATE[:clips] (repeatable)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--clip-frames", type=int, default=5)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta1", type=float, default=0.95)
    ap.add_argument("--beta2", type=float, default=0.99)
    ap.add_argument("--loss", choices=["last", "all"], default="last")
    ap.add_argument("--start", choices=["perframe", "gt", "mix"], default="mix")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--checkpoint-every", type=int, default=100)
    ap.add_argument("--out", required=True, help="run directory (checkpoints, log)")
    ap.add_argument("--export", help="write the best (by validation loss, else last) weights as ONNX here")
    ap.add_argument("--fixture", help="also write a TS parity fixture JSON for the exported weights")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    train = load_specs(a.data, a.train, a.task)
    val = load_specs(a.data, a.val, a.task) if a.val else []
    channels = sorted({c.channels for c in train})
    if a.cell == "exact":
        classes = a.classes or channels[0]
        if channels != [classes]:
            raise SystemExit(f"exact cell for {classes} classes, but the training clips have channel counts {channels}")
    else:
        classes = None
    config = {
        "task": a.task,
        "cell": a.cell,
        "classes": classes,
        "background_bias": not a.no_background_bias,
        "train": a.train,
        "val": a.val,
        "steps": a.steps,
        "batch": a.batch,
        "clip_frames": a.clip_frames,
        "crop": a.crop,
        "lr": a.lr,
        "betas": [a.beta1, a.beta2],
        "loss": a.loss,
        "start": a.start,
        "seed": a.seed,
        "data_summary": f"{len(train)} training clips ({', '.join(a.train)})",
    }
    cell = make_cell(a.cell, classes=classes, background_bias=not a.no_background_bias, seed=a.seed)
    opt = torch.optim.Adam(cell.parameters(), lr=a.lr, betas=(a.beta1, a.beta2), eps=1e-8)
    rng = np.random.default_rng(a.seed)
    step = 0
    best = {"loss": float("inf"), "step": -1}
    history = []
    last_path = os.path.join(a.out, "last.pt")
    best_path = os.path.join(a.out, "best.pt")
    if os.path.exists(last_path):
        ck = torch.load(last_path, map_location="cpu")
        if ck["config"]["cell"] != a.cell or ck["config"]["task"] != a.task:
            raise SystemExit(f"{last_path} is a {ck['config']['task']}/{ck['config']['cell']} run; use another --out")
        cell.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optim"])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        step, best, history = ck["step"], ck["best"], ck["history"]
        print(f"resumed at step {step}")
    val_batches = fixed_batches(val, 12, 4, a.clip_frames, a.crop, seed=1234) if val else []
    if step == 0 and val_batches:
        r = evaluate(cell, val_batches, a.loss)
        r["step"] = 0
        history.append(r)
        print(f"step 0 (initialised): {json.dumps(r)}", flush=True)

    def checkpoint(path):
        save_atomic({"model": cell.state_dict(), "optim": opt.state_dict(), "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
                     "step": step, "best": best, "history": history, "config": config}, path)

    started = time.time()
    running = []
    while step < a.steps:
        b = sample_batch(train, rng, a.batch, a.clip_frames, a.crop, start=a.start)
        outs = run_clip(cell, b["images"], b["flows"], b["xs"], b["p0"])
        loss = clip_loss(outs, b["target"], a.loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        running.append(float(loss))
        if step % 25 == 0:
            print(f"step {step} loss {np.mean(running):.4f} lambda {float(cell.lam):.3f} ({(time.time() - started) / max(len(running), 1):.2f} s/step)", flush=True)
            running = []
            started = time.time()
        if val_batches and (step % a.eval_every == 0 or step == a.steps):
            r = evaluate(cell, val_batches, a.loss)
            r["step"] = step
            history.append(r)
            print(f"val {json.dumps(r)}", flush=True)
            if r["loss"] < best["loss"]:
                best = {"loss": r["loss"], "step": step}
                checkpoint(best_path)
        if step % a.checkpoint_every == 0 or step == a.steps:
            checkpoint(last_path)
    with open(os.path.join(a.out, "history.json"), "w") as f:
        json.dump({"config": config, "history": history, "best": best}, f, indent=1)
    if a.export:
        src = best_path if os.path.exists(best_path) else last_path
        ck = torch.load(src, map_location="cpu")
        cell.load_state_dict(ck["model"])
        extra = {"trained": "true", "steps": str(ck["step"]), "task": a.task, "train": a.train, "val": a.val,
                 "settings": {k: config[k] for k in ("batch", "clip_frames", "crop", "lr", "betas", "loss", "start", "seed")}}
        export_onnx(cell, a.export, extra)
        print(f"exported step {ck['step']} to {a.export} ({os.path.getsize(a.export)} bytes)")
        if a.fixture:
            C = cell.classes if isinstance(cell, STGRUCell) else 3
            with open(a.fixture, "w") as f:
                json.dump(make_fixture(cell, C), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
