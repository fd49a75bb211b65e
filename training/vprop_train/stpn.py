"""Switchable temporal propagation network (TPN / STPN; Liu et al., ECCV 2018) as trained for vprop.

What the paper fixes and what is chosen here (ANCHORS §4.2 says the rest is unverified):
- A guidance network looks at the guidance pair and emits the 3-neighbour gates of the 4-direction
  linear scan (§4.1, `propagate4`): 12 gate maps per hidden channel, groups 0-2 left->right,
  3-5 right->left, 6-8 top->bottom, 9-11 bottom->top. The scan carries the key-frame's property to
  the target frame; the four directions are merged by an element-wise max.
- Guidance: a symmetric U-Net with skip links by summation (the seed's appendix), narrow for a CPU:
  widths 16-32-48-64 at strides 1-2-4-8; the gates come out at stride 2 and the scan runs there.
- Chosen here: the key-frame's property is first carried along the optical flow to the target
  (`x = warp(property_key, flow target->key)`, DIS flow, bilinear, border values replicated so a
  camera pan extends the edge instead of leaving a hole), so the scan corrects the flow's errors
  instead of having to move content; the guidance sees the target's guidance image, the warped key
  guidance, their difference and where the flow left the key frame (`valid`, 1 inside). A property
  encoder (3x3, stride 2) lifts x to the hidden channels; the decoder upsamples the scanned code,
  concatenates x and the guidance's full-resolution features, and adds a 2-layer residual to x, so
  the identity (copy the aligned key property) is easy to represent: a static shot keeps its colours.
- Switchable training ("STPN"): each pair is also run backwards with the gate groups of opposite
  directions swapped (left->right <-> right->left, top->bottom <-> bottom->top): from the target's
  property to the aligned key property, loss weighted 0.1. "BTPN" = the forward loss alone.

Properties (channels P): colour = Lab (a, b) / 100 (guidance: L / 100); HDR = log(H + 0.01) RGB
(guidance: LDR RGB / 255); masks = one object's logit (guidance: RGB / 255), objects run as a batch.

Inference splits the network around the scan: ONNX graph `front` (guide_t, guide_kw, x) -> (gates,
code, feat), the scan in TypeScript (src/ops/linear-scan.ts), ONNX graph `back` (h, x, feat) -> y.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .spn import propagate4, swap_gate_directions

TASKS = {
    # task: (property channels P, guidance channels per frame)
    "color": (2, 1),
    "hdr": (3, 3),
    "mask": (1, 3),
}

def swap_directions(gates: torch.Tensor) -> torch.Tensor:
    """The switchable reverse: gate groups of opposite directions exchanged (lr<->rl, tb<->bt)."""
    return swap_gate_directions(gates, gates.shape[1] // 12)


def conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class GuidanceUNet(nn.Module):
    """Symmetric U-Net, skip links by summation; gates at stride 2, features at stride 1."""

    def __init__(self, cin: int, hidden: int, widths=(16, 32, 48, 64)):
        super().__init__()
        w0, w1, w2, w3 = widths
        self.e0 = conv(cin, w0)
        self.e1 = conv(w0, w1, 2)
        self.e2 = conv(w1, w2, 2)
        self.e3 = conv(w2, w3, 2)
        self.d2 = conv(w3, w2)
        self.d1 = conv(w2, w1)
        self.head = conv(w1, 12 * hidden)
        self.widths = widths

    def forward(self, g: torch.Tensor):
        f0 = F.relu(self.e0(g))
        f1 = F.relu(self.e1(f0))
        f2 = F.relu(self.e2(f1))
        f3 = F.relu(self.e3(f2))
        u2 = F.relu(self.d2(F.interpolate(f3, size=f2.shape[-2:], mode="bilinear", align_corners=False)) + f2)
        u1 = F.relu(self.d1(F.interpolate(u2, size=f1.shape[-2:], mode="bilinear", align_corners=False)) + f1)
        return self.head(u1), f0


class STPN(nn.Module):
    def __init__(self, task: str, hidden: int = 8):
        super().__init__()
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r} ({', '.join(TASKS)})")
        p, gch = TASKS[task]
        self.task, self.p, self.gch, self.hidden = task, p, gch, hidden
        self.guidance = GuidanceUNet(3 * gch + 1, hidden)
        w0 = self.guidance.widths[0]
        self.encode = conv(p + gch, hidden, 2)
        self.dec1 = conv(hidden + p + w0, 16)
        self.dec2 = conv(16, p)
        # Start near the identity: the residual branch outputs ~0.
        nn.init.zeros_(self.dec2.weight)
        nn.init.zeros_(self.dec2.bias)

    def front(self, guide_t: torch.Tensor, guide_kw: torch.Tensor, x: torch.Tensor, valid: torch.Tensor):
        """(guide_t, guide_kw, x, valid) -> gates (N,12h,H/2,W/2), code (N,h,H/2,W/2), feat (N,16,H,W)."""
        gates, feat = self.guidance(torch.cat([guide_t, guide_kw, (guide_t - guide_kw).abs(), valid], 1))
        code = self.encode(torch.cat([x, guide_kw], 1))
        return gates, code, feat

    def back(self, h: torch.Tensor, x: torch.Tensor, feat: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        r = self.dec2(F.relu(self.dec1(torch.cat([up, x, feat], 1))))
        return x + r

    def forward(self, guide_t, guide_kw, x, valid):
        gates, code, feat = self.front(guide_t, guide_kw, x, valid)
        return self.back(propagate4(code, gates), x, feat)

    def reverse(self, guide_t, guide_kw, y, valid):
        """The switchable reverse pass: from the target's property y back to the aligned key property."""
        gates, feat = self.guidance(torch.cat([guide_t, guide_kw, (guide_t - guide_kw).abs(), valid], 1))
        code = self.encode(torch.cat([y, guide_t], 1))
        return self.back(propagate4(code, swap_directions(gates)), y, feat)


