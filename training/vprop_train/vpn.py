"""VPN's learned mask stage (Jampani et al. CVPR 2017; ANCHORS §3.1), trained on superpixels.

The stage the `vpn` engine runs (src/engines/vpn/network.ts has the same equations): per target
superpixel, from the guides' unaries filtered by the two lattices (fa: Λa on unaries decayed by
0.5^age, fb: Λb undecayed; dumped by scripts/export-vpn-data.ts with the TypeScript lattice),

    h1 = ReLU([Wa fa + ba ; Wb fb + bb])                    BCL-a, BCL-b 2 -> 32 (n = 0: W commutes
                                                            with splat/slice and AFTER normalisation)
    h2 = ReLU([Wa2 Fa(h1) + ba2 ; Wb2 Fb(h1) + bb2])        within-frame BCLs 64 -> 32, Fa/Fb the
                                                            normalised splat->slice over the target's
                                                            own superpixels (lattice.py)
    u  = ReLU(W3 [h1 ; h2] + b3)                            1x1 conv 128 -> 2
    p  = normalize(spatial CNN(smear(u)))                   conv3x3 2->32, ReLU, 32->32, ReLU, 32->2;
                                                            (ReLU + 1e-4) / sum

Initialisation (a choice, documented in training/README.md): the network starts as BNN-Identity
exactly (Wa, Wb pass the 2 unary channels through on their first two hidden units, W3 averages
them 0.5/0.5, the spatial CNN passes channels 0 and 1 through its centre taps), with VPN's
N(0, 0.01) filler on every other weight; with five training sequences per fold, learning from
BNN-Identity rather than from noise is what makes the stage beat it rather than merely approach it.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .lattice import after_normaliser, build_lattice, filter_after

HIDDEN = 32
SCALES_A = (0.07, 0.4, 0.4, 0.02, 0.02, 0.01)
SCALES_B = (0.09, 0.5, 0.5, 0.03, 0.03, 0.2)
NORMALISE_EPS = 1e-4


def vpn_filler(net: nn.Module, seed: int) -> None:
    """VPN's fillers: weights N(0, 0.01), biases 0 (the nets then set their BNN-Identity paths)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.01 if p.dim() > 1 else torch.zeros(p.shape))


class VpnMaskNet(nn.Module):
    def __init__(self, seed: int = 0, per_frame: bool = False):
        super().__init__()
        H = HIDDEN
        self.per_frame = per_frame
        self.wa, self.wb = nn.Linear(2, H), nn.Linear(2, H)
        self.wa2, self.wb2 = nn.Linear(2 * H, H), nn.Linear(2 * H, H)
        self.w3 = nn.Linear(4 * H, 2)
        self.conv1 = nn.Conv2d(2, H, 3, padding=1)
        self.conv2 = nn.Conv2d(H, H, 3, padding=1)
        self.conv3 = nn.Conv2d(H, 2, 3, padding=1)
        vpn_filler(self, seed)
        with torch.no_grad():
            for lin in (self.wa, self.wb):
                lin.weight[:2].copy_(torch.eye(2))
            self.w3.weight.zero_()
            for c in range(2):
                self.w3.weight[c, c] = 0.5
                self.w3.weight[c, H + c] = 0.5
            for conv in (self.conv1, self.conv2, self.conv3):
                conv.weight[:2].zero_()
                for c in range(2):
                    conv.weight[c, c, 1, 1] = 1.0
        if per_frame:
            # VPN-DeepLab's fusion (§3.1 step 4): concat(BNN map, per-frame probabilities) -> 1x1 -> 2
            # -> ReLU before the spatial CNN; starts by passing the BNN map through.
            self.fuse = nn.Conv2d(4, 2, 1)
            with torch.no_grad():
                self.fuse.weight.zero_()
                self.fuse.bias.zero_()
                self.fuse.weight[0, 0, 0, 0] = self.fuse.weight[1, 1, 0, 0] = 1.0

    def superpixel_stage(self, fa, fb, filter_a, filter_b):
        """fa, fb: (2, S) -> u (2, S). filter_a/b: the within-frame filters, each a TorchLattice
        (filter_after) or its matrix (within_frame_matrix, the same linear map, faster in training)."""
        h1 = torch.relu(torch.cat([self.wa(fa.t()), self.wb(fb.t())], 1).t())
        # The channel mix commutes with the (linear, per-channel) filter: mix 64 -> 32 first, then
        # filter 32 channels instead of 64.
        za = apply_filter(filter_a, (h1.t() @ self.wa2.weight.t()).t()) + self.wa2.bias[:, None]
        zb = apply_filter(filter_b, (h1.t() @ self.wb2.weight.t()).t()) + self.wb2.bias[:, None]
        h2 = torch.relu(torch.cat([za, zb], 0))
        return torch.relu(self.w3(torch.cat([h1, h2], 0).t()).t())

    def spatial(self, u, per_frame=None):
        """u: (N, 2, H, W) smeared (and the per-frame probabilities, same shape, when the net takes
        them) -> probabilities (N, 2, H, W)."""
        if self.per_frame:
            u = torch.relu(self.fuse(torch.cat([u, per_frame], 1)))
        z = self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(u)))))
        r = torch.relu(z) + NORMALISE_EPS
        return r / r.sum(1, keepdim=True)

    def bcl_weights(self) -> dict:
        """The superpixel stage's weights as the engine reads them (vprop.vpn_bcl)."""
        names = {"wa": self.wa.weight, "ba": self.wa.bias, "wb": self.wb.weight, "bb": self.wb.bias,
                 "wa2": self.wa2.weight, "ba2": self.wa2.bias, "wb2": self.wb2.weight, "bb2": self.wb2.bias,
                 "w3": self.w3.weight, "b3": self.w3.bias}
        return {k: [float(x) for x in v.detach().reshape(-1).tolist()] for k, v in names.items()}


