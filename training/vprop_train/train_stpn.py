"""Train an STPN (or BTPN) model, checkpointing, then export the two ONNX graphs around the scan.

    cd training && nice /usr/bin/python3 -m vprop_train.train_stpn --task color --variant stpn \\
        --train-davis bmx-trees,... --stills --val-davis blackswan,... --steps 3000 --out runs/stpn-color-foldA \\
        --export ../training/models/stpn-color-foldA

Recipe (chosen and documented, ANCHORS §4.2 leaves it open):
- Runs of `--unroll` + 1 consecutive DAVIS frames (default 2 steps), one random crop for the whole run: the
  first frame's ground-truth property is carried frame by frame (warp along the DIS flow, then the
  network), so the model learns from its own accumulated errors as the engine uses it (recurrent,
  the previous frame as the guide). Still-photo pairs (two random similarity views, DIS flow) are
  runs of one step. Batches alternate DAVIS runs and still pairs when both are given.
- Loss: Charbonnier plus 10 x squared error on the property (colour: ab / 100; HDR: log
  radiance), or logistic loss on the object's logit (masks), summed over the steps. STPN adds the switchable reverse pass (gate groups
  of opposite directions swapped, from the target's true property back to the aligned previous
  property) weighted 0.1; BTPN is the forward loss alone.
- Adam lr 1e-3, cosine decay to 1e-5, batch 4, crops 128, gradient clip 1, one thread per run (two runs share the 2 cores better than one run with two threads). Resumes from
  `<out>/last.pt`. Deterministic for a seed and thread count.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .stpn import STPN, inside, rgb8_to_lab, warp_replicate
from .stpn_data import open_sequences, open_stills, sample_runs, sample_stills

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MASK_LOGIT = 4.0  # |logit| of a key-frame's one-hot mask (the engine uses the same)


def charbonnier(d: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    e = torch.sqrt(d * d + 1e-6)
    if valid is None:
        return e.mean()
    return (e * valid).sum() / (valid.sum() * d.shape[1] + 1e-6)


def properties(task: str, images: torch.Tensor, objects: torch.Tensor | None, logh: torch.Tensor | None = None):
    """Guidance (N, T, g, h, w) and property (N, T, p, h, w) of a run, in the model's units."""
    n, t = images.shape[:2]
    if task == "hdr":
        assert logh is not None
        return images / 255.0, logh
    flat = images.flatten(0, 1)
    if task == "color":
        lab = rgb8_to_lab(flat).view(n, t, 3, *images.shape[-2:])
        return lab[:, :, :1] / 100.0, lab[:, :, 1:] / 100.0
    if task == "mask":
        assert objects is not None
        return images / 255.0, (objects > 0).float().unsqueeze(2)
    raise ValueError(task)


def run_loss(model: STPN, task: str, batch: dict, variant: str):
    images, flows = batch["images"], batch["flows"]
    guide, prop = properties(task, images, batch.get("objects"), batch.get("logh"))
    steps = images.shape[1] - 1
    if task == "mask":
        state = (prop[:, 0] * 2 - 1) * MASK_LOGIT
    else:
        state = prop[:, 0]
    total = torch.zeros(())
    for t in range(1, steps + 1):
        fl = flows[:, t]
        valid = inside(fl)  # pixels whose flow lands inside the previous frame
        x = warp_replicate(state, fl)
        gkw = warp_replicate(guide[:, t - 1], fl)
        y = model(guide[:, t], gkw, x, valid)
        if task == "mask":
            total = total + F.binary_cross_entropy_with_logits(y, prop[:, t])
        else:
            # Charbonnier (robust, follows the median) plus a squared term: PSNR is a squared-error
            # measure, and large errors (a flow that failed) must not be ignored.
            d = y - prop[:, t]
            total = total + charbonnier(d) + 10 * (d * d).mean()
        if variant == "stpn":
            target_state = (prop[:, t] * 2 - 1) * MASK_LOGIT if task == "mask" else prop[:, t]
            prev_true = warp_replicate((prop[:, t - 1] * 2 - 1) * MASK_LOGIT if task == "mask" else prop[:, t - 1], fl)
            rev = model.reverse(guide[:, t], gkw, target_state, valid)
            if task == "mask":
                total = total + 0.1 * (F.binary_cross_entropy_with_logits(rev, (prev_true > 0).float(), reduction="none") * valid).sum() / (
                    valid.sum() + 1e-6
                )
            else:
                total = total + 0.1 * charbonnier(rev - prev_true, valid)
        state = y
    return total / steps


