"""MaskTrack-style propagation network of the `maskprop` engine (issue 10, ANCHORS §6).

Per object and target frame: a region of interest around the object's coarse probability (the
previous frame's probability warped along backward flow, optionally fused with the appearance
model), the RGB frame and that probability cropped to it and resized to CROP x CROP, a small
U-Net that returns the object's logit in the crop, resized back and pasted into the frame
(outside the region: absent). The engine does the same in TypeScript (src/engines/maskprop/
propnet.ts); `roi_box`, the crop and the paste here are its reference and the parity fixture
checks both.

Network input (N, 4, S, S): RGB / 127.5 - 1 (3 channels), 2 p - 1 (the coarse probability).
Output (N, 1, S, S): logits. The input probability's clamped logit is added to the output with a
learned scale, so the net learns a correction of its input (MaskTrack refines a given mask).

Training pairs (MaskTrack §3.1's recipe on video): the previous frame's true mask, deformed
(dilation / erosion, a smooth non-rigid displacement, blur, a missing or spurious blob) and then
warped along the real backward flow, or the target's own true mask deformed by a small affine
transform; the target is the true mask of the frame. Clips are the dumps of
scripts/export-grfp-data.ts (DAVIS at the engine's 480x270 working size, synthetic scenes).
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .stgru import warp

CROP = 128
MARGIN = 0.25  # each side, as a fraction of the box's side (the box grows 1.5x)
MIN_SIDE = 24  # pixels of the working frame
LOGIT_CLAMP = 4.0  # the engine's MASK_LOGIT
THRESHOLD = 0.5


def roi_box(prob: np.ndarray, margin: float = MARGIN, min_side: int = MIN_SIDE) -> tuple[int, int, int, int] | None:
    """Region of interest (y0, x0, y1, x1), end exclusive, of a probability plane (H, W).

    The bounding box of prob > 0.5, each side moved out by `margin` x its extent (floor / ceil of
    float64 values), grown about its centre to at least `min_side` (within the frame), clipped to
    the frame. None when no pixel exceeds 0.5. TypeScript: `roiBox` in src/engines/maskprop/propnet.ts.
    """
    H, W = prob.shape
    on = prob > THRESHOLD
    rows = np.flatnonzero(on.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(on.any(axis=0))
    return _grow(int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1, H, W, margin, min_side)


def _grow(y0: int, x0: int, y1: int, x1: int, H: int, W: int, margin: float, min_side: int) -> tuple[int, int, int, int]:
    def axis(a0: int, a1: int, n: int) -> tuple[int, int]:
        ext = a1 - a0
        lo = math.floor(a0 - margin * ext)
        hi = math.ceil(a1 + margin * ext)
        side = min(max(hi - lo, min_side), n)
        if hi - lo < side:
            c2 = lo + hi  # twice the centre
            lo = (c2 - side) // 2
            hi = lo + side
        if lo < 0:
            hi -= lo
            lo = 0
        if hi > n:
            lo -= hi - n
            hi = n
        return max(lo, 0), min(hi, n)

    a, b = axis(y0, y1, H)
    c, d = axis(x0, x1, W)
    return a, c, b, d


def crop_resize(x: torch.Tensor, box: tuple[int, int, int, int], size: int = CROP) -> torch.Tensor:
    """x (N, C, H, W) cropped to box and resized bilinearly (pixel centres, as ops/resize.ts) to size x size."""
    y0, x0, y1, x1 = box
    c = x[:, :, y0:y1, x0:x1]
    if c.shape[-2:] == (size, size):
        return c.clone()
    return F.interpolate(c, size=(size, size), mode="bilinear", align_corners=False)


def paste(logit: torch.Tensor, box: tuple[int, int, int, int], H: int, W: int, outside: float = -LOGIT_CLAMP) -> torch.Tensor:
    """Crop logits (N, 1, S, S) resized to the box and placed into an (N, 1, H, W) plane of `outside`."""
    y0, x0, y1, x1 = box
    out = torch.full((logit.shape[0], 1, H, W), outside, dtype=logit.dtype)
    h, w = y1 - y0, x1 - x0
    r = logit if logit.shape[-2:] == (h, w) else F.interpolate(logit, size=(h, w), mode="bilinear", align_corners=False)
    out[:, :, y0:y1, x0:x1] = r
    return out


def net_input(rgb_crop: torch.Tensor, prob_crop: torch.Tensor) -> torch.Tensor:
    """(N, 3, S, S) RGB 0..255 and (N, 1, S, S) probabilities -> the network's (N, 4, S, S) input."""
    return torch.cat([rgb_crop / 127.5 - 1.0, 2.0 * prob_crop - 1.0], dim=1)


