"""Linear 3-way propagation in four directions ("SPN scan", ANCHORS §4.1) in PyTorch, for TPN/STPN.

The same op as `src/ops/linear-scan.ts` (its doc comment states the algorithm, the border rule and
what the direction switch is exactly); `spn_fixtures.py` writes this module's outputs for the
TypeScript parity test. Tensors are (N, C, H, W); the four directions' gates are one (N, 12C, H, W)
tensor of 12 groups of C channels in the reference order: groups 0-2 = left->right G1, G2, G3,
3-5 = right->left, 6-8 = top->bottom, 9-11 = bottom->top.

One direction, left->right (the others by symmetry; G1, G2, G3 link to the three neighbours in the
previous line, G1 on the lower row/column index side):

    h(y, w) = (1 - g1 - g2 - g3) x(y, w) + g1 h(y-1, w-1) + g2 h(y, w-1) + g3 h(y+1, w-1)

gates read at the current pixel; a gate whose neighbour is off the image counts as 0 (in both
terms), so the first scanned line is h = x. Gate normalisation: s = |g1| + |g2| + |g3| per pixel,
channel and direction; g <- g / s where s >= 1. The four scans are merged by element-wise max, ties
to the earlier direction, the gradient going to the winner only.

Implementation: every direction is brought to one canonical layout (S, N, C, O) — the scanned axis
first (flipped for right->left and bottom->top), the orthogonal axis last — so a scan is a Python
loop over S of vectorised ops on contiguous (N, C, O) slices, with G1/G3 reading the previous line
shifted by one along O. Directions whose canonical shapes agree (left->right with right->left, and
all four when H == W) are concatenated along N and scanned in one loop. Two interchangeable
implementations (equal to rounding, both gradchecked in tests/test_spn.py):

- `impl="function"` (default): custom `autograd.Function`s with ANCHORS §4.1's backward (a
  reverse loop for dh, then dx and dg vectorised over the whole tensor). `propagate4` is ONE
  Function (normalisation, four scans, max; in place on the canonical copies, so no autograd
  graph over the 12C-channel gates); `scan3` alone uses a Function for the scan.
- `impl="autograd"`: plain tensor ops differentiated by autograd (the reference).

The fused Function is 12-15x faster than autograd for a training step (batch 8, C = 16,
128x128; figures and command in training/README.md, "SPN scan").
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DIRECTIONS = ("left-right", "right-left", "top-bottom", "bottom-top")
IMPLS = ("function", "autograd")

# gate-group permutation of the switch: left->right <-> right->left, top->bottom <-> bottom->top
SWAP_GROUPS = (3, 4, 5, 0, 1, 2, 9, 10, 11, 6, 7, 8)


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown scan direction {direction!r} (expected one of {', '.join(DIRECTIONS)})")


def reverse_direction(direction: str) -> str:
    _check_direction(direction)
    return DIRECTIONS[DIRECTIONS.index(direction) ^ 1]


def to_canonical(t: torch.Tensor, direction: str) -> torch.Tensor:
    """(N, C, H, W) -> contiguous (S, N, C, O): scanned axis first, in scan order; orthogonal axis last."""
    _check_direction(direction)
    c = t.permute(3, 0, 1, 2) if direction in ("left-right", "right-left") else t.permute(2, 0, 1, 3)
    if direction in ("right-left", "bottom-top"):
        c = c.flip(0)
    return c.contiguous()


def from_canonical(c: torch.Tensor, direction: str) -> torch.Tensor:
    """Inverse of `to_canonical`: (S, N, C, O) -> (N, C, H, W)."""
    _check_direction(direction)
    if direction in ("right-left", "bottom-top"):
        c = c.flip(0)
    return c.permute(1, 2, 3, 0) if direction in ("left-right", "right-left") else c.permute(1, 2, 0, 3)


def _link_masks(S: int, O: int, dtype: torch.dtype, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(S, 1, 1, O) masks of the in-bounds links of G1, G2, G3 in the canonical layout (border rule)."""
    m = torch.ones(3, S, 1, 1, O, dtype=dtype, device=device)
    m[:, 0] = 0  # first scanned line: no previous line
    m[0, :, :, :, 0] = 0  # G1 links to o - 1
    m[2, :, :, :, O - 1] = 0  # G3 links to o + 1
    return m[0], m[1], m[2]


