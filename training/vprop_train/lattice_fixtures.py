"""TypeScript parity fixtures of the permutohedral lattice (`lattice.py` <-> `src/ops/lattice.ts`).

    cd training && /usr/bin/python3 -m vprop_train.lattice_fixtures            (writes ../test/fixtures/lattice/)
    cd training && /usr/bin/python3 -m vprop_train.lattice_fixtures --check    (compares with the committed files)

`lattice.json` holds a few fixed-seed cases (d = 4 and 6; separate output points or outputs =
inputs) of float32 features, values, weights and an upstream gradient, with PyTorch's results in
the TypeScript layouts (flat lists):

- `M`, and per point k and remainder r the full d+1 coordinates of its vertex key
  (`keys[(k * (d+1) + r) * (d+1) + i]`) and its float32 barycentric weight: order-invariant
  (vertex ids are sorted here, in first-appearance order in TypeScript);
- `splatSlice` = slice(splat(x)), planar C x nOut;
- per neighbourhood n in {0, 1}: W (O x C x F), `blurSlice` = slice(blur_learned(splat(x), W, n)),
  `y` = filter_after(x, W, n) and its autograd gradients `gradX`, `gradW` for `gradOut`;
- `identityY` = filter_after(x) with the identity blur.

Points: clustered random ones (sharing vertices), exact and near (1e-3) duplicates, wide ones, the
zero point (all ranks tie) and points with exact rounding ties on which JS Math.round,
round-half-even and round-half-away-from-zero give different keys (`tie_points`). Separate output
sets add jittered and exact copies of inputs, two tie points and far points no input reaches
(output 0). Inputs and barycentric weights are written as the shortest decimal that round-trips float32,
results with 8 significant digits.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

from .lattice import _embed, blur_learned, build_lattice, filter_after, filter_size, js_round, slice_points, splat, vertex_keys

# (name, d, n_in, n_out or None for outputs = inputs, C, O, seed)
CASES = [
    ("d4-separate", 4, 120, 72, 3, 2, 11),
    ("d6-shared", 6, 120, None, 2, 3, 12),
    ("d6-separate", 6, 40, 24, 3, 2, 13),
]
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "lattice")


def flat32(t: torch.Tensor) -> list[float]:
    return [float(str(v)) for v in t.detach().to(torch.float32).reshape(-1).numpy()]


def flat_result(t: torch.Tensor) -> list[float]:
    """Results (compared with a tolerance of 1e-5): 8 significant digits."""
    return [float(f"{v:.8g}") for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def short(t: torch.Tensor, step: float) -> torch.Tensor:
    """Random inputs rounded to multiples of `step` (a power of ten): short decimals in the JSON."""
    return (torch.round(t.double() / step) * step).float()


def flat_int(t: torch.Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


def _scale(d: int, i: int) -> float:
    return math.sqrt(2 / 3) * (d + 1) / math.sqrt((i + 1) * (i + 2))


def _is_tie(v: torch.Tensor) -> torch.Tensor:
    return v - torch.floor(v) == 0.5


def _float32_neighbours(x: np.float32, k: int) -> np.ndarray:
    """x and the float32 values up to k steps of |x|'s last bit away (same sign), nearest first."""
    steps = np.arange(-k, k + 1, dtype=np.int64)
    steps = steps[np.argsort(np.abs(steps) * 2 - (steps > 0), kind="stable")]
    bits = np.clip(np.abs(np.float32(x)).view(np.int32).astype(np.int64) + steps, 0, 0x7F7FFFFF).astype(np.int32)
    return np.copysign(bits.view(np.float32), np.float32(x))


# Rounding rules other than JS Math.round that are nearest-integer everywhere but at ties.
OTHER_ROUNDINGS = {
    "half-even": torch.round,
    "half-away-from-zero": lambda x: torch.sign(x) * torch.floor(x.abs() + 0.5),
}


def _keys_with(points: torch.Tensor, round_fn=js_round) -> torch.Tensor:
    _, rem0, rank, _ = _embed(points, round_fn)
    return vertex_keys(rem0, rank)


def _tie_point(d: int, q: int, a: int, k: int = 200) -> torch.Tensor | None:
    """A float32-valued point (float64 (d,)) with exact ties el_1 / (d+1) = a + 1/2 and
    el_2 / (d+1) = a + 1/2 - 3q (opposite signs for 0 <= a < 3q), or None if the search fails.

    f_1 = 3q gives cf_1 ~ (d+1) q (scale_1 = (d+1)/3); f_2 puts the running sum S near
    T_2 + 2 cf_1; a tiny f_{d-1} (added first into S) is searched for so that el_2 = S - 2 cf_1 is
    exactly T_2, then a tiny f_0 so that el_1 = S + cf_1 - cf_0 is exactly T_1."""
    d1 = d + 1
    f = torch.zeros(d, dtype=torch.float64)
    f[1] = 3 * q
    cf1 = float(_embed(f[None])[0][0, 0])  # el_0 = cf_1 when only f_1 is set
    t1 = d1 * (a + 0.5)
    s = t1 - cf1
    f[2] = float(np.float32(s / _scale(d, 2)))
    f = _search_feature(f, d - 1, (s - float(f[2]) * _scale(d, 2)) / _scale(d, d - 1), (2,), k)
    if f is None:
        return None
    return _search_feature(f, 0, (float(_embed(f[None])[0][0, 1]) - t1) / _scale(d, 0), (1, 2), k)