def _conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU(inplace=True))


class PropNet(nn.Module):
    """Symmetric U-Net (skips by summation), widths 16-32-48-64, stride 8 at the bottom with a dilated pair."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 48, 64)):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.widths = widths
        self.e1 = nn.Sequential(_conv(4, w1), _conv(w1, w1))
        self.e2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.e3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.e4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4, dilation=2), _conv(w4, w4, dilation=4))
        self.l3 = nn.Conv2d(w4, w3, 1)
        self.d3 = _conv(w3, w3)
        self.l2 = nn.Conv2d(w3, w2, 1)
        self.d2 = _conv(w2, w2)
        self.l1 = nn.Conv2d(w2, w1, 1)
        self.d1 = _conv(w1, w1)
        self.head = nn.Conv2d(w1, 1, 3, padding=1)
        self.skip = nn.Parameter(torch.tensor(0.5))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.head.weight, std=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f1 = self.e1(x)
        f2 = self.e2(f1)
        f3 = self.e3(f2)
        f4 = self.e4(f3)
        u3 = self.d3(F.interpolate(self.l3(f4), size=f3.shape[-2:], mode="bilinear", align_corners=False) + f3)
        u2 = self.d2(F.interpolate(self.l2(u3), size=f2.shape[-2:], mode="bilinear", align_corners=False) + f2)
        u1 = self.d1(F.interpolate(self.l1(u2), size=f1.shape[-2:], mode="bilinear", align_corners=False) + f1)
        p = (x[:, 3:4] + 1.0) * 0.5
        prior = torch.log(p.clamp(1e-6, 1 - 1e-6) / (1 - p).clamp(1e-6, 1)).clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
        return self.head(u1) + self.skip * prior


# ---------------------------------------------------------------------------------------------
# Clips
# ---------------------------------------------------------------------------------------------


@dataclass
class MaskClip:
    name: str
    rgb: np.ndarray  # (T, 3, H, W) uint8
    objects: np.ndarray  # (T, H, W) uint8 ids
    flow: np.ndarray  # (T, 2, H, W) int16 (dy, dx) x 64, backward t -> t-1

    @property
    def frames(self) -> int:
        return self.rgb.shape[0]


def open_mask_clip(path: str) -> MaskClip:
    with open(os.path.join(path, "meta.json")) as f:
        meta = json.load(f)
    T, H, W = meta["frames"], meta["height"], meta["width"]

    def mm(name, dtype, shape):
        a = np.memmap(os.path.join(path, name), dtype=dtype, mode="r")
        if a.size != int(np.prod(shape)):
            raise ValueError(f"{path}/{name}: {a.size} values, expected {shape}")
        return a.reshape(shape)

    return MaskClip(os.path.basename(path), mm("rgb.u8", np.uint8, (T, 3, H, W)), mm("objects.u8", np.uint8, (T, H, W)), mm("flow.i16", np.int16, (T, 2, H, W)))


def open_clips(root: str, names: list[str] | None = None) -> list[MaskClip]:
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: no clip folder (run scripts/export-grfp-data.ts, see training/scripts/train-propnet.sh)")
    all_names = sorted(n for n in os.listdir(root) if os.path.isfile(os.path.join(root, n, "meta.json")))
    if names is not None:
        missing = [n for n in names if n not in all_names]
        if missing:
            raise FileNotFoundError(f"{root}: no clip {', '.join(missing)}")
        all_names = names
    return [open_mask_clip(os.path.join(root, n)) for n in all_names]


# ---------------------------------------------------------------------------------------------
# Coarse masks (MaskTrack's deformations)
# ---------------------------------------------------------------------------------------------


def _morph(m: torch.Tensor, r: int) -> torch.Tensor:
    if r == 0:
        return m
    k = 2 * abs(r) + 1
    if r > 0:
        return F.max_pool2d(m, k, stride=1, padding=abs(r))
    return -F.max_pool2d(-m, k, stride=1, padding=abs(r))


def _displace(m: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    return warp(m, torch.stack([dy, dx], dim=0).unsqueeze(0))


def _extent(m: np.ndarray) -> tuple[float, float, float, float]:
    ys, xs = np.nonzero(m > 0.5)
    if ys.size == 0:
        return 0.0, 0.0, 0.0, 0.0
    return float(ys.mean()), float(xs.mean()), float(ys.max() - ys.min() + 1), float(xs.max() - xs.min() + 1)


def _ellipse(H: int, W: int, cy: float, cx: float, ry: float, rx: float) -> torch.Tensor:
    ys = torch.arange(H, dtype=torch.float32).view(H, 1)
    xs = torch.arange(W, dtype=torch.float32).view(1, W)
    return ((((ys - cy) / max(ry, 1.0)) ** 2 + ((xs - cx) / max(rx, 1.0)) ** 2) <= 1.0).float().view(1, 1, H, W)


def deform(mask: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> torch.Tensor:
    """A plausible coarse estimate of `mask` (H, W) {0,1}: (1, 1, H, W) probabilities in [0, 1]."""
    H, W = mask.shape
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)).view(1, 1, H, W)
    cy, cx, eh, ew = _extent(mask)
    size = max(math.sqrt(max(eh * ew, 1.0)), 4.0)
    # Smooth non-rigid displacement: a coarse random field upsampled.
    amp = rng.uniform(0.0, 0.06) * size * strength
    if amp > 0.2:
        g = torch.from_numpy(rng.standard_normal((1, 2, 5, 5)).astype(np.float32)) * amp
        d = F.interpolate(g, size=(H, W), mode="bicubic", align_corners=True)[0]
        m = _displace(m, d[0], d[1])
    r = int(round(rng.uniform(-0.06, 0.06) * size * strength))
    r = max(-12, min(12, r))
    m = _morph((m > 0.5).float(), r)
    u = rng.random()
    if u < 0.12 * strength and eh > 0:
        # A missing part: an ellipse inside the object's extent erased.
        m = m * (1 - _ellipse(H, W, cy + rng.uniform(-0.4, 0.4) * eh, cx + rng.uniform(-0.4, 0.4) * ew, rng.uniform(0.1, 0.35) * eh, rng.uniform(0.1, 0.35) * ew))
    elif u < 0.24 * strength and eh > 0:
        # A spurious blob near the object.
        m = torch.maximum(m, _ellipse(H, W, cy + rng.uniform(-0.8, 0.8) * eh, cx + rng.uniform(-0.8, 0.8) * ew, rng.uniform(0.05, 0.25) * eh, rng.uniform(0.05, 0.25) * ew))
    b = int(rng.integers(0, 3)) * 2 + 1
    if b > 1:
        m = F.avg_pool2d(m, b, stride=1, padding=b // 2, count_include_pad=False)
    return m.clamp(0, 1)


def affine_jitter(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """MaskTrack's affine deformation: scale ±7 %, shift ±6 % of the extent, rotation ±6° about the centroid."""
    H, W = mask.shape
    cy, cx, eh, ew = _extent(mask)
    if eh == 0:
        return mask.astype(np.float32)
    s = rng.uniform(0.93, 1.07)
    a = math.radians(rng.uniform(-6, 6))
    ty, tx = rng.uniform(-0.06, 0.06) * eh, rng.uniform(-0.06, 0.06) * ew
    ys = torch.arange(H, dtype=torch.float32).view(H, 1).expand(H, W)
    xs = torch.arange(W, dtype=torch.float32).view(1, W).expand(H, W)
    # Inverse map: output (y, x) samples the source at R^-1 (p - c - t) / s + c.
    py, px = ys - cy - ty, xs - cx - tx
    ca, sa = math.cos(a), math.sin(a)
    sy = (ca * py - sa * px) / s + cy
    sx = (sa * py + ca * px) / s + cx
    m = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32)).view(1, 1, H, W)
    out = _displace(m, sy - ys, sx - xs)
    return (out[0, 0].numpy() > 0.5).astype(np.float32)


