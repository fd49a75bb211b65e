"""STGRU cells of GRFP (Nilsson & Sminchisescu, CVPR 2018), ANCHORS §8.1, in PyTorch.

Two cells share one calling convention, which is also the ONNX graph's (warping is done OUTSIDE
the network, in TypeScript at inference and by `warp()` below in training):

    h_t, r = cell(image, prev_warped, h_warped, x)

    image        (N, 3, H, W)  I_t, RGB float 0..255 (GRFP used BGR 0..255; W_ir is learned, so
                               only the unit matters)
    prev_warped  (N, 3, H, W)  warp(I_{t-1}, F_{t->t-1})                      (§8.1 step 2)
    h_warped     (N, C, H, W)  warp(softmax_c(h_{t-1}) - 1/C, F_{t->t-1})     (§8.1 steps 1, 4)
    x            (N, C, H, W)  static per-frame scores x_t (unnormalised; log-probabilities work)
    h_t          (N, C, H, W)  new hidden state: unnormalised class scores
    r            (N, 1, H, W)  the photometric reset gate (returned for inspection/confidence)

`STGRUCell` is the authors' cell exactly, for a fixed class count C (semantic labels): 7x7 SAME
convolutions W_ir (3->1, bias b_r inside |.|), W_xh, W_hh (C->C, no bias), W_xz, W_hz (C->1, no
bias), a per-class bias b_z (C), a learned scalar lambda:

    r  = 1 - tanh(|W_ir * (I_t - I~_{t-1}) + b_r|)
    x' = softmax(x) - 1/C
    hw = h_warped * r
    h~ = W_xh * x' + W_hh * hw
    z  = sigmoid(W_xz * x' + W_hz * hw + b_z)
    h  = lambda (1 - z) hw + z h~

`SharedSTGRUCell` is the channel-agnostic variant for masks (K+1 channels, K varies per video):
every channel c goes through the same single-channel cell (channels are folded into the batch
dimension, so C is dynamic in the ONNX graph):

    h~_c = k_xh * x'_c + k_hh * hw_c          (7x7 kernels shared by all channels)
    z_c  = sigmoid(k_xz * x'_c + k_hz * hw_c + b_c),  b_0 = b_background, b_c = b_object (c >= 1)

The reset gate is the same as the exact cell's (one map from the image pair, broadcast over
channels). With `background_bias=False` all channels share one z bias (fully symmetric cell).

Centring uses the channel mean of the softmax (= 1/C exactly in real arithmetic), which keeps C
dynamic in the exported graph.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

KERNEL = 7
PAD = KERNEL // 2


def centred_softmax(x: torch.Tensor) -> torch.Tensor:
    """softmax over channels minus 1/C (§8.1 step 1), written as p - mean_c(p) for a dynamic C."""
    p = torch.softmax(x, dim=1)
    return p - p.mean(dim=1, keepdim=True)


def _identity_kernel(out_ch: int, in_ch: int, scale: float, std: float, gen: torch.Generator) -> torch.Tensor:
    w = torch.randn(out_ch, in_ch, KERNEL, KERNEL, generator=gen) * std
    for c in range(min(out_ch, in_ch)):
        w[c, c, PAD, PAD] += scale
    return w


class STGRUCell(nn.Module):
    """The authors' STGRU for a fixed number of classes C (ANCHORS §8.1), initialised as stated there."""

    kind = "exact"

    def __init__(self, classes: int, seed: int = 0):
        super().__init__()
        if classes < 2:
            raise ValueError(f"STGRUCell needs at least 2 classes, got {classes}")
        self.classes = classes
        gen = torch.Generator().manual_seed(seed)
        C = classes
        self.W_ir = nn.Parameter(torch.randn(1, 3, KERNEL, KERNEL, generator=gen) * 0.001)
        self.b_r = nn.Parameter(torch.zeros(1))
        self.W_xh = nn.Parameter(_identity_kernel(C, C, 6.0, 0.01, gen))
        self.W_hh = nn.Parameter(_identity_kernel(C, C, 6.0, 0.01, gen))
        self.W_xz = nn.Parameter(torch.randn(1, C, KERNEL, KERNEL, generator=gen) * 0.01)
        self.W_hz = nn.Parameter(torch.randn(1, C, KERNEL, KERNEL, generator=gen) * 0.01)
        self.b_z = nn.Parameter(torch.zeros(C))
        self.lam = nn.Parameter(torch.tensor(2.0))

    def reset_gate(self, image: torch.Tensor, prev_warped: torch.Tensor) -> torch.Tensor:
        e = image - prev_warped
        return 1.0 - torch.tanh(torch.abs(F.conv2d(e, self.W_ir, self.b_r, padding=PAD)))

    def forward(self, image, prev_warped, h_warped, x):
        r = self.reset_gate(image, prev_warped)
        xc = centred_softmax(x)
        hw = h_warped * r
        # One convolution computes all four: rows 0..C-1 = [W_xh | W_hh], row C = [W_xz | W_hz] over
        # the concatenated input (x', hw). Identical to the four separate SAME convolutions.
        weight = torch.cat([torch.cat([self.W_xh, self.W_hh], dim=1), torch.cat([self.W_xz, self.W_hz], dim=1)], dim=0)
        out = F.conv2d(torch.cat([xc, hw], dim=1), weight, padding=PAD)
        h_tilde = out[:, : self.classes]
        z_logit = out[:, self.classes :]
        z = torch.sigmoid(z_logit + self.b_z.view(1, -1, 1, 1))
        h = self.lam * (1.0 - z) * hw + z * h_tilde
        return h, r


