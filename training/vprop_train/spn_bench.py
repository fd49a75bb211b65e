"""Speed of the PyTorch SPN scan for a training step: propagate4 forward + backward.

    cd training && /usr/bin/python3 -m vprop_train.spn_bench [--batch 8 --channels 16 --size 128 --runs 5]

Prints the median wall time per step of each implementation (custom autograd.Function with the
§4.1 backward, and the plain loop under autograd), on 2 threads (DESIGN.md). The step is
out = propagate4(x, gates); loss = mean((out - target)^2); backward to x and gates.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from .spn import IMPLS, propagate4


def step_time(impl: str, batch: int, channels: int, size: int, runs: int, seed: int = 0) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, channels, size, size, generator=g).requires_grad_()
    gates = (torch.randn(batch, 12 * channels, size, size, generator=g) * 0.5).requires_grad_()
    target = torch.randn(batch, channels, size, size, generator=g)
    times = []
    for r in range(runs + 1):
        t0 = time.perf_counter()
        out = propagate4(x, gates, impl=impl)
        loss = ((out - target) ** 2).mean()
        loss.backward()
        t1 = time.perf_counter()
        x.grad = None
        gates.grad = None
        if r > 0:  # the first run warms up the allocator
            times.append(t1 - t0)
    return times


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, C {args.channels}, {args.size}x{args.size}")
    for impl in IMPLS:
        t = step_time(impl, args.batch, args.channels, args.size, args.runs)
        print(f"{impl:9s} median {statistics.median(t) * 1000:8.1f} ms/step  (min {min(t) * 1000:.1f}, max {max(t) * 1000:.1f}, {len(t)} runs)")


if __name__ == "__main__":
    main()