def coarse_previous(clip: MaskClip, t: int, obj: int, rng: np.random.Generator, strength: float = 1.0) -> torch.Tensor:
    """The object's coarse probability at frame t (1, 1, H, W): a deformed true mask of t-1 warped along the flow t -> t-1 (70 %),
    or the affinely jittered true mask of t, deformed (30 %)."""
    if rng.random() < 0.7:
        prev = (clip.objects[t - 1] == obj).astype(np.float32)
        m = deform(prev, rng, strength)
        fl = torch.from_numpy(np.asarray(clip.flow[t], dtype=np.float32) / 64.0).unsqueeze(0)
        return warp(m, fl).clamp(0, 1)
    cur = affine_jitter((clip.objects[t] == obj).astype(np.float32), rng)
    return deform(cur, rng, strength)


def _clip_example(clips: list[MaskClip], rng: np.random.Generator, strength: float):
    """(rgb (1, 3, H, W) 0..255, true mask (1, 1, H, W), coarse probability (1, 1, H, W)) from a clip, or None."""
    clip = clips[int(rng.integers(len(clips)))]
    t = int(rng.integers(1, clip.frames))
    ids = np.unique(np.asarray(clip.objects[t - 1]))
    ids = ids[ids > 0]
    if ids.size == 0:
        return None
    obj = int(ids[rng.integers(ids.size)])
    coarse = coarse_previous(clip, t, obj, rng, strength)
    H, W = coarse.shape[-2:]
    rgb = torch.from_numpy(np.asarray(clip.rgb[t], dtype=np.float32)).unsqueeze(0)
    gt = torch.from_numpy((np.asarray(clip.objects[t]) == obj).astype(np.float32)).view(1, 1, H, W)
    return rgb, gt, coarse