def frame_lattices(features: torch.Tensor):
    """Within-frame lattices (inputs = outputs = the frame's superpixels) for Λa and Λb."""
    sa = torch.tensor(SCALES_A, dtype=features.dtype)[:, None]
    sb = torch.tensor(SCALES_B, dtype=features.dtype)[:, None]
    return build_lattice(features * sa), build_lattice(features * sb)


class _SparseFilter(torch.autograd.Function):
    """y = diag(norm) B^T B x for the constant splat matrix B (CSR, with B^T given): x (n, C) -> (n, C).
    B^T B is symmetric, so the adjoint is B^T B diag(norm)."""

    @staticmethod
    def forward(ctx, x, B, Bt, norm):
        ctx.B, ctx.Bt, ctx.norm = B, Bt, norm
        return norm[:, None] * (Bt @ (B @ x))

    @staticmethod
    def backward(ctx, g):
        return ctx.Bt @ (ctx.B @ (ctx.norm[:, None] * g).contiguous()), None, None, None


def within_frame_matrix(lat) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """filter_after(lat, .) (n = 0, identity blur) as diag(norm) B^T B with B the (M+1, n) sparse
    splat matrix of barycentric weights (CSR, and its transpose): made once per frame, then two
    sparse products with (d+1) n entries each per call, far fewer than B^T B's."""
    n, d1 = lat.n_in, lat.d + 1
    rows = lat.vertex_ids.reshape(-1)
    cols = torch.arange(n).repeat_interleave(d1)
    vals = lat.bary.reshape(-1).float()
    B = torch.sparse_coo_tensor(torch.stack([rows, cols]), vals, (lat.M + 1, n)).coalesce().to_sparse_csr()
    Bt = torch.sparse_coo_tensor(torch.stack([cols, rows]), vals, (n, lat.M + 1)).coalesce().to_sparse_csr()
    return B, Bt, after_normaliser(lat).float()


def apply_filter(f, x: torch.Tensor) -> torch.Tensor:
    """A within-frame filter (TorchLattice, or its matrix and transpose) on planar (C, n) values."""
    if isinstance(f, tuple):
        return _SparseFilter.apply(x.t().contiguous(), *f).t()
    return filter_after(f, x)


