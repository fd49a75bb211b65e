"""TypeScript parity fixture of the correlation layer (`msn.correlation` <-> `src/ops/correlation.ts`).

    cd training && /usr/bin/python3 -m vprop_train.msn_fixtures          (writes ../test/fixtures/msn/correlation.json)
    cd training && /usr/bin/python3 -m vprop_train.msn_fixtures --check  (compares with the committed file)

Fixed-seed random float32 inputs (N = 1, planar C x H x W) and PyTorch's float32 outputs, for the
seed's parameters (pad 20, max displacement 20, stride2 2), the engine's (pad 10, 10, 2), and
kernel sizes and strides the kernel defines but MSN does not use. 9 significant digits.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

from .msn import correlation

CASES = [
    # C, H, W, pad, kernel_size, max_displacement, stride1, stride2
    (3, 5, 8, 20, 1, 20, 1, 2),
    (4, 6, 12, 10, 1, 10, 1, 2),
    (2, 5, 7, 2, 1, 2, 1, 1),
    (2, 6, 9, 3, 3, 2, 1, 2),
    (3, 7, 8, 4, 3, 3, 2, 1),
    (1, 4, 4, 0, 1, 1, 1, 1),
]
DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "test", "fixtures", "msn", "correlation.json")


def flat(t: torch.Tensor) -> list[float]:
    return [float(f"{v:.9g}") for v in t.detach().to(torch.float32).reshape(-1).tolist()]


def build() -> dict:
    cases = []
    for n, (C, H, W, pad, k, md, s1, s2) in enumerate(CASES):
        g = torch.Generator().manual_seed(100 + n)
        a = torch.randn(1, C, H, W, generator=g)
        b = torch.randn(1, C, H, W, generator=g)
        out = correlation(a, b, pad, k, md, s1, s2)
        params = {"pad": pad, "kernelSize": k, "maxDisplacement": md, "stride1": s1, "stride2": s2}
        cases.append({"dims": {"C": C, "H": H, "W": W}, "params": params, "outDims": list(out.shape[1:]), "a": flat(a), "b": flat(b), "out": flat(out)})
    return {"generator": "training/vprop_train/msn_fixtures.py", "torch": torch.__version__, "cases": cases}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(2)
    data = build()
    if a.check:
        old = json.load(open(a.out))
        worst = max(max(abs(x - y) for x, y in zip(c["out"], o["out"])) for c, o in zip(data["cases"], old["cases"]))
        print(f"max |difference| from the committed fixture: {worst:.3g}")
        sys.exit(0 if worst < 1e-6 else 1)
    os.makedirs(os.path.dirname(a.out), exist_ok=True)
    with open(a.out + ".partial", "w") as f:
        json.dump(data, f)
    os.replace(a.out + ".partial", a.out)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