def _mask_links_(g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor) -> None:
    """Zero, in place, the canonical gates of off-image links (the border rule)."""
    for g in (g1, g2, g3):
        g[0] = 0
    g1[..., 0] = 0
    g3[..., -1] = 0


def _shift_from_lower(h: torch.Tensor) -> torch.Tensor:
    """r[..., o] = h[..., o - 1] (0 at o = 0)."""
    return F.pad(h[..., :-1], (1, 0))


def _shift_from_upper(h: torch.Tensor) -> torch.Tensor:
    """r[..., o] = h[..., o + 1] (0 at o = O - 1)."""
    return F.pad(h[..., 1:], (0, 1))


def _scan_autograd(x: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor) -> torch.Tensor:
    """Canonical scan (gates already masked), differentiated by autograd."""
    a = (1 - g1 - g2 - g3) * x
    hs = [a[0]]
    for s in range(1, x.shape[0]):
        hp = hs[-1]
        hs.append(a[s] + g1[s] * _shift_from_lower(hp) + g2[s] * hp + g3[s] * _shift_from_upper(hp))
    return torch.stack(hs, 0)


def _scan_forward(x: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical scan without autograd (gates masked): returns H and the gate sum g1 + g2 + g3."""
    gsum = g1 + g2 + g3
    a = torch.addcmul(x, gsum, x, value=-1)  # (1 - g1 - g2 - g3) x
    h = torch.empty_like(x)
    h[0] = a[0]
    for s in range(1, x.shape[0]):
        hp, t = h[s - 1], h[s]
        torch.addcmul(a[s], g2[s], hp, out=t)
        t[..., 1:].addcmul_(g1[s, ..., 1:], hp[..., :-1])
        t[..., :-1].addcmul_(g3[s, ..., :-1], hp[..., 1:])
    return h, gsum


def _scan_backward(dtop, x, g1, g2, g3, gsum, h):
    """ANCHORS §4.1's backward of the canonical scan (gates masked): dx, dg1, dg2, dg3, with the
    gradient of off-image links set to 0."""
    S = x.shape[0]
    dh = torch.empty_like(x)
    dh[S - 1] = dtop[S - 1]
    for s in range(S - 2, -1, -1):
        nx, t = dh[s + 1], dh[s]
        torch.addcmul(dtop[s], g2[s + 1], nx, out=t)
        # the pixels of line s + 1 whose links point at o: G1 of o + 1, G3 of o - 1
        t[..., :-1].addcmul_(g1[s + 1, ..., 1:], nx[..., 1:])
        t[..., 1:].addcmul_(g3[s + 1, ..., :-1], nx[..., :-1])
    dx = torch.addcmul(dh, gsum, dh, value=-1)
    # dg_k(s, o) = dh(s, o) (h(s - 1, o + k - 2) - x(s, o)) for in-bounds links, else 0
    dg1, dg2, dg3 = torch.zeros_like(x), torch.zeros_like(x), torch.zeros_like(x)
    torch.sub(h[:-1], x[1:], out=dg2[1:])
    dg1[1:, ..., 1:] = h[:-1, ..., :-1] - x[1:, ..., 1:]
    dg3[1:, ..., :-1] = h[:-1, ..., 1:] - x[1:, ..., :-1]
    for dg in (dg1, dg2, dg3):
        dg.mul_(dh)
    return dx, dg1, dg2, dg3


class _ScanFunction(torch.autograd.Function):
    """One canonical scan (raw gates; masked here) with ANCHORS §4.1's backward."""

    @staticmethod
    def forward(ctx, x, g1, g2, g3):
        g1, g2, g3 = g1.clone(), g2.clone(), g3.clone()
        _mask_links_(g1, g2, g3)
        h, gsum = _scan_forward(x, g1, g2, g3)
        ctx.save_for_backward(x, g1, g2, g3, gsum, h)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dtop):
        return _scan_backward(dtop.contiguous(), *ctx.saved_tensors)


def _scan_canonical(x, g1, g2, g3, impl: str) -> torch.Tensor:
    _check_impl(impl)
    if impl == "autograd":
        S, O = x.shape[0], x.shape[-1]
        m1, m2, m3 = _link_masks(S, O, x.dtype, x.device)
        return _scan_autograd(x, g1 * m1, g2 * m2, g3 * m3)
    return _ScanFunction.apply(x, g1, g2, g3)