class VpnSequence:
    """One sequence dumped by scripts/export-vpn-data.ts (see its layout), with per-frame
    probabilities (`<per_frame>/<sequence>/<frame>.npy`, scripts/export-per-frame.ts) when given."""

    def __init__(self, root: str, per_frame: str | None = None):
        self.per_frame_dir = os.path.join(per_frame, os.path.basename(root.rstrip("/"))) if per_frame else None
        with open(os.path.join(root, "meta.json")) as f:
            self.meta = json.load(f)
        self.name = self.meta["sequence"]
        T, H, W = self.meta["frames"], self.meta["height"], self.meta["width"]
        self.T, self.H, self.W = T, H, W
        counts = np.asarray(self.meta["counts"], dtype=np.int64)
        self.counts = counts
        self.labels = np.fromfile(os.path.join(root, "labels.u16"), dtype=np.uint16).reshape(T, H, W)
        self.gt = np.fromfile(os.path.join(root, "gt.u8"), dtype=np.uint8).reshape(T, H, W)
        feats = np.fromfile(os.path.join(root, "features.f32"), dtype=np.float32)
        fa = np.fromfile(os.path.join(root, "fa.f32"), dtype=np.float32)
        fb = np.fromfile(os.path.join(root, "fb.f32"), dtype=np.float32)
        o6 = np.concatenate([[0], np.cumsum(6 * counts)])
        o2 = np.concatenate([[0], np.cumsum(2 * counts)])
        if feats.size != o6[-1] or fa.size != o2[-1] or fb.size != o2[-1]:
            raise ValueError(f"{root}: array sizes do not match meta.json counts")
        self.feats = [feats[o6[t]:o6[t + 1]].reshape(6, counts[t]) for t in range(T)]
        self.fa = [fa[o2[t]:o2[t + 1]].reshape(2, counts[t]) for t in range(T)]
        self.fb = [fb[o2[t]:o2[t + 1]].reshape(2, counts[t]) for t in range(T)]
        self._lattices: dict[int, tuple] = {}

    def lattices(self, t: int):
        """The frame's within-frame filters as sparse matrices (cached)."""
        if t not in self._lattices:
            self._lattices[t] = tuple(within_frame_matrix(lat) for lat in frame_lattices(torch.from_numpy(self.feats[t])))
        return self._lattices[t]

    def per_frame(self, t: int) -> torch.Tensor:
        """(2, H, W) background / object probabilities of frame t."""
        p = np.load(os.path.join(self.per_frame_dir, f"{t:05d}.npy")).astype(np.float32)
        if p.shape != (2, self.H, self.W):
            raise ValueError(f"{self.per_frame_dir}: frame {t} has shape {p.shape}, expected (2, {self.H}, {self.W})")
        return torch.from_numpy(p)

    def sample(self, t: int):
        extra = {"per_frame": self.per_frame(t)} if self.per_frame_dir else {}
        return {
            **extra,
            "fa": torch.from_numpy(self.fa[t]), "fb": torch.from_numpy(self.fb[t]),
            "lattices": self.lattices(t),
            "labels": torch.from_numpy(self.labels[t].astype(np.int64)),
            "gt": torch.from_numpy(self.gt[t].astype(np.int64)),
        }


def load_sequences(root: str, names, per_frame: str | None = None) -> list[VpnSequence]:
    out = []
    for n in names:
        d = os.path.join(root, n)
        if not os.path.exists(os.path.join(d, "meta.json")):
            raise FileNotFoundError(f"{d}: no VPN training data (run scripts/export-vpn-data.ts first)")
        out.append(VpnSequence(d, per_frame))
    return out


def forward_frame(model: VpnMaskNet, s: dict, crop=None):
    """Probabilities (1, 2, h, w) over `crop` = (y0, x0, h, w) of the frame (whole frame if None)."""
    filter_a, filter_b = s["lattices"]
    u = model.superpixel_stage(s["fa"], s["fb"], filter_a, filter_b)
    labels = s["labels"]
    pf = s.get("per_frame")
    if crop is not None:
        y0, x0, h, w = crop
        labels = labels[y0:y0 + h, x0:x0 + w]
        pf = pf[:, y0:y0 + h, x0:x0 + w] if pf is not None else None
    pix = u[:, labels.reshape(-1)].reshape(1, 2, *labels.shape)
    return model.spatial(pix, pf[None] if pf is not None else None)


# --- Colour (ANCHORS §3.3) ------------------------------------------------------------------------

COLOR_SCALES = (0.2, 0.04, 0.04, 0.04)
# Chroma is Lab (a, b) / 100, within about ±1.1; VPN's ReLUs on centred chroma are kept, with every
# channel that carries chroma offset by this much so the initial net passes it through unclipped
# (VPN's bias filler 0.5 does the same for its ±0.5 units).
COLOR_OFFSET = 1.5


