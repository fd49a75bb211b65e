"""The SPN scan as an ONNX graph, to measure issue 9's alternative: "the whole thing in ONNX if the
scan exports efficiently". ONNX has no fused scan; the export traces `propagate4(impl="autograd")`,
whose row loop unrolls into one group of elementwise nodes per scanned line (H + W lines for the
four directions, grouped two by two). `bench/stpn.bench.ts --scan-onnx FILE` runs the file beside the TypeScript
`propagate4` on the same inputs, checks they agree and times both.

    cd training && /usr/bin/python3 -m vprop_train.export_scan_onnx --out /tmp/scan.onnx [--channels 8 --height 120 --width 216]
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

from .spn import propagate4


class _Scan(torch.nn.Module):
    def forward(self, x, gates):
        return propagate4(x, gates, impl="autograd")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--channels", type=int, default=8)
    p.add_argument("--height", type=int, default=120)
    p.add_argument("--width", type=int, default=216)
    a = p.parse_args(argv)
    x = torch.zeros(1, a.channels, a.height, a.width)
    gates = torch.zeros(1, 12 * a.channels, a.height, a.width)
    tmp = a.out + ".partial"
    torch.onnx.export(_Scan(), (x, gates), tmp, input_names=["x", "gates"], output_names=["out"], opset_version=13)
    os.replace(tmp, a.out)
    print(f"wrote {a.out} ({os.path.getsize(a.out) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