@torch.no_grad()
def validate(model: STPN, task: str, seqs, frames: int) -> float:
    """Mean error over the first `frames` frames of each sequence, carried from frame 0 (full frame)."""
    model.eval()
    errs = []
    for s in seqs:
        h, w = s.height - s.height % 8, s.width - s.width % 8
        images = torch.tensor(np.ascontiguousarray(s.rgb[:frames, :, :h, :w])).float().unsqueeze(0)
        flows = torch.tensor(np.ascontiguousarray(s.flow[:frames, :, :h, :w])).float().unsqueeze(0) / 64.0
        objects = torch.tensor(np.ascontiguousarray(s.objects[:frames, :h, :w]).astype(np.int64)).unsqueeze(0) if task == "mask" else None
        logh = torch.tensor(np.ascontiguousarray(s.logh[:frames, :, :h, :w])).unsqueeze(0) if task == "hdr" else None
        guide, prop = properties(task, images, objects, logh)
        state = (prop[:, 0] * 2 - 1) * MASK_LOGIT if task == "mask" else prop[:, 0]
        for t in range(1, frames):
            fl = flows[:, t]
            y = model(guide[:, t], warp_replicate(guide[:, t - 1], fl), warp_replicate(state, fl), inside(fl))
            if task == "mask":
                pred = y > 0
                gt = prop[:, t] > 0.5
                inter = (pred & gt).sum().item()
                union = (pred | gt).sum().item()
                errs.append(1 - inter / max(union, 1))
            else:
                errs.append((y - prop[:, t]).abs().mean().item() * 100)
            state = y
    model.train()
    return float(np.mean(errs))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=["color", "mask", "hdr"], required=True)
    p.add_argument("--variant", choices=["stpn", "btpn"], default="stpn")
    p.add_argument("--data", default=os.path.join(HERE, "data-cache"))
    p.add_argument("--train-davis", default="", help="comma-separated DAVIS sequences to train on")
    p.add_argument("--synth", action="store_true", help="also train on data-cache/synth clips (masks)")
    p.add_argument("--stills", action="store_true", help="also train on data-cache/stills pairs (colour)")
    p.add_argument("--val-davis", default="", help="DAVIS sequences to validate on (never trained on)")
    p.add_argument("--hdr", action="store_true", help="train on data-cache/hdr clips (HDR_SPLIT train sources), except --val-hdr")
    p.add_argument("--val-hdr", default="", help="data-cache/hdr clips to validate on (left out of training)")
    p.add_argument("--val-frames", type=int, default=12)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--unroll", type=int, default=2)
    p.add_argument("--hidden", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--export", help="prefix of the exported ONNX pair: PREFIX-front.onnx, PREFIX-back.onnx")
    p.add_argument("--checkpoint-every", type=int, default=200)
    p.add_argument("--val-every", type=int, default=500)
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    davis_root = os.path.join(a.data, "davis")
    train_names = [s for s in a.train_davis.split(",") if s]
    val_names = [s for s in a.val_davis.split(",") if s]
    overlap = set(train_names) & set(val_names)
    if overlap:
        raise SystemExit(f"validation sequences are also trained on: {', '.join(sorted(overlap))}")
    sources = []
    if train_names:
        sources.append(("davis", open_sequences(davis_root, train_names)))
    if a.synth:
        sources.append(("synth", open_sequences(os.path.join(a.data, "synth"))))
    if a.stills:
        if a.task != "color":
            raise SystemExit("--stills: still pairs have no masks (colour only)")
        sources.append(("stills", open_stills(os.path.join(a.data, "stills"))))
    if a.hdr:
        val_hdr = [s for s in a.val_hdr.split(",") if s]
        hdr_root = os.path.join(a.data, "hdr")
        train_hdr = [n for n in sorted(os.listdir(hdr_root)) if os.path.isfile(os.path.join(hdr_root, n, "meta.json")) and n not in val_hdr]
        sources.append(("hdr", open_sequences(hdr_root, train_hdr)))
    if not sources:
        raise SystemExit("nothing to train on: give --train-davis, --synth or --stills")
    val = open_sequences(davis_root, val_names) if val_names else []
    if a.hdr and a.val_hdr:
        val += open_sequences(os.path.join(a.data, "hdr"), [s for s in a.val_hdr.split(",") if s])

    model = STPN(a.task, hidden=a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    step = 0
    log_path = os.path.join(a.out, "log.jsonl")
    last = os.path.join(a.out, "last.pt")
    if os.path.exists(last):
        ck = torch.load(last)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step = ck["step"]
        rng = np.random.default_rng(a.seed + step)
        torch.manual_seed(a.seed + step)
        print(f"resumed at step {step}", flush=True)
    started = time.time()
    running = []
    while step < a.steps:
        kind, data = sources[step % len(sources)]
        if kind == "stills":
            batch = sample_stills(data, rng, a.batch, a.crop)
        else:
            batch = sample_runs(data, rng, a.batch, a.unroll, a.crop, need_objects=a.task == "mask", need_logh=a.task == "hdr")
            if a.task == "mask":
                # One object per run: the masks engine runs each object on its own.
                obj = batch["objects"]
                ids = [int(o[0].max()) if o[0].max() > 0 else 1 for o in obj]
                batch["objects"] = torch.stack([(o == i).long() for o, i in zip(obj, ids)])
        lr = a.lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        loss = run_loss(model, a.task, batch, a.variant)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        running.append(loss.item())
        if step % 50 == 0:
            print(f"step {step} loss {np.mean(running):.4f} lr {lr:.2e} {(time.time() - started) / 50:.2f} s/step", flush=True)
            running = []
            started = time.time()
        if step % a.checkpoint_every == 0 or step == a.steps:
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "args": vars(a)}, last + ".partial")
            os.replace(last + ".partial", last)
        if val and (step % a.val_every == 0 or step == a.steps):
            v = validate(model, a.task, val, a.val_frames)
            with open(log_path, "a") as f:
                f.write(json.dumps({"step": step, "val": v}) + "\n")
            print(f"step {step} validation {'1 - IoU' if a.task == 'mask' else 'mean |error| x100'}: {v:.4f}", flush=True)
    if a.export:
        from .export_stpn import export_stpn

        export_stpn(model.eval(), a.export, {"vprop.variant": a.variant, "vprop.train": json.dumps({k: v for k, v in vars(a).items() if k not in ("out", "export")})})
        print(f"exported {a.export}-front.onnx and {a.export}-back.onnx", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
