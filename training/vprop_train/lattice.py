"""Permutohedral lattice and the bilateral convolution layer (VPN's BCL) in PyTorch, for training.

The same ops as `src/ops/lattice.ts` (ANCHORS §2.1-2.3), vectorised over points and vertices;
`lattice_fixtures.py` writes this module's outputs for the TypeScript parity test. Layouts mirror
the TypeScript ones:

- point features: channel-major (d, n), already scaled; point values: planar (C, n);
- vertex values: (M + 1, C), slot 0 the always-zero missing vertex, vertex id i in slot i + 1;
- learned filter weights: (O, C, F), F = filter_size(n, d), taps in `filter_tap_offsets` order.

The embedding (§2.1 steps 1-6) runs in float64 with the TypeScript operations in the same order
(elevation, JS `Math.round`, the pairwise rank rule, the barycentric accumulation), so keys and
float32 barycentric weights come out bit-identical. Vertex ids are in sorted key order, not the
TypeScript first-appearance order; nothing but the order of float sums depends on that. Keys are
looked up without a hash table: rows of keys are packed into one int64 code per row (mixed radix
over each coordinate's range, coordinate 0 most significant, so code order = lexicographic order),
falling back to `torch.unique(dim=0)` ranks when the ranges do not fit in 63 bits.

Features get no gradient (as in the reference); splat, slice, the learned blur and `filter_after`
are differentiable in the values and weights. Splat and slice run as `embedding_bag` gathers
(each the other's backward), channel mixing as a oneDNN conv1d where that beats Debian's generic
BLAS, and `filter_after` with n = 0 mixes channels at the points rather than at the M+1 vertices.

    cd training && /usr/bin/python3 -m vprop_train.lattice     (timings: 12k points, d = 6, 64 channels)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
from torch.nn.functional import conv1d, embedding_bag

# Elevated coordinates beyond this are rejected (keys must stay well inside int32, as in TypeScript).
MAX_ELEVATED = 2**29
# Elements per gathered tap chunk in `blur_learned` (bounds the (M+1) x taps x C temporary).
TAP_CHUNK_ELEMENTS = 1 << 24


@dataclass
class TorchLattice:
    d: int
    n_in: int
    n_out: int
    n_points: int
    out_start: int
    M: int
    vertex_ids: torch.Tensor  # int64 (n_points, d+1): SLOT (vertex id + 1) of the remainder-r vertex of point k
    bary: torch.Tensor  # float32 (n_points, d+1): barycentric weights, rows >= 0 summing to 1
    keys: torch.Tensor  # int64 (M, d): first d key coordinates of vertex id i (the last is minus their sum)
    cache: dict = field(default_factory=dict, repr=False, compare=False)  # splat/slice plans, steps, taps


def js_round(x: torch.Tensor) -> torch.Tensor:
    """JavaScript `Math.round` (nearest integer, ties toward +inf), exact for float64 (x - floor(x)
    is exact or rounds away from 0.5 only where it cannot change the comparison)."""
    fl = torch.floor(x)
    return fl + (x - fl >= 0.5).to(x.dtype)


def _embed(f: torch.Tensor, round_fn=js_round, n_in: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """§2.1 steps 1-6 for points f (n, d) float64: elevated (n, d+1), rem0 (n, d+1) int64,
    rank (n, d+1) int64, bary (n, d+1) float64. Same float64 operations and order as TS `embedPoint`.
    `n_in`: points from n_in on are output points (for error messages)."""
    n, d = f.shape
    d1 = d + 1
    inv_std = math.sqrt(2 / 3) * d1
    el = torch.empty(n, d1, dtype=torch.float64, device=f.device)
    sm = torch.zeros(n, dtype=torch.float64, device=f.device)
    for j in range(d, 0, -1):
        cf = f[:, j - 1] * (inv_std / math.sqrt(j * (j + 1)))
        el[:, j] = sm - j * cf
        sm = sm + cf
    el[:, 0] = sm
    if not bool((el.abs() <= MAX_ELEVATED).all()):  # NaN fails too
        bad = int((~(el.abs() <= MAX_ELEVATED)).any(1).nonzero()[0])
        where = f"input point {bad}" if n_in is None or bad < n_in else f"output point {bad - n_in}"
        raise ValueError(f"build_lattice: {where} has a non-finite or too large feature (|elevated| > {MAX_ELEVATED})")
    rd = round_fn(el * (1 / d1))
    rem0 = rd.to(torch.int64) * d1
    coord_sum = rd.sum(1).to(torch.int64)
    delta = el - rem0
    # rank[i] = #{j > i: delta_i < delta_j} + #{j < i: not (delta_j < delta_i)}
    lt = delta[:, :, None] < delta[:, None, :]  # lt[k, i, j] = delta_i < delta_j
    idx = torch.arange(d1, device=f.device)
    upper = idx[:, None] < idx[None, :]
    rank = (lt & upper).sum(2) + (~lt & upper).sum(1)
    rank = rank + coord_sum[:, None]
    low, high = rank < 0, rank > d
    rank = rank + d1 * low - d1 * high
    rem0 = rem0 + d1 * low - d1 * high
    # u[:, q] = (el - rem0) / (d+1) of the coordinate of rank q; bary[s] = u[d-s] - u[d-s+1],
    # bary[0] = u[d] + (1 - u[0]): the TS accumulation evaluated in the same float64 operations.
    u = torch.zeros(n, d1, dtype=torch.float64, device=f.device).scatter_(1, rank, (el - rem0) * (1 / d1))
    bary = torch.empty_like(u)
    bary[:, 1:] = u[:, :d].flip(1) - u[:, 1:].flip(1)
    bary[:, 0] = u[:, d] + (1 - u[:, 0])
    return el, rem0, rank, bary


def vertex_keys(rem0: torch.Tensor, rank: torch.Tensor) -> torch.Tensor:
    """Full keys (n, d+1 remainders, d+1 coordinates) of each point's vertices (§2.1 step 7)."""
    d = rem0.shape[1] - 1
    r = torch.arange(d + 1, device=rem0.device)[None, :, None]
    return rem0[:, None, :] + r - (d + 1) * (rank[:, None, :] > d - r)