class VpnColorNet(nn.Module):
    """VPN's colour stage: BCL 2 -> 32 (from the filtered chroma of the previous frames, n = 0),
    ReLU, within-frame BCL 32 -> 32 over the target's pixels, ReLU, concat 64 -> 1x1 -> 2, ReLU,
    spatial CNN (conv3x3 2->32, ReLU, 32->32, ReLU, 32->2, ReLU), concat(bilateral 2, spatial 2) ->
    1x1 -> 2. Starts as BNN-Identity colour exactly (see COLOR_OFFSET)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        H = HIDDEN
        self.w1, self.w2, self.w3, self.w4 = nn.Linear(2, H), nn.Linear(H, H), nn.Linear(2 * H, 2), nn.Linear(4, 2)
        self.conv1 = nn.Conv2d(2, H, 3, padding=1)
        self.conv2 = nn.Conv2d(H, H, 3, padding=1)
        self.conv3 = nn.Conv2d(H, 2, 3, padding=1)
        vpn_filler(self, seed)
        with torch.no_grad():
            self.w1.weight[:2].copy_(torch.eye(2))
            self.w1.bias.fill_(COLOR_OFFSET)
            self.w3.weight.zero_()
            self.w3.weight[0, 0] = self.w3.weight[1, 1] = 1.0
            for conv in (self.conv1, self.conv2, self.conv3):
                conv.weight[:2].zero_()
                for c in range(2):
                    conv.weight[c, c, 1, 1] = 1.0
            self.w4.weight.copy_(torch.tensor([[0.5, 0, 0.5, 0], [0, 0.5, 0, 0.5]]))
            self.w4.bias.fill_(-COLOR_OFFSET)

    def pixel_stage(self, fc, lat):
        """fc (2, n) filtered chroma of n pixels, lat their within-frame lattice -> m (2, n)."""
        h1 = torch.relu(self.w1(fc.t()).t())
        h2 = torch.relu(apply_filter(lat, (h1.t() @ self.w2.weight.t()).t()) + self.w2.bias[:, None])
        return torch.relu(self.w3(torch.cat([h1, h2], 0).t()).t())

    def spatial(self, m):
        """m (N, 2, H, W) -> chroma (N, 2, H, W)."""
        s = torch.relu(self.conv3(torch.relu(self.conv2(torch.relu(self.conv1(m))))))
        return torch.einsum("oc,nchw->nohw", self.w4.weight, torch.cat([m, s], 1)) + self.w4.bias[None, :, None, None]

    def pixel_weights(self) -> dict:
        """The per-pixel stage's weights as the engine reads them (vprop.vpn_color)."""
        names = {"w1": self.w1.weight, "b1": self.w1.bias, "w2": self.w2.weight, "b2": self.w2.bias,
                 "w3": self.w3.weight, "b3": self.w3.bias}
        return {k: [float(x) for x in v.detach().reshape(-1).tolist()] for k, v in names.items()}


def color_lattice(luma: torch.Tensor, y0: int, x0: int, t: int):
    """Within-frame lattice over the pixels of a luma crop (h, w) at (y0, x0) of frame t: features
    (Y, x, y, t) x COLOR_SCALES, inputs = outputs."""
    h, w = luma.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + y0, torch.arange(w, dtype=torch.float32) + x0, indexing="ij")
    f = torch.stack([luma.float().reshape(-1), xs.reshape(-1), ys.reshape(-1), torch.full((h * w,), float(t))])
    return build_lattice(f * torch.tensor(COLOR_SCALES)[:, None])


class VpnColorSequence:
    """One sequence dumped by scripts/export-vpn-color-data.ts (see its layout)."""

    def __init__(self, root: str):
        with open(os.path.join(root, "meta.json")) as f:
            self.meta = json.load(f)
        self.name = self.meta["sequence"]
        self.frames = self.meta["frames"]
        T, H, W = len(self.frames), self.meta["height"], self.meta["width"]
        self.H, self.W = H, W
        self.luma = np.fromfile(os.path.join(root, "luma.u8"), dtype=np.uint8).reshape(T, H, W)
        self.filtered = np.fromfile(os.path.join(root, "filtered.i16"), dtype=np.int16).reshape(T, 2, H, W)
        self.support = np.fromfile(os.path.join(root, "support.u8"), dtype=np.uint8).reshape(T, H, W)
        self.truth = np.fromfile(os.path.join(root, "truth.i16"), dtype=np.int16).reshape(T, 2, H, W)

    def crop(self, i: int, y0: int, x0: int, h: int, w: int):
        sl = (slice(y0, y0 + h), slice(x0, x0 + w))
        return {
            "t": self.frames[i],
            "luma": torch.from_numpy(self.luma[i][sl].copy()),
            "fc": torch.from_numpy(self.filtered[i][(slice(None),) + sl].astype(np.float32) / 10000),
            "truth": torch.from_numpy(self.truth[i][(slice(None),) + sl].astype(np.float32) / 10000),
        }


def load_color_sequences(root: str, names) -> list[VpnColorSequence]:
    out = []
    for n in names:
        d = os.path.join(root, n)
        if not os.path.exists(os.path.join(d, "meta.json")):
            raise FileNotFoundError(f"{d}: no VPN colour training data (run scripts/export-vpn-color-data.ts first)")
        out.append(VpnColorSequence(d))
    return out


def forward_color_crop(model: VpnColorNet, c: dict, y0: int, x0: int):
    """Predicted chroma (1, 2, h, w) of a crop."""
    h, w = c["luma"].shape
    lat = color_lattice(c["luma"], y0, x0, c["t"])
    m = model.pixel_stage(c["fc"].reshape(2, -1), lat)
    return model.spatial(m.reshape(1, 2, h, w))
