"""Training clips dumped by scripts/export-grfp-data.ts (layout in that file's header).

A clip directory holds memory-mapped arrays: rgb.u8 (T,3,H,W), objects.u8 (T,H,W), classes.u8
(T,H,W, synthetic only), flow.i16 (T,2,H,W; backward flow t -> t-1 as (dy, dx) x 64) and per-frame
estimates est-<kind>.u8 (T,C,H,W; probabilities x 255).

`sample_batch` cuts random sub-clips (T frames, same crop for all frames, GRFP §8.3) and returns
tensors for `stgru.run_clip`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

FLOOR = 1e-4  # the engine's default floor before log (src/engines/flowgru/cell.ts)


@dataclass
class Clip:
    path: str
    name: str
    meta: dict
    frames: int
    height: int
    width: int
    channels: int
    rgb: np.ndarray
    target: np.ndarray  # (T, H, W) ids
    flow: np.ndarray
    est: np.ndarray  # (T, C, H, W) uint8


def _mm(path: str, dtype, shape) -> np.ndarray:
    a = np.memmap(path, dtype=dtype, mode="r")
    n = int(np.prod(shape))
    if a.size != n:
        raise ValueError(f"{path}: {a.size} values, expected {shape} = {n}")
    return a.reshape(shape)


def open_clip(path: str, task: str, estimate: str) -> Clip:
    """task: 'labels' (target = classes.u8) or 'masks' (objects.u8); estimate: e.g. 'labels', 'masks', 'sim', 'bilateral'."""
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    T, H, W = meta["frames"], meta["height"], meta["width"]
    if estimate not in meta["estimates"]:
        raise ValueError(f"{path}: no per-frame estimates '{estimate}' (have {', '.join(meta['estimates']) or 'none'})")
    C = meta["estimates"][estimate]["channels"]
    tgt_file = "classes.u8" if task == "labels" else "objects.u8"
    return Clip(
        path=path,
        name=os.path.basename(path),
        meta=meta,
        frames=T,
        height=H,
        width=W,
        channels=C,
        rgb=_mm(os.path.join(path, "rgb.u8"), np.uint8, (T, 3, H, W)),
        target=_mm(os.path.join(path, tgt_file), np.uint8, (T, H, W)),
        flow=_mm(os.path.join(path, "flow.i16"), np.int16, (T, 2, H, W)),
        est=_mm(os.path.join(path, f"est-{estimate}.u8"), np.uint8, (T, C, H, W)),
    )


def open_set(root: str, task: str, estimate: str, names: list[str] | None = None) -> list[Clip]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such data set (run scripts/export-grfp-data.ts first)")
    out = []
    for name in sorted(os.listdir(root)):
        p = os.path.join(root, name)
        if name.endswith(".partial") or not os.path.isfile(os.path.join(p, "meta.json")):
            continue
        if names is not None and name not in names:
            continue
        out.append(open_clip(p, task, estimate))
    if names is not None:
        missing = sorted(set(names) - {c.name for c in out})
        if missing:
            raise FileNotFoundError(f"{root}: clips not found: {', '.join(missing)}")
    if not out:
        raise FileNotFoundError(f"{root}: no complete clips")
    return out


def estimate_scores(est_u8: np.ndarray) -> np.ndarray:
    """uint8 probabilities -> log(max(p, FLOOR)) scores (what the engine feeds the cell)."""
    p = est_u8.astype(np.float32) / 255.0
    p /= np.maximum(p.sum(axis=-3, keepdims=True), 1e-6)
    return np.log(np.maximum(p, FLOOR))


def cut(clip: Clip, t0: int, T: int, y0: int, x0: int, h: int, w: int, flip: bool = False):
    """Sub-clip frames t0..t0+T-1, crop (y0, x0, h, w); returns numpy arrays."""
    sl = (slice(t0, t0 + T), slice(None), slice(y0, y0 + h), slice(x0, x0 + w))
    rgb = np.asarray(clip.rgb[sl], dtype=np.float32)
    flow = np.asarray(clip.flow[sl], dtype=np.float32) / 64.0
    xs = estimate_scores(np.asarray(clip.est[sl]))
    tgt = np.asarray(clip.target[t0 : t0 + T, y0 : y0 + h, x0 : x0 + w], dtype=np.int64)
    if flip:
        rgb, flow, xs, tgt = rgb[..., ::-1], flow[..., ::-1].copy(), xs[..., ::-1], tgt[..., ::-1]
        flow[:, 1] *= -1
    return np.ascontiguousarray(rgb), np.ascontiguousarray(flow), np.ascontiguousarray(xs), np.ascontiguousarray(tgt)


def sample_batch(clips: list[Clip], rng: np.random.Generator, batch: int, T: int, crop: int, start: str = "mix", flip: bool = True):
    """Random training batch: all elements share the channel count (clips grouped by C).

    start: 'perframe' (p0 = the per-frame estimate at frame 0, GRFP's protocol), 'gt' (p0 = the
    one-hot ground truth, a key-frame as the session injects it) or 'mix' (each element 50/50).
    Returns dict of tensors: images (N,T,3,h,w), flows (N,T,2,h,w), xs (N,T,C,h,w), target (N,T,h,w), p0 (N,C,h,w).
    """
    by_c: dict[int, list[Clip]] = {}
    for c in clips:
        if c.frames >= T:
            by_c.setdefault(c.channels, []).append(c)
    if not by_c:
        raise ValueError(f"no clip has {T} frames")
    keys = sorted(by_c)
    weights = np.array([sum(c.frames for c in by_c[k]) for k in keys], dtype=np.float64)
    C = keys[rng.choice(len(keys), p=weights / weights.sum())]
    group = by_c[C]
    gw = np.array([c.frames - T + 1 for c in group], dtype=np.float64)
    items = []
    for _ in range(batch):
        clip = group[rng.choice(len(group), p=gw / gw.sum())]
        h = min(crop, clip.height)
        w = min(crop, clip.width)
        t0 = int(rng.integers(0, clip.frames - T + 1))
        y0 = int(rng.integers(0, clip.height - h + 1))
        x0 = int(rng.integers(0, clip.width - w + 1))
        items.append(cut(clip, t0, T, y0, x0, h, w, flip=flip and bool(rng.integers(0, 2))))
    hs = {it[0].shape[-2] for it in items}
    ws = {it[0].shape[-1] for it in items}
    if len(hs) > 1 or len(ws) > 1:  # clips smaller than the crop: cut all to the smallest
        h, w = min(hs), min(ws)
        items = [tuple(a[..., :h, :w] for a in it) for it in items]
    images = torch.from_numpy(np.stack([it[0] for it in items]))
    flows = torch.from_numpy(np.stack([it[1] for it in items]))
    xs = torch.from_numpy(np.stack([it[2] for it in items]))
    target = torch.from_numpy(np.stack([it[3] for it in items]))
    p_est = torch.softmax(xs[:, 0], dim=1)
    p_gt = torch.nn.functional.one_hot(target[:, 0], C).permute(0, 3, 1, 2).float()
    if start == "perframe":
        use_gt = torch.zeros(len(items), dtype=torch.bool)
    elif start == "gt":
        use_gt = torch.ones(len(items), dtype=torch.bool)
    elif start == "mix":
        use_gt = torch.from_numpy(rng.integers(0, 2, size=len(items)).astype(bool))
    else:
        raise ValueError(f"unknown start mode {start!r}")
    p0 = torch.where(use_gt.view(-1, 1, 1, 1), p_gt, p_est)
    return {"images": images, "flows": flows, "xs": xs, "target": target, "p0": p0, "channels": C}
