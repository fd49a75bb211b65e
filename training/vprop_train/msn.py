"""Memory selection network (MSN, Wu, Lin, Qi, Jia, ECCV 2020; ANCHORS §5), sized for vprop's backbone.

The FlowNet correlation (`correlation`, ANCHORS §5.3, the twin of `src/ops/correlation.ts`) and
the two-stream selection network (§5.2) as two graphs, so that the engine caches per frame what
does not depend on the pair:

- `Embed`: backbone s16 features (96 x 10 x 20: the frame resized to 320 x 160, the seed's
  640 x 320 VGG grid size) -> the three 1x1 projections (candidate `a`, target `b`, reference
  `c`, P channels each; the seed: 512 -> 512). Run once per frame (and once on the masked
  key-frame for `c`).
- `Head`: the three correlation volumes (computed in TypeScript: corr(a,b) per pair, corr(a,c) per
  candidate, corr(b,c) per target) and the projections -> 2 logits (class 0 = "bad guide", as in
  the seed; the engine scores candidates by softmax class 1).

Correlation parameters: pad 10, kernel 1, max displacement 10, stride1 1, stride2 2 (D = 11, 121
channels per volume) instead of the seed's 20/20 (441): on the seed's 20 x 10 grid, displacements
of more than 10 cells reach only the zero padding in the vertical direction and mostly in the
horizontal one too, so the smaller volume keeps what carries information at 3.6x less cost.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

FEATURE_CHANNELS = 96
GRID_H, GRID_W = 10, 20
INPUT_W, INPUT_H = 320, 160
CORR = {"pad": 10, "kernel_size": 1, "max_displacement": 10, "stride1": 1, "stride2": 2}


def correlation_shape(H: int, W: int, pad: int, kernel_size: int, max_displacement: int, stride1: int, stride2: int) -> tuple[int, int, int]:
    border = max_displacement + (kernel_size - 1) // 2
    Ho = -(-(H + 2 * pad - 2 * border) // stride1)
    Wo = -(-(W + 2 * pad - 2 * border) // stride1)
    return 2 * (max_displacement // stride2) + 1, Ho, Wo


def correlation(a: torch.Tensor, b: torch.Tensor, pad: int = 10, kernel_size: int = 1, max_displacement: int = 10, stride1: int = 1, stride2: int = 2) -> torch.Tensor:
    """FlowNet correlation of (N, C, H, W) tensors -> (N, D*D, Ho, Wo), channel (dy+R)*D + (dx+R)."""
    N, C, H, W = a.shape
    if kernel_size == 1 and stride1 == 1 and pad == max_displacement and max_displacement % stride2 == 0:
        return _correlation_same_size(a, b, max_displacement, stride2)
    kr = (kernel_size - 1) // 2
    border = max_displacement + kr
    D, Ho, Wo = correlation_shape(H, W, pad, kernel_size, max_displacement, stride1, stride2)
    R = D // 2
    # Extra padding so every shifted window stays inside the tensor (it reads zeros there, as the
    # kernel's padding does).
    extra = R * stride2 + kr + stride1 * Ho
    ap = F.pad(a, (pad + extra,) * 4)
    bp = F.pad(b, (pad + extra,) * 4)
    o = extra + border  # padded index of output (0, 0)'s centre
    out = []
    for dy in range(-R, R + 1):
        for dx in range(-R, R + 1):
            acc = None
            for j in range(-kr, kr + 1):
                for i in range(-kr, kr + 1):
                    ya, xa = o + j, o + i
                    yb, xb = ya + dy * stride2, xa + dx * stride2
                    pa = ap[:, :, ya : ya + stride1 * (Ho - 1) + 1 : stride1, xa : xa + stride1 * (Wo - 1) + 1 : stride1]
                    pb = bp[:, :, yb : yb + stride1 * (Ho - 1) + 1 : stride1, xb : xb + stride1 * (Wo - 1) + 1 : stride1]
                    term = (pa * pb).sum(dim=1, keepdim=True)
                    acc = term if acc is None else acc + term
            out.append(acc / (kernel_size * kernel_size * C))
    return torch.cat(out, dim=1)


def _correlation_same_size(a: torch.Tensor, b: torch.Tensor, max_displacement: int, stride2: int) -> torch.Tensor:
    """The case the network uses (kernel 1, stride1 1, pad = max displacement: output H x W) through
    the full matrix of dot products (one bmm on these small grids) and a gather of the displaced
    pairs: slicing a padded tensor per displacement makes autograd's backward add a padded-size
    zero tensor per displacement (about 60x slower), an unfold is memory-bound (about 5x)."""
    N, C, H, W = a.shape
    HW = H * W
    R = max_displacement // stride2
    D = 2 * R + 1
    gram = torch.bmm(a.reshape(N, C, HW).transpose(1, 2), b.reshape(N, C, HW)) / C  # (N, HW, HW)
    gram = F.pad(gram, (0, 1))  # column HW reads 0: displaced positions outside the grid
    return gram.gather(2, _displaced_index(H, W, R, stride2, a.device).expand(N, -1, -1)).transpose(1, 2).reshape(N, D * D, H, W)


_INDEX_CACHE: dict = {}


def _displaced_index(H: int, W: int, R: int, stride2: int, device) -> torch.Tensor:
    """(1, H*W, D*D): for position l and displacement d, the flat index of l + d, or H*W outside."""
    key = (H, W, R, stride2, str(device))
    if key not in _INDEX_CACHE:
        y, x = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        d = torch.arange(-R, R + 1) * stride2
        dy, dx = torch.meshgrid(d, d, indexing="ij")
        ty = y.reshape(-1, 1) + dy.reshape(1, -1)
        tx = x.reshape(-1, 1) + dx.reshape(1, -1)
        inside = (ty >= 0) & (ty < H) & (tx >= 0) & (tx < W)
        _INDEX_CACHE[key] = torch.where(inside, ty * W + tx, torch.full_like(ty, H * W)).unsqueeze(0).to(device)
    return _INDEX_CACHE[key]


class Embed(nn.Module):
    """The three 1x1 projections of §5.2 step 1 (separate weights for candidate, target, reference)."""

    def __init__(self, channels: int = FEATURE_CHANNELS, projected: int = 64):
        super().__init__()
        self.candidate = nn.Conv2d(channels, projected, 1)
        self.target = nn.Conv2d(channels, projected, 1)
        self.reference = nn.Conv2d(channels, projected, 1)
        # PyTorch's default initialisation, not the seed's N(0, 0.001): the correlation branch is
        # quadratic in these weights, so at 1e-3 its gradient starts about 1e6 times too small.

    def forward(self, feat: torch.Tensor):
        return self.candidate(feat), self.target(feat), self.reference(feat)


class Head(nn.Module):
    """§5.2 steps 2-4: correlation branch and concatenation branch, then 2 logits."""

    def __init__(self, projected: int = 64, displacements: int = 11, grid: tuple[int, int] = (GRID_H, GRID_W)):
        super().__init__()
        cells = grid[0] * grid[1]
        self.corr_conv = nn.Conv2d(3 * displacements * displacements, 3, 3, padding=1)
        self.corr_fc = nn.Sequential(nn.Linear(3 * cells, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.cat_conv = nn.Conv2d(3 * projected, 3, 3, padding=1)
        self.cat_fc = nn.Sequential(nn.Linear(3 * cells, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.out = nn.Linear(256, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.001)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, corr: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        c = F.relu(self.corr_conv(F.leaky_relu(corr, 0.1)))
        c = self.corr_fc(c.flatten(1))
        k = self.cat_conv(cat)
        k = self.cat_fc(k.flatten(1))
        return self.out(torch.cat([c, k], dim=1))


class SelectionNet(nn.Module):
    def __init__(self, projected: int = 64):
        super().__init__()
        D, _, _ = correlation_shape(GRID_H, GRID_W, **CORR)
        self.projected = projected
        self.embed = Embed(FEATURE_CHANNELS, projected)
        self.head = Head(projected, D)

    def forward(self, feat_i: torch.Tensor, feat_t: torch.Tensor, feat_0m: torch.Tensor) -> torch.Tensor:
        """feat_*: (N, 96, 10, 20) -> logits (N, 2)."""
        a, _, _ = self.embed(feat_i)
        _, b, _ = self.embed(feat_t)
        _, _, c = self.embed(feat_0m)
        corr = torch.cat([correlation(a, b, **CORR), correlation(a, c, **CORR), correlation(b, c, **CORR)], dim=1)
        return self.head(corr, torch.cat([a, b, c], dim=1))
