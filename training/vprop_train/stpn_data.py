"""Training samples for the STPN models, from the dumps under training/data-cache:

- `davis/<seq>/` (scripts/export-grfp-data.ts davis): rgb.u8 (T,3,H,W), flow.i16 (T,2,H,W) with
  flow[t] = DIS flow t -> t-1 as (dy, dx) x 64, objects.u8 (T,H,W); 427x240.
- `stills/<photo>/` (scripts/export-stpn-data.ts stills): key.u8 / target.u8 (P,3,S,S), flow.i16
  (P,2,S,S) target -> key.
- `synth/<clip>/` (scripts/export-grfp-data.ts synth): rgb, flow, objects, as DAVIS (masks).

A sample is a short run of frames: images (N, L+1, 3, h, w) 0..255, flows (N, L+1, 2, h, w) with
flows[:, t] from frame t to t-1 (flows[:, 0] unused), objects (N, L+1, h, w) ids. Still pairs are
runs of length 1 (key, target). Crops are random, shared by all frames of a run; horizontal flips
negate dx.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class Sequence:
    name: str
    frames: int
    height: int
    width: int
    rgb: np.ndarray  # (T, 3, H, W) uint8
    flow: np.ndarray  # (T, 2, H, W) int16 x64, t -> t-1
    objects: np.ndarray | None  # (T, H, W) uint8
    logh: np.ndarray | None = None  # (T, 3, H, W) float32 log(H + 0.01), HDR clips


@dataclass
class StillPairs:
    name: str
    pairs: int
    size: int
    key: np.ndarray  # (P, 3, S, S)
    target: np.ndarray
    flow: np.ndarray  # (P, 2, S, S) target -> key


def _mm(path: str, dtype, shape) -> np.ndarray:
    a = np.memmap(path, dtype=dtype, mode="r")
    if a.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {a.size} values, expected {shape}")
    return a.reshape(shape)


def open_sequence(path: str) -> Sequence:
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    T, H, W = meta["frames"], meta["height"], meta["width"]
    objects = os.path.join(path, "objects.u8")
    logh = os.path.join(path, "logh.f32")
    return Sequence(
        name=os.path.basename(path),
        frames=T,
        height=H,
        width=W,
        rgb=_mm(os.path.join(path, "rgb.u8"), np.uint8, (T, 3, H, W)),
        flow=_mm(os.path.join(path, "flow.i16"), np.int16, (T, 2, H, W)),
        objects=_mm(objects, np.uint8, (T, H, W)) if os.path.exists(objects) else None,
        logh=_mm(logh, np.float32, (T, 3, H, W)) if os.path.exists(logh) else None,
    )


def open_sequences(root: str, names: list[str] | None = None) -> list[Sequence]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no such data set (run the scripts/export-*-data.ts dump first)")
    found = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "meta.json")))
    if names is not None:
        missing = sorted(set(names) - set(found))
        if missing:
            raise FileNotFoundError(f"{root}: missing {', '.join(missing)}")
        found = [n for n in found if n in names]
    return [open_sequence(os.path.join(root, n)) for n in found]


def open_stills(root: str) -> list[StillPairs]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no still pairs (run scripts/export-stpn-data.ts stills)")
    out = []
    for n in sorted(os.listdir(root)):
        p = os.path.join(root, n)
        if not os.path.isfile(os.path.join(p, "meta.json")):
            continue
        with open(os.path.join(p, "meta.json")) as f:
            meta = json.load(f)
        P, S = meta["pairs"], meta["size"]
        out.append(
            StillPairs(
                name=n,
                pairs=P,
                size=S,
                key=_mm(os.path.join(p, "key.u8"), np.uint8, (P, 3, S, S)),
                target=_mm(os.path.join(p, "target.u8"), np.uint8, (P, 3, S, S)),
                flow=_mm(os.path.join(p, "flow.i16"), np.int16, (P, 2, S, S)),
            )
        )
    return out


def _crop_flip(arrs, y0, x0, h, w, flip):
    out = []
    for a, kind in arrs:
        c = a[..., y0 : y0 + h, x0 : x0 + w]
        if flip:
            c = c[..., ::-1]
        c = np.ascontiguousarray(c)
        if kind == "flow":
            c = c.astype(np.float32) / 64.0
            if flip:
                c[..., 1, :, :] *= -1
        out.append(c)
    return out


def sample_runs(seqs: list[Sequence], rng: np.random.Generator, batch: int, length: int, crop: int, need_objects: bool = False, need_logh: bool = False):
    """Runs of length+1 consecutive frames from random sequences; returns torch tensors."""
    imgs, flows, objs, loghs = [], [], [], []
    for _ in range(batch):
        s = seqs[int(rng.integers(len(seqs)))]
        t0 = int(rng.integers(0, s.frames - length))
        h, w = min(crop, s.height), min(crop, s.width)
        y0 = int(rng.integers(0, s.height - h + 1))
        x0 = int(rng.integers(0, s.width - w + 1))
        flip = bool(rng.integers(2))
        arrs = [(s.rgb[t0 : t0 + length + 1], "img"), (s.flow[t0 : t0 + length + 1], "flow")]
        if need_objects:
            arrs.append((s.objects[t0 : t0 + length + 1], "obj"))
        if need_logh:
            arrs.append((s.logh[t0 : t0 + length + 1], "logh"))
        cut = _crop_flip(arrs, y0, x0, h, w, flip)
        imgs.append(cut[0])
        flows.append(cut[1])
        if need_objects:
            objs.append(cut[2])
        if need_logh:
            loghs.append(cut[-1])
    out = {"images": torch.tensor(np.stack(imgs)).float(), "flows": torch.tensor(np.stack(flows))}
    if need_objects:
        out["objects"] = torch.tensor(np.stack(objs).astype(np.int64))
    if need_logh:
        out["logh"] = torch.tensor(np.stack(loghs))
    return out


def sample_stills(stills: list[StillPairs], rng: np.random.Generator, batch: int, crop: int):
    """Still pairs as runs of length 1: images (N, 2, 3, h, w), flows (N, 2, 2, h, w) (index 1 = target -> key)."""
    imgs, flows = [], []
    for _ in range(batch):
        s = stills[int(rng.integers(len(stills)))]
        p = int(rng.integers(s.pairs))
        h = w = min(crop, s.size)
        y0 = int(rng.integers(0, s.size - h + 1))
        x0 = int(rng.integers(0, s.size - w + 1))
        flip = bool(rng.integers(2))
        key, target, flow = _crop_flip([(s.key[p], "img"), (s.target[p], "img"), (s.flow[p], "flow")], y0, x0, h, w, flip)
        imgs.append(np.stack([key, target]))
        flows.append(np.stack([np.zeros_like(flow), flow]))
    return {"images": torch.tensor(np.stack(imgs)).float(), "flows": torch.tensor(np.stack(flows))}