class SharedSTGRUCell(nn.Module):
    """Channel-agnostic STGRU: one single-channel cell applied to every channel (dynamic C)."""

    kind = "shared"

    def __init__(self, background_bias: bool = True, seed: int = 0):
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.background_bias = background_bias
        self.W_ir = nn.Parameter(torch.randn(1, 3, KERNEL, KERNEL, generator=gen) * 0.001)
        self.b_r = nn.Parameter(torch.zeros(1))
        # One conv over the pair (x'_c, hw_c): output 0 = h~_c (k_xh, k_hh), output 1 = z logit (k_xz, k_hz).
        w = torch.randn(2, 2, KERNEL, KERNEL, generator=gen) * 0.01
        w[0, 0, PAD, PAD] += 6.0  # k_xh = 6 delta + N(0, 0.01)
        w[0, 1, PAD, PAD] += 6.0  # k_hh = 6 delta + N(0, 0.01)
        self.W = nn.Parameter(w)
        self.b_obj = nn.Parameter(torch.zeros(1))
        self.b_bg = nn.Parameter(torch.zeros(1)) if background_bias else None
        self.lam = nn.Parameter(torch.tensor(2.0))

    def reset_gate(self, image: torch.Tensor, prev_warped: torch.Tensor) -> torch.Tensor:
        e = image - prev_warped
        return 1.0 - torch.tanh(torch.abs(F.conv2d(e, self.W_ir, self.b_r, padding=PAD)))

    def forward(self, image, prev_warped, h_warped, x):
        r = self.reset_gate(image, prev_warped)
        xc = centred_softmax(x)
        hw = h_warped * r
        n, c, height, width = xc.shape
        pair = torch.stack([xc, hw], dim=2).reshape(-1, 2, height, width)  # (N*C, 2, H, W)
        out = F.conv2d(pair, self.W, padding=PAD).reshape(n, c, 2, height, width)
        h_tilde = out[:, :, 0]
        z_logit = out[:, :, 1]
        if self.b_bg is not None:
            z_logit = torch.cat([z_logit[:, :1] + self.b_bg, z_logit[:, 1:] + self.b_obj], dim=1)
        else:
            z_logit = z_logit + self.b_obj
        z = torch.sigmoid(z_logit)
        h = self.lam * (1.0 - z) * hw + z * h_tilde
        return h, r


def make_cell(kind: str, classes: int | None = None, background_bias: bool = True, seed: int = 0) -> nn.Module:
    if kind == "exact":
        if classes is None:
            raise ValueError("the exact cell needs a class count")
        return STGRUCell(classes, seed=seed)
    if kind == "shared":
        return SharedSTGRUCell(background_bias=background_bias, seed=seed)
    raise ValueError(f"unknown cell kind {kind!r} (exact | shared)")


def warp(src: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """GRFP's bilinear warp (ANCHORS §8.2), equal to src/ops/warp.ts `warpBilinear(..., 'zeros')`.

    out(y, x) = bilinear sample of src at (y + flow[:, 0], x + flow[:, 1]); neighbours outside the
    image contribute 0 and the weights are not renormalised.
    src (N, C, H, W), flow (N, 2, H, W) with channel 0 = dy, channel 1 = dx.
    """
    n, _, h, w = src.shape
    ys = torch.arange(h, dtype=src.dtype, device=src.device).view(1, h, 1)
    xs = torch.arange(w, dtype=src.dtype, device=src.device).view(1, 1, w)
    sy = ys + flow[:, 0]
    sx = xs + flow[:, 1]
    gx = sx * (2.0 / max(w - 1, 1)) - 1.0
    gy = sy * (2.0 / max(h - 1, 1)) - 1.0
    grid = torch.stack([gx, gy], dim=-1)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def warp_exact(src: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Gather-based reference of `warp` (float64 weights, as warp.ts), for tests."""
    n, c, h, w = src.shape
    out = torch.zeros_like(src, dtype=torch.float64)
    sy = torch.arange(h, dtype=torch.float64).view(1, h, 1) + flow[:, 0].double()
    sx = torch.arange(w, dtype=torch.float64).view(1, 1, w) + flow[:, 1].double()
    y0 = torch.floor(sy)
    x0 = torch.floor(sx)
    fy = sy - y0
    fx = sx - x0
    flat = src.double().reshape(n, c, h * w)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            yy = (y0 + dy).long()
            xx = (x0 + dx).long()
            ok = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
            idx = (yy.clamp(0, h - 1) * w + xx.clamp(0, w - 1)).reshape(n, 1, h * w).expand(n, c, h * w)
            vals = torch.gather(flat, 2, idx).reshape(n, c, h, w)
            out += vals * (wy * wx * ok).unsqueeze(1)
    return out.to(src.dtype)


def run_clip(cell: nn.Module, images: torch.Tensor, flows: torch.Tensor, xs: torch.Tensor, p0: torch.Tensor):
    """Run the recurrence over a clip (training / evaluation in PyTorch).

    images (N, T, 3, H, W) 0..255; flows (N, T, 2, H, W), flows[:, t] from frame t to t-1 (dy, dx),
    flows[:, 0] unused; xs (N, T, C, H, W) per-frame scores; p0 (N, C, H, W) the probabilities at
    frame 0 (softmax of h_0: one-hot ground truth at a key-frame, softmax(x_0) in GRFP's protocol).
    Returns the list of h_t (unnormalised scores) for t = 1..T-1.
    """
    T = images.shape[1]
    p = p0
    outs = []
    for t in range(1, T):
        f = flows[:, t]
        prev_w = warp(images[:, t - 1], f)
        h_w = warp(p - 1.0 / p.shape[1], f)
        h, _ = cell(images[:, t], prev_w, h_w, xs[:, t])
        outs.append(h)
        p = torch.softmax(h, dim=1)
    return outs