def _check_impl(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"unknown impl {impl!r} (expected one of {', '.join(IMPLS)})")


def _check_same_shape(x: torch.Tensor, *gs: torch.Tensor) -> None:
    if x.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) tensors, got shape {tuple(x.shape)}")
    for g in gs:
        if g.shape != x.shape:
            raise ValueError(f"gate shape {tuple(g.shape)} differs from x {tuple(x.shape)}")


def scan3(x: torch.Tensor, g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor, direction: str, impl: str = "function") -> torch.Tensor:
    """One-direction scan H = scan(X; G1, G2, G3), all (N, C, H, W); gates used as given (not normalised)."""
    _check_same_shape(x, g1, g2, g3)
    c = [to_canonical(t, direction) for t in (x, g1, g2, g3)]
    return from_canonical(_scan_canonical(*c, impl=impl), direction)


def normalise_gates(gates: torch.Tensor, channels: int) -> torch.Tensor:
    """Per triple of C-channel groups (one direction's G1..G3), pixel and channel: g / s where
    s = |g1| + |g2| + |g3| >= 1, else unchanged. gates: (N, 3T*C, H, W)."""
    N, K, H, W = gates.shape
    if K % (3 * channels) != 0:
        raise ValueError(f"gates have {K} channels, not a multiple of 3 x {channels}")
    g = gates.reshape(N, K // (3 * channels), 3, channels, H, W)
    s = g.abs().sum(2, keepdim=True)
    # dividing by max(s, 1) is exact for s < 1 and, unlike torch.where(s >= 1, g / s, g), keeps
    # the gradient finite where s = 0
    return (g / s.clamp(min=1)).reshape(N, K, H, W)


def direction_gates(gates: torch.Tensor, channels: int, direction: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """G1, G2, G3 (each (N, C, H, W)) of one direction in a (N, 12C, H, W) gate tensor."""
    _check_direction(direction)
    if gates.shape[1] != 12 * channels:
        raise ValueError(f"gates have {gates.shape[1]} channels, expected 12 x {channels}")
    d = DIRECTIONS.index(direction)
    C = channels
    return gates[:, (3 * d) * C : (3 * d + 1) * C], gates[:, (3 * d + 1) * C : (3 * d + 2) * C], gates[:, (3 * d + 2) * C : (3 * d + 3) * C]


def swap_gate_directions(gates: torch.Tensor, channels: int) -> torch.Tensor:
    """The STPN switch: exchange the gate groups of opposite directions (G1..G3 keep their order
    and every map its pixels). Not the transpose of the propagation; see src/ops/linear-scan.ts."""
    if gates.shape[1] != 12 * channels:
        raise ValueError(f"gates have {gates.shape[1]} channels, expected 12 x {channels}")
    N, _, H, W = gates.shape
    return gates.reshape(N, 12, channels, H, W)[:, list(SWAP_GROUPS)].reshape(N, 12 * channels, H, W)


def _direction_groups(H: int, W: int) -> list[list[int]]:
    """Direction indices whose canonical (S, O) shapes agree: scanned in one loop, batched along N."""
    groups: dict[tuple[int, int], list[int]] = {}
    for d, direction in enumerate(DIRECTIONS):
        groups.setdefault((W, H) if direction in ("left-right", "right-left") else (H, W), []).append(d)
    return list(groups.values())


def scan_directions(x: torch.Tensor, gates: torch.Tensor, impl: str = "function") -> list[torch.Tensor]:
    """The four scans of X with their own (already normalised) gates, in DIRECTIONS order,
    differentiable (each group of directions through `_scan_canonical`)."""
    N, C, H, W = x.shape
    out: list[torch.Tensor | None] = [None] * 4
    for ds in _direction_groups(H, W):
        cans = []
        for d in ds:
            direction = DIRECTIONS[d]
            g1, g2, g3 = direction_gates(gates, C, direction)
            cans.append([to_canonical(t, direction) for t in (x, g1, g2, g3)])
        stacked = [torch.cat([c[k] for c in cans], dim=1) for k in range(4)]
        h = _scan_canonical(*stacked, impl=impl)
        for j, d in enumerate(ds):
            out[d] = from_canonical(h[:, j * N : (j + 1) * N], DIRECTIONS[d])
    return out  # type: ignore[return-value]


class _Propagate4Function(torch.autograd.Function):
    """normalise -> four scans -> max, in one Function: no autograd graph over the (12C-channel)
    gate tensors, in-place work on the canonical copies, and a hand-written backward (§4.1 for the
    scans, the winner-only gradient of the max, the normalisation's Jacobian)."""

    @staticmethod
    def forward(ctx, x, gates):
        N, C, H, W = x.shape
        g = gates.reshape(N, 4, 3, C, H, W)
        ssum = g.abs().sum(2, keepdim=True)
        ng = g / ssum.clamp(min=1)
        saved, hs = [], [None] * 4
        for ds in _direction_groups(H, W):
            xc = torch.cat([to_canonical(x, DIRECTIONS[d]) for d in ds], dim=1)
            gk = [torch.cat([to_canonical(ng[:, d, k], DIRECTIONS[d]) for d in ds], dim=1) for k in range(3)]
            _mask_links_(*gk)
            h, gsum = _scan_forward(xc, *gk)
            saved += [xc, *gk, gsum, h]
            for j, d in enumerate(ds):
                hs[d] = from_canonical(h[:, j * N : (j + 1) * N], DIRECTIONS[d])
        out = hs[0].contiguous()
        winner = torch.zeros(out.shape, dtype=torch.uint8, device=x.device)
        for d in range(1, 4):
            take = hs[d] > out  # strict: ties stay with the earlier direction
            out = torch.where(take, hs[d], out)
            winner.masked_fill_(take, d)
        ctx.save_for_backward(gates, ssum, winner, *saved)
        ctx.mark_non_differentiable(winner)
        return out, winner

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout, _dwinner):
        gates, ssum, winner, *saved = ctx.saved_tensors
        N, C, H, W = dout.shape
        dx = torch.zeros_like(dout)
        dng = torch.empty(N, 4, 3, C, H, W, dtype=dout.dtype, device=dout.device)
        for i, ds in enumerate(_direction_groups(H, W)):
            xc, g1, g2, g3, gsum, h = saved[6 * i : 6 * i + 6]
            dtop = torch.cat([to_canonical(torch.where(winner == d, dout, 0.0), DIRECTIONS[d]) for d in ds], dim=1)
            dxc, *dgs = _scan_backward(dtop, xc, g1, g2, g3, gsum, h)
            for j, d in enumerate(ds):
                sl = slice(j * N, (j + 1) * N)
                dx += from_canonical(dxc[:, sl], DIRECTIONS[d])
                for k in range(3):
                    dng[:, d, k] = from_canonical(dgs[k][:, sl], DIRECTIONS[d])
        # normalisation n = g / max(s, 1), s = sum_k |g_k|: for s >= 1,
        # dg_j = dn_j / s - sign(g_j) sum_k dn_k g_k / s^2; for s < 1, dg = dn
        g = gates.reshape(N, 4, 3, C, H, W)
        sc = ssum.clamp(min=1)
        t = (dng * g).sum(2, keepdim=True).div_(sc * sc).mul_(ssum >= 1)
        dgates = dng.div_(sc).sub_(torch.sign(g) * t)
        return dx, dgates.reshape(N, 12 * C, H, W)


def propagate4(x: torch.Tensor, gates: torch.Tensor, impl: str = "function", return_winner: bool = False):
    """Four-direction propagation: normalise each direction's gates, scan, element-wise max.

    x: (N, C, H, W); gates: raw (N, 12C, H, W). Returns out (N, C, H, W), and with
    `return_winner` also the winning direction index (int64, ties to the earlier direction).
    `impl="function"` gives first-order gradients only (its backward is once_differentiable)."""
    N, C, H, W = x.shape
    if gates.shape != (N, 12 * C, H, W):
        raise ValueError(f"gates shape {tuple(gates.shape)}, expected {(N, 12 * C, H, W)}")
    _check_impl(impl)
    if impl == "function":
        out, winner = _Propagate4Function.apply(x, gates)
        return (out, winner.long()) if return_winner else out
    hs = scan_directions(x, normalise_gates(gates, C), impl=impl)
    out = hs[0]
    winner = torch.zeros(out.shape, dtype=torch.int64, device=x.device)
    for d in range(1, 4):
        take = hs[d] > out
        out = torch.where(take, hs[d], out)
        winner = torch.where(take, torch.full_like(winner, d), winner)
    return (out, winner) if return_winner else out
