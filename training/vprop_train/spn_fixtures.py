"""TypeScript parity fixtures of the SPN scan (`spn.py` <-> `src/ops/linear-scan.ts`).

    cd training && /usr/bin/python3 -m vprop_train.spn_fixtures            (writes ../test/fixtures/spn/)
    cd training && /usr/bin/python3 -m vprop_train.spn_fixtures --check    (compares with the committed files)

Fixed-seed random float32 inputs and PyTorch's float32 outputs, as flat lists in the planar
(C, H, W) order of the TypeScript kernels (N = 1):

- `scan3.json`: per shape, x, stable gates g1..g3 (normalised, so sum |g| <= 1) and an upstream
  gradient dH; per direction, H = scan3(x; g) and the gradients dx, dg1, dg2, dg3.
- `propagate4.json`: per case, x, raw gates (12C channels, many triples with sum |g| >= 1, and one
  all-zero case where the four directions tie everywhere) and dOut; out, winner (direction index,
  ties to the earlier direction) and the gradients dx, dGates (through the normalisation and the
  max). Random cases are drawn so that no two directions come within 1e-4 of each other at any
  element unless exactly equal (a near-tie could be decided differently by float32 rounding);
  the seed used is recorded.

Values are written with 9 significant digits, which round-trips float32 exactly.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from .spn import DIRECTIONS, normalise_gates, propagate4, scan3, scan_directions

SCAN_SHAPES = [(1, 1, 6), (1, 5, 1), (2, 4, 6), (2, 7, 5), (1, 8, 8)]
PROPAGATE4_CASES = [("random", 1, 3, 4), ("random", 2, 5, 7), ("random", 2, 6, 6), ("random", 1, 9, 4), ("zero-gates", 1, 4, 5)]
NEAR_TIE = 1e-4
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "spn")


def flat(t: torch.Tensor) -> list[float]:
    return [float(f"{v:.9g}") for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def scan3_case(C: int, H: int, W: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, C, H, W, generator=g)
    gates = normalise_gates(torch.randn(1, 3 * C, H, W, generator=g) * 0.8, C)
    g1, g2, g3 = gates.split(C, dim=1)
    dH = torch.randn(1, C, H, W, generator=g)
    case = {"dims": {"C": C, "H": H, "W": W}, "seed": seed, "x": flat(x), "g1": flat(g1), "g2": flat(g2), "g3": flat(g3), "dH": flat(dH), "directions": {}}
    for direction in DIRECTIONS:
        leaves = [t.clone().requires_grad_() for t in (x, g1, g2, g3)]
        h = scan3(*leaves, direction)
        h.backward(dH)
        case["directions"][direction] = {
            "h": flat(h),
            "dx": flat(leaves[0].grad),
            "dg1": flat(leaves[1].grad),
            "dg2": flat(leaves[2].grad),
            "dg3": flat(leaves[3].grad),
        }
    return case


def _has_near_tie(x: torch.Tensor, gates: torch.Tensor) -> bool:
    C = x.shape[1]
    with torch.no_grad():
        hs = torch.stack(scan_directions(x, normalise_gates(gates, C)))
        top = hs.sort(dim=0, descending=True).values
        gap = top[0] - top[1]
    return bool(((gap > 0) & (gap < NEAR_TIE)).any())


def propagate4_case(kind: str, C: int, H: int, W: int, seed: int) -> dict:
    for attempt in range(100):
        g = torch.Generator().manual_seed(seed + 1000 * attempt)
        x = torch.randn(1, C, H, W, generator=g)
        gates = torch.randn(1, 12 * C, H, W, generator=g) * 0.7
        if kind == "zero-gates":
            gates.zero_()
        dOut = torch.randn(1, C, H, W, generator=g)
        if not _has_near_tie(x, gates):
            break
    else:
        raise RuntimeError(f"no draw without near-ties for {kind} {C}x{H}x{W}")
    xl, gl = x.clone().requires_grad_(), gates.clone().requires_grad_()
    out, winner = propagate4(xl, gl, return_winner=True)
    out.backward(dOut)
    return {
        "kind": kind,
        "dims": {"C": C, "H": H, "W": W},
        "seed": seed + 1000 * attempt,
        "x": flat(x),
        "gates": flat(gates),
        "dOut": flat(dOut),
        "out": flat(out),
        "winner": [int(v) for v in winner.reshape(-1).tolist()],
        "dx": flat(xl.grad),
        "dGates": flat(gl.grad),
    }


def make_fixtures() -> dict[str, dict]:
    meta = {"generator": "training/vprop_train/spn_fixtures.py", "torch": torch.__version__, "layout": "planar C x H x W (N = 1), float32"}
    scan = {**meta, "cases": [scan3_case(C, H, W, seed=100 + i) for i, (C, H, W) in enumerate(SCAN_SHAPES)]}
    p4 = {**meta, "cases": [propagate4_case(kind, C, H, W, seed=200 + i) for i, (kind, C, H, W) in enumerate(PROPAGATE4_CASES)]}
    return {"scan3.json": scan, "propagate4.json": p4}


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


def compare(expected: dict, actual: dict, tol: float = 1e-5, where: str = "") -> list[str]:
    """Differences beyond tol * max(1, |value|) between two fixture trees (ignores metadata)."""
    bad: list[str] = []
    if isinstance(expected, dict):
        for k, v in expected.items():
            if k in ("torch", "generator", "layout"):
                continue
            if k not in actual:
                bad.append(f"{where}/{k}: missing")
            else:
                bad += compare(v, actual[k], tol, f"{where}/{k}")
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            return [f"{where}: length {len(actual)} != {len(expected)}"]
        for i, (a, b) in enumerate(zip(expected, actual)):
            if isinstance(a, (dict, list)):
                bad += compare(a, b, tol, f"{where}[{i}]")
            elif isinstance(a, int) and isinstance(b, int) and not isinstance(a, bool):
                if a != b:
                    bad.append(f"{where}[{i}]: {b} != {a}")
            elif abs(a - b) > tol * max(1.0, abs(a)):
                bad.append(f"{where}[{i}]: {b} vs {a}")
    elif expected != actual:
        bad.append(f"{where}: {actual!r} != {expected!r}")
    return bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="SPN scan parity fixtures for the TypeScript tests")
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