def _places(lo: torch.Tensor, hi: torch.Tensor) -> list[int] | None:
    """Mixed-radix place values (coordinate 0 most significant) for integer rows with coordinates
    in [lo, hi], or None when the codes would not fit in 62 bits."""
    radix = (hi - lo + 1).tolist()
    if math.prod(radix) >= 2**62:
        return None
    return [math.prod(radix[i + 1 :]) for i in range(len(radix))]


def _pack(rows: torch.Tensor, lo: torch.Tensor, places: list[int]) -> torch.Tensor:
    code = torch.zeros(rows.shape[0], dtype=torch.int64, device=rows.device)
    for i, place in enumerate(places):
        code += (rows[:, i] - lo[i]) * place
    return code


def _row_codes(rows: torch.Tensor) -> torch.Tensor:
    """One int64 per row of an int64 (R, d) tensor, equal iff the rows are equal and ordered like
    the rows lexicographically: packed when the coordinate ranges fit, else the row's rank."""
    if rows.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=rows.device)
    lo = rows.min(0).values
    places = _places(lo, rows.max(0).values)
    if places is None:
        return torch.unique(rows, dim=0, return_inverse=True)[1]
    return _pack(rows, lo, places)


def _unique_inverse(codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`torch.unique(codes, return_inverse=True)` for 1-D codes, by one sort (4x faster on CPU)."""
    if codes.numel() == 0:
        return codes, codes.clone()
    ordered, perm = torch.sort(codes)
    first = torch.empty_like(ordered, dtype=torch.bool)
    first[0] = True
    first[1:] = ordered[1:] != ordered[:-1]
    group = torch.cumsum(first, 0) - 1
    return ordered[first], torch.empty_like(group).scatter_(0, perm, group)


def build_lattice(in_features: torch.Tensor, out_features: torch.Tensor | None = None) -> TorchLattice:
    """Lattice over input points and (unless None: outputs = inputs) output points, §2.1 steps 1-8.
    Features are channel-major (d, n), already scaled; like TS `buildLattice(inF, nIn, outF|null, nOut, d)`."""
    if in_features.dim() != 2:
        raise ValueError(f"build_lattice: in_features must be (d, n_in), got shape {tuple(in_features.shape)}")
    d, n_in = in_features.shape
    if not 1 <= d <= 64:
        raise ValueError(f"build_lattice: feature dimension d must be in 1..64, got {d}")
    if out_features is not None and (out_features.dim() != 2 or out_features.shape[0] != d):
        raise ValueError(f"build_lattice: out_features must be ({d}, n_out), got shape {tuple(out_features.shape)}")
    with torch.no_grad():
        f = in_features.detach().to(torch.float64)
        if out_features is not None:
            f = torch.cat([f, out_features.detach().to(torch.float64)], 1)
        n_points = f.shape[1]
        _, rem0, rank, bary = _embed(f.t(), n_in=n_in)
        keys_full = vertex_keys(rem0, rank)[:, :, :d].reshape(-1, d)
        unique_codes, inverse = _unique_inverse(_row_codes(keys_full))
        M = unique_codes.numel()
        keys = torch.zeros(M, d, dtype=torch.int64, device=f.device)
        keys[inverse] = keys_full  # duplicates write equal rows
        return TorchLattice(
            d=d,
            n_in=n_in,
            n_out=n_in if out_features is None else out_features.shape[1],
            n_points=n_points,
            out_start=0 if out_features is None else n_in,
            M=M,
            vertex_ids=(inverse + 1).reshape(n_points, d + 1),
            bary=bary.to(torch.float32),
            keys=keys,
        )


def _check_values(name: str, t: torch.Tensor, rows: int, what: str) -> None:
    if t.dim() != 2 or t.shape[-1 if what == "points" else 0] != rows:
        shape = "(C, n)" if what == "points" else "(M+1, C)"
        raise ValueError(f"{name}: expected {shape} with {rows} {what}, got shape {tuple(t.shape)}")


# Splat and slice are sparse products with the (M+1) x n barycentric matrix and its transpose,
# both run as `embedding_bag` gathers (sum mode, per-sample weights): a slice bags each point's
# d+1 vertex rows; a splat bags, per vertex slot, the point rows that touch it (the entries grouped
# by slot; slot 0's bag is empty). Several times faster on CPU than index_add / sparse mm, and each
# is the other's backward. A plan is (indices, offsets or None, weights).
Plan = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]


def _plans(lat: TorchLattice, start: int, n: int) -> tuple[Plan, Plan]:
    """(gather plan: points <- vertices, scatter plan: vertices <- points) of points [start, start+n)."""
    key = ("plans", start, n)
    if key not in lat.cache:
        ids = lat.vertex_ids[start : start + n]
        w = lat.bary[start : start + n]
        flat = ids.reshape(-1)
        order = torch.sort(flat, stable=True)[1]
        counts = torch.bincount(flat, minlength=lat.M + 1)
        offsets = torch.cumsum(counts, 0) - counts
        lat.cache[key] = ((ids, None, w), (order // (lat.d + 1), offsets, w.reshape(-1)[order]))
    return lat.cache[key]


def _bag(table: torch.Tensor, plan: Plan, rows: int) -> torch.Tensor:
    indices, offsets, weights = plan
    if indices.numel() == 0:
        return table.new_zeros(rows, table.shape[1])
    return embedding_bag(indices, table.contiguous(), offsets, mode="sum", per_sample_weights=weights.to(table.dtype))


class _BagProduct(torch.autograd.Function):
    """table (R, C) -> (rows, C) through `plan`; the gradient goes through `adjoint` (adjoint_rows = R)."""

    @staticmethod
    def forward(ctx, table, plan, rows, adjoint):
        ctx.plans = (plan, rows, adjoint, table.shape[0])
        return _bag(table, plan, rows)

    @staticmethod
    def backward(ctx, grad):
        plan, rows, adjoint, table_rows = ctx.plans
        return _BagProduct.apply(grad, adjoint, table_rows, plan), None, None, None


def _splat_range(lat: TorchLattice, start: int, x: torch.Tensor) -> torch.Tensor:
    gather, scatter = _plans(lat, start, x.shape[1])
    return _BagProduct.apply(x.t(), scatter, lat.M + 1, gather)


def _slice_range(lat: TorchLattice, start: int, n: int, V: torch.Tensor) -> torch.Tensor:
    gather, scatter = _plans(lat, start, n)
    return _BagProduct.apply(V, gather, n, scatter).t()


def splat(lat: TorchLattice, x: torch.Tensor) -> torch.Tensor:
    """Planar (C, n_in) -> vertex values (M+1, C); slot 0 stays zero."""
    _check_values("splat", x, lat.n_in, "points")
    return _splat_range(lat, 0, x)


def slice_points(lat: TorchLattice, V: torch.Tensor) -> torch.Tensor:
    """Vertex values (M+1, C) -> planar (C, n_out) at the output points (rows out_start..)."""
    _check_values("slice_points", V, lat.M + 1, "vertices")
    return _slice_range(lat, lat.out_start, lat.n_out, V)


def lattice_steps(lat: TorchLattice) -> torch.Tensor:
    """int64 (d+1, 2, M+1): [j, 0, s] = slot of the vertex one step along +direction j from slot s,
    [j, 1, s] along -direction j, 0 when absent; slot 0's entries are 0. step_j adds -1 to every
    coordinate and d+1 to coordinate j (for j = d only to the implied last one). Memoised."""
    if "steps" in lat.cache:
        return lat.cache["steps"]
    d, M, keys = lat.d, lat.M, lat.keys
    step = torch.full((d + 1, d), -1, dtype=torch.int64, device=keys.device)
    step[torch.arange(d), torch.arange(d)] += d + 1
    places = _places(keys.min(0).values - d, keys.max(0).values + d) if M > 0 else None
    if places is not None:
        # the codes are linear in the key while the coordinates stay in range (±d around the keys'):
        # a step adds a constant per direction
        lo = keys.min(0).values - d
        key_codes = _pack(keys, lo, places)
        delta = (step * torch.tensor(places, dtype=torch.int64, device=keys.device)).sum(1)  # (d+1,)
        q = torch.stack([key_codes[None] + delta[:, None], key_codes[None] - delta[:, None]], 1).reshape(-1)
    else:
        queries = torch.stack([keys[None] + step[:, None], keys[None] - step[:, None]], 1)  # (d+1, 2, M, d)
        codes = _row_codes(torch.cat([keys, queries.reshape(-1, d)]))
        key_codes, q = codes[:M], codes[M:]
    # key_codes increase: vertex ids are in sorted key order
    pos = torch.searchsorted(key_codes, q).clamp(max=max(M - 1, 0))
    found = key_codes[pos] == q if M > 0 else torch.zeros_like(q, dtype=torch.bool)
    slots = torch.where(found, pos + 1, torch.zeros_like(pos)).reshape(d + 1, 2, M)
    steps = torch.cat([torch.zeros(d + 1, 2, 1, dtype=torch.int64, device=keys.device), slots], 2)
    lat.cache["steps"] = steps
    return steps


def filter_size(n: int, d: int) -> int:
    """F(n, d) = (n+1)^(d+1) - n^(d+1) taps of a learned lattice filter (§2.2)."""
    return (n + 1) ** (d + 1) - n ** (d + 1)


def _check_neighborhood(n: int, d: int) -> None:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"lattice filter: neighborhood must be a non-negative integer, got {n!r}")
    if (n + 1) ** (d + 1) > 2**24:
        raise ValueError(f"lattice filter: neighborhood {n} in d={d} has too many taps ({filter_size(n, d)})")


def filter_tap_offsets(n: int, d: int) -> torch.Tensor:
    """int64 (F, d+1): vectors a in {0..n}^(d+1) with at least one zero, lexicographic with a[0]
    most significant (Caffe's LatticeTraversal order, as TS `filterTapOffsets`); tap 0 = the vertex."""
    _check_neighborhood(n, d)
    return _all_digit_vectors(n, d)[_has_zero_digit(n, d)]


def _all_digit_vectors(n: int, d: int) -> torch.Tensor:
    """int64 ((n+1)^(d+1), d+1): every vector of {0..n}^(d+1), lexicographic, a[0] most significant."""
    code = torch.arange((n + 1) ** (d + 1), dtype=torch.int64)
    place = (n + 1) ** torch.arange(d, -1, -1, dtype=torch.int64)
    return (code[:, None] // place) % (n + 1)


def _has_zero_digit(n: int, d: int) -> torch.Tensor:
    return (_all_digit_vectors(n, d) == 0).any(1)


def lattice_taps(lat: TorchLattice, n: int) -> torch.Tensor:
    """int64 (M+1, F) slots of each slot's taps (row 0 all 0): tap t walks a[t][0] steps along
    direction 0, then a[t][1] along direction 1, ... through existing vertices only (Caffe's
    LatticeApproximateTraversal, TS `latticeTaps`); absent -> 0. A transposed view of a tap-major
    (F, M+1) table (one contiguous row per tap, what `blur_learned` gathers with). Memoised per n."""
    _check_neighborhood(n, lat.d)
    key = ("taps", n)
    if key not in lat.cache:
        d, M = lat.d, lat.M
        if (M + 1) * (n + 1) ** (d + 1) > 2**28:
            raise ValueError(f"lattice_taps: {M} vertices x {(n + 1) ** (d + 1)} walks is too large a table")
        slots = torch.arange(M + 1, dtype=torch.int64, device=lat.keys.device)
        if n == 0:
            by_tap = slots[None]
        else:
            # The walks form a trie over the directions. Row p * (n+1)^(d-j) of `walks` holds, for
            # every start slot, the end of the p-th walk prefix a[0..j] (lexicographic), so the
            # rows come out in tap order; the (n+1)^(d+1) walks include the F taps.
            forward = lattice_steps(lat)[:, 0]  # (d+1, M+1), slot 0 -> 0
            walks = torch.empty((n + 1) ** (d + 1), M + 1, dtype=torch.int64, device=slots.device)
            walks[0] = slots
            for j in range(d + 1):
                stride = (n + 1) ** (d - j)
                parents = torch.arange(0, walks.shape[0], stride * (n + 1), device=slots.device)
                for s in range(1, n + 1):
                    walks[parents + s * stride] = forward[j][walks[parents + (s - 1) * stride]]
            by_tap = walks[_has_zero_digit(n, d).to(slots.device)]
        lat.cache[key] = by_tap.t()
    return lat.cache[key]


def blur_learned(lat: TorchLattice, S: torch.Tensor, W: torch.Tensor, n: int) -> torch.Tensor:
    """B[v][o] = sum_c sum_t W[o][c][t] S[tap_t(v)][c] (§2.2): S (M+1, C), W (O, C, F) -> (M+1, O),
    slot 0 of S read as zero and of B zero. n = 0 is VPN's per-vertex 1x1 channel mix."""
    _check_values("blur_learned", S, lat.M + 1, "vertices")
    C = S.shape[1]
    _check_weights("blur_learned", lat, C, W, n)
    Sz = torch.cat([S.new_zeros(1, C), S[1:]])
    if n == 0:
        return _channel_mix(Sz, W[:, :, 0])
    by_tap = lattice_taps(lat, n).t()  # (F, M+1), contiguous
    F = by_tap.shape[0]
    chunk = max(1, TAP_CHUNK_ELEMENTS // max(1, (lat.M + 1) * C))
    B = None
    for t0 in range(0, F, chunk):
        t1 = min(F, t0 + chunk)
        # (vertices, taps x channels): column t * C + c, as W (O, C, taps) permuted
        gathered = Sz.index_select(0, by_tap[t0:t1].t().reshape(-1)).view(lat.M + 1, (t1 - t0) * C)
        part = _channel_mix(gathered, W[:, :, t0:t1].permute(0, 2, 1).reshape(W.shape[0], -1))
        B = part if B is None else B + part
    return B


def _check_weights(name: str, lat: TorchLattice, C: int, W: torch.Tensor, n: int) -> None:
    F = filter_size(n, lat.d)
    if W.dim() != 3 or W.shape[1] != C or W.shape[2] != F:
        raise ValueError(f"{name}: W must be (O, {C}, {F}) for n={n}, d={lat.d}; got shape {tuple(W.shape)}")


def _channel_mix(A: torch.Tensor, Wm: torch.Tensor) -> torch.Tensor:
    """A (V, K) @ Wm (O, K)^T. Large float32 products on CPU run as a 1x1 conv1d over a batch of V
    length-1 signals (no transposes): Debian's torch has a generic (slow) BLAS, while conv1d runs
    on oneDNN, 3-4x faster here for (84k, 64) x (64, 64), backward included. Small or float64
    products (where conv1d falls back to a slow per-sample loop) and GPU ones use matmul."""
    if A.is_cpu and A.dtype == torch.float32 and A.shape[0] >= 4096 and A.shape[1] * Wm.shape[0] >= 1024:
        return conv1d(A.contiguous()[:, :, None], Wm[:, :, None])[:, :, 0]
    return A @ Wm.t()


def gaussian_taps(d: int, n: int) -> torch.Tensor:
    """Fixed Gaussian lattice filter of neighbourhood n (Caffe `GaussianFilter::build_filter`, TS
    `gaussianTaps`): unit impulse, d+1 passes with weights {1, 0.5} at distance {0, 1} along each
    direction over the tap set only, divided by the centre. float32 (F,) in tap order; n = 0 -> [1]."""
    _check_neighborhood(n, d)
    d1 = d + 1
    offsets = filter_tap_offsets(n, d).tolist()

    def key_of(a, extra_dir, extra_steps):
        total = sum(a) + extra_steps
        return tuple(-total + d1 * (a[i] + (extra_steps if i == extra_dir else 0)) for i in range(d1))

    index = {key_of(a, -1, 0): t for t, a in enumerate(offsets)}
    cur = [0.0] * len(offsets)
    cur[0] = 1.0
    for j in range(d1):
        nxt = []
        for a, c in zip(offsets, cur):
            v = c
            if n >= 1:  # weight 0.5 at distance 1, 0 beyond
                up, down = index.get(key_of(a, j, 1)), index.get(key_of(a, j, -1))
                v += ((0.0 if up is None else cur[up]) + (0.0 if down is None else cur[down])) * 0.5
            nxt.append(v)
        cur = nxt
    return torch.tensor([c / cur[0] for c in cur], dtype=torch.float32)


def after_normaliser(lat: TorchLattice, n: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """AFTER normaliser (n_out,): 1 / (slice(G * splat(1_inputs)) + 1e-20), G = the fixed Gaussian
    filter of neighbourhood n ([1] for n = 0). Output points no input reaches get 1e20."""
    with torch.no_grad():
        S = splat(lat, torch.ones(1, lat.n_in, dtype=dtype, device=lat.bary.device))
        if n > 0:
            S = blur_learned(lat, S, gaussian_taps(lat.d, n).to(dtype=dtype, device=S.device).view(1, 1, -1), n)
        return 1 / (slice_points(lat, S)[0] + 1e-20)


def filter_after(lat: TorchLattice, x: torch.Tensor, W: torch.Tensor | None = None, n: int = 0, norm: torch.Tensor | None = None) -> torch.Tensor:
    """BCL with AFTER normalisation, no bias: norm * slice(blur(splat(x))), planar (C, n_in) ->
    (O, n_out); W None = identity blur (n must be 0). `norm`: a precomputed `after_normaliser(lat, n)`."""
    if W is None and n != 0:
        raise ValueError("filter_after: the identity blur (W None) has neighbourhood 0")
    if norm is None:
        norm = after_normaliser(lat, n, x.dtype)
    if W is not None:
        _check_weights("filter_after", lat, x.shape[0], W, n)
    if W is not None and n == 0:
        # A 1x1 blur commutes with splat and slice (all linear, per vertex / per point): mix the
        # channels at the points, on the side with fewer channels, instead of at the M+1 vertices.
        mix = W[:, :, 0]
        if W.shape[0] <= W.shape[1]:
            return slice_points(lat, splat(lat, _channel_mix(x.t(), mix).t())) * norm.to(x.dtype)
        return _channel_mix(slice_points(lat, splat(lat, x)).t(), mix).t() * norm.to(x.dtype)
    S = splat(lat, x)
    B = S if W is None else blur_learned(lat, S, W, n)
    return slice_points(lat, B) * norm.to(B.dtype)


def _bench() -> None:
    torch.set_num_threads(2)
    g = torch.Generator().manual_seed(0)
    n, d, C = 12000, 6, 64
    # superpixel-like features: scaled values spanning 10..40 lattice units per dimension
    spans = torch.linspace(10, 40, d, dtype=torch.float64)
    features = (torch.rand(d, n, generator=g, dtype=torch.float64) * spans[:, None]).float()
    x = torch.randn(C, n, generator=g)
    W = torch.randn(C, C, 1, generator=g) * 0.1
    xl, Wl = x.clone().requires_grad_(), W.clone().requires_grad_()

    def best_ms(fn, reps=7):
        """Fastest of `reps` runs (the least disturbed by other load on the machine)."""
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times) * 1e3

    lat = build_lattice(features)
    print(f"n={n} d={d} C={C} ({torch.get_num_threads()} threads): M={lat.M} vertices; best of 7 runs")
    print(f"  build_lattice                                 {best_ms(lambda: build_lattice(features)):7.1f} ms")

    def fresh_step():
        fresh = build_lattice(features)
        norm = after_normaliser(fresh)
        filter_after(fresh, xl, Wl, 0, norm).square().sum().backward()

    print(f"  build + normaliser + filter_after fwd + bwd   {best_ms(fresh_step):7.1f} ms")
    norm = after_normaliser(lat)
    print(f"  after_normaliser (plans cached)               {best_ms(lambda: after_normaliser(lat)):7.1f} ms")
    print(f"  filter_after n=0, W {C}x{C}, forward            {best_ms(lambda: filter_after(lat, x, W, 0, norm)):7.1f} ms")
    fb = best_ms(lambda: filter_after(lat, xl, Wl, 0, norm).square().sum().backward())
    print(f"  filter_after n=0 forward + backward           {fb:7.1f} ms")
    S = splat(lat, x)
    print(f"  splat / slice_points, 64 channels             {best_ms(lambda: splat(lat, x)):7.1f} / {best_ms(lambda: slice_points(lat, S)):.1f} ms")
    print(f"  blur_learned n=0 at the vertices              {best_ms(lambda: blur_learned(lat, S, W, 0)):7.1f} ms")
    print(f"  lattice_steps                                 {best_ms(lambda: (lat.cache.pop('steps', None), lattice_steps(lat)), 3):7.1f} ms")
    print(f"  lattice_taps n=1 (F={filter_size(1, d)})                     {best_ms(lambda: (lat.cache.pop(('taps', 1), None), lattice_taps(lat, 1)), 3):7.1f} ms")
    W1 = torch.randn(16, 16, filter_size(1, d), generator=g) * 0.1
    norm1 = after_normaliser(lat, 1)
    print(f"  filter_after n=1, 16 -> 16 channels, forward  {best_ms(lambda: filter_after(lat, x[:16], W1, 1, norm1), 3):7.1f} ms")


if __name__ == "__main__":
    _bench()