def _search_feature(f: torch.Tensor, i: int, centre: float, tied: tuple[int, ...], k: int) -> torch.Tensor | None:
    """f with feature i set to the float32 nearest `centre` (of 2k+1 candidates) for which the
    elevated coordinates `tied` / (d+1) are all exact half-integers, or None."""
    rows = f.repeat(2 * k + 1, 1)
    rows[:, i] = torch.from_numpy(_float32_neighbours(np.float32(centre), k)).double()
    ties = _is_tie(_embed(rows)[0] * (1 / (f.numel() + 1)))[:, list(tied)].all(1)
    hit = ties.nonzero()[:, 0]
    return rows[int(hit[0])].clone() if hit.numel() else None


_TIE_POINTS: dict[tuple[int, int], torch.Tensor] = {}


def tie_points(d: int, per_rule: int = 2) -> torch.Tensor:
    """(d, n) float32 points with exact rounding ties (elevated / (d+1) = an exact half-integer).

    Where all ties of a point round the same way, the keys do not depend on which way (rounding
    every coordinate down or every one up gives the same simplex), so these points tie in two
    coordinates of opposite signs (`_tie_point`). Kept: `per_rule` points on which each rule of
    OTHER_ROUNDINGS changes some key, then the zero point (all ranks tie)."""
    if d < 4:
        raise ValueError("tie_points: needs d >= 4")
    if (d, per_rule) not in _TIE_POINTS:
        chosen: list[torch.Tensor] = []
        need = dict.fromkeys(OTHER_ROUNDINGS, per_rule)
        for q in (1, 2, 3):
            for a in range(3 * q):
                for sign in (1, -1):
                    point = _tie_point(d, q, a)
                    if point is None or not any(need.values()):
                        continue
                    point = (sign * point)[None] + 0.0  # no -0.0
                    useful = [name for name, fn in OTHER_ROUNDINGS.items() if need[name] and not torch.equal(_keys_with(point), _keys_with(point, fn))]
                    if useful:
                        chosen.append(point[0])
                        for name in useful:
                            need[name] -= 1
        if any(need.values()):
            raise RuntimeError(f"tie_points: too few rounding-sensitive tie points for d={d}: {need}")
        chosen.append(torch.zeros(d, dtype=torch.float64))
        _TIE_POINTS[d, per_rule] = torch.stack(chosen).t().float().contiguous()
    return _TIE_POINTS[d, per_rule].clone()


def input_points(d: int, n: int, g: torch.Generator) -> torch.Tensor:
    ties = tie_points(d)
    n_rand = n - ties.shape[1]
    n_dup, n_near, n_wide = n_rand // 10, n_rand // 6, n_rand // 10
    n_cluster = n_rand - n_dup - n_near - n_wide
    cluster = torch.rand(d, n_cluster, generator=g) * 2.5
    pick = torch.randint(0, n_cluster, (n_dup + n_near,), generator=g)
    dup = cluster[:, pick[:n_dup]]
    near = cluster[:, pick[n_dup:]] + torch.randn(d, n_near, generator=g) * 1e-3
    wide = torch.rand(d, n_wide, generator=g) * 12 - 4
    f = torch.cat([short(torch.cat([cluster, dup, near, wide], 1), 1e-4), ties], 1)
    return f[:, torch.randperm(n, generator=g)].contiguous()


def output_points(inputs: torch.Tensor, n: int, g: torch.Generator) -> torch.Tensor:
    d, n_in = inputs.shape
    n_far, n_copy = n // 8, n // 8
    n_jit = n - n_far - n_copy - 2
    jit = inputs[:, torch.randint(0, n_in, (n_jit,), generator=g)] + torch.randn(d, n_jit, generator=g) * 0.3
    copy = inputs[:, torch.randint(0, n_in, (n_copy,), generator=g)]
    far = torch.rand(d, n_far, generator=g) * 3 + 100
    f = torch.cat([short(jit, 1e-4), copy, short(far, 1e-4), tie_points(d)[:, :2]], 1)
    return f[:, torch.randperm(n, generator=g)].contiguous()


def rounding_sensitive(features: torch.Tensor) -> dict[str, int]:
    """Per rule of OTHER_ROUNDINGS, the number of points (of d x n features) whose keys it changes."""
    points = features.t().double()
    keys = _keys_with(points)
    return {name: int((_keys_with(points, fn) != keys).flatten(1).any(1).sum()) for name, fn in OTHER_ROUNDINGS.items()}