class Composites:
    """Still composites (MaskTrack trains on still images with masks; we have photographs without
    masks): a region of one photograph pasted onto another through a shape — a true object mask of
    a training clip moved and rescaled, or a random smooth blob — with a feathered edge; the coarse
    mask is the shape affinely jittered and deformed. Teaches boundaries between textures that no
    training sequence shows."""

    def __init__(self, photos: list[np.ndarray], shapes: list[MaskClip], height: int = 270, width: int = 480):
        if len(photos) < 2:
            raise ValueError("composites need at least two photographs")
        self.photos, self.shapes, self.H, self.W = photos, shapes, height, width

    def _crop(self, rng: np.random.Generator) -> np.ndarray:
        img = self.photos[int(rng.integers(len(self.photos)))]
        _, h, w = img.shape
        y0, x0 = int(rng.integers(0, h - self.H + 1)), int(rng.integers(0, w - self.W + 1))
        out = img[:, y0 : y0 + self.H, x0 : x0 + self.W].astype(np.float32)
        return out[:, :, ::-1].copy() if rng.random() < 0.5 else out

    def _shape(self, rng: np.random.Generator) -> np.ndarray:
        H, W = self.H, self.W
        if self.shapes and rng.random() < 0.7:
            clip = self.shapes[int(rng.integers(len(self.shapes)))]
            m = np.asarray(clip.objects[int(rng.integers(clip.frames))])
            ids = np.unique(m)
            ids = ids[ids > 0]
            if ids.size:
                m = m == ids[rng.integers(ids.size)]
                ys, xs = np.nonzero(m)
                m = m[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
            else:
                m = None
        else:
            m = None
        if m is None:
            g = torch.from_numpy(rng.standard_normal((1, 1, 4, 4)).astype(np.float32))
            b = F.interpolate(g, size=(64, 64), mode="bicubic", align_corners=True)[0, 0]
            b = b - 1.5 * torch.from_numpy(np.hypot(*np.meshgrid(np.linspace(-1, 1, 64), np.linspace(-1, 1, 64))).astype(np.float32))
            m = (b > 0).numpy().astype(np.float32)
            if m.sum() < 20:
                m[16:48, 16:48] = 1
        h = int(np.clip(rng.uniform(0.2, 0.85) * H, 8, H))
        w = int(np.clip(h * m.shape[1] / max(m.shape[0], 1) * rng.uniform(0.75, 1.33), 8, W))
        r = F.interpolate(torch.from_numpy(m).view(1, 1, *m.shape), size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy() > 0.5
        out = np.zeros((H, W), dtype=np.float32)
        y0 = int(rng.integers(-h // 4, H - 3 * h // 4 + 1))
        x0 = int(rng.integers(-w // 4, W - 3 * w // 4 + 1))
        ya, xa = max(0, y0), max(0, x0)
        yb, xb = min(H, y0 + h), min(W, x0 + w)
        out[ya:yb, xa:xb] = r[ya - y0 : yb - y0, xa - x0 : xb - x0]
        return out

    def example(self, rng: np.random.Generator, strength: float):
        shape = self._shape(rng)
        if shape.sum() < 16:
            return None
        bg, fg = self._crop(rng), self._crop(rng)
        # Different lighting on the object's photograph.
        fg = np.clip(fg * rng.uniform(0.7, 1.3) + rng.uniform(-30, 30), 0, 255)
        m = torch.from_numpy(shape).view(1, 1, self.H, self.W)
        alpha = F.avg_pool2d(m, 3, stride=1, padding=1, count_include_pad=False)
        rgb = alpha * torch.from_numpy(fg).unsqueeze(0) + (1 - alpha) * torch.from_numpy(bg).unsqueeze(0)
        coarse = deform(affine_jitter(shape, rng), rng, strength)
        return rgb, m, coarse


# The photographs of STPN's still pairs (scripts/export-stpn-data.ts STILL_PHOTOS; Debian's
# plasma-workspace-wallpapers and mate-backgrounds, GPL-2+, training/README.md).
PHOTOS = [f"/usr/share/wallpapers/{n}" for n in ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")] + [
    f"/usr/share/backgrounds/mate/nature/{n}.jpg" for n in ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")
]


def photo_file(entry: str) -> str:
    """A plasma wallpaper folder holds several sizes: the one closest to 1280 px wide (as export-stpn-data.ts)."""
    if entry.endswith((".jpg", ".png")):
        return entry
    d = os.path.join(entry, "contents", "images")
    if not os.path.isdir(d):
        raise FileNotFoundError(f"{entry}: missing (apt-get install plasma-workspace-wallpapers mate-backgrounds)")
    sized = [(abs(int(f.split("x")[0]) - 1280), f) for f in os.listdir(d) if f.split("x")[0].isdigit()]
    if not sized:
        raise FileNotFoundError(f"{d}: no sized images")
    return os.path.join(d, min(sized)[1])


def load_photos(paths: list[str], long_side: int = 640) -> list[np.ndarray]:
    """Photographs as (3, H, W) uint8, the longer side resized to `long_side` (PIL, bilinear)."""
    from PIL import Image

    out = []
    for p in (photo_file(e) for e in paths):
        if not os.path.exists(p):
            raise FileNotFoundError(f"{p}: missing (apt-get install plasma-workspace-wallpapers mate-backgrounds)")
        im = Image.open(p).convert("RGB")
        s = long_side / max(im.size)
        im = im.resize((max(480, round(im.size[0] * s)), max(270, round(im.size[1] * s))), Image.BILINEAR)
        out.append(np.asarray(im).transpose(2, 0, 1).copy())
    return out


def sample(source, rng: np.random.Generator, jitter: bool = True):
    """One training example from a list of clips or a `Composites`: (net input (4, S, S), target (1, S, S)) or None."""
    # A quarter nearly undeformed (the net must keep a good mask), the rest mild to MaskTrack-strong.
    strength = rng.uniform(0.0, 0.15) if rng.random() < 0.25 else rng.uniform(0.2, 1.0)
    ex = source.example(rng, strength) if isinstance(source, Composites) else _clip_example(source, rng, strength)
    if ex is None:
        return None
    rgb, gt, coarse = ex
    H, W = coarse.shape[-2:]
    margin = rng.uniform(0.15, 0.45) if jitter else MARGIN
    box = roi_box(coarse[0, 0].numpy(), margin)
    if box is None:
        return None
    if jitter:
        y0, x0, y1, x1 = box
        dy = int(round(rng.uniform(-0.1, 0.1) * (y1 - y0)))
        dx = int(round(rng.uniform(-0.1, 0.1) * (x1 - x0)))
        y0, y1 = max(0, y0 + dy), min(H, y1 + dy)
        x0, x1 = max(0, x0 + dx), min(W, x1 + dx)
        if y1 - y0 < 8 or x1 - x0 < 8:
            return None
        box = (y0, x0, y1, x1)
    x = net_input(crop_resize(rgb, box), crop_resize(coarse, box))[0]
    y = crop_resize(gt, box)[0]
    if jitter:
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        # Brightness / contrast jitter of the RGB channels.
        c, b = rng.uniform(0.8, 1.2), rng.uniform(-0.1, 0.1)
        x[:3] = (x[:3] * c + b).clamp(-1, 1)
    return x, y


def batch(sources: list[tuple[object, float]], rng: np.random.Generator, n: int):
    xs, ys = [], []
    weights = np.array([w for _, w in sources], dtype=np.float64)
    weights /= weights.sum()
    while len(xs) < n:
        s = sample(sources[int(rng.choice(len(sources), p=weights))][0], rng)
        if s is None:
            continue
        xs.append(s[0])
        ys.append(s[1])
    return torch.stack(xs), torch.stack(ys)


def loss_fn(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy plus (1 - soft IoU) per sample: J is what is scored."""
    bce = F.binary_cross_entropy_with_logits(logit, target)
    p = torch.sigmoid(logit)
    inter = (p * target).flatten(1).sum(1)
    union = (p + target - p * target).flatten(1).sum(1)
    soft_iou = (inter + 1) / (union + 1)
    return bce + (1 - soft_iou).mean()


# ---------------------------------------------------------------------------------------------
# Closed loop (the engine without its appearance model)
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def refine(net: PropNet | None, rgb: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """One object's logits over the frame (1, 1, H, W) from its coarse probability (the engine's step).

    net None = the coarse probability's clamped logit (the warp-only baseline)."""
    H, W = coarse.shape[-2:]
    if net is None:
        return torch.log(coarse.clamp(1e-6, 1 - 1e-6) / (1 - coarse).clamp(1e-6, 1)).clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
    box = roi_box(coarse[0, 0].numpy())
    if box is None:
        return torch.full((1, 1, H, W), -LOGIT_CLAMP)
    z = net(net_input(crop_resize(rgb, box), crop_resize(coarse, box)))
    return paste(z.clamp(-LOGIT_CLAMP, LOGIT_CLAMP), box, H, W)


def jaccard(pred: np.ndarray, gt: np.ndarray) -> float:
    union = np.logical_or(pred, gt).sum()
    return 1.0 if union == 0 else float(np.logical_and(pred, gt).sum() / union)


@torch.no_grad()
def closed_loop(net: PropNet | None, clip: MaskClip, obj: int = 1, every: int = 1) -> float:
    """Mean J over frames 1..T-2 (ANCHORS §1.3) of the object propagated from frame 0's true mask:
    previous probability warped along the flow, refined, repeated."""
    T = clip.frames
    p = torch.from_numpy((np.asarray(clip.objects[0]) == obj).astype(np.float32)).unsqueeze(0).unsqueeze(0)
    js = []
    for t in range(1, T):
        fl = torch.from_numpy(np.asarray(clip.flow[t], dtype=np.float32) / 64.0).unsqueeze(0)
        coarse = warp(p, fl).clamp(0, 1)
        rgb = torch.from_numpy(np.asarray(clip.rgb[t], dtype=np.float32)).unsqueeze(0)
        z = refine(net, rgb, coarse)
        p = torch.sigmoid(z)
        if t < T - 1 and t % every == 0:
            js.append(jaccard(p[0, 0].numpy() > THRESHOLD, np.asarray(clip.objects[t]) == obj))
    return float(np.mean(js)) if js else 1.0