# --- colour spaces (equal to src/formats/color.ts) ---------------------------------------------

_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.072175], [0.0193339, 0.119192, 0.9503041]], dtype=torch.float64
)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)


def srgb8_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    e = rgb.double() / 255.0
    return torch.where(e <= 0.04045, e / 12.92, ((e + 0.055) / 1.055) ** 2.4)


def rgb8_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) 0..255 -> (N, 3, H, W) L, a, b (float32), as formats/color.ts rgbToLab."""
    lin = srgb8_to_linear(rgb)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ, lin) / _WHITE.view(1, 3, 1, 1)
    d = 6.0 / 29.0
    f = torch.where(xyz > d**3, xyz.clamp_min(0) ** (1.0 / 3.0), xyz / (3 * d * d) + 4.0 / 29.0)
    L = 116 * f[:, 1] - 16
    a = 500 * (f[:, 0] - f[:, 1])
    b = 200 * (f[:, 1] - f[:, 2])
    return torch.stack([L, a, b], 1).float()


def warp_replicate(src: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Bilinear backward warp with border values replicated: src/ops/warp.ts `warpBilinear(..., 'replicate')`."""
    n, _, h, w = src.shape
    ys = torch.arange(h, dtype=src.dtype, device=src.device).view(1, h, 1)
    xs = torch.arange(w, dtype=src.dtype, device=src.device).view(1, 1, w)
    gx = (xs + flow[:, 1]) * (2.0 / max(w - 1, 1)) - 1.0
    gy = (ys + flow[:, 0]) * (2.0 / max(h - 1, 1)) - 1.0
    return F.grid_sample(src, torch.stack([gx, gy], dim=-1), mode="bilinear", padding_mode="border", align_corners=True)


def inside(flow: torch.Tensor) -> torch.Tensor:
    """1 where the flow's target lies inside the image (all four bilinear taps in), else 0: (N,1,H,W)."""
    n, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1) + flow[:, 0]
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w) + flow[:, 1]
    ok = (ys >= 0) & (ys <= h - 1) & (xs >= 0) & (xs <= w - 1)
    return ok.to(flow.dtype).unsqueeze(1)