def make_case(name: str, d: int, n_in: int, n_out: int | None, C: int, O: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    fin = input_points(d, n_in, g)
    fout = None if n_out is None else output_points(fin, n_out, g)
    lat = build_lattice(fin, fout)
    allf = fin if fout is None else torch.cat([fin, fout], 1)
    _, rem0, rank, _ = _embed(allf.t().double())
    keys_full = vertex_keys(rem0, rank)
    # the lattice's own keys agree with the independent per-point ones
    stored = lat.keys[lat.vertex_ids - 1]
    assert torch.equal(stored, keys_full[:, :, :d]) and torch.equal(keys_full.sum(2), torch.zeros_like(keys_full[:, :, 0]))
    assert min(rounding_sensitive(allf).values()) >= 2, "the tie points must tell the rounding rules apart"
    x = short(torch.randn(C, n_in, generator=g), 1e-3)
    grad_out = short(torch.randn(O, lat.n_out, generator=g), 1e-3)
    case = {
        "name": name,
        "d": d,
        "nIn": n_in,
        "nOut": lat.n_out,
        "shared": fout is None,
        "C": C,
        "O": O,
        "inFeatures": flat32(fin),
        "outFeatures": None if fout is None else flat32(fout),
        "M": lat.M,
        "keys": flat_int(keys_full),
        "bary": flat32(lat.bary),
        "x": flat32(x),
        "gradOut": flat32(grad_out),
        "splatSlice": flat_result(slice_points(lat, splat(lat, x))),
        "identityY": flat_result(filter_after(lat, x)),
        "learned": [],
    }
    for n in (0, 1):
        W = short(torch.randn(O, C, filter_size(n, d), generator=g) * (0.5 if n == 0 else 0.2), 1e-3)
        xl, Wl = x.clone().requires_grad_(), W.clone().requires_grad_()
        y = filter_after(lat, xl, Wl, n)
        y.backward(grad_out)
        case["learned"].append(
            {
                "n": n,
                "W": flat32(W),
                "blurSlice": flat_result(slice_points(lat, blur_learned(lat, splat(lat, x), W, n))),
                "y": flat_result(y),
                "gradX": flat_result(xl.grad),
                "gradW": flat_result(Wl.grad),
            }
        )
    return case


def make_fixtures() -> dict[str, dict]:
    meta = {
        "generator": "training/vprop_train/lattice_fixtures.py",
        "torch": torch.__version__,
        "layout": "features d x n, values planar C x n, weights O x C x F, keys/bary per point x remainder; float32",
    }
    return {"lattice.json": {**meta, "cases": [make_case(*c) for c in CASES]}}


def write(out_dir: str) -> list[str]:
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, data in make_fixtures().items():
        path = os.path.join(out_dir, name)
        tmp = f"{path}.partial"
        with open(tmp, "w") as f:
            json.dump(data, f, separators=(",", ":"))
            f.write("\n")
        os.replace(tmp, path)
        paths.append(path)
    return paths


def compare(expected, actual, tol: float = 1e-5, where: str = "") -> list[str]:
    """Differences between two fixture trees: ints, bools, strings and None exact, floats within
    tol * max(1, |value|); metadata ignored."""
    bad: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: {type(actual).__name__} instead of an object"]
        for k, v in expected.items():
            if k in ("torch", "generator", "layout"):
                continue
            if k not in actual:
                bad.append(f"{where}/{k}: missing")
            else:
                bad += compare(v, actual[k], tol, f"{where}/{k}")
        bad += [f"{where}/{k}: unexpected" for k in actual if k not in expected]
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(expected) != len(actual):
            return [f"{where}: length {len(actual) if isinstance(actual, list) else '-'} != {len(expected)}"]
        if expected and all(isinstance(a, float) for a in expected) and all(isinstance(b, (int, float)) for b in actual):
            e, a = np.asarray(expected), np.asarray(actual, dtype=np.float64)
            for i in np.nonzero(np.abs(a - e) > tol * np.maximum(1.0, np.abs(e)))[0][:5]:
                bad.append(f"{where}[{i}]: {a[i]} vs {e[i]}")
        else:
            for i, (a, b) in enumerate(zip(expected, actual)):
                bad += compare(a, b, tol, f"{where}[{i}]")
    elif isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        if abs(expected - actual) > tol * max(1.0, abs(expected)):
            bad.append(f"{where}: {actual} vs {expected}")
    elif type(expected) is not type(actual) or expected != actual:
        bad.append(f"{where}: {actual!r} != {expected!r}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="permutohedral lattice parity fixtures for the TypeScript tests")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--check", action="store_true", help="compare with the files in --out instead of writing")
    args = ap.parse_args(argv)
    torch.set_num_threads(2)
    if args.check:
        bad = []
        for name, data in make_fixtures().items():
            with open(os.path.join(args.out, name)) as f:
                bad += [f"{name}{b}" for b in compare(json.load(f), data)]
        print("\n".join(bad[:20]) if bad else "fixtures match PyTorch")
        return 1 if bad else 0
    for p in write(args.out):
        print(f"wrote {os.path.relpath(p)} ({os.path.getsize(p)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
